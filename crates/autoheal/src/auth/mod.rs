//! Who is asking: users with passwords, browser sessions, API keys, the
//! local token of the CLI, and the first-run setup token.
//!
//! [`Auth`] is the imperative shell around the store's accounts: it hashes
//! passwords off the runtime ([`password`]), shapes and hashes tokens
//! ([`token`]), slows brute force ([`throttle`]) and caches what a token
//! stands for, briefly, so a request with a key costs no store query. Every
//! change that ends a credential (password change, revocation, removal)
//! empties the cache at once.

pub mod password;
pub mod throttle;
pub mod token;
pub mod totp;

use autoheal_store::{
    ApiKey, Authenticated, CredentialKind, NewInvite, NewKey, NewSession, NewUser, Role, Store,
    StoreError, DEFAULT_WORKSPACE,
};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use password::Passwords;
pub use throttle::{Throttle, ThrottleSettings};

/// How long what a token stands for is trusted without asking the store.
/// Revocations made through this process end it at once regardless.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// Most tokens cached; beyond, the cache starts over.
const CACHE_MAX: usize = 10_000;
/// Last-seen and last-used times are written at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;
/// How long an invitation stays valid.
pub const INVITE_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Who may register (`[auth] registration`).
pub use autoheal_config::Registration;

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub registration: Registration,
    pub session_idle: Duration,
    pub session_lifetime: Duration,
    /// `/metrics` answers anyone (the default) or only a viewer.
    pub metrics_public: bool,
    /// Cookies marked `Secure` (served over HTTPS).
    pub secure_cookies: bool,
    pub throttle: ThrottleSettings,
    /// Hashes at once (each takes one core for tens of ms).
    pub hash_parallel: usize,
    pub hash_queue_wait: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            registration: Registration::Invite,
            session_idle: Duration::from_secs(8 * 3600),
            session_lifetime: Duration::from_secs(7 * 24 * 3600),
            metrics_public: true,
            secure_cookies: false,
            throttle: ThrottleSettings::default(),
            hash_parallel: 1,
            hash_queue_wait: Duration::from_secs(2),
        }
    }
}

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Session(i64),
    Key(i64),
}

/// Who is asking, in which workspace, as what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub workspace_id: i64,
    pub role: Role,
    /// `None` for a local key.
    pub user_id: Option<i64>,
    pub name: String,
    pub credential: Credential,
    pub ip: Option<IpAddr>,
}

impl Principal {
    /// The audit log's actor: `user:NAME`, `key:USER/KEY` or `local`.
    pub fn actor(&self) -> String {
        match (self.credential, self.user_id) {
            (Credential::Session(_), _) => format!("user:{}", self.name),
            (Credential::Key(_), Some(_)) => format!("key:{}", self.name),
            (Credential::Key(_), None) => "local".to_string(),
        }
    }

    pub fn is_session(&self) -> bool {
        matches!(self.credential, Credential::Session(_))
    }

    /// At least `role`.
    pub fn can(&self, role: Role) -> bool {
        self.role >= role
    }
}

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong login or password: one answer for both.
    #[error("wrong login or password")]
    Invalid,
    /// The password was right; the account also needs its second factor.
    #[error("a second factor is needed: send `totp` with a code from your authenticator app or a recovery code")]
    SecondFactorRequired,
    #[error("too many tries; retry after {}s", .0.retry_after.as_secs().max(1))]
    Throttled(throttle::Refused),
    #[error("too many logins are being checked; retry shortly")]
    Busy,
    /// A field is wrong: (JSON pointer, what was expected).
    #[error("{0}: {1}")]
    Field(&'static str, String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<password::Busy> for AuthError {
    fn from(_: password::Busy) -> Self {
        AuthError::Busy
    }
}

/// A new session: the cookie's token (shown once) and when it ends.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub token: String,
    pub expires_at: i64,
    pub user_id: i64,
    pub workspace_id: i64,
    pub role: Role,
}

