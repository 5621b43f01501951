//! The secrets vault: third-party credentials encrypted at rest with
//! AES-256-GCM.
//!
//! - A fresh random 96-bit nonce for every encryption.
//! - Associated data `autoheal-secret/v1|<workspace>|<kind>|<row>|<key id>`:
//!   a ciphertext copied to another row, workspace or kind fails to decrypt.
//! - The key-encryption key never lives in the database: it comes from
//!   `AUTOHEAL_SECRET_KEY` (64 hex characters) or the key file, by default
//!   `<data_dir>/secret.key` (mode 0600), made at the first start (the log
//!   says to back it up). Its id is the first 8 hex characters of its
//!   SHA-256, stored with each ciphertext.
//! - Rotation (`autoheal secrets rotate-key`): a new key is written to the
//!   file first, beside the old one; every secret is re-encrypted in one
//!   transaction; then the old key leaves the file. A crash in between loses
//!   nothing: the file holds both keys.
//!
//! Values are [`Secret`]s, whose `Debug` and `Display` never show them.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context};
use autoheal_store::{Sealed, SecretRow, Store};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "secret.key";
/// The environment variable that holds the key instead of the file.
pub const KEY_ENV: &str = "AUTOHEAL_SECRET_KEY";

/// A secret value: shown by nothing but [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One key-encryption key with its id.
#[derive(Clone)]
struct Kek {
    id: String,
    cipher: Aes256Gcm,
}

impl Kek {
    fn from_bytes(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::digest(bytes);
        Kek {
            id: hex::encode(&digest[..4]),
            cipher: Aes256Gcm::new_from_slice(bytes).expect("a 32-byte key"),
        }
    }
}

/// The keys: the current one seals; any of them opens.
#[derive(Clone)]
pub struct Keyring {
    current: Kek,
    older: Vec<Kek>,
    /// Where the keys came from (the file to rewrite on rotation), or
    /// `None` for the environment.
    file: Option<PathBuf>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.id)
            .field("keys", &(1 + self.older.len()))
            .finish()
    }
}

fn parse_key(hexkey: &str, whence: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(hexkey.trim())
        .ok()
        .filter(|b| b.len() == 32)
        .with_context(|| {
            format!("{whence}: expected 64 hex characters (32 bytes, e.g. `openssl rand -hex 32`)")
        })?;
    let mut k = [0u8; 32];
    k.copy_from_slice(&bytes);
    Ok(k)
}

fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    k
}

fn aad(workspace_id: i64, kind: &str, row: i64, key_id: &str) -> Vec<u8> {
    format!("autoheal-secret/v1|{workspace_id}|{kind}|{row}|{key_id}").into_bytes()
}

