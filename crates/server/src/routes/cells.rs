//! Stored compute cells: `POST /api/v1/cells` stores code and hands out a kernel to run it
//! on; `GET /api/v1/cells/{id_or_permalink}` and its files need no token, since the id and
//! the permalink are unguessable and meant to be shared.

use crate::App;
use crate::auth::CurrentUser;
use crate::cells::{self, CellLimits, CellLink};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::protocol::ErrorCode;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use switchboard_store::StoreError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateCell {
    code: String,
    #[serde(default)]
    kernel: Option<String>,
}

/// `POST /api/v1/cells {code, kernel?}`: 201 with the cell and the id of a kernel handed out
/// for it. The caller runs the code itself over the kernel's channels.
pub(super) async fn create(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
    ApiJson(request): ApiJson<CreateCell>,
) -> ApiResult<Response> {
    CellLimits::from_config(&app.config).check_code(&request.code)?;
    let account = caller.account_id();
    let link = Arc::new(CellLink::new(uuid::Uuid::new_v4()));
    // The kernel first: a caller past their share stores nothing.
    let elsewhere =
        crate::kernel_proxy::counts_elsewhere(&app, &headers, &uri, caller.user.id).await;
    let entry = app
        .kernels
        .launch_linked(
            caller.user.id,
            account,
            request.kernel.as_deref(),
            Some(Arc::clone(&link)),
            elsewhere,
        )
        .await?;
    let kernel_name = entry.kernel.spec().name.clone();
    let stored = cells::store_cell(
        &*app.store,
        link.id,
        caller.user.id,
        account,
        &kernel_name,
        &request.code,
    )
    .await;
    let cell = match stored {
        Ok(cell) => cell,
        Err(e) => {
            let _ = app.kernels.remove(entry.id(), account).await;
            return Err(e);
        }
    };
    // Attached before the caller learns the kernel id, so no execution is missed.
    cells::attach_cell_kernel(&app, &entry, link).await;
    let mut body = cells::cell_json(&cell);
    if let Some(obj) = body.as_object_mut() {
        obj.insert("kernel_id".into(), Value::from(entry.id()));
    }
    let location = format!("/api/v1/cells/{}", cell.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

/// `GET /api/v1/cells/{id_or_permalink}`: the cell and its files. No token needed.
pub(super) async fn get(
    State(app): State<Arc<App>>,
    Path(key): Path<String>,
) -> ApiResult<Json<Value>> {
    let cell = cells::find_cell(&*app.store, &key).await?;
    let files = app.store.cell_files(cell.id).await?;
    let mut body = cells::cell_json(&cell);
    if let Some(obj) = body.as_object_mut() {
        obj.insert(
            "files".into(),
            files.iter().map(|f| cells::file_json(cell.id, f)).collect(),
        );
    }
    Ok(Json(body))
}

/// `GET /api/v1/cells/{id_or_permalink}/files/{name}`: a stored file. No token needed; served
/// so that nothing in it can run in this origin (sandboxed, not sniffed, and downloaded
/// unless it is an image, plain text or a PDF).
pub(super) async fn file(
    State(app): State<Arc<App>>,
    Path((key, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    if !cells::is_file_name(&name) {
        return Err(file_not_found());
    }
    let cell = cells::find_cell(&*app.store, &key).await?;
    let (_, content) = match app.store.cell_file(cell.id, &name).await {
        Ok(found) => found,
        Err(StoreError::NotFound) => return Err(file_not_found()),
        Err(e) => return Err(e.into()),
    };
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

fn file_not_found() -> ApiError {
    ApiError::new(ErrorCode::FileNotFound, "the cell has no such file")
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
