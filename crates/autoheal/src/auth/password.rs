//! Passwords: argon2id with OWASP's parameters (the `argon2` crate's
//! defaults: 19 MiB, 2 passes, 1 lane), as PHC strings.
//!
//! Hashing is slow on purpose, so it never runs on the async runtime: each
//! hash runs on a blocking thread, at most [`Passwords::new`]'s `parallel` at
//! once, and a caller waits at most `queue_wait` for a turn before it is told
//! to come back later ([`Busy`]). However many logins arrive, healing keeps
//! its cores.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The fewest characters a password may have (NIST SP 800-63B).
pub const MIN_LEN: usize = 8;
/// The most: longer passwords add nothing and cost hashing time.
pub const MAX_LEN: usize = 1024;

/// Too many hashes are waiting: answer 503 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Whether a password is acceptable; the reason when not.
pub fn check_new(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(format!(
            "expected a password of at least {MIN_LEN} characters, found {n}"
        ));
    }
    if n > MAX_LEN {
        return Err(format!(
            "expected a password of at most {MAX_LEN} characters, found {n}"
        ));
    }
    Ok(())
}

#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    queue_wait: Duration,
    /// A hash of nothing anyone knows, verified against for unknown users
    /// so they cost the same work as known ones.
    dummy: Arc<str>,
    /// `$argon2id$v=19$m=...,t=...,p=...$`: a stored hash that does not
    /// start so is rehashed at the next login.
    current_prefix: Arc<str>,
}

/// What verifying a password found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash was made with other parameters: store this one.
    pub rehash: Option<String>,
}

impl Passwords {
    pub fn new(parallel: usize, queue_wait: Duration) -> Self {
        let dummy = hash_now("autoheal: no such user").expect("argon2 hashes with its defaults");
        let current_prefix = prefix_of(&dummy).to_string();
        Passwords {
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            queue_wait,
            dummy: dummy.into(),
            current_prefix: current_prefix.into(),
        }
    }

    /// A PHC string for `password`.
    pub async fn hash(&self, password: &str) -> Result<String, Busy> {
        let pw = password.to_string();
        self.run(move || hash_now(&pw).map_err(|_| Busy)).await?
    }

    /// Checks `password` against `stored` (`None`: an unknown user, checked
    /// against a dummy so the answer takes as long).
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verified, Busy> {
        let pw = password.to_string();
        let known = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy).to_string();
        let prefix = self.current_prefix.clone();
        self.run(move || {
            let ok = match PasswordHash::new(&stored) {
                Ok(parsed) => Argon2::default()
                    .verify_password(pw.as_bytes(), &parsed)
                    .is_ok(),
                Err(_) => false,
            } && known;
            let rehash = if ok && !stored.starts_with(&*prefix) {
                hash_now(&pw).ok()
            } else {
                None
            };
            Ok(Verified { ok, rehash })
        })
        .await?
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let permit = tokio::time::timeout(self.queue_wait, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        let out = tokio::task::spawn_blocking(move || {
            let out = f();
            drop(permit);
            out
        })
        .await
        .map_err(|_| Busy)?;
        Ok(out)
    }
}

fn hash_now(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

/// The PHC string up to its salt: algorithm, version and parameters.
fn prefix_of(phc: &str) -> &str {
    // $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
    let mut dollars = phc.match_indices('$').map(|(i, _)| i);
    match dollars.nth(3) {
        Some(i) => &phc[..=i],
        None => phc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_password_verifies_against_its_own_hash_only() {
        let p = Passwords::new(1, Duration::from_secs(30));
        let h = p.hash("correct horse").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(p.verify("correct horse", Some(&h)).await.unwrap().ok);
        assert!(!p.verify("correct horsf", Some(&h)).await.unwrap().ok);
        assert!(!p.verify("autoheal: no such user", None).await.unwrap().ok);
        assert!(!p.verify("x", Some("not a phc string")).await.unwrap().ok);
    }

    #[tokio::test]
    async fn a_hash_with_old_parameters_is_rehashed_at_login() {
        let p = Passwords::new(1, Duration::from_secs(30));
        let params = argon2::Params::new(8192, 1, 1, None).unwrap();
        let old = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        let v = p.verify("correct horse", Some(&old)).await.unwrap();
        assert!(v.ok);
        let new = v.rehash.expect("old parameters are rehashed");
        assert!(new.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{new}");
        let again = p.verify("correct horse", Some(&new)).await.unwrap();
        assert_eq!(again.rehash, None);
    }

    #[tokio::test]
    async fn callers_beyond_the_queue_wait_are_told_to_come_back() {
        let p = Passwords::new(1, Duration::from_millis(1));
        let held = p.permits.clone().acquire_owned().await.unwrap();
        assert_eq!(p.hash("whatever1").await, Err(Busy));
        drop(held);
        assert!(p.hash("whatever1").await.is_ok());
    }

    #[test]
    fn new_passwords_are_checked_for_length() {
        assert!(check_new("short").unwrap_err().contains("at least 8"));
        assert!(check_new(&"x".repeat(2000))
            .unwrap_err()
            .contains("at most 1024"));
        assert!(check_new("long enough").is_ok());
    }
}
