//! Tokens: API keys, session tokens, invitations and the setup token.
//!
//! Shaped so secret scanners can find them and a typo is caught before any
//! lookup: `ah_<kind>_<30 random base62>_<crc32 of the rest, 6 base62>`,
//! about 178 bits of randomness (GitHub's token format does the same). The
//! store keeps only the hex SHA-256 of a token; a token is looked up by that
//! hash, and compared in memory only in constant time.

use rand::Rng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 30;
const CHECK_LEN: usize = 6;

/// What a token is for: the second part of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An API key (`ah_key_...`).
    Key,
    /// A browser session (`ah_ses_...`), only ever in a cookie.
    Session,
    /// An invitation to a workspace (`ah_inv_...`).
    Invite,
    /// The one-time token `serve` prints on a fresh install.
    Setup,
    /// An alert webhook's URL token (`ah_hook_...`).
    Hook,
}

impl Kind {
    fn tag(self) -> &'static str {
        match self {
            Kind::Key => "key",
            Kind::Session => "ses",
            Kind::Invite => "inv",
            Kind::Setup => "setup",
            Kind::Hook => "hook",
        }
    }
}

/// A fresh random token of `kind`.
pub fn generate(kind: Kind) -> String {
    let mut rng = rand::rng();
    let random: String = (0..RANDOM_LEN)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect();
    let body = format!("ah_{}_{random}", kind.tag());
    let check = base62_fixed(crc32fast::hash(body.as_bytes()));
    format!("{body}_{check}")
}

/// Whether `token` is well formed, of `kind`, with a matching checksum.
/// Cheap: a malformed token is refused without touching the store.
pub fn well_formed(token: &str, kind: Kind) -> bool {
    let Some(rest) = token
        .strip_prefix("ah_")
        .and_then(|r| r.strip_prefix(kind.tag()))
        .and_then(|r| r.strip_prefix('_'))
    else {
        return false;
    };
    let Some((random, check)) = rest.rsplit_once('_') else {
        return false;
    };
    if random.len() != RANDOM_LEN
        || check.len() != CHECK_LEN
        || !random
            .bytes()
            .chain(check.bytes())
            .all(|b| b.is_ascii_alphanumeric())
    {
        return false;
    }
    let body = &token[..token.len() - CHECK_LEN - 1];
    let want = base62_fixed(crc32fast::hash(body.as_bytes()));
    want.as_bytes().ct_eq(check.as_bytes()).into()
}

/// The kind of a well-formed token, if it is one.
pub fn kind_of(token: &str) -> Option<Kind> {
    [Kind::Key, Kind::Session, Kind::Invite, Kind::Setup]
        .into_iter()
        .find(|k| well_formed(token, *k))
}

/// Hex SHA-256: what the store keeps and looks a token up by.
pub fn hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// What a listing shows to recognise a key: its prefix and last four.
pub fn hint(token: &str) -> String {
    let prefix: String = token.chars().take(10).collect();
    let tail: String = token
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{prefix}...{tail}")
}

/// Constant-time equality of two secrets.
pub fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn base62_fixed(mut n: u32) -> String {
    let mut out = [b'0'; CHECK_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out.to_vec()).expect("base62 is ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = generate(Kind::Key);
        let b = generate(Kind::Key);
        assert_ne!(a, b);
        assert!(a.starts_with("ah_key_"), "{a}");
        assert_eq!(a.len(), "ah_key_".len() + RANDOM_LEN + 1 + CHECK_LEN);
        assert!(well_formed(&a, Kind::Key));
        assert!(
            !well_formed(&a, Kind::Session),
            "the kind is part of the shape"
        );
        assert_eq!(kind_of(&generate(Kind::Setup)), Some(Kind::Setup));
    }

    #[test]
    fn one_changed_character_is_caught_by_the_checksum() {
        let t = generate(Kind::Key);
        let mut bytes = t.clone().into_bytes();
        let i = 10;
        bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).unwrap();
        assert!(!well_formed(&typo, Kind::Key), "{typo}");
    }

    #[test]
    fn the_hash_is_sha256_hex_and_the_hint_hides_the_secret() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = generate(Kind::Key);
        let h = hint(&t);
        assert!(h.starts_with("ah_key_") && h.ends_with(&t[t.len() - 4..]));
        assert!(h.len() < 20);
    }

    proptest! {
        #[test]
        fn hostile_input_never_panics_and_is_refused(s in ".{0,80}") {
            prop_assert!(kind_of(&s).is_none() || s.starts_with("ah_"));
            let _ = hash(&s);
            let _ = hint(&s);
        }
    }
}
