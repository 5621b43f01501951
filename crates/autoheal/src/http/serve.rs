//! Serving the router over HTTP/1.1 with bounds, so clients cannot starve
//! checks and actions of file descriptors (issue 7 item 12):
//! - at most `max_connections` connections are open at once; more wait in
//!   the kernel's backlog (which holds no descriptor of ours) until one
//!   closes;
//! - a client must send a request's headers within `header_read_timeout`,
//!   which is also how long an idle keep-alive connection is kept;
//! - request heads are capped at 96 KiB.
//!
//! With `[server] tls_cert`/`tls_key` every connection is HTTPS
//! ([`super::tls`]): the handshake must finish within `header_read_timeout`
//! too, so a slow or silent client cannot hold a connection slot, and then
//! the connection is served exactly as a plain one.
//!
//! hyper answers requests it cannot parse by itself (400, 414, 431, with an
//! empty body); [`ErrorShapeIo`] rewrites those answers into the API's JSON
//! error shape.

use super::tls::TlsReloader;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// The bounds of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// How long open requests may finish after shutdown begins.
const DRAIN: Duration = Duration::from_secs(5);

/// Largest request head (request line and headers) read.
const MAX_HEAD: usize = 96 * 1024;

/// Serves `router` on `listener` until `shutdown`, then lets open requests
/// finish for up to 5 s. With `tls`, over HTTPS only, each handshake with
/// the settings in force when the connection was accepted.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<TlsReloader>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD)
        .keep_alive(true);
    let mut full_logged = false;
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        if slots.available_permits() == 0 && !full_logged {
            full_logged = true;
            tracing::warn!(
                max_connections = limits.max_connections,
                "The API has as many connections open as [server] max_connections allows; new ones wait until one closes."
            );
        } else if slots.available_permits() > limits.max_connections / 2 {
            full_logged = false;
        }
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: wait instead of spinning.
                    tracing::warn!(error = %e, "Accepting an API connection failed.");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // The peer's address, for per-address limits and the audit log.
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            },
        ));
        let Some(tls) = &tls else {
            let conn = builder.serve_connection(TokioIo::new(ErrorShapeIo::new(stream)), service);
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "An API connection ended with an error.");
                }
                drop(permit);
            });
            continue;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        let (handshake_timeout, shutdown) = (limits.header_read_timeout, shutdown.clone());
        tokio::spawn(async move {
            let stream = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = tokio::time::timeout(handshake_timeout, acceptor.accept(stream)) => match r {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %peer, error = %e, "A TLS handshake with an API client failed.");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(peer = %peer, "An API client did not finish its TLS handshake within [server] header_read_timeout.");
                        return;
                    }
                },
            };
            let conn = builder.serve_connection(TokioIo::new(ErrorShapeIo::new(stream)), service);
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(error = %e, "An API connection ended with an error.");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN) => {
            tracing::warn!("Some API connections were still open {DRAIN:?} after shutdown began; closing them.");
        }
    }
    Ok(())
}

/// A connection whose hyper-made error answers (400, 414, 431 with an empty
/// body, written when a request cannot be parsed) are replaced by the API's
/// JSON error shape. Everything else passes through untouched.
pub struct ErrorShapeIo<T> {
    inner: T,
    /// A replacement being written: its bytes, how far, and the length of
    /// the answer it replaces (reported to hyper once all is written).
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<T> ErrorShapeIo<T> {
    pub fn new(inner: T) -> Self {
        ErrorShapeIo {
            inner,
            replacing: None,
        }
    }
}

/// The JSON answer for one of hyper's own error heads, if `buf` is one.
fn replacement(buf: &[u8]) -> Option<Vec<u8>> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    if head_end != buf.len() {
        return None; // a body follows: one of ours
    }
    let head = std::str::from_utf8(&buf[..head_end]).ok()?;
    let rest = head
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| head.strip_prefix("HTTP/1.0 "))?;
    let code: u16 = rest.get(..3)?.parse().ok()?;
    let (status, error_code, message) = match code {
        400 => (
            "400 Bad Request",
            "bad_request",
            "the request could not be parsed as HTTP/1.1",
        ),
        414 => (
            "414 URI Too Long",
            "uri_too_long",
            "the request's URI is too long",
        ),
        431 => (
            "431 Request Header Fields Too Large",
            "headers_too_large",
            "the request's headers are too large (at most 96 KiB)",
        ),
        _ => return None,
    };
    let lower = head.to_ascii_lowercase();
    if !lower.contains("\r\ncontent-length: 0\r\n") || lower.contains("\r\ncontent-type:") {
        return None;
    }
    let body = serde_json::json!({"error": {"code": error_code, "message": message}}).to_string();
    Some(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for ErrorShapeIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ErrorShapeIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.replacing.is_none() {
            match replacement(buf) {
                Some(r) => self.replacing = Some((r, 0, buf.len())),
                None => return Pin::new(&mut self.inner).poll_write(cx, buf),
            }
        }
        let this = &mut *self;
        let Some((bytes, done, replaced)) = this.replacing.as_mut() else {
            unreachable!("set just above");
        };
        while *done < bytes.len() {
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        let replaced = *replaced;
        this.replacing = None;
        Poll::Ready(Ok(replaced))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then writes each answer as one buffer, which is
    // what `replacement` looks at.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

/// Raises the soft limit of open files to the hard limit, so checks,
/// actions and API connections do not run out of descriptors at the common
/// 1,024. Returns (before, after), or why it could not.
// rlim_t is u64 on 64-bit Linux, not everywhere.
#[allow(clippy::unnecessary_cast)]
pub fn raise_fd_limit() -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; no other memory.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit only reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((before as u64, lim.rlim_cur as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_error_heads_are_replaced() {
        let hyper =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let r = String::from_utf8(replacement(hyper).unwrap()).unwrap();
        assert!(r.starts_with("HTTP/1.1 431 "), "{r}");
        assert!(r.contains("application/json") && r.contains("\"headers_too_large\""));
        // Ours have a content type, or a body in the same buffer.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement(ours).is_none());
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert!(replacement(with_body).is_none());
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement(ok).is_none());
    }
}
