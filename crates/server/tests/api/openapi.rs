//! The OpenAPI document (`/api/v1/openapi.json`) is true to the router: it names exactly the
//! routes the router serves, with their methods, and each route answers exactly those methods.

use crate::expect::expect_error;
use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;

/// (method, path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "patch", "head", "options", "trace",
        ] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn the_document_names_exactly_the_routes_the_router_serves() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("{}/openapi.json", app.api))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let doc: Value = resp.json().await.unwrap();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1, got {}",
        doc["openapi"]
    );
    let in_doc = documented(&doc);
    let served: BTreeSet<(String, String)> = app
        .routes
        .iter()
        .map(|r| (r.method.to_string(), r.path.clone()))
        .collect();
    assert!(served.len() > 40, "the router lists its routes: {served:?}");
    let undocumented: Vec<_> = served.difference(&in_doc).collect();
    let unserved: Vec<_> = in_doc.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in the OpenAPI document: {undocumented:?}\n\
         in the document but not served: {unserved:?}"
    );
}

#[tokio::test]
async fn operation_ids_are_unique_and_every_body_has_a_schema() {
    let doc = serde_json::to_value(switchboard_server::openapi::document()).unwrap();
    let mut ids = BTreeSet::new();
    let mut problems = vec![];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Some(id) = op["operationId"].as_str() else {
                problems.push(format!("{method} {path}: no operationId"));
                continue;
            };
            if !ids.insert(id.to_owned()) {
                problems.push(format!("{method} {path}: operationId {id} twice"));
            }
            for (status, resp) in op["responses"].as_object().expect("responses") {
                if status.starts_with('2') {
                    let has_body = resp.get("content").is_some();
                    if !has_body && status != "204" {
                        problems.push(format!(
                            "{method} {path}: answer {status} has no body schema"
                        ));
                    }
                }
            }
        }
    }
    // Links (for stateful fuzzing) name operations that exist.
    for item in doc["paths"].as_object().expect("paths").values() {
        for op in item.as_object().expect("path item").values() {
            for resp in op["responses"].as_object().expect("responses").values() {
                for (name, link) in resp["links"].as_object().into_iter().flatten() {
                    let target = link["operationId"].as_str().unwrap_or_default();
                    if !ids.contains(target) {
                        problems.push(format!("link {name} names no operation ({target})"));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every answer and query of the accounts, cameras and admin areas has its real schema: a
/// JSON answer names a component (no bare `object` placeholder) and a query parameter its
/// type.
#[tokio::test]
async fn accounts_cameras_and_admin_are_typed_throughout() {
    let doc = serde_json::to_value(switchboard_server::openapi::document()).unwrap();
    let typed = |schema: &Value| {
        schema.get("$ref").is_some()
            || schema["items"].get("$ref").is_some()
            || schema["type"] == "string"
    };
    let mut problems = vec![];
    let mut seen = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let tag = op["tags"][0].as_str().unwrap_or_default();
            if !["accounts", "cameras", "admin"].contains(&tag) {
                continue;
            }
            seen += 1;
            for (status, resp) in op["responses"].as_object().expect("responses") {
                let json = &resp["content"]["application/json"]["schema"];
                if status.starts_with('2') && !json.is_null() && !typed(json) {
                    problems.push(format!("{method} {path} {status}: untyped answer {json}"));
                }
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["schema"].is_null() {
                    problems.push(format!(
                        "{method} {path}: parameter without a schema {param}"
                    ));
                }
            }
        }
    }
    assert!(
        seen >= 21,
        "the three areas have 21 operations, found {seen}"
    );
    let params = |method: &str, path: &str| -> BTreeSet<String> {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str().map(str::to_owned))
            .collect()
    };
    for name in ["q", "label", "camera", "since", "until", "limit"] {
        if !params("get", "/api/v1/search").contains(name) {
            problems.push(format!("search lacks its {name} parameter"));
        }
    }
    for name in ["service", "minutes"] {
        if !params("get", "/api/v1/admin/history").contains(name) {
            problems.push(format!("history lacks its {name} parameter"));
        }
    }
    if !params("post", "/api/v1/cameras/{id}/snapshots").contains("taken_at") {
        problems.push("an upload lacks its taken_at parameter".to_owned());
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A concrete path for a route: every `{param}` filled with something well formed.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "00000000-0000-4000-8000-000000000000"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn each_route_answers_exactly_the_methods_it_is_listed_with() {
    let app = spawn_app().await;
    let paths: BTreeSet<&str> = app.routes.iter().map(|r| r.path.as_str()).collect();
    let mut wrong = vec![];
    for path in paths {
        let url = format!("http://{}{}", app.addr, concrete(path));
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let listed = app
                .routes
                .iter()
                .any(|r| r.path == path && r.method.as_str() == method.as_str());
            let resp = app.http.request(method.clone(), &url).send().await.unwrap();
            let refused = resp.status() == StatusCode::METHOD_NOT_ALLOWED;
            if listed == refused {
                wrong.push(format!(
                    "{method} {path}: listed {listed}, answered {}",
                    resp.status()
                ));
            }
            if refused {
                expect_error(resp, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn the_reference_page_loads_its_viewer_from_this_server() {
    let app = spawn_app().await;
    let resp = app
        .http
        .get(format!("http://{}/api/docs", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    let html = resp.text().await.unwrap();
    assert!(
        html.contains("/assets/vendor/scalar/standalone.js"),
        "{html}"
    );
    for asset in ["/assets/vendor/scalar/standalone.js"] {
        let resp = app
            .http
            .get(format!("http://{}{asset}", app.addr))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{asset}");
        assert!(
            resp.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .contains("javascript"),
            "{asset}"
        );
    }
}
