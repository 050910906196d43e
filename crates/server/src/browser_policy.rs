//! What browsers may do here and what they are told: the Origin rule for WebSocket upgrades
//! and cookie-signed writes, and the security headers on every answer.
//!
//! A browser sends the session cookie with every request to this host, whichever page made
//! it, so a page of another site could open a socket or post a write as the signed-in user.
//! Browsers name the page's origin in `Origin` (always on WebSocket upgrades, and on every
//! request but GET and HEAD), and a page cannot forge it. The rule:
//!
//! - A WebSocket upgrade with an `Origin` must come from one of this node's origins, however
//!   it authenticates. One without `Origin` is not from a browser; it is served when its
//!   token is in `Authorization` or `?token=` (ffmpeg, Python, the CLI: they cannot ride
//!   anyone's cookie) and refused when the cookie is its only credential.
//! - A state-changing request (any method but GET, HEAD, OPTIONS, TRACE) whose token is not
//!   in `Authorization` or `?token=` (signed with the cookie, or anonymous, as sign-in is)
//!   must, when it has an `Origin`, have one of ours. With the cookie and no `Origin` it
//!   needs `Sec-Fetch-Site: same-origin` or a `Referer` of ours.
//! - Our origins: `public_url`'s, each of `allowed_origins`, and the origin the request was
//!   sent to (its `Host`; https only when this node serves TLS itself). A DNS-rebinding page
//!   can match its own `Host` but gets no cookie of ours, and its requests carry no token.
//! - A request another node forwarded (`crate::kernel_proxy::FORWARDED_HEADER`) was judged by
//!   that node. A page cannot add that header across sites: the WebSocket API takes no
//!   headers, and a custom header on a cross-site request needs a CORS preflight this server
//!   never grants.
//!
//! Refusals answer 403 `forbidden_origin` and count in `switchboard_forbidden_origin_total`.

use crate::auth::{self, TokenSource};
use crate::config::Config;
use crate::error::ApiError;
use crate::kernel_proxy::FORWARDED_HEADER;
use crate::origin::{origin_of, parse_configured_origin};
use crate::protocol::ErrorCode;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// This node's origins and how a request's credential is found.
#[derive(Debug)]
pub struct OriginPolicy {
    /// Serialized origins (`https://sb.example.org`, `http://127.0.0.1:8080`).
    allowed: BTreeSet<String>,
    /// The node serves TLS itself, so a page of a request's own host is an https page.
    serves_tls: bool,
    cookie_name: &'static str,
}

/// Why a request was refused, as the metric's `request` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// A WebSocket from another origin, or signed with the cookie and naming no origin.
    Socket,
    /// A cookie-signed or anonymous write from another origin, or cookie-signed with nothing
    /// showing it came from our own pages.
    Write,
}

impl OriginPolicy {
    /// The policy of a node with this (validated) configuration.
    pub fn new(config: &Config) -> Self {
        let mut allowed: BTreeSet<String> = config
            .network
            .allowed_origins
            .iter()
            .filter_map(|o| parse_configured_origin(o).ok())
            .collect();
        if let Some(own) = origin_of(&config.public_url()) {
            allowed.insert(own);
        }
        OriginPolicy {
            allowed,
            serves_tls: config.tls_enabled(),
            cookie_name: auth::cookie_name(config.served_over_https()),
        }
    }

    /// Whether a page of `origin` (an `Origin` or `Referer` value) is one of ours.
    fn allows(&self, origin: &str, headers: &HeaderMap) -> bool {
        let Some(origin) = origin_of(origin) else {
            return false; // `null` (sandboxed frames, files) or garbage
        };
        self.allowed.contains(&origin) || self.is_addressed_origin(&origin, headers)
    }

    /// Whether `origin` is the one the request was sent to: same host and port as its `Host`.
    fn is_addressed_origin(&self, origin: &str, headers: &HeaderMap) -> bool {
        let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
            return false;
        };
        if host.is_empty() || host.contains(['/', '\\', '@', '?', '#']) {
            return false;
        }
        let Some((scheme, _)) = origin.split_once("://") else {
            return false;
        };
        if self.serves_tls && scheme != "https" {
            return false;
        }
        origin_of(&format!("{scheme}://{host}")).is_some_and(|addressed| addressed == origin)
    }

    /// The rule of the module doc, for one request.
    fn judge(
        &self,
        method: &Method,
        headers: &HeaderMap,
        uri: &axum::http::Uri,
    ) -> Result<(), Refusal> {
        if headers.contains_key(FORWARDED_HEADER) {
            return Ok(());
        }
        let socket = is_websocket_upgrade(method, headers);
        let writes = !matches!(
            *method,
            Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
        );
        if !socket && !writes {
            return Ok(());
        }
        let source = auth::find_token(headers, uri, self.cookie_name).map(|(source, _)| source);
        let origin = headers
            .get(header::ORIGIN)
            .map(|o| o.to_str().unwrap_or(""));
        if socket {
            return match origin {
                Some(origin) if self.allows(origin, headers) => Ok(()),
                Some(_) => Err(Refusal::Socket),
                None if source == Some(TokenSource::Cookie) => Err(Refusal::Socket),
                None => Ok(()),
            };
        }
        if matches!(source, Some(TokenSource::Header | TokenSource::Query)) {
            return Ok(());
        }
        match origin {
            Some(origin) if self.allows(origin, headers) => Ok(()),
            Some(_) => Err(Refusal::Write),
            None if source == Some(TokenSource::Cookie) => {
                let same_origin_fetch = headers
                    .get("sec-fetch-site")
                    .is_some_and(|v| v.as_bytes() == b"same-origin");
                let our_referer = headers
                    .get(header::REFERER)
                    .and_then(|r| r.to_str().ok())
                    .is_some_and(|r| self.allows(r, headers));
                if same_origin_fetch || our_referer {
                    Ok(())
                } else {
                    Err(Refusal::Write)
                }
            }
            None => Ok(()),
        }
    }
}

