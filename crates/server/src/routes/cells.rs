//! Stored compute cells: `POST /api/v1/cells` stores code and hands out a kernel to run it
//! on; `GET /api/v1/cells/{id_or_permalink}` and its files need no token, since the id and
//! the permalink are unguessable and meant to be shared.

use crate::App;
use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::kernel_proxy::CallerCredentials;
use crate::protocol::compute::{CellView, CreateCellRequest, CreatedCell};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `POST /api/v1/cells {code, kernel?}`: 201 with the cell and the id of a kernel handed out
/// for it. The caller runs the code itself over the kernel's channels.
pub(super) async fn create(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    credentials: CallerCredentials,
    ApiJson(request): ApiJson<CreateCellRequest>,
) -> ApiResult<Response> {
    let cell: CreatedCell = app
        .compute
        .create_cell(&caller.user, request, &credentials)
        .await?;
    let location = format!("/api/v1/cells/{}", cell.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(cell),
    )
        .into_response())
}

/// `GET /api/v1/cells/{id_or_permalink}`: the cell and its files. No token needed.
pub(super) async fn get(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
) -> ApiResult<Json<CellView>> {
    Ok(Json(app.compute.cell(&key).await?))
}

/// `GET /api/v1/cells/{id_or_permalink}/files/{name}`: a stored file. No token needed; served
/// so that nothing in it can run in this origin (sandboxed, not sniffed, and downloaded
/// unless it is an image, plain text or a PDF).
pub(super) async fn file(
    State(app): State<Arc<App>>,
    Path((key, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let content = app.compute.cell_file(&key, &name).await?;
    let mime = mime_guess::from_path(&name).first_or_octet_stream();
    let inline = mime.type_() == mime_guess::mime::IMAGE
        || mime.essence_str() == "text/plain"
        || mime.essence_str() == "application/pdf";
    let content_type = if mime.type_() == mime_guess::mime::TEXT {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_owned()
    };
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        encode_filename(&name)
    );
    let mut response = content.into_response();
    let headers = response.headers_mut();
    let mut set = |name: header::HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, &content_type);
    set(header::CONTENT_DISPOSITION, &disposition);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::CONTENT_SECURITY_POLICY, "sandbox");
    set(header::CACHE_CONTROL, "no-cache");
    Ok(response)
}

/// RFC 5987 `ext-value` characters: everything else percent-encoded.
fn encode_filename(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
