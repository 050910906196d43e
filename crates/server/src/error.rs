//! The one place where errors become HTTP responses: `{"error": code, "message": text}` with
//! the status the [`ErrorCode`] carries. Server-side details of 5xx errors are logged, never
//! sent. Each service's error enum becomes an [`ApiError`] through a `From` impl here.

use crate::protocol::{ErrorBody, ErrorCode};
use crate::services::ServiceError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// Extra fields merged into the body (e.g. `supported` versions).
    pub extra: Option<serde_json::Value>,
    /// Seconds to put in `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            extra: None,
            retry_after: None,
        }
    }

    /// The HTTP status of this answer (the code's).
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// The one answer for a session that does not exist or belongs to another account, so
    /// nobody can learn which sessions exist elsewhere.
    pub fn session_not_found() -> Self {
        Self::new(ErrorCode::SessionNotFound, "no such session")
    }

    pub fn session_ended() -> Self {
        Self::new(ErrorCode::SessionEnded, "the session has ended")
    }

    pub fn too_many_requests(message: impl Into<String>, retry_after: u64) -> Self {
        Self::new(ErrorCode::RateLimited, message).retry_after(retry_after)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message).retry_after(1)
    }

    /// An unexpected failure: logged with its details, answered as a bare 500.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(ErrorCode::Internal, "internal server error")
    }

    /// 413 for a picture (frame or snapshot) whose header declares more pixels than
    /// `max_pixels`: decoding costs memory by pixels, whatever the file's size.
    pub fn image_too_large(width: u16, height: u16, max_pixels: u64) -> Self {
        Self::new(
            ErrorCode::ImageTooLarge,
            format!("the picture is {width}x{height}, more than the {max_pixels} pixels allowed"),
        )
    }

    pub fn with_extra(mut self, extra: serde_json::Value) -> Self {
        self.extra = Some(extra);
        self
    }

    /// Sets `Retry-After` (at least one second).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }
}

/// Every service error becomes its answer here: the code's status, the service's message,
/// and details of server-side failures logged rather than sent.
impl<E: ServiceError> From<E> for ApiError {
    fn from(e: E) -> Self {
        let code = e.code();
        let message = match code {
            ErrorCode::Internal => {
                tracing::error!(error = %e, "internal error");
                "internal server error".to_owned()
            }
            ErrorCode::Unavailable => {
                tracing::warn!(error = %e, "service unavailable");
                e.message()
            }
            _ => e.message(),
        };
        ApiError {
            code,
            message,
            extra: e.extra(),
            retry_after: e.retry_after().map(|s| s.max(1)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = serde_json::to_value(ErrorBody {
            error: self.code,
            message: self.message,
        })
        .unwrap_or_default();
        if let (Some(serde_json::Value::Object(extra)), Some(obj)) =
            (self.extra, body.as_object_mut())
        {
            obj.extend(extra);
        }
        let mut resp = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// Result type of handlers.
pub type ApiResult<T> = Result<T, ApiError>;
