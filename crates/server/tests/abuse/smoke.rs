//! The suite's own check: an outsider without a token gets nothing of an account's sessions.

use crate::expect::expect_error;
use crate::helpers::spawn_app;
use reqwest::StatusCode;

#[tokio::test]
async fn no_token_sees_no_sessions() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/sessions")).send().await.unwrap();
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
}
