//! The dashboard's pages and forms. Each handler asks only for the
//! caller's workspace (another workspace's target or incident is a 404
//! page, as in the API) and renders a template of `templates/`.

use super::svg::{self, Chart, Heartbeat};
use super::{csrf_ok, csrf_token, form_cookie, render, safe_next, same, see_other};
use crate::auth::{AuthError, Principal};
use crate::http::access::{session_cookie, ClientIp};
use crate::http::AppState;
use crate::supervisor::{now_ms, CommandError, TargetView};
use askama::Template;
use autoheal_core::{AuditEvent, Command};
use autoheal_store::{
    scope, DeliveryFilter, DeliveryState, Event, EventFilter, Incident, IncidentFilter, Role,
    StoreError,
};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use std::collections::HashMap;

/// Every phase, in the order the pages list them.
pub const PHASES: [&str; 9] = [
    "healthy",
    "starting",
    "suspect",
    "failing",
    "healing",
    "verifying",
    "quarantined",
    "paused",
    "stopped",
];

/// Targets per page of the targets list.
pub const PAGE_SIZE: usize = 50;
/// Checks in a row's heartbeat bar.
const ROW_BEATS: usize = 30;

pub use super::svg::utc;

/// A `<time>`: machine-readable and as text.
pub struct Time {
    pub iso: String,
    pub text: String,
}

fn time(ms: i64) -> Time {
    Time {
        iso: chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default(),
        text: utc(ms),
    }
}

fn opt_time(ms: Option<i64>) -> Option<Time> {
    ms.map(time)
}

/// A duration in ms as people read it: `850 ms`, `12 s`, `3 min 4 s`.
fn took(ms: i64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000)
    } else {
        format!("{} h {} min", ms / 3_600_000, ms % 3_600_000 / 60_000)
    }
}

/// One path segment, percent-encoded (names may hold `/` or worse).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn query_value(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn target_href(name: &str) -> String {
    format!("/targets/{}", segment(name))
}

/// What every signed-in page shows around its content.
pub struct Chrome {
    pub signed_in: bool,
    pub who: String,
    pub role: String,
    /// The session's CSRF token for the forms (empty with an API key).
    pub csrf: String,
    /// The navigation entry of this page.
    pub active: &'static str,
    /// Whether the page's script subscribes to the live stream.
    pub live: bool,
}

fn chrome(who: &Principal, headers: &HeaderMap, active: &'static str, live: bool) -> Chrome {
    Chrome {
        signed_in: true,
        who: who.name.clone(),
        role: who.role.to_string(),
        csrf: csrf_token(headers).unwrap_or_default(),
        active,
        live,
    }
}

fn anonymous() -> Chrome {
    Chrome {
        signed_in: false,
        who: String::new(),
        role: String::new(),
        csrf: String::new(),
        active: "",
        live: false,
    }
}

/// A page that only says something: an error, a refusal, a 404.
#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage {
    chrome: Chrome,
    title: String,
    message: String,
    back: String,
    back_label: String,
}

/// A page's failure, rendered as a page.
pub struct PageError {
    status: StatusCode,
    chrome: Chrome,
    title: String,
    message: String,
}

impl PageError {
    fn new(status: StatusCode, title: &str, message: impl Into<String>) -> Self {
        PageError {
            status,
            chrome: anonymous(),
            title: title.into(),
            message: message.into(),
        }
    }
    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", message)
    }
    fn with(mut self, chrome: Chrome) -> Self {
        self.chrome = chrome;
        self
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %crate::error_chain(&e), "A dashboard page could not read the store.");
        PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The record is not answering",
            "autoheal could not read its store just now; try again in a moment.",
        )
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        render(
            self.status,
            &MessagePage {
                chrome: self.chrome,
                title: self.title,
                message: self.message,
                back: "/".into(),
                back_label: "Overview".into(),
            },
        )
    }
}

type PageResult = Result<Response, PageError>;

fn form(bytes: &Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(bytes).into_owned().collect()
}

fn refused_form() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "Form refused",
        "This form did not carry this session's token (it may be from an old page, or from another site). Go back, reload the page and try again.",
    )
}

// ---------------------------------------------------------------- sign-in

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    form_token: String,
    next: String,
    login: String,
    need_totp: bool,
    error: String,
    no_users: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// A random form token and the cookie that carries it.