#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    passwords: Passwords,
    throttle: Throttle,
    settings: AuthSettings,
    cache: Mutex<HashMap<String, (Authenticated, Instant)>>,
    /// The hash of the one-time setup token, while no user exists.
    setup: Mutex<Option<String>>,
    /// Bumped whenever a credential may have ended: live streams check
    /// theirs again at once.
    ended: tokio::sync::watch::Sender<u64>,
    /// Seals TOTP secrets (the vault's key).
    keys: crate::vault::Keyring,
    /// Set once a user is known to exist; when it was last asked otherwise.
    has_users: std::sync::atomic::AtomicBool,
    users_asked: Mutex<Option<Instant>>,
}

/// A normalised login name: trimmed, lower case.
pub fn normalise(login: &str) -> String {
    login.trim().to_lowercase()
}

/// `Ok` for a username of 1-64 characters from `a-z 0-9 . _ -`, starting
/// with a letter or digit.
pub fn check_username(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
    let starts = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 64 || !ok_chars || !starts {
        return Err(format!(
            "expected 1-64 characters from a-z, 0-9, '.', '_' and '-', starting with a letter or digit, found {name:?}"
        ));
    }
    Ok(())
}

fn check_email(email: &str) -> Result<(), String> {
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(format!("expected an e-mail address, found {email:?}"))
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Auth {
    pub fn new(store: Arc<dyn Store>, settings: AuthSettings, keys: crate::vault::Keyring) -> Self {
        Auth {
            inner: Arc::new(Inner {
                store,
                passwords: Passwords::new(settings.hash_parallel, settings.hash_queue_wait),
                throttle: Throttle::new(settings.throttle),
                settings,
                cache: Mutex::new(HashMap::new()),
                setup: Mutex::new(None),
                ended: tokio::sync::watch::channel(0).0,
                keys,
                has_users: std::sync::atomic::AtomicBool::new(false),
                users_asked: Mutex::new(None),
            }),
        }
    }

    pub fn settings(&self) -> &AuthSettings {
        &self.inner.settings
    }

    /// Whether any user exists (the first is always an admin). Once true it
    /// stays true for the process; until then the store is asked at most
    /// once a second (a user may be made by `autoheal user add` in another
    /// process).
    pub async fn has_users(&self) -> bool {
        use std::sync::atomic::Ordering;
        if self.inner.has_users.load(Ordering::Acquire) {
            return true;
        }
        {
            let mut asked = self.inner.users_asked.lock().expect("users lock");
            if asked.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
                return false;
            }
            *asked = Some(Instant::now());
        }
        let yes = matches!(self.inner.store.count_users().await, Ok(n) if n > 0);
        if yes {
            self.inner.has_users.store(true, Ordering::Release);
        }
        yes
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    pub fn passwords(&self) -> &Passwords {
        &self.inner.passwords
    }

    /// Forgets every cached token: after anything that ends a credential.
    pub fn forget_all(&self) {
        self.inner.cache.lock().expect("auth cache").clear();
        self.inner.ended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Changes whenever a credential may have ended (revocation, password
    /// change, removal): a live stream checks its own again.
    pub fn watch_ended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.ended.subscribe()
    }

    /// The principal `token` (a key or a session token) stands for now.
    pub async fn principal(
        &self,
        token: &str,
        ip: Option<IpAddr>,
        now: i64,
    ) -> Result<Option<Principal>, StoreError> {
        if !matches!(
            token::kind_of(token),
            Some(token::Kind::Key | token::Kind::Session)
        ) {
            return Ok(None);
        }
        let hash = token::hash(token);
        let cached = {
            let cache = self.inner.cache.lock().expect("auth cache");
            cache
                .get(&hash)
                .filter(|(_, at)| at.elapsed() < CACHE_TTL)
                .map(|(a, _)| a.clone())
        };
        let found = match cached {
            Some(a) => Some(a),
            None => {
                let idle = ms(self.inner.settings.session_idle);
                let found = self.inner.store.authenticate(&hash, now, idle).await?;
                if let Some(a) = &found {
                    let mut cache = self.inner.cache.lock().expect("auth cache");
                    if cache.len() >= CACHE_MAX {
                        cache.clear();
                    }
                    cache.insert(hash.clone(), (a.clone(), Instant::now()));
                }
                found
            }
        };
        let Some(a) = found else {
            return Ok(None);
        };
        if now - a.last_seen_at > TOUCH_EVERY_MS {
            // Written in the background, once a minute at most: a request
            // never waits on it.
            let store = self.inner.store.clone();
            let (kind, id) = (a.kind, a.credential_id);
            {
                let mut cache = self.inner.cache.lock().expect("auth cache");
                if let Some((c, _)) = cache.get_mut(&hash) {
                    c.last_seen_at = now;
                }
            }
            tokio::spawn(async move {
                let r = match kind {
                    CredentialKind::Session => store.touch_session(id, now).await,
                    CredentialKind::Key => store.touch_key(id, now).await,
                };
                if let Err(e) = r {
                    tracing::debug!(error = %crate::error_chain(&e), "Recording a credential's last use failed.");
                }
            });
        }
        Ok(Some(Principal {
            workspace_id: a.workspace_id,
            role: a.role,
            user_id: a.user_id,
            name: a.name,
            credential: match a.kind {
                CredentialKind::Session => Credential::Session(a.credential_id),
                CredentialKind::Key => Credential::Key(a.credential_id),
            },
            ip,
        }))
    }

    /// Logs in with a username or e-mail and a password; a new session in
    /// `workspace` (by name; default the user's first).
    #[allow(clippy::too_many_arguments)]
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        second: Option<&str>,
        workspace: Option<&str>,
        ip: Option<IpAddr>,
        now: i64,
    ) -> Result<IssuedSession, AuthError> {
        let login = normalise(login);
        self.inner
            .throttle
            .admit(ip, Some(&login))
            .map_err(AuthError::Throttled)?;
        let user = self.inner.store.find_user(&login).await?;
        let verified = self
            .inner
            .passwords
            .verify(password, user.as_ref().map(|u| u.password_hash.as_str()))
            .await?;
        let user = match user {
            Some(u) if verified.ok => u,
            other => {
                self.inner.throttle.failed(&login);
                if let Some(u) = other {
                    self.inner.store.login_failed(u.id, now).await?;
                }
                return Err(AuthError::Invalid);
            }
        };
        if user.totp_enabled {
            let Some(second) = second.map(str::trim).filter(|s| !s.is_empty()) else {
                return Err(AuthError::SecondFactorRequired);
            };
            if !self.second_factor(&user, second, now).await? {
                self.inner.throttle.failed(&login);
                self.inner.store.login_failed(user.id, now).await?;
                return Err(AuthError::Invalid);
            }
        }
        self.inner.throttle.succeeded(&login);
        if user.failed_logins != 0 {
            self.inner.store.login_succeeded(user.id).await?;
        }
        if let Some(h) = verified.rehash {
            self.inner.store.set_password(user.id, &h, false).await?;
        }
        let memberships = self.inner.store.memberships(user.id).await?;
        let chosen = match workspace {
            Some(name) => memberships.iter().find(|(w, _)| w.name == name),
            None => memberships.first(),
        };
        let Some((ws, role)) = chosen else {
            return Err(match workspace {
                Some(name) => AuthError::NotFound(format!(
                    "you are not a member of a workspace named {name:?}"
                )),
                None => AuthError::Forbidden("you are not a member of any workspace".into()),
            });
        };
        self.issue_session(user.id, user.epoch, ws.id, *role, now)
            .await
    }

    /// Checks a TOTP code (each time step once) or spends a recovery code.
    async fn second_factor(
        &self,
        user: &autoheal_store::UserRow,
        given: &str,
        now: i64,
    ) -> Result<bool, AuthError> {
        if totp::is_code(given) {
            let Some(secret) = self.totp_secret(user)? else {
                return Ok(false);
            };
            let now_s = u64::try_from(now / 1000).unwrap_or(0);
            return match totp::check(&secret, &user.username, given, now_s) {
                Some(step) => Ok(self
                    .inner
                    .store
                    .use_totp_step(user.id, i64::try_from(step).unwrap_or(i64::MAX))
                    .await?),
                None => Ok(false),
            };
        }
        Ok(self
            .inner
            .store
            .use_recovery_code(user.id, &totp::recovery_hash(given), now)
            .await?)
    }

    /// The user's TOTP secret, unsealed.
    fn totp_secret(&self, user: &autoheal_store::UserRow) -> Result<Option<Vec<u8>>, AuthError> {
        let Some(sealed) = &user.totp_secret else {
            return Ok(None);
        };
        let mut parts = sealed.splitn(3, ':');
        let (Some(key_id), Some(nonce), Some(ct)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Store(StoreError::Corrupt(format!(
                "the TOTP secret of user {} is malformed",
                user.id
            ))));
        };
        let row = autoheal_store::SecretRow {
            id: user.id,
            workspace_id: 0,
            kind: "totp".into(),
            name: user.username.clone(),
            sealed: autoheal_store::Sealed {
                key_id: key_id.into(),
                nonce: nonce.into(),
                ciphertext: ct.into(),
            },
            created_at: 0,
            updated_at: 0,
        };
        let secret = self
            .inner
            .keys
            .open(&row)
            .map_err(|e| AuthError::Store(StoreError::Corrupt(format!("{e:#}"))))?;
        Ok(hex::decode(secret.expose()).ok())
    }

    fn user_of(who: &Principal) -> Result<i64, AuthError> {
        match (who.user_id, who.is_session()) {
            (Some(id), true) => Ok(id),
            _ => Err(AuthError::Forbidden(
                "a second factor belongs to a signed-in user (a session), not to an API key".into(),
            )),
        }
    }

    /// Starts enrolling a second factor: a new secret, not yet in force.
    /// Answers (base32 secret, otpauth URL).
    pub async fn totp_begin(&self, who: &Principal) -> Result<(String, String), AuthError> {
        let id = Self::user_of(who)?;
        let user = self
            .inner
            .store
            .get_user(id)
            .await?
            .ok_or(AuthError::Invalid)?;
        if user.totp_enabled {
            return Err(AuthError::Conflict(
                "a second factor is already in force; remove it first".into(),
            ));
        }
        let secret = totp::new_secret();
        let sealed = self.inner.keys.seal(
            0,
            "totp",
            id,
            &crate::vault::Secret::new(hex::encode(&secret)),
        );
        let text = format!("{}:{}:{}", sealed.key_id, sealed.nonce, sealed.ciphertext);
        self.inner.store.set_totp(id, Some(&text), false).await?;
        Ok((totp::base32(&secret), totp::url(&secret, &user.username)))
    }

    /// Puts the pending second factor in force once a code from it checks;
    /// answers the recovery codes (shown once).
    pub async fn totp_confirm(
        &self,
        who: &Principal,
        code: &str,
        now: i64,
    ) -> Result<Vec<String>, AuthError> {
        let id = Self::user_of(who)?;
        let user = self
            .inner
            .store
            .get_user(id)
            .await?
            .ok_or(AuthError::Invalid)?;
        if user.totp_enabled {
            return Err(AuthError::Conflict(
                "a second factor is already in force".into(),
            ));
        }
        let Some(secret) = self.totp_secret(&user)? else {
            return Err(AuthError::Conflict(
                "no second factor is being set up: POST /api/v1/auth/totp first".into(),
            ));
        };
        let now_s = u64::try_from(now / 1000).unwrap_or(0);
        let Some(step) = totp::check(&secret, &user.username, code, now_s) else {
            return Err(AuthError::Field(
                "/code",
                "the code does not match; check the authenticator app's clock".into(),
            ));
        };
        let sealed = user.totp_secret.clone().unwrap_or_default();
        self.inner.store.set_totp(id, Some(&sealed), true).await?;
        self.inner
            .store
            .use_totp_step(id, i64::try_from(step).unwrap_or(i64::MAX))
            .await?;
        let codes = totp::recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| totp::recovery_hash(c)).collect();
        self.inner.store.set_recovery_codes(id, &hashes).await?;
        Ok(codes)
    }

    /// Removes the second factor, with the password as proof.
    pub async fn totp_disable(&self, who: &Principal, password: &str) -> Result<(), AuthError> {
        let id = Self::user_of(who)?;
        let user = self
            .inner
            .store
            .get_user(id)
            .await?
            .ok_or(AuthError::Invalid)?;
        self.inner
            .throttle
            .admit(who.ip, Some(&user.username))
            .map_err(AuthError::Throttled)?;
        let v = self
            .inner
            .passwords
            .verify(password, Some(&user.password_hash))
            .await?;
        if !v.ok {
            self.inner.throttle.failed(&user.username);
            return Err(AuthError::Field(
                "/password",
                "the password is wrong".into(),
            ));
        }
        self.inner.store.set_totp(id, None, false).await?;
        Ok(())
    }

    async fn issue_session(
        &self,
        user_id: i64,
        epoch: i64,
        workspace_id: i64,
        role: Role,
        now: i64,
    ) -> Result<IssuedSession, AuthError> {
        let token = token::generate(token::Kind::Session);
        let expires_at = now.saturating_add(ms(self.inner.settings.session_lifetime));
        self.inner
            .store
            .create_session(&NewSession {
                token_hash: token::hash(&token),
                user_id,
                workspace_id,
                epoch,
                at: now,
                expires_at,
            })
            .await?;
        Ok(IssuedSession {
            token,
            expires_at,
            user_id,
            workspace_id,
            role,
        })
    }

    /// Ends the session of `token`.
    pub async fn logout(&self, token: &str) -> Result<(), StoreError> {
        self.inner.store.delete_session(&token::hash(token)).await?;
        self.forget_all();
        Ok(())
    }

    fn new_user_fields(
        &self,
        username: &str,
        email: Option<&str>,
        password: &str,
    ) -> Result<(String, Option<String>), AuthError> {
        let username = normalise(username);
        check_username(&username).map_err(|m| AuthError::Field("/username", m))?;
        let email = email.map(normalise).filter(|e| !e.is_empty());
        if let Some(e) = &email {
            check_email(e).map_err(|m| AuthError::Field("/email", m))?;
        }
        password::check_new(password).map_err(|m| AuthError::Field("/password", m))?;
        Ok((username, email))
    }

    /// Makes a user (for the CLI and setup): a member of `workspace_id` as
    /// `role`.
    pub async fn create_user(
        &self,
        username: &str,
        email: Option<&str>,
        password: &str,
        workspace_id: i64,
        role: Role,
        now: i64,
    ) -> Result<i64, AuthError> {
        let (username, email) = self.new_user_fields(username, email, password)?;
        let hash = self.inner.passwords.hash(password).await?;
        let user = NewUser {
            username,
            email,
            password_hash: hash,
            at: now,
        };
        match self
            .inner
            .store
            .create_member(&user, workspace_id, role)
            .await
        {
            Ok(id) => Ok(id),
            Err(StoreError::Conflict(m)) => Err(AuthError::Conflict(m)),
            Err(e) => Err(e.into()),
        }
    }

    /// Self-service registration, as the settings allow: with an
    /// invitation (the default), or open (a workspace of one's own).
    #[allow(clippy::too_many_arguments)]
    pub async fn register(
        &self,
        username: &str,
        email: Option<&str>,
        password: &str,
        invite: Option<&str>,
        ip: Option<IpAddr>,
        now: i64,
    ) -> Result<IssuedSession, AuthError> {
        self.inner
            .throttle
            .admit(ip, None)
            .map_err(AuthError::Throttled)?;
        let (name, email) = self.new_user_fields(username, email, password)?;
        let mode = self.inner.settings.registration;
        if self.inner.store.count_users().await? == 0 {
            return Err(AuthError::Forbidden(
                "no admin exists yet: make one with `autoheal user add --admin NAME` or the setup token".into(),
            ));
        }
        let taken = match (invite, mode) {
            (_, Registration::Closed) => {
                return Err(AuthError::Forbidden("registration is closed".into()))
            }
            (Some(t), _) => {
                if !token::well_formed(t, token::Kind::Invite) {
                    return Err(AuthError::Field(
                        "/invite",
                        "expected an invitation token (ah_inv_...)".into(),
                    ));
                }
                match self.inner.store.take_invite(&token::hash(t), now).await? {
                    Some(i) => Some(i),
                    None => {
                        return Err(AuthError::Field(
                            "/invite",
                            "the invitation is unknown, used or expired".into(),
                        ))
                    }
                }
            }
            (None, Registration::Invite) => {
                return Err(AuthError::Field(
                    "/invite",
                    "registration needs an invitation from a workspace admin".into(),
                ))
            }
            (None, Registration::Open) => None,
        };
        let hash = self.inner.passwords.hash(password).await?;
        let user = NewUser {
            username: name.clone(),
            email,
            password_hash: hash,
            at: now,
        };
        let made = match &taken {
            Some(i) => self
                .inner
                .store
                .create_member(&user, i.workspace_id, i.role)
                .await
                .map(|id| (id, i.workspace_id, i.role)),
            None => self
                .inner
                .store
                .create_user_with_workspace(&user, &name)
                .await
                .map(|(id, ws)| (id, ws, Role::Owner)),
        };
        let (id, ws, role) = match made {
            Ok(m) => m,
            Err(StoreError::Conflict(m)) => return Err(AuthError::Conflict(m)),
            Err(e) => return Err(e.into()),
        };
        self.issue_session(id, 0, ws, role, now).await
    }

    /// A one-time setup token while no user exists; `None` once one does.
    /// Its hash is kept in memory only: a restart makes a new one.
    pub async fn setup_token(&self) -> Result<Option<String>, StoreError> {
        if self.inner.store.count_users().await? > 0 {
            return Ok(None);
        }
        let t = token::generate(token::Kind::Setup);
        *self.inner.setup.lock().expect("setup lock") = Some(token::hash(&t));
        Ok(Some(t))
    }

    /// Makes the first admin (owner of the default workspace) with the
    /// setup token; then the token is spent.
    pub async fn setup(
        &self,
        setup_token: &str,
        username: &str,
        email: Option<&str>,
        password: &str,
        ip: Option<IpAddr>,
        now: i64,
    ) -> Result<IssuedSession, AuthError> {
        self.inner
            .throttle
            .admit(ip, None)
            .map_err(AuthError::Throttled)?;
        let expected = self.inner.setup.lock().expect("setup lock").clone();
        let valid = expected.is_some_and(|h| token::same(&h, &token::hash(setup_token)));
        if !valid || self.inner.store.count_users().await? > 0 {
            return Err(AuthError::Forbidden(
                "the setup token is wrong or spent (it works once, before any user exists)".into(),
            ));
        }
        let id = self
            .create_user(
                username,
                email,
                password,
                DEFAULT_WORKSPACE,
                Role::Owner,
                now,
            )
            .await?;
        *self.inner.setup.lock().expect("setup lock") = None;
        self.issue_session(id, 0, DEFAULT_WORKSPACE, Role::Owner, now)
            .await
    }

    /// Changes a user's password: checks the current one, ends every
    /// session of the user, and answers a new session for the caller when
    /// they came with one.
    pub async fn change_password(
        &self,
        who: &Principal,
        current: &str,
        new: &str,
        now: i64,
    ) -> Result<Option<IssuedSession>, AuthError> {
        let Some(user_id) = who.user_id else {
            return Err(AuthError::Forbidden("a local key has no password".into()));
        };
        let Some(user) = self.inner.store.get_user(user_id).await? else {
            return Err(AuthError::Invalid);
        };
        password::check_new(new).map_err(|m| AuthError::Field("/new_password", m))?;
        self.inner
            .throttle
            .admit(who.ip, Some(&user.username))
            .map_err(AuthError::Throttled)?;
        let v = self
            .inner
            .passwords
            .verify(current, Some(&user.password_hash))
            .await?;
        if !v.ok {
            self.inner.throttle.failed(&user.username);
            return Err(AuthError::Field(
                "/current_password",
                "the current password is wrong".into(),
            ));
        }
        let hash = self.inner.passwords.hash(new).await?;
        self.inner.store.set_password(user_id, &hash, true).await?;
        self.forget_all();
        if who.is_session() {
            let session = self
                .issue_session(user_id, user.epoch + 1, who.workspace_id, who.role, now)
                .await?;
            return Ok(Some(session));
        }
        Ok(None)
    }

    /// Sets a user's password from the CLI (ends their sessions).
    pub async fn reset_password(&self, user_id: i64, new: &str) -> Result<(), AuthError> {
        password::check_new(new).map_err(|m| AuthError::Field("/password", m))?;
        let hash = self.inner.passwords.hash(new).await?;
        self.inner.store.set_password(user_id, &hash, true).await?;
        self.forget_all();
        Ok(())
    }

    /// A new API key in the caller's workspace, with a role no higher than
    /// theirs. The key itself is answered here, once.
    pub async fn create_key(
        &self,
        who: &Principal,
        name: &str,
        role: Option<Role>,
        expires_in: Option<Duration>,
        now: i64,
    ) -> Result<(String, ApiKey), AuthError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(AuthError::Field(
                "/name",
                format!("expected a name of 1-100 printable characters, found {name:?}"),
            ));
        }
        let role = role.unwrap_or(who.role);
        if role > who.role {
            return Err(AuthError::Field(
                "/role",
                format!(
                    "a key's role can be at most yours ({}), found {role}",
                    who.role
                ),
            ));
        }
        let token = token::generate(token::Kind::Key);
        let expires_at = expires_in.map(|d| now.saturating_add(ms(d)));
        let id = self
            .inner
            .store
            .create_key(&NewKey {
                workspace_id: who.workspace_id,
                user_id: who.user_id,
                name: name.to_string(),
                hint: token::hint(&token),
                token_hash: token::hash(&token),
                role,
                at: now,
                expires_at,
            })
            .await?;
        let key = ApiKey {
            id,
            workspace_id: who.workspace_id,
            user_id: who.user_id,
            name: name.to_string(),
            hint: token::hint(&token),
            role,
            created_at: now,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        Ok((token, key))
    }

    /// Revokes a key of the caller's workspace: an admin any, anyone else
    /// only their own. Another workspace's key, or another's key for a
    /// non-admin, is not found.
    pub async fn revoke_key(&self, who: &Principal, id: i64, now: i64) -> Result<(), AuthError> {
        let keys = self.inner.store.list_keys(who.workspace_id).await?;
        let mine = keys
            .iter()
            .find(|k| k.id == id)
            .filter(|k| who.can(Role::Admin) || (k.user_id.is_some() && k.user_id == who.user_id));
        if mine.is_none() {
            return Err(AuthError::NotFound(format!("no key {id}")));
        }
        self.inner
            .store
            .revoke_key(who.workspace_id, id, now)
            .await?;
        self.forget_all();
        Ok(())
    }

    /// An invitation to the caller's workspace as `role` (at most theirs).
    pub async fn invite(
        &self,
        who: &Principal,
        role: Role,
        now: i64,
    ) -> Result<(String, i64), AuthError> {
        if role > who.role {
            return Err(AuthError::Field(
                "/role",
                format!(
                    "you can invite as at most your own role ({}), found {role}",
                    who.role
                ),
            ));
        }
        let token = token::generate(token::Kind::Invite);
        let expires_at = now.saturating_add(ms(INVITE_LIFETIME));
        self.inner
            .store
            .create_invite(&NewInvite {
                workspace_id: who.workspace_id,
                token_hash: token::hash(&token),
                role,
                created_by: who.user_id,
                at: now,
                expires_at,
            })
            .await?;
        Ok((token, expires_at))
    }

    /// The local key the CLI on this machine uses: made afresh at every
    /// start (the previous one of this host revoked), owner of the default
    /// workspace, written to `<data_dir>/local-token` with mode 0600.
    pub async fn write_local_token(
        &self,
        data_dir: &Path,
        now: i64,
    ) -> anyhow::Result<(PathBuf, String)> {
        use anyhow::Context;
        let name = local_key_name();
        self.inner
            .store
            .revoke_local_keys(DEFAULT_WORKSPACE, &name, now)
            .await?;
        let token = token::generate(token::Kind::Key);
        self.inner
            .store
            .create_key(&NewKey {
                workspace_id: DEFAULT_WORKSPACE,
                user_id: None,
                name,
                hint: token::hint(&token),
                token_hash: token::hash(&token),
                role: Role::Owner,
                at: now,
                expires_at: None,
            })
            .await?;
        self.forget_all();
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
        let path = data_dir.join(LOCAL_TOKEN_FILE);
        crate::files::write_private(&path, &token)
            .with_context(|| format!("writing the local token to {}", path.display()))?;
        Ok((path, token))
    }
}

/// The local token's file name in the data directory.
pub const LOCAL_TOKEN_FILE: &str = "local-token";

fn local_key_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    if host.is_empty() {
        "local".to_string()
    } else {
        format!("local@{host}")
    }
}

/// The token the CLI sends: `AUTOHEAL_TOKEN` (passed in as `explicit`) or
/// the local token file in `data_dir`.
pub fn client_token(explicit: Option<&str>, data_dir: &Path) -> Option<String> {
    if let Some(t) = explicit.map(str::trim).filter(|t| !t.is_empty()) {
        return Some(t.to_string());
    }
    std::fs::read_to_string(data_dir.join(LOCAL_TOKEN_FILE))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}
