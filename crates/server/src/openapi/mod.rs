//! The OpenAPI 3.1 document of the HTTP API (`GET /api/v1/openapi.json`), generated from the
//! protocol's own types: each area's operations are declared in its module (`sessions`,
//! `devices`, …) with the request and answer types the routes use, and a test checks that
//! the document names exactly the routes the router serves. Every operation may also answer
//! an error: `4XX` and `5XX` with [`ErrorBody`] are added to each one here.

mod accounts;
mod admin;
mod audit;
mod cameras;
mod compute;
mod devices;
mod jupyter;
mod limits;
mod operations;
mod security;
mod sessions;
mod taught;
mod viewers;
mod webrtc;

use crate::protocol::ErrorBody;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

/// The security schemes operations name: a user's or device's token as a bearer token, the
/// browser's session cookie, or (for media and WebSocket URLs) the `token` query parameter.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A user's token (`POST /api/v1/auth/login`) or a device's \
                         (`POST /api/v1/devices/register`).",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::COOKIE_NAME,
                "The browser's session cookie (`__Host-sb_token` over HTTPS); writes and \
                 WebSockets signed by it must come from this node's origin.",
            ))),
        );
        components.add_security_scheme(
            "query",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "token",
                "The token in the URL, for media and WebSocket URLs that cannot carry headers.",
            ))),
        );
    }
}

/// Adds the error answers every operation can give.
struct Errors;

impl utoipa::Modify for Errors {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let error = || {
            ResponseBuilder::new()
                .description(
                    "Refused: `error` is a code from PROTOCOL.md's error table, `message` is \
                     for people. 429 and most 503 answers carry `Retry-After`.",
                )
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in doc.paths.paths.values_mut() {
            for op in operations_of(item) {
                for range in ["4XX", "5XX"] {
                    op.responses
                        .responses
                        .entry(range.to_owned())
                        .or_insert_with(|| error().into());
                }
            }
        }
    }
}

/// OpenAPI links from what an operation creates to the operations that use it, so a
/// stateful fuzzer (schemathesis) chains them: open a session, then read, end and draw it.
struct Links;

/// (operation, status, link name, target operation, target parameter, runtime expression).
const LINKS: &[(&str, &str, &str, &str, &str, &str)] = &[
    (
        "teach_object",
        "201",
        "GetTaughtObject",
        "get_taught_object",
        "id",
        "$response.body#/id",
    ),
    (
        "teach_object",
        "201",
        "RenameTaughtObject",
        "rename_taught_object",
        "id",
        "$response.body#/id",
    ),
    (
        "teach_object",
        "201",
        "ScanHistory",
        "scan_history",
        "id",
        "$response.body#/id",
    ),
    (
        "create_session",
        "201",
        "GetSession",
        "get_session",
        "suid",
        "$response.body#/suid",
    ),
    (
        "create_session",
        "201",
        "EndSession",
        "end_session",
        "suid",
        "$response.body#/suid",
    ),
    (
        "create_session",
        "201",
        "SessionQr",
        "session_qr",
        "suid",
        "$response.body#/suid",
    ),
    (
        "create_session",
        "201",
        "SendControl",
        "send_control",
        "suid",
        "$response.body#/suid",
    ),
];

impl utoipa::Modify for Links {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for item in doc.paths.paths.values_mut() {
            for op in operations_of(item) {
                let Some(id) = op.operation_id.clone() else {
                    continue;
                };
                for (from, status, name, to, param, expr) in LINKS {
                    if *from != id {
                        continue;
                    }
                    if let Some(utoipa::openapi::RefOr::T(resp)) =
                        op.responses.responses.get_mut(*status)
                    {
                        resp.links.insert(
                            (*name).to_owned(),
                            utoipa::openapi::link::LinkBuilder::new()
                                .operation_id(*to)
                                .parameter(*param, *expr)
                                .build()
                                .into(),
                        );
                    }
                }
            }
        }
    }
}

fn operations_of(item: &mut utoipa::openapi::PathItem) -> Vec<&mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "The HTTP API of a Switchboard node: accounts, live video sessions \
            (devices, frames, viewers, controls), cameras and object search, compute cells and \
            Jupyter kernels, administration and operations. PROTOCOL.md describes it in prose; \
            WebSocket messages are listed there.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

/// The document, for this build's version.
pub fn document() -> utoipa::openapi::OpenApi {
    use utoipa::Modify;
    let mut doc = ApiDoc::openapi();
    for area in [
        accounts::Accounts::openapi(),
        sessions::Sessions::openapi(),
        devices::Devices::openapi(),
        viewers::Viewers::openapi(),
        webrtc::WebRtc::openapi(),
        cameras::Cameras::openapi(),
        taught::Taught::openapi(),
        compute::Compute::openapi(),
        jupyter::Jupyter::openapi(),
        admin::Admin::openapi(),
        limits::Limits::openapi(),
        audit::Audit::openapi(),
        operations::Operations::openapi(),
        security::Security::openapi(),
    ] {
        doc.merge(area);
    }
    Security.modify(&mut doc);
    Errors.modify(&mut doc);
    Links.modify(&mut doc);
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}
