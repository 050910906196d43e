//! One-shot runs for clients that want no socket: `POST /api/v1/execute`.

use crate::App;
use crate::auth::CurrentUser;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::kernel_proxy::CallerCredentials;
use crate::protocol::compute::{ExecuteAnswer, ExecuteRequest};
use axum::Json;
use axum::extract::State;
use std::sync::Arc;

/// `POST /api/v1/execute {code, kernel?, timeout?}`: runs `code` on a fresh kernel (counted
/// like any other, so per-user shares and the node's maximum apply) and answers everything
/// it produced, in order, once it is done; the kernel is shut down afterwards.
pub(super) async fn execute(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    credentials: CallerCredentials,
    ApiJson(request): ApiJson<ExecuteRequest>,
) -> ApiResult<Json<ExecuteAnswer>> {
    let answer = app
        .compute
        .execute(&caller.user, request, &credentials)
        .await?;
    Ok(Json(answer))
}
