//! `GET /api/v1/sessions/{suid}/qr.svg`: the device URL as a QR code, drawn by the server so
//! the dashboard needs no QR library.

use crate::App;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use qrcode::QrCode;
use qrcode::render::svg;
use std::sync::Arc;

/// The QR code of the session's device URL, while its ticket can be redeemed.
pub(super) async fn device_qr(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
) -> ApiResult<Response> {
    let url = app.live.device_url(caller.account_id(), &suid).await?;
    let svg = QrCode::new(url.as_bytes())
        .map_err(ApiError::internal)?
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build();
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=60"),
            ),
        ],
        svg,
    )
        .into_response())
}
