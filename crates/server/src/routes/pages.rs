//! The web UI: each page's HTML at its route, and the files under `web/assets/` at
//! `/assets/...`, embedded in the binary. Pages are static; everything they show comes from
//! the JSON API, so this module holds no business logic.

use crate::App;
use crate::error::ApiError;
use crate::protocol::ErrorCode;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::fmt::Write as _;
use std::sync::Arc;

/// The `web/` folder. In debug builds rust-embed reads it from disk, so edits show on reload.
#[derive(rust_embed::Embed)]
#[folder = "$CARGO_MANIFEST_DIR/../../web"]
struct Web;

/// Pages only load what the server itself serves: no third-party origin can run code, be
/// contacted or frame them. `blob:` is for frames and snapshots, `mediastream:` for the
/// phone's camera preview.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// The API reference page renders with Scalar, which adds its own `<style>` elements; it may
/// do that and nothing else the other pages may not.
const API_DOCS_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
    connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Browser features pages may use: the camera (the phone page streams it), nothing else.
const PERMISSIONS_POLICY: &str = "camera=(self), microphone=(), geolocation=()";

/// Pages that may also use the microphone: the cameras page (asking by voice), the phone
/// page (the patient's voice over WebRTC) and the viewmaster (talking back).
const MICROPHONE_PERMISSIONS_POLICY: &str = "camera=(self), microphone=(self), geolocation=()";

async fn media_page(name: &'static str, headers: HeaderMap) -> Response {
    page_with(
        name,
        headers,
        CONTENT_SECURITY_POLICY,
        MICROPHONE_PERMISSIONS_POLICY,
    )
    .await
}

/// The page routes and the asset route.
pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(|h: HeaderMap| page("dashboard.html", h)))
        .route("/login", get(|h: HeaderMap| page("login.html", h)))
        .route("/account", get(|h: HeaderMap| page("account.html", h)))
        .route("/admin", get(|h: HeaderMap| page("admin.html", h)))
        .route(
            "/cameras",
            get(|h: HeaderMap| media_page("cameras.html", h)),
        )
        .route("/cell", get(|h: HeaderMap| page("cell.html", h)))
        .route("/c/{permalink}", get(|h: HeaderMap| page("cell.html", h)))
        .route(
            "/s/{suid}",
            get(|h: HeaderMap| media_page("session.html", h)),
        )
        .route("/d", get(|h: HeaderMap| media_page("device.html", h)))
        .route(
            "/d/{ticket}",
            get(|h: HeaderMap| media_page("device.html", h)),
        )
        .route(
            "/api/docs",
            get(|h: HeaderMap| page_with_policy("api-docs.html", h, API_DOCS_SECURITY_POLICY)),
        )
        .route("/favicon.ico", get(|h: HeaderMap| asset("icon.svg", h)))
        .route(
            "/assets/{*path}",
            get(|Path(path): Path<String>, h: HeaderMap| asset_route(path, h)),
        )
}

async fn page(name: &'static str, headers: HeaderMap) -> Response {
    page_with(name, headers, CONTENT_SECURITY_POLICY, PERMISSIONS_POLICY).await
}

async fn page_with_policy(
    name: &'static str,
    headers: HeaderMap,
    policy: &'static str,
) -> Response {
    page_with(name, headers, policy, PERMISSIONS_POLICY).await
}

async fn page_with(
    name: &'static str,
    headers: HeaderMap,
    policy: &'static str,
    permissions: &'static str,
) -> Response {
    let mut resp = embedded(name, &headers).unwrap_or_else(|| {
        ApiError::internal(format!("page {name} is not embedded")).into_response()
    });
    let h = resp.headers_mut();
    for (name, value) in [
        ("content-security-policy", policy),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        // The phone page's URL carries a ticket: never hand it to anyone in a Referer.
        ("referrer-policy", "no-referrer"),
        ("permissions-policy", permissions),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

async fn asset_route(path: String, headers: HeaderMap) -> Response {
    asset(&path, headers).await
}

async fn asset(path: &str, headers: HeaderMap) -> Response {
    // Only files under web/assets/ are assets; the page templates are not.
    let found = if path.split('/').any(|seg| seg.is_empty() || seg == "..") {
        None
    } else {
        embedded(&format!("assets/{path}"), &headers)
    };
    match found {
        Some(mut resp) => {
            resp.headers_mut().insert(
                "x-content-type-options",
                HeaderValue::from_static("nosniff"),
            );
            resp
        }
        None => {
            ApiError::new(ErrorCode::NotFound, format!("no asset named {path:?}")).into_response()
        }
    }
}

/// One embedded file with its content type and an ETag; 304 when the client has it already.
/// Files are not fingerprinted (there is no build step), so clients revalidate each use
/// (`no-cache`) and the ETag makes that a cheap 304.
fn embedded(path: &str, headers: &HeaderMap) -> Option<Response> {
    let file = Web::get(path)?;
    let etag = {
        let mut tag = String::with_capacity(2 + 32);
        tag.push('"');
        for b in &file.metadata.sha256_hash()[..16] {
            let _ = write!(tag, "{b:02x}");
        }
        tag.push('"');
        tag
    };
    let etag = HeaderValue::from_str(&etag).ok()?;
    let cache = HeaderValue::from_static("no-cache");
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == etag.to_str().unwrap_or_default())
        });
    if fresh {
        return Some(
            (
                StatusCode::NOT_MODIFIED,
                [(header::ETAG, etag), (header::CACHE_CONTROL, cache)],
            )
                .into_response(),
        );
    }
    Some(
        (
            [
                (header::CONTENT_TYPE, content_type(path)),
                (header::ETAG, etag),
                (header::CACHE_CONTROL, cache),
            ],
            file.data,
        )
            .into_response(),
    )
}

fn content_type(path: &str) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(mime.subtype().as_str(), "javascript" | "json" | "svg");
    let value = if textual && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}
