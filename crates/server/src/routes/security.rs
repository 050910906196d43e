//! Account security: one's password, username, second factor and sign-ins; an admin's
//! password reset and the account's second-factor rule. All of it is `AccountSecurity`'s;
//! the QR code of an enrolment is drawn here, as the device QR code is.

use crate::App;
use crate::auth::{CurrentUser, GatedUser};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::protocol::accounts::UserView;
use crate::protocol::security::{
    AccountSecuritySettings, ChangePasswordRequest, ChangeUsernameRequest,
    ConfirmSecondFactorRequest, DisableSecondFactorRequest, RecoveryCodes, ResetPasswordRequest,
    SecondFactorEnrolment, SignInList, SignInsRevoked,
};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use qrcode::QrCode;
use qrcode::render::svg;
use std::sync::Arc;

/// `POST /api/v1/me/password`: every other sign-in of the caller ends.
pub(super) async fn change_password(
    State(app): State<Arc<App>>,
    GatedUser { caller, standing }: GatedUser,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    app.security
        .change_password(&caller.user, standing, &caller.claims, req)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/me/username`.
pub(super) async fn change_username(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiJson(req): ApiJson<ChangeUsernameRequest>,
) -> ApiResult<Json<UserView>> {
    Ok(Json(app.security.change_username(&caller.user, req).await?))
}

/// `POST /api/v1/account/users/{id}/password` (admins): a one-time password.
pub(super) async fn reset_password(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    app.security.reset_password(&caller.user, &id, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/account/security`.
pub(super) async fn settings(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<AccountSecuritySettings>> {
    Ok(Json(app.security.settings(&caller.user).await?))
}

/// `PUT /api/v1/account/security` (admins).
pub(super) async fn update_settings(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiJson(req): ApiJson<AccountSecuritySettings>,
) -> ApiResult<Json<AccountSecuritySettings>> {
    Ok(Json(app.security.update_settings(&caller.user, req).await?))
}

/// `POST /api/v1/me/second-factor`: starts an enrolment.
pub(super) async fn begin_enrolment(
    State(app): State<Arc<App>>,
    GatedUser { caller, standing }: GatedUser,
) -> ApiResult<Json<SecondFactorEnrolment>> {
    Ok(Json(
        app.security.begin_enrolment(&caller.user, standing).await?,
    ))
}

/// `GET /api/v1/me/second-factor/qr.svg`: the pending enrolment's QR code. It holds the
/// secret, so no cache keeps it.
pub(super) async fn enrolment_qr(
    State(app): State<Arc<App>>,
    GatedUser { caller, .. }: GatedUser,
) -> ApiResult<Response> {
    let url = app.security.enrolment_url(&caller.user).await?;
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
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        svg,
    )
        .into_response())
}

/// `POST /api/v1/me/second-factor/confirm`: the recovery codes, shown once.
pub(super) async fn confirm_enrolment(
    State(app): State<Arc<App>>,
    GatedUser { caller, standing }: GatedUser,
    ApiJson(req): ApiJson<ConfirmSecondFactorRequest>,
) -> ApiResult<Json<RecoveryCodes>> {
    Ok(Json(
        app.security
            .confirm_enrolment(&caller.user, standing, req)
            .await?,
    ))
}

/// `POST /api/v1/me/second-factor/disable`.
pub(super) async fn disable(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiJson(req): ApiJson<DisableSecondFactorRequest>,
) -> ApiResult<StatusCode> {
    app.security.disable(&caller.user, req).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/me/sign-ins`.
pub(super) async fn list_sign_ins(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<SignInList>> {
    Ok(Json(
        app.security
            .list_sign_ins(&caller.user, &caller.claims)
            .await?,
    ))
}

/// `DELETE /api/v1/me/sign-ins/{id}`: that sign-in stops at once, on every node.
pub(super) async fn revoke_sign_in(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.security.revoke_sign_in(&caller.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/me/sign-ins`: every sign-in but the caller's stops, on every node.
pub(super) async fn revoke_other_sign_ins(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
) -> ApiResult<Json<SignInsRevoked>> {
    Ok(Json(
        app.security
            .revoke_other_sign_ins(&caller.user, &caller.claims)
            .await?,
    ))
}
