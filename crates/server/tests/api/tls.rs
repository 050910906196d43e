//! HTTPS with a self-signed certificate, and with certificate files.

use crate::helpers::*;
use reqwest::StatusCode;

fn insecure_client() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(PATIENCE)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_self_signed_node_serves_https_and_keeps_its_certificate() {
    let app = spawn_app_with(|c| c.network.tls_self_signed = true).await;
    let base = format!("https://{}", app.addr);
    let client = insecure_client();
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    // Plain HTTP is not served on a TLS port.
    assert!(
        app.http
            .get(format!("http://{}/healthz", app.addr))
            .send()
            .await
            .is_err()
    );
    // Cookies are marked Secure and links are https.
    let resp = client
        .post(format!("{base}/api/v1/auth/register"))
        .json(&serde_json::json!({"username": "nurse", "password": "amber falcon ledger prism", "account_name": "Ward 3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
    let token = resp.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let s: serde_json::Value = client
        .post(format!("{base}/api/v1/sessions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(s["device_url"].as_str().unwrap().starts_with("https://"));

    let cert = app.dir.path().join("tls/self-signed.crt");
    let key = app.dir.path().join("tls/self-signed.key");
    assert!(cert.exists() && key.exists());
    // The same files work as an operator's certificate.
    let cert_copy = std::fs::read(&cert).unwrap();
    let with_files = spawn_app_with(move |c| {
        let dir = c.operations.data_dir.clone();
        std::fs::write(dir.join("cert.pem"), &cert_copy).unwrap();
        std::fs::copy(&key, dir.join("key.pem")).unwrap();
        c.network.tls_cert = Some(dir.join("cert.pem"));
        c.network.tls_key = Some(dir.join("key.pem"));
    })
    .await;
    let health = client
        .get(format!("https://{}/healthz", with_files.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}
