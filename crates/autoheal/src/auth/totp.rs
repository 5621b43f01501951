//! The second factor: TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps, one
//! step of skew either way, as every authenticator app expects) and
//! one-time recovery codes.
//!
//! The TOTP secret is sealed with the vault's key (kind `totp`, bound to the
//! user's row); a time step is accepted once, so a code seen over a
//! shoulder cannot be replayed. Recovery codes are 10 random codes of 60
//! bits, shown once, stored as SHA-256, each spent on use.

use rand::Rng;
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// Recovery codes made at once.
pub const RECOVERY_CODES: usize = 10;
const STEP_S: u64 = 30;
const CODE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// 20 random bytes (160 bits, RFC 4226's recommendation).
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    rand::rng().fill(&mut s[..]);
    s
}

fn totp(secret: &[u8], account: &str) -> Option<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(STEP_S)
        .with_secret(secret.to_vec())
        .with_account_name(account.to_string())
        .with_issuer(Some("autoheal"))
        .build()
        .ok()
}

/// The `otpauth://` URL an authenticator app takes (as text or a QR code).
pub fn url(secret: &[u8], account: &str) -> String {
    totp(secret, account)
        .and_then(|t| t.to_url().ok())
        .unwrap_or_default()
}

/// The secret in base32, for typing into an app by hand.
pub fn base32(secret: &[u8]) -> String {
    Secret::from(secret.to_vec()).to_base32()
}

/// The time step `code` is valid for at `now_s` (Unix seconds), if any.
pub fn check(secret: &[u8], account: &str, code: &str, now_s: u64) -> Option<u64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    totp(secret, account)?.check(&code, now_s)
}

/// Whether `s` looks like a TOTP code (six digits) rather than a recovery
/// code.
pub fn is_code(s: &str) -> bool {
    let d: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    d.len() == 6 && d.bytes().all(|b| b.is_ascii_digit())
}

/// Fresh recovery codes, `xxxx-xxxx-xxxx` (12 of 31 letters and digits,
/// about 60 bits each).
pub fn recovery_codes() -> Vec<String> {
    let mut rng = rand::rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let c: Vec<char> = (0..12)
                .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
                .collect();
            format!(
                "{}-{}-{}",
                c[..4].iter().collect::<String>(),
                c[4..8].iter().collect::<String>(),
                c[8..].iter().collect::<String>()
            )
        })
        .collect()
}

/// A recovery code as stored: lower case, without spaces and dashes, then
/// SHA-256.
pub fn recovery_hash(code: &str) -> String {
    let norm: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    super::token::hash(&norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_valid_for_its_step_and_one_either_side_only() {
        let secret = new_secret();
        let t = totp(&secret, "alice").unwrap();
        let now = 1_800_000_000;
        let code = t.generate(now).to_string();
        assert_eq!(check(&secret, "alice", &code, now), Some(now / 30));
        assert!(
            check(&secret, "alice", &code, now + 30).is_some(),
            "one step of skew"
        );
        assert!(check(&secret, "alice", &code, now + 90).is_none());
        assert!(check(&secret, "alice", "12345", now).is_none());
        assert!(check(&secret, "alice", "abcdef", now).is_none());
        assert!(check(&new_secret(), "alice", &code, now).is_none());
    }

    #[test]
    fn the_url_and_base32_name_the_issuer_and_the_secret() {
        let secret = new_secret();
        let u = url(&secret, "alice");
        assert!(u.starts_with("otpauth://totp/autoheal:alice?"), "{u}");
        assert!(u.contains(&format!("secret={}", base32(&secret))), "{u}");
    }

    #[test]
    fn recovery_codes_are_distinct_and_hash_the_same_however_typed() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let set: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(set.len(), RECOVERY_CODES);
        let c = &codes[0];
        assert_eq!(
            recovery_hash(c),
            recovery_hash(&c.to_uppercase().replace('-', " "))
        );
        assert!(!is_code(c));
        assert!(is_code("123 456"));
    }
}