fn form_token(s: &AppState, headers: &HeaderMap) -> (String, HeaderValue) {
    let token = form_cookie(headers)
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 32]>()));
    let secure = if s.auth.settings().secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=3600{secure}",
        super::FORM_COOKIE
    );
    (
        token,
        HeaderValue::from_str(&cookie).expect("a cookie of hex"),
    )
}

fn with_cookie(mut r: Response, cookie: HeaderValue) -> Response {
    r.headers_mut().append(header::SET_COOKIE, cookie);
    r
}

async fn login_page(
    s: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    mut page: LoginPage,
) -> Response {
    let (token, cookie) = form_token(s, headers);
    page.form_token = token;
    page.no_users = s.store.count_users().await.is_ok_and(|n| n == 0);
    with_cookie(render(status, &page), cookie)
}

fn empty_login(next: String) -> LoginPage {
    LoginPage {
        chrome: anonymous(),
        form_token: String::new(),
        next,
        login: String::new(),
        need_totp: false,
        error: String::new(),
        no_users: false,
    }
}

/// `GET /login`.
pub async fn login_form(
    State(s): State<AppState>,
    who: Option<Extension<Principal>>,
    headers: HeaderMap,
    q: Result<Query<NextQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let next = safe_next(q.ok().and_then(|Query(q)| q.next).as_deref());
    if who.is_some() {
        return see_other(&next);
    }
    login_page(&s, &headers, StatusCode::OK, empty_login(next)).await
}

/// `POST /login`: the sign-in form (login, password, the second factor).
pub async fn login(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let f = form(&bytes);
    let get = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("");
    let next = safe_next(f.get("next").map(String::as_str));
    let mut page = empty_login(next.clone());
    page.login = get("login").to_string();
    page.need_totp = !get("totp").is_empty();
    let password = f.get("password").map(String::as_str).unwrap_or("");
    if page.login.is_empty() || password.is_empty() {
        page.error = "Enter your username (or e-mail) and password.".into();
        return login_page(&s, &headers, StatusCode::BAD_REQUEST, page).await;
    }
    let sent = get("form");
    if !form_cookie(&headers).is_some_and(|c| !sent.is_empty() && same(&c, sent)) {
        page.error = "This form had expired; sign in again.".into();
        return login_page(&s, &headers, StatusCode::FORBIDDEN, page).await;
    }
    let second = Some(get("totp")).filter(|t| !t.is_empty());
    match s
        .auth
        .login(&page.login, password, second, None, ip, now_ms())
        .await
    {
        Ok(issued) => {
            let username = crate::auth::normalise(&page.login);
            crate::http::accounts::audit(
                &s,
                issued.workspace_id,
                &format!("user:{username}"),
                AuditEvent::LoggedIn {
                    username,
                    from: crate::http::accounts::from(ip),
                },
            )
            .await;
            let max_age = (issued.expires_at - now_ms()) / 1000;
            with_cookie(
                see_other(&next),
                crate::http::accounts::cookie(&s, &issued.token, max_age),
            )
        }
        Err(e) => {
            let status = match &e {
                AuthError::SecondFactorRequired => {
                    page.need_totp = true;
                    page.error = if second.is_some() {
                        "Wrong login, password or code.".into()
                    } else {
                        "This account has a second factor: enter your password again and a code from your authenticator app (or a recovery code).".into()
                    };
                    StatusCode::UNAUTHORIZED
                }
                AuthError::Invalid => {
                    page.error = if page.need_totp {
                        "Wrong login, password or code.".into()
                    } else {
                        "Wrong login or password.".into()
                    };
                    StatusCode::UNAUTHORIZED
                }
                AuthError::Throttled(r) => {
                    page.error = format!(
                        "Too many tries: wait {} s and try again.",
                        r.retry_after.as_secs().max(1)
                    );
                    StatusCode::TOO_MANY_REQUESTS
                }
                AuthError::Busy => {
                    page.error = "Too many sign-ins are being checked; try again shortly.".into();
                    StatusCode::SERVICE_UNAVAILABLE
                }
                other => {
                    page.error = other.to_string();
                    StatusCode::UNAUTHORIZED
                }
            };
            login_page(&s, &headers, status, page).await
        }
    }
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    chrome: Chrome,
    form_token: String,
    set_up: bool,
    username: String,
    error: String,
}

async fn setup_page(
    s: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    mut page: SetupPage,
) -> Response {
    let (token, cookie) = form_token(s, headers);
    page.form_token = token;
    page.set_up = s.store.count_users().await.map_or(true, |n| n > 0);
    with_cookie(render(status, &page), cookie)
}

