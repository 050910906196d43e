//! Operations: liveness, readiness, Prometheus metrics, and this document.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(healthz, readyz, metrics, openapi_document))]
pub(super) struct Operations;

/// The process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "`ok`", content_type = "text/plain", body = String))
)]
fn healthz() {}

/// The node can serve: its database answers and its bus delivers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses((status = 200, description = "`ready`", content_type = "text/plain", body = String))
)]
fn readyz() {}

/// Prometheus metrics, for the metrics token or an operator.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)),
    security(("bearer" = []))
)]
fn metrics() {}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
fn openapi_document() {}