impl Keyring {
    /// The keys from `AUTOHEAL_SECRET_KEY` (given as `env_key`), else from
    /// `<data_dir>/secret.key`, made (mode 0600) when missing. Returns the
    /// keyring and whether a new key file was made.
    pub fn load(env_key: Option<&str>, data_dir: &Path) -> anyhow::Result<(Self, bool)> {
        if let Some(k) = env_key.filter(|k| !k.trim().is_empty()) {
            let key = parse_key(k, KEY_ENV)?;
            return Ok((
                Keyring {
                    current: Kek::from_bytes(&key),
                    older: Vec::new(),
                    file: None,
                },
                false,
            ));
        }
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Self::from_file_text(&text, &path)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).with_context(|| {
                    format!("creating the data directory {}", data_dir.display())
                })?;
                let key = random_key();
                crate::files::write_private(&path, &hex::encode(key))
                    .with_context(|| format!("writing the secret key to {}", path.display()))?;
                let mut ring = Self::from_file_text(&hex::encode(key), &path)?;
                ring.file = Some(path);
                Ok((ring, true))
            }
            Err(e) => Err(e).with_context(|| format!("reading the secret key {}", path.display())),
        }
    }

    /// One key per line, the current first; `#` comments.
    fn from_file_text(text: &str, path: &Path) -> anyhow::Result<Self> {
        let mut keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| parse_key(l, &path.display().to_string()).map(|k| Kek::from_bytes(&k)));
        let Some(current) = keys.next().transpose()? else {
            bail!("{}: holds no key", path.display());
        };
        let older = keys.collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Keyring {
            current,
            older,
            file: Some(path.to_path_buf()),
        })
    }

    /// A keyring of one fresh key (tests).
    pub fn ephemeral() -> Self {
        Keyring {
            current: Kek::from_bytes(&random_key()),
            older: Vec::new(),
            file: None,
        }
    }

    pub fn current_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `value` for row `row` of `workspace_id`, kind `kind`.
    pub fn seal(&self, workspace_id: i64, kind: &str, row: i64, value: &Secret) -> Sealed {
        let mut nonce = [0u8; 12];
        rand::rng().fill_bytes(&mut nonce);
        let aad = aad(workspace_id, kind, row, &self.current.id);
        let ct = self
            .current
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: value.expose().as_bytes(),
                    aad: &aad,
                },
            )
            .expect("AES-GCM encrypts any length we store");
        Sealed {
            key_id: self.current.id.clone(),
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ct),
        }
    }

    /// Opens a stored secret; an error when its key is unknown or the
    /// ciphertext was tampered with or moved.
    pub fn open(&self, row: &SecretRow) -> anyhow::Result<Secret> {
        let key = std::iter::once(&self.current)
            .chain(&self.older)
            .find(|k| k.id == row.sealed.key_id)
            .with_context(|| {
                format!(
                    "secret {:?} is sealed with key {}, which is not in the keyring",
                    row.name, row.sealed.key_id
                )
            })?;
        let nonce: [u8; 12] = hex::decode(&row.sealed.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .with_context(|| format!("secret {:?}: a malformed nonce", row.name))?;
        let ct = hex::decode(&row.sealed.ciphertext)
            .with_context(|| format!("secret {:?}: a malformed ciphertext", row.name))?;
        let aad = aad(row.workspace_id, &row.kind, row.id, &key.id);
        let plain = key
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &ct,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                anyhow::anyhow!(
                    "secret {:?} does not decrypt: it was altered or moved from another row",
                    row.name
                )
            })?;
        Ok(Secret(
            String::from_utf8(plain).context("a secret that is not UTF-8")?,
        ))
    }
}

/// The vault: the store's sealed rows and the keyring.
#[derive(Clone)]
pub struct Vault {
    store: Arc<dyn Store>,
    keys: Arc<Keyring>,
}

/// `kind` of a secret: what it is for (`render_api_key`, `smtp_password`).
pub fn check_kind(kind: &str) -> Result<(), String> {
    let ok = !kind.is_empty()
        && kind.len() <= 40
        && kind
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected 1-40 characters from a-z, 0-9 and '_', found {kind:?}"
        ))
    }
}

/// A secret's name: like a target's, 1-63 of `a-z 0-9 . _ -`.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "expected 1-63 characters from a-z, 0-9, '.', '_' and '-', starting with a letter or digit, found {name:?}"
        ))
    }
}

impl Vault {
    pub fn new(store: Arc<dyn Store>, keys: Keyring) -> Self {
        Vault {
            store,
            keys: Arc::new(keys),
        }
    }

    pub fn keys(&self) -> &Keyring {
        &self.keys
    }

    /// The keyring, shared (the config objects are sealed with it too).
    pub fn keyring(&self) -> Arc<Keyring> {
        self.keys.clone()
    }

    /// Stores `value` as `name` of `workspace_id`; (created?, info).
    pub async fn put(
        &self,
        workspace_id: i64,
        kind: &str,
        name: &str,
        value: &Secret,
        at: i64,
    ) -> anyhow::Result<bool> {
        let keys = self.keys.clone();
        let (kind_s, value) = (kind.to_string(), value.clone());
        let seal = move |row: i64| Ok(keys.seal(workspace_id, &kind_s, row, &value));
        let (_, created) = self
            .store
            .put_secret(workspace_id, kind, name, at, &seal)
            .await?;
        Ok(created)
    }

