//! Request extractors whose failures answer in our JSON error format.

use crate::error::ApiError;
use crate::protocol::ErrorCode;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// `Json<T>` that answers 400 for malformed JSON, 422 naming the field for JSON of the wrong
/// shape, 415 without a JSON content type and 413 past the body limit. Every request body of
/// the API is an object: serde would also read a struct from a JSON array of its fields in
/// order (`[null, true]`), which no client means, so anything but an object is refused.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(json_rejection(JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| {
                if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        ErrorCode::BodyTooLarge,
                        "the request body is larger than the configured limit",
                    )
                } else {
                    ApiError::new(ErrorCode::BadRequest, r.body_text())
                }
            })?;
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|b| *b != b'{') {
            // Still malformed JSON first, so a syntax error is named as one.
            if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() {
                return Err(ApiError::new(
                    ErrorCode::InvalidField,
                    "the body must be a JSON object",
                ));
            }
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// Whether the request says its body is JSON (`application/json` or `…+json`), as axum's
/// `Json` requires.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime_guess::mime::Mime>().ok())
        .is_some_and(|m| {
            m.type_() == "application"
                && (m.subtype() == "json" || m.suffix().is_some_and(|s| s == "json"))
        })
}

fn json_rejection(r: JsonRejection) -> ApiError {
    use axum::http::StatusCode;
    match r {
        JsonRejection::JsonDataError(e) => {
            ApiError::new(ErrorCode::InvalidField, inner_message(&e.body_text()))
        }
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::new(ErrorCode::MalformedJson, inner_message(&e.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON with Content-Type: application/json",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            ErrorCode::BodyTooLarge,
            "the request body is larger than the configured limit",
        ),
        other => ApiError::new(ErrorCode::BadRequest, other.body_text()),
    }
}

/// axum wraps serde's messages as "Failed to deserialize the JSON body into the target type:
/// ticket: invalid type: …" or "Failed to deserialize query string: wait: invalid digit …";
/// drop that prefix only, keeping the part that names the field.
fn inner_message(text: &str) -> String {
    text.split_once(": ")
        .map(|(_, m)| m.to_owned())
        .unwrap_or_else(|| text.to_owned())
}

/// `Query<T>` that answers 400 naming the bad parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(ApiQuery(v)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::new(
                ErrorCode::InvalidQuery,
                inner_message(&e.body_text()),
            )),
            Err(e) => Err(ApiError::new(ErrorCode::InvalidQuery, e.body_text())),
        }
    }
}

/// A WebSocket upgrade whose failure (a plain HTTP request to a socket route) answers 400 in
/// our JSON error format.
#[derive(Debug)]
pub struct ApiWebSocket(pub axum::extract::ws::WebSocketUpgrade);

impl<S: Send + Sync> FromRequestParts<S> for ApiWebSocket {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::ws::WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map(ApiWebSocket)
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::WebsocketExpected,
                    format!("this route speaks WebSocket: {}", e.body_text()),
                )
            })
    }
}
