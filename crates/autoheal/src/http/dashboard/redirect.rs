//! What every dashboard answer carries (the security headers) and the
//! redirects the access layer sends browsers (to sign in, to setup): apart
//! from the pages, so `http::access` can send them without the pages.

use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// What a page may load and where it may send: this server only; no
/// inline script or style anywhere (the charts are SVG elements styled by
/// the stylesheet).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The headers every dashboard answer carries.
pub(crate) fn secure(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// `303 See Other` to `location` (a path of ours).
pub fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    secure(&mut r);
    r
}

/// An anonymous browser asking for `uri`: to the sign-in page, which sends
/// it back there afterwards (after a GET only; a form sent without a
/// session is not sent again).
pub fn to_sign_in(method: &Method, uri: &Uri) -> Response {
    if method != Method::GET {
        return see_other("/login");
    }
    let back = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if back == "/" {
        return see_other("/login");
    }
    let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
    see_other(&format!("/login?next={next}"))
}