    /// The value of `name` in `workspace_id`, if stored.
    pub async fn get(&self, workspace_id: i64, name: &str) -> anyhow::Result<Option<Secret>> {
        match self.store.get_secret(workspace_id, name).await? {
            Some(row) => Ok(Some(self.keys.open(&row)?)),
            None => Ok(None),
        }
    }

    /// Re-encrypts every secret under `new` (one transaction), after writing
    /// `new` beside the old keys in the key file; then the file keeps only
    /// `new`. Returns how many secrets.
    pub async fn rotate(&self) -> anyhow::Result<(u64, Keyring)> {
        let Some(path) = self.keys.file.clone() else {
            bail!("the key comes from {KEY_ENV}, not a key file: rotation rewrites the key file, so unset {KEY_ENV} to rotate");
        };
        let new_key = random_key();
        // The old keys stay in the file until every secret is re-sealed.
        let mut text = hex::encode(new_key);
        let old_text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        text.push('\n');
        text.push_str(&old_text);
        crate::files::write_private(&path, text.trim_end())
            .with_context(|| format!("writing {}", path.display()))?;
        let both = Keyring::from_file_text(&text, &path)?;
        let reseal = {
            let both = both.clone();
            move |row: &SecretRow| {
                let value = both.open(row).map_err(|e| format!("{e:#}"))?;
                Ok(both.seal(row.workspace_id, &row.kind, row.id, &value))
            }
        };
        let n = self.store.reseal_all(&reseal).await?;
        crate::files::write_private(&path, &hex::encode(new_key))
            .with_context(|| format!("writing {}", path.display()))?;
        let ring = Keyring::from_file_text(&hex::encode(new_key), &path)?;
        Ok((n, ring))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ring: &Keyring, ws: i64, kind: &str, id: i64, v: &str) -> SecretRow {
        SecretRow {
            id,
            workspace_id: ws,
            kind: kind.into(),
            name: "n".into(),
            sealed: ring.seal(ws, kind, id, &Secret::new(v)),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_in_its_own_row_with_its_key() {
        let ring = Keyring::ephemeral();
        let r = row(&ring, 1, "render_api_key", 7, "rnd_canary");
        assert_eq!(ring.open(&r).unwrap().expose(), "rnd_canary");
        assert!(!r.sealed.ciphertext.contains(&hex::encode("rnd_canary")));
        for moved in [
            SecretRow { id: 8, ..r.clone() },
            SecretRow {
                workspace_id: 2,
                ..r.clone()
            },
            SecretRow {
                kind: "smtp_password".into(),
                ..r.clone()
            },
        ] {
            let e = ring.open(&moved).unwrap_err().to_string();
            assert!(e.contains("altered or moved"), "{e}");
        }
        let other = Keyring::ephemeral();
        assert!(other
            .open(&r)
            .unwrap_err()
            .to_string()
            .contains("not in the keyring"));
        let again = ring.seal(1, "render_api_key", 7, &Secret::new("rnd_canary"));
        assert_ne!(again.nonce, r.sealed.nonce, "a fresh nonce every time");
    }

    #[test]
    fn a_secret_never_shows_in_debug_or_display() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
    }

    #[test]
    fn the_key_file_is_made_once_with_mode_0600_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (a, made) = Keyring::load(None, dir.path()).unwrap();
        assert!(made);
        let meta = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let (b, made) = Keyring::load(None, dir.path()).unwrap();
        assert!(!made);
        assert_eq!(a.current_id(), b.current_id());
        let r = row(&a, 1, "k", 1, "v");
        assert_eq!(b.open(&r).unwrap().expose(), "v");
        let env = hex::encode([7u8; 32]);
        let (c, _) = Keyring::load(Some(&env), dir.path()).unwrap();
        assert_ne!(c.current_id(), a.current_id(), "the environment wins");
        let e = Keyring::load(Some("nothex"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("64 hex characters"), "{e}");
    }
}