fn empty_setup() -> SetupPage {
    SetupPage {
        chrome: anonymous(),
        form_token: String::new(),
        set_up: false,
        username: String::new(),
        error: String::new(),
    }
}

/// `GET /setup`: make the first admin (or say how).
pub async fn setup_form(State(s): State<AppState>, headers: HeaderMap) -> Response {
    setup_page(&s, &headers, StatusCode::OK, empty_setup()).await
}

/// `POST /setup`: the first admin, with the setup token `serve` printed.
pub async fn setup(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let f = form(&bytes);
    let get = |k: &str| f.get(k).map(|v| v.trim()).unwrap_or("");
    let mut page = empty_setup();
    page.username = get("username").to_string();
    let password = f.get("password").map(String::as_str).unwrap_or("");
    let token = get("setup_token");
    if page.username.is_empty() || password.is_empty() || token.is_empty() {
        page.error = "Enter the setup token, a username and a password.".into();
        return setup_page(&s, &headers, StatusCode::BAD_REQUEST, page).await;
    }
    if f.get("password2").map(String::as_str) != Some(password) {
        page.error = "The two passwords differ.".into();
        return setup_page(&s, &headers, StatusCode::BAD_REQUEST, page).await;
    }
    let sent = get("form");
    if !form_cookie(&headers).is_some_and(|c| !sent.is_empty() && same(&c, sent)) {
        page.error = "This form had expired; try again.".into();
        return setup_page(&s, &headers, StatusCode::FORBIDDEN, page).await;
    }
    match s
        .auth
        .setup(token, &page.username, None, password, ip, now_ms())
        .await
    {
        Ok(issued) => {
            crate::http::accounts::audit(
                &s,
                issued.workspace_id,
                "setup",
                AuditEvent::UserCreated {
                    username: crate::auth::normalise(&page.username),
                    role: Role::Owner.to_string(),
                    from: crate::http::accounts::from(ip),
                },
            )
            .await;
            let max_age = (issued.expires_at - now_ms()) / 1000;
            with_cookie(
                see_other("/"),
                crate::http::accounts::cookie(&s, &issued.token, max_age),
            )
        }
        Err(e) => {
            let status = match &e {
                AuthError::Forbidden(_) => {
                    page.error =
                        "The setup token is wrong, or autoheal already has an admin.".into();
                    StatusCode::FORBIDDEN
                }
                AuthError::Field(_, why) => {
                    page.error = why.clone();
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                AuthError::Throttled(r) => {
                    page.error = format!(
                        "Too many tries: wait {} s and try again.",
                        r.retry_after.as_secs().max(1)
                    );
                    StatusCode::TOO_MANY_REQUESTS
                }
                other => {
                    page.error = other.to_string();
                    StatusCode::UNPROCESSABLE_ENTITY
                }
            };
            setup_page(&s, &headers, status, page).await
        }
    }
}

/// `POST /logout`: the session ends, the cookie goes.
pub async fn logout(State(s): State<AppState>, headers: HeaderMap, bytes: Bytes) -> PageResult {
    let f = form(&bytes);
    if !csrf_ok(&headers, f.get("csrf").map(String::as_str)) {
        return Err(refused_form());
    }
    if let Some(t) = session_cookie(&headers) {
        s.auth.logout(&t).await?;
    }
    Ok(with_cookie(
        see_other("/login"),
        crate::http::accounts::cookie(&s, "", 0),
    ))
}

// ---------------------------------------------------------------- overview

pub struct PhaseCount {
    pub phase: &'static str,
    pub count: usize,
}

pub struct TargetLink {
    pub name: String,
    pub href: String,
    pub phase: &'static str,
    pub detail: String,
}

pub struct IncidentRow {
    pub id: i64,
    pub href: String,
    pub target: String,
    pub target_href: String,
    pub opened: Time,
    pub reason: String,
    pub state: String,
    pub attempts: usize,
}

fn incident_row(i: &Incident) -> IncidentRow {
    IncidentRow {
        id: i.id,
        href: format!("/incidents/{}", i.id),
        target: i.target.clone(),
        target_href: target_href(&i.target),
        opened: time(i.opened_at),
        reason: i.reason.clone(),
        state: match (&i.resolution, &i.quarantine_reason, i.closed_at) {
            (Some(r), _, Some(_)) => {
                format!("{r} after {}", took(i.duration_ms.unwrap_or_default()))
            }
            (_, Some(_), None) => "quarantined".into(),
            _ => "open".into(),
        },
        attempts: i.attempts.len(),
    }
}

pub struct DeadLetter {
    pub id: i64,
    pub channel: String,
    pub tries: i64,
    pub error: String,
    pub at: Option<Time>,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    total: usize,
    phases: Vec<PhaseCount>,
    quarantined: Vec<TargetLink>,
    failing: Vec<TargetLink>,
    open_incidents: Vec<IncidentRow>,
    open_more: bool,
    heals: usize,
    heals_succeeded: usize,
    success_rate: String,
    mttr: String,
    recovered: usize,
    dead: Vec<DeadLetter>,
    dead_more: bool,
}

/// Every event of `kind` in the caller's workspace since `since`, newest
/// first, at most `cap`.
async fn events_since(
    s: &AppState,
    ws: i64,
    kind: &str,
    since: i64,
    cap: usize,
) -> Result<Vec<Event>, StoreError> {
    let mut out = Vec::new();
    let mut before = None;
    loop {
        let page = s
            .store
            .list_events(&EventFilter {
                workspace: Some(ws),
                kind: Some(kind.to_string()),
                before,
                limit: 500,
                ..Default::default()
            })
            .await?;
        let mut done = page.next_before.is_none();
        for e in page.items {
            if e.at < since || out.len() >= cap {
                done = true;
                break;
            }
            out.push(e);
        }
        if done {
            return Ok(out);
        }
        before = page.next_before;
    }
}

/// `GET /`: what is wrong now and how healing went over the last day.
pub async fn overview(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
) -> PageResult {
    let ws = who.workspace_id;
    let chrome = chrome(&who, &headers, "overview", true);
    let targets = s.supervisor.targets_in(ws);
    let phases = PHASES
        .iter()
        .map(|p| PhaseCount {
            phase: p,
            count: targets.iter().filter(|t| t.phase == *p).count(),
        })
        .collect();
    let link = |t: &TargetView| TargetLink {
        name: t.name.clone(),
        href: target_href(&t.name),
        phase: t.phase,
        detail: t.last_detail.clone().unwrap_or_default(),
    };
    let quarantined = targets
        .iter()
        .filter(|t| t.phase == "quarantined")
        .map(link)
        .collect();
    let failing = targets
        .iter()
        .filter(|t| matches!(t.phase, "failing" | "healing" | "verifying"))
        .take(20)
        .map(link)
        .collect();
    let open = s
        .store
        .list_incidents(&IncidentFilter {
            workspace: Some(ws),
            open: Some(true),
            limit: 20,
            ..Default::default()
        })
        .await?;
    let since = now_ms() - 24 * 3600 * 1000;
    let finished = events_since(&s, ws, "action_finished", since, 10_000).await?;
    let succeeded = finished
        .iter()
        .filter(|e| e.data["outcome"] == "succeeded")
        .count();
    let closed = events_since(&s, ws, "incident_closed", since, 10_000).await?;
    let recovered: Vec<f64> = closed
        .iter()
        .filter(|e| e.data["resolution"] == "recovered")
        .filter_map(|e| e.data["duration_s"].as_f64())
        .collect();
    let mttr = if recovered.is_empty() {
        "none".to_string()
    } else {
        took((recovered.iter().sum::<f64>() / recovered.len() as f64 * 1000.0) as i64)
    };
    let dead = s
        .store
        .list_deliveries(
            ws,
            &DeliveryFilter {
                state: Some(DeliveryState::Dead),
                limit: 10,
                ..Default::default()
            },
        )
        .await?;
    let page = OverviewPage {
        chrome,
        total: targets.len(),
        phases,
        quarantined,
        failing,
        open_more: open.next_before.is_some(),
        open_incidents: open
            .items
            .into_iter()
            .map(scope::shown_incident)
            .map(|i| incident_row(&i))
            .collect(),
        heals: finished.len(),
        heals_succeeded: succeeded,
        success_rate: if finished.is_empty() {
            "none".into()
        } else {
            format!("{:.0}%", succeeded as f64 * 100.0 / finished.len() as f64)
        },
        mttr,
        recovered: recovered.len(),
        dead_more: dead.next_before.is_some(),
        dead: dead
            .items
            .into_iter()
            .map(|d| DeadLetter {
                id: d.id,
                channel: d.channel,
                tries: d.tries,
                error: d.last_error.unwrap_or_default(),
                at: opt_time(d.ended_at),
            })
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

// ---------------------------------------------------------------- targets

#[derive(Debug, Default, Deserialize)]
pub struct TargetsQuery {
    q: Option<String>,
    phase: Option<String>,
    kind: Option<String>,
    page: Option<usize>,
}

pub struct TargetRow {
    pub name: String,
    pub href: String,
    pub kind: String,
    pub phase: &'static str,
    pub heartbeat: Heartbeat,
    pub detail: String,
    pub latency: String,
    pub checked: Option<Time>,
    pub incident: String,
}

#[derive(Template)]
#[template(path = "targets.html")]
struct TargetsPage {
    chrome: Chrome,
    q: String,
    phase: String,
    kind: String,
    phases: &'static [&'static str],
    kinds: Vec<String>,
    rows: Vec<TargetRow>,
    total: usize,
    matching: usize,
    page: usize,
    pages: usize,
    prev: String,
    next: String,
    first_shown: usize,
    last_shown: usize,
}

fn targets_link(q: &str, phase: &str, kind: &str, page: usize) -> String {
    let mut parts = Vec::new();
    for (k, v) in [("q", q), ("phase", phase), ("kind", kind)] {
        if !v.is_empty() {
            parts.push(format!("{k}={}", query_value(v)));
        }
    }
    if page > 1 {
        parts.push(format!("page={page}"));
    }
    if parts.is_empty() {
        "/targets".into()
    } else {
        format!("/targets?{}", parts.join("&"))
    }
}

/// `GET /targets`: search, filter by phase and kind, a page at a time.
pub async fn targets(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    q: Result<Query<TargetsQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let ws = who.workspace_id;
    let chrome = chrome(&who, &headers, "targets", true);
    let all = s.supervisor.targets_in(ws);
    let mut kinds: Vec<String> = all.iter().map(|t| t.kind.clone()).collect();
    kinds.sort();
    kinds.dedup();
    let text = q.q.unwrap_or_default().trim().to_string();
    let phase = q.phase.unwrap_or_default();
    let kind = q.kind.unwrap_or_default();
    let lower = text.to_lowercase();
    let matching: Vec<TargetView> = all
        .iter()
        .filter(|t| lower.is_empty() || t.name.to_lowercase().contains(&lower))
        .filter(|t| phase.is_empty() || t.phase == phase)
        .filter(|t| kind.is_empty() || t.kind == kind)
        .cloned()
        .collect();
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let shown: Vec<&TargetView> = matching
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    let checks = futures::future::join_all(shown.iter().map(|t| {
        let key = scope::qualify(ws, &t.name);
        let store = s.store.clone();
        async move { store.recent_checks(&key, ROW_BEATS as u32).await }
    }))
    .await;
    let mut rows = Vec::with_capacity(shown.len());
    for (t, checks) in shown.iter().zip(checks) {
        let checks = checks?;
        rows.push(TargetRow {
            name: t.name.clone(),
            href: target_href(&t.name),
            kind: t.kind.clone(),
            phase: t.phase,
            heartbeat: svg::heartbeat(&checks, ROW_BEATS),
            detail: t.last_detail.clone().unwrap_or_default(),
            latency: t
                .last_latency_ms
                .map(|l| format!("{l} ms"))
                .unwrap_or_default(),
            checked: opt_time(t.last_check_at),
            incident: t
                .incident_id
                .map(|i| format!("/incidents/{i}"))
                .unwrap_or_default(),
        });
    }
    let first_shown = if rows.is_empty() {
        0
    } else {
        (page - 1) * PAGE_SIZE + 1
    };
    let p = TargetsPage {
        chrome,
        prev: if page > 1 {
            targets_link(&text, &phase, &kind, page - 1)
        } else {
            String::new()
        },
        next: if page < pages {
            targets_link(&text, &phase, &kind, page + 1)
        } else {
            String::new()
        },
        last_shown: first_shown + rows.len().saturating_sub(1),
        first_shown,
        q: text,
        phase,
        kind,
        phases: &PHASES,
        kinds,
        rows,
        total: all.len(),
        matching: matching.len(),
        page,
        pages,
    };
    Ok(render(StatusCode::OK, &p))
}

// ---------------------------------------------------------------- a target

pub struct Uptime {
    pub label: &'static str,
    pub ratio: String,
    pub checks: u64,
}

pub struct Operation {
    pub verb: &'static str,
    pub label: &'static str,
    pub action: String,
    pub what: &'static str,
}

pub struct EventRow {
    pub at: Time,
    pub kind: String,
    pub message: String,
    pub actor: String,
    pub target: String,
    pub target_href: String,
    pub incident_href: String,
}

fn event_row(e: &Event) -> EventRow {
    let target = e.target.clone().unwrap_or_default();
    EventRow {
        at: time(e.at),
        kind: e.kind.clone(),
        message: e.message.clone(),
        actor: e.actor.clone(),
        target_href: if target.is_empty() {
            String::new()
        } else {
            target_href(&target)
        },
        target,
        incident_href: e
            .incident_id
            .map(|i| format!("/incidents/{i}"))
            .unwrap_or_default(),
    }
}

#[derive(Template)]
#[template(path = "target.html")]
struct TargetPage {
    chrome: Chrome,
    name: String,
    kind: String,
    phase: &'static str,
    incident: String,
    detail: String,
    latency: String,
    checked: Option<Time>,
    depends_on: String,
    heartbeat: Heartbeat,
    chart: Chart,
    uptime: Vec<Uptime>,
    policy: Vec<String>,
    operations: Vec<Operation>,
    notice: String,
    incidents: Vec<IncidentRow>,
    events: Vec<EventRow>,
    events_href: String,
}

/// What each operator command does, in the words its button uses.
const OPERATIONS: [(&str, &str, &str); 5] = [
    (
        "heal",
        "Heal now",
        "Run the next rung of its ladder now, whatever the threshold, cooldown and backoff say (not while quarantined: release it first).",
    ),
    (
        "quarantine",
        "Quarantine",
        "Stop acting on it: no action runs until someone releases it.",
    ),
    (
        "release",
        "Release",
        "Leave quarantine: its counters start again from zero.",
    ),
    (
        "pause",
        "Pause",
        "Observe and record only, never act, until resumed.",
    ),
    ("resume", "Resume", "Act on it again as its policy says."),
];

fn operation(verb: &str) -> Option<(Command, &'static str, &'static str, &'static str)> {
    let cmd = match verb {
        "heal" => Command::HealNow,
        "quarantine" => Command::Quarantine,
        "release" => Command::Release,
        "pause" => Command::Pause,
        "resume" => Command::Resume,
        _ => return None,
    };
    OPERATIONS
        .iter()
        .find(|(v, _, _)| *v == verb)
        .map(|(v, label, what)| (cmd, *v, *label, *what))
}

#[derive(Debug, Default, Deserialize)]
pub struct TargetQuery {
    done: Option<String>,
}

fn uptime_of(label: &'static str, u: autoheal_store::Uptime) -> Uptime {
    let total = u.up + u.degraded + u.down;
    Uptime {
        label,
        ratio: if total == 0 {
            "no checks".into()
        } else {
            let r = u.up as f64 * 100.0 / total as f64;
            if r >= 99.995 || r == 0.0 {
                format!("{r:.0}%")
            } else {
                format!("{r:.2}%")
            }
        },
        checks: total,
    }
}

/// `GET /targets/{name}`.
pub async fn target(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    Path(name): Path<String>,
    q: Result<Query<TargetQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let ws = who.workspace_id;
    let chrome = chrome(&who, &headers, "targets", true);
    let Some(view) = s.supervisor.target_in(ws, &name) else {
        return Err(
            PageError::not_found(format!("There is no target named {name:?}.")).with(chrome),
        );
    };
    let key = scope::qualify(ws, &name);
    let checks = s.store.recent_checks(&key, 120).await?;
    let now = now_ms();
    let mut uptime = Vec::new();
    for (label, days) in [("24 h", 1), ("7 days", 7), ("30 days", 30)] {
        let u = s.store.uptime(&key, now - days * 86_400_000).await?;
        uptime.push(uptime_of(label, u));
    }
    let incidents = s
        .store
        .list_incidents(&IncidentFilter {
            workspace: Some(ws),
            target: Some(key.clone()),
            limit: 20,
            ..Default::default()
        })
        .await?;
    let events = s
        .store
        .list_events(&EventFilter {
            workspace: Some(ws),
            target: Some(key),
            limit: 30,
            ..Default::default()
        })
        .await?;
    let operations = if who.can(Role::Operator) {
        OPERATIONS
            .iter()
            .map(|(verb, label, what)| Operation {
                verb,
                label,
                what,
                action: format!("{}/{verb}", target_href(&name)),
            })
            .collect()
    } else {
        Vec::new()
    };
    let done = q.ok().and_then(|Query(q)| q.done);
    let notice = match done.as_deref().and_then(operation) {
        Some((_, _, label, _)) => format!("{label}: done."),
        None => String::new(),
    };
    let policy = view
        .policy
        .as_deref()
        .map(|p| super::policy::in_words(p, &view.depends_on))
        .unwrap_or_default();
    let page = TargetPage {
        chrome,
        kind: view.kind.clone(),
        phase: view.phase,
        incident: view
            .incident_id
            .map(|i| format!("/incidents/{i}"))
            .unwrap_or_default(),
        detail: view.last_detail.clone().unwrap_or_default(),
        latency: view
            .last_latency_ms
            .map(|l| format!("{l} ms"))
            .unwrap_or_default(),
        checked: opt_time(view.last_check_at),
        depends_on: view.depends_on.join(", "),
        heartbeat: svg::heartbeat(&checks, 60),
        chart: svg::latency(&checks),
        uptime,
        policy,
        operations,
        notice,
        incidents: incidents
            .items
            .into_iter()
            .map(scope::shown_incident)
            .map(|i| incident_row(&i))
            .collect(),
        events: events
            .items
            .into_iter()
            .map(scope::shown_event)
            .map(|e| event_row(&e))
            .collect(),
        events_href: format!("/events?target={}", query_value(&name)),
        name,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    name: String,
    back: String,
    action: String,
    label: &'static str,
    what: &'static str,
}

/// `POST /targets/{name}/{command}`: heal, quarantine, release, pause or
/// resume, after a confirmation page.
pub async fn command(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    Path((name, verb)): Path<(String, String)>,
    bytes: Bytes,
) -> PageResult {
    let ws = who.workspace_id;
    let chrome = chrome(&who, &headers, "targets", false);
    if s.supervisor.target_in(ws, &name).is_none() {
        return Err(
            PageError::not_found(format!("There is no target named {name:?}.")).with(chrome),
        );
    }
    let Some((cmd, verb, label, what)) = operation(&verb) else {
        return Err(PageError::not_found(
            "There is no such command; a target can be healed, quarantined, released, paused or resumed.",
        )
        .with(chrome));
    };
    let f = form(&bytes);
    if !csrf_ok(&headers, f.get("csrf").map(String::as_str)) {
        return Err(refused_form().with(chrome));
    }
    let back = target_href(&name);
    if f.get("confirm").map(String::as_str) != Some("yes") {
        return Ok(render(
            StatusCode::OK,
            &ConfirmPage {
                chrome,
                action: format!("{back}/{verb}"),
                back,
                name,
                label,
                what,
            },
        ));
    }
    let key = scope::qualify(ws, &name);
    match s.supervisor.command(&key, cmd, &who.actor()).await {
        Ok(()) => Ok(see_other(&format!("{back}?done={verb}"))),
        Err(CommandError::Refused(why)) => Err(PageError::new(
            StatusCode::CONFLICT,
            "Refused",
            format!("{label} {name}: autoheal refused: {why}"),
        )
        .with(chrome)),
        Err(CommandError::UnknownTarget(_)) => {
            Err(PageError::not_found(format!("There is no target named {name:?}.")).with(chrome))
        }
        Err(CommandError::Stopped) => Err(PageError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not running",
            "The supervisor is not running; autoheal is stopping.",
        )
        .with(chrome)),
    }
}

// ---------------------------------------------------------------- an incident

pub struct AttemptRow {
    pub rung: i32,
    pub attempt: i32,
    pub action: String,
    pub started: Time,
    pub took: String,
    pub outcome: String,
    pub detail: String,
}

pub struct Step {
    pub at: Time,
    pub kind: String,
    pub message: String,
    pub actor: String,
    /// A class for the step's mark: start, act, good, bad, note.
    pub class: &'static str,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    chrome: Chrome,
    id: i64,
    target: String,
    target_href: String,
    reason: String,
    state: String,
    opened: Time,
    closed: Option<Time>,
    took: String,
    acknowledged: String,
    quarantine_reason: String,
    attempts: Vec<AttemptRow>,
    steps: Vec<Step>,
}

fn step_class(kind: &str) -> &'static str {
    match kind {
        "incident_opened" => "start",
        "action_started" | "operator_command" | "alert_received" => "act",
        "incident_closed" | "released" => "good",
        "action_failed"
        | "verification_failed"
        | "quarantined"
        | "command_refused"
        | "incident_abandoned"
        | "action_interrupted" => "bad",
        "action_finished" => "act",
        _ => "note",
    }
}

/// `GET /incidents/{id}`: from detection through each attempt to the end.
pub async fn incident(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> PageResult {
    let ws = who.workspace_id;
    let chrome = chrome(&who, &headers, "overview", false);
    let Ok(Path(id)) = id else {
        return Err(PageError::not_found("There is no such incident.").with(chrome));
    };
    let Some(i) = s.store.get_incident_in(ws, id).await? else {
        return Err(PageError::not_found(format!("There is no incident {id}.")).with(chrome));
    };
    let i = scope::shown_incident(i);
    let mut events = s
        .store
        .list_events(&EventFilter {
            workspace: Some(ws),
            incident_id: Some(id),
            limit: 500,
            ..Default::default()
        })
        .await?
        .items;
    events.reverse();
    let row = incident_row(&i);
    let page = IncidentPage {
        chrome,
        id,
        target_href: row.target_href,
        target: i.target.clone(),
        reason: i.reason.clone(),
        state: row.state,
        opened: time(i.opened_at),
        closed: opt_time(i.closed_at),
        took: i.duration_ms.map(took).unwrap_or_default(),
        acknowledged: match (&i.acknowledged_by, i.acknowledged_at) {
            (Some(by), Some(at)) => format!("{by} at {}", utc(at)),
            _ => String::new(),
        },
        quarantine_reason: i.quarantine_reason.clone().unwrap_or_default(),
        attempts: i
            .attempts
            .iter()
            .map(|a| AttemptRow {
                rung: a.rung + 1,
                attempt: a.attempt,
                action: a.action.clone(),
                started: time(a.started_at),
                took: a
                    .finished_at
                    .map(|f| took(f - a.started_at))
                    .unwrap_or_else(|| "running".into()),
                outcome: a.outcome.clone().unwrap_or_else(|| "running".into()),
                detail: a.detail.clone().unwrap_or_default(),
            })
            .collect(),
        steps: events
            .into_iter()
            .map(scope::shown_event)
            .map(|e| Step {
                at: time(e.at),
                class: step_class(&e.kind),
                kind: e.kind,
                message: e.message,
                actor: e.actor,
            })
            .collect(),
    };
    Ok(render(StatusCode::OK, &page))
}

// ---------------------------------------------------------------- events

#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    target: Option<String>,
    kind: Option<String>,
    actor: Option<String>,
    before: Option<i64>,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    chrome: Chrome,
    target: String,
    kind: String,
    actor: String,
    events: Vec<EventRow>,
    older: String,
    newest: String,
    first_page: bool,
}

/// `GET /events`: the audit log, filtered by target, kind and actor.
pub async fn events(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let ws = who.workspace_id;
    let chrome = chrome(&who, &headers, "events", true);
    let clean = |v: Option<String>| v.map(|v| v.trim().to_string()).unwrap_or_default();
    let (target, kind, actor) = (clean(q.target), clean(q.kind), clean(q.actor));
    let some = |v: &str| Some(v.to_string()).filter(|v| !v.is_empty());
    let page = s
        .store
        .list_events(&EventFilter {
            workspace: Some(ws),
            target: some(&target).map(|t| scope::qualify(ws, &t)),
            kind: some(&kind),
            actor: some(&actor),
            before: q.before,
            limit: 50,
            ..Default::default()
        })
        .await?;
    let link = |before: Option<i64>| {
        let mut parts = Vec::new();
        for (k, v) in [("target", &target), ("kind", &kind), ("actor", &actor)] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", query_value(v)));
            }
        }
        if let Some(b) = before {
            parts.push(format!("before={b}"));
        }
        if parts.is_empty() {
            "/events".to_string()
        } else {
            format!("/events?{}", parts.join("&"))
        }
    };
    let p = EventsPage {
        chrome,
        older: page.next_before.map(|b| link(Some(b))).unwrap_or_default(),
        newest: link(None),
        first_page: q.before.is_none(),
        events: page
            .items
            .into_iter()
            .map(scope::shown_event)
            .map(|e| event_row(&e))
            .collect(),
        target,
        kind,
        actor,
    };
    Ok(render(StatusCode::OK, &p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_one_path_segment() {
        assert_eq!(segment("web-1.a_b"), "web-1.a_b");
        assert_eq!(segment("proj/web"), "proj%2Fweb");
        assert_eq!(segment("<x y>"), "%3Cx%20y%3E");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(took(850), "850 ms");
        assert_eq!(took(12_300), "12.3 s");
        assert_eq!(took(184_000), "3 min 4 s");
    }
}
