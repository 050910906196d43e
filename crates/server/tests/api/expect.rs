//! Assertions on the one error format: `{"error": <code>, "message": <text>}` with a status.

use reqwest::StatusCode;
use serde_json::Value;

/// Asserts `resp` is an error of `status` and `code` whose JSON body has exactly the two
/// fields `error` and `message` (a non-empty text); returns the body.
pub async fn expect_error(resp: reqwest::Response, status: StatusCode, code: &str) -> Value {
    let body = expect_error_with_extra(resp, status, code).await;
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        2,
        "an error body has only `error` and `message`: {body}"
    );
    body
}

/// Like [`expect_error`], but allows fields beyond `error` and `message` (e.g. `supported`).
pub async fn expect_error_with_extra(
    resp: reqwest::Response,
    status: StatusCode,
    code: &str,
) -> Value {
    let seen = resp.status();
    let url = resp.url().clone();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = resp.text().await.unwrap();
    assert_eq!(
        seen, status,
        "status of {url} (expected {status} {code}); body: {text}"
    );
    assert!(
        content_type.starts_with("application/json"),
        "an error from {url} is JSON, got Content-Type {content_type:?}; body: {text}"
    );
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("error body of {url} is not JSON ({e}): {text}"));
    assert_eq!(body["error"], code, "error code of {url}: {body}");
    let message = body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error of {url} has a `message` text: {body}"));
    assert!(!message.trim().is_empty(), "message is not empty: {body}");
    body
}

/// The `message` of an error body.
pub fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap()
}