/// Middleware: refuses what [`OriginPolicy`] does not allow, before any handler runs.
pub async fn check_origin(
    State(policy): State<Arc<OriginPolicy>>,
    req: Request,
    next: Next,
) -> Response {
    let Err(refusal) = policy.judge(req.method(), req.headers(), req.uri()) else {
        return next.run(req).await;
    };
    let (label, message) = match refusal {
        Refusal::Socket => (
            "websocket",
            "WebSockets are accepted from this server's own pages only; a client outside a \
             browser sends its token in the Authorization header or ?token=",
        ),
        Refusal::Write => (
            "write",
            "changes signed with the session cookie are accepted from this server's own \
             pages only; other clients send their token in the Authorization header",
        ),
    };
    metrics::counter!("switchboard_forbidden_origin_total", "request" => label).increment(1);
    tracing::debug!(
        origin = ?req.headers().get(header::ORIGIN),
        request = label,
        "refused a request from another origin"
    );
    ApiError::new(ErrorCode::ForbiddenOrigin, message).into_response()
}

/// A WebSocket handshake: HTTP/1.1's `Upgrade: websocket`, or HTTP/2's extended CONNECT.
fn is_websocket_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    *method == Method::CONNECT
        || headers
            .get_all(header::UPGRADE)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

/// The headers every answer carries.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    /// `Strict-Transport-Security`, when the node is reached over HTTPS and it is on.
    hsts: Option<HeaderValue>,
}

impl SecurityHeaders {
    /// The headers of a node with this configuration.
    pub fn new(config: &Config) -> Self {
        SecurityHeaders {
            hsts: hsts_value(config.served_over_https(), config.network.hsts_max_age),
        }
    }

    /// The headers of a plain-HTTP listener (the metrics listener): no HSTS.
    pub fn plain_http() -> Self {
        SecurityHeaders { hsts: None }
    }
}

fn hsts_value(https: bool, max_age: Duration) -> Option<HeaderValue> {
    // Browsers ignore HSTS over plain HTTP; sent there it would only mislead readers.
    if !https || max_age.is_zero() {
        return None;
    }
    HeaderValue::from_str(&format!("max-age={}", max_age.as_secs())).ok()
}

