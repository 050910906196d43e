//! The OpenAPI document and the reference page are public: they must say nothing about any
//! account, be the same whoever asks, and the page must not let a foreign page frame it or
//! load anything from elsewhere.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn the_document_is_the_same_for_anyone_and_names_no_account() {
    let app = spawn_app().await;
    let token = app.signup("documented").await;
    let (suid, _) = app.live_session(&token).await;
    let url = format!("{}/openapi.json", app.api);
    let anonymous = app.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::OK);
    let anonymous = anonymous.text().await.unwrap();
    let signed_in = app
        .http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(anonymous, signed_in, "the document depends on who asks");
    for secret in [token.as_str(), suid.as_str(), "documented"] {
        assert!(!anonymous.contains(secret), "the document names {secret}");
    }
    // A write to it is refused, not served.
    let resp = app.http.post(&url).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_reference_page_cannot_be_framed_or_reach_elsewhere() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("http://{}/api/docs", app.addr))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self';",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} missing from {csp}");
    }
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("x-content-type-options"), "nosniff");
}