/// Middleware: `X-Content-Type-Options: nosniff` on every answer, so a browser never runs
/// an answer (a JSON error echoing input, a stored file) as another type than declared;
/// and HSTS over HTTPS.
pub async fn add_security_headers(
    State(security): State<Arc<SecurityHeaders>>,
    req: Request,
    next: Next,
) -> Response {
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(hsts) = &security.hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Uri;

    /// A node behind a TLS proxy at `https://sb.example.org`: its cookie is `__Host-sb_token`.
    fn policy(tweak: impl FnOnce(&mut Config)) -> OriginPolicy {
        let mut config = Config::default();
        config.network.listen = "127.0.0.1:8080".parse().unwrap();
        config.network.public_url = Some("https://sb.example.org".into());
        tweak(&mut config);
        OriginPolicy::new(&config)
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    const SOCKET: &[(&str, &str)] = &[("upgrade", "websocket"), ("host", "10.0.0.5:8080")];

    #[test]
    fn origins_are_compared_as_browsers_serialize_them() {
        assert_eq!(
            origin_of("https://SB.example.org:443/").as_deref(),
            Some("https://sb.example.org")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/s/1?x").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("null"), None);
        assert_eq!(origin_of("file:///etc/passwd"), None);
        assert!(parse_configured_origin("https://ui.example.org").is_ok());
        for bad in [
            "ui.example.org",
            "ftp://ui.example.org",
            "https://ui.example.org/app",
            "https://u@ui.example.org",
        ] {
            assert!(parse_configured_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sockets_need_our_origin_or_a_token_outside_the_cookie() {
        let p = policy(|c| c.network.allowed_origins = vec!["https://ui.example.org".into()]);
        let get = Method::GET;
        let uri: Uri = "/api/v1/events".parse().unwrap();
        let with = |extra: &[(&str, &str)]| {
            let mut all = SOCKET.to_vec();
            all.extend_from_slice(extra);
            p.judge(&get, &headers(&all), &uri)
        };
        assert_eq!(
            with(&[
                ("origin", "https://evil.example"),
                ("cookie", "__Host-sb_token=t")
            ]),
            Err(Refusal::Socket)
        );
        assert_eq!(
            with(&[
                ("origin", "https://evil.example"),
                ("authorization", "Bearer t")
            ]),
            Err(Refusal::Socket)
        );
        assert_eq!(
            with(&[("origin", "null"), ("cookie", "__Host-sb_token=t")]),
            Err(Refusal::Socket)
        );
        assert_eq!(
            with(&[("cookie", "__Host-sb_token=t")]),
            Err(Refusal::Socket)
        );
        assert_eq!(with(&[("authorization", "Bearer t")]), Ok(()));
        assert_eq!(
            with(&[
                ("origin", "https://sb.example.org"),
                ("cookie", "__Host-sb_token=t")
            ]),
            Ok(())
        );
        assert_eq!(
            with(&[
                ("origin", "https://ui.example.org"),
                ("cookie", "__Host-sb_token=t")
            ]),
            Ok(())
        );
        // The page the request was addressed to is ours.
        assert_eq!(
            with(&[
                ("origin", "http://10.0.0.5:8080"),
                ("cookie", "__Host-sb_token=t")
            ]),
            Ok(())
        );
        assert_eq!(
            with(&[
                ("origin", "http://10.0.0.5:8081"),
                ("cookie", "__Host-sb_token=t")
            ]),
            Err(Refusal::Socket)
        );
        let query: Uri = "/api/v1/events?token=t".parse().unwrap();
        assert_eq!(p.judge(&get, &headers(SOCKET), &query), Ok(()));
    }

    #[test]
    fn cookie_writes_need_our_origin_and_token_writes_do_not() {
        let p = policy(|_| {});
        let post = Method::POST;
        let uri: Uri = "/api/v1/account/invites".parse().unwrap();
        let judge = |pairs: &[(&str, &str)]| p.judge(&post, &headers(pairs), &uri);
        let cookie = ("cookie", "theme=dark; __Host-sb_token=t");
        assert_eq!(
            judge(&[cookie, ("origin", "https://evil.example")]),
            Err(Refusal::Write)
        );
        assert_eq!(judge(&[cookie]), Err(Refusal::Write));
        assert_eq!(
            judge(&[cookie, ("sec-fetch-site", "same-site")]),
            Err(Refusal::Write)
        );
        assert_eq!(
            judge(&[cookie, ("referer", "https://evil.example/sb.example.org")]),
            Err(Refusal::Write)
        );
        assert_eq!(judge(&[cookie, ("sec-fetch-site", "same-origin")]), Ok(()));
        assert_eq!(
            judge(&[cookie, ("referer", "https://sb.example.org/account")]),
            Ok(())
        );
        assert_eq!(
            judge(&[cookie, ("origin", "https://sb.example.org")]),
            Ok(())
        );
        assert_eq!(
            judge(&[
                ("authorization", "Bearer t"),
                ("origin", "https://evil.example")
            ]),
            Ok(())
        );
        assert_eq!(
            judge(&[("origin", "https://evil.example")]),
            Err(Refusal::Write)
        );
        assert_eq!(judge(&[]), Ok(()));
        // Reading is not writing.
        assert_eq!(
            p.judge(
                &Method::GET,
                &headers(&[cookie, ("origin", "https://evil.example")]),
                &uri
            ),
            Ok(())
        );
    }

    #[test]
    fn over_tls_the_addressed_origin_is_https_and_the_cookie_is_host_prefixed() {
        let p = policy(|c| c.network.tls_self_signed = true);
        assert_eq!(p.cookie_name, "__Host-sb_token");
        let post = Method::POST;
        let uri: Uri = "/api/v1/sessions".parse().unwrap();
        let host = ("host", "10.0.0.5:8443");
        let cookie = ("cookie", "__Host-sb_token=t");
        assert_eq!(
            p.judge(
                &post,
                &headers(&[host, cookie, ("origin", "https://10.0.0.5:8443")]),
                &uri
            ),
            Ok(())
        );
        assert_eq!(
            p.judge(
                &post,
                &headers(&[host, cookie, ("origin", "http://10.0.0.5:8443")]),
                &uri
            ),
            Err(Refusal::Write)
        );
        // The plain-HTTP cookie name is not a credential here.
        assert_eq!(
            p.judge(&post, &headers(&[host, ("cookie", "sb_token=t")]), &uri),
            Ok(())
        );
    }

    #[test]
    fn hsts_only_over_https_and_when_on() {
        let year = Duration::from_secs(31_536_000);
        assert_eq!(hsts_value(true, year).unwrap(), "max-age=31536000");
        assert!(hsts_value(false, year).is_none());
        assert!(hsts_value(true, Duration::ZERO).is_none());
    }
}
