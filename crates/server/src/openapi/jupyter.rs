//! Jupyter Server's kernel API, outside `/api/v1` where Jupyter clients expect it.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use crate::protocol::jupyter::{
    ChannelsQuery, KernelModel, KernelspecList, KernelspecView, StartKernelRequest,
};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(
    list_kernelspecs,
    get_kernelspec,
    kernelspec_resource,
    list_kernels,
    start_kernel,
    get_kernel,
    shutdown_kernel,
    interrupt_kernel,
    restart_kernel,
    kernel_channels
))]
pub(super) struct Jupyter;

/// The kernelspecs this node can start.
#[utoipa::path(
    get,
    path = "/api/kernelspecs",
    tag = "jupyter",
    responses((status = 200, body = KernelspecList)),
    security(("bearer" = []), ("cookie" = []))
)]
fn list_kernelspecs() {}

/// One kernelspec (any case of its name); 404 `kernelspec_not_found`.
#[utoipa::path(
    get,
    path = "/api/kernelspecs/{name}",
    tag = "jupyter",
    params(("name" = String, Path, description = "The kernelspec's name")),
    responses((status = 200, body = KernelspecView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn get_kernelspec() {}

/// A kernelspec's logo, `kernel.js` or `kernel.css`, as its `resources` name them; 404
/// `file_not_found` for anything else.
#[utoipa::path(
    get,
    path = "/kernelspecs/{name}/{file}",
    tag = "jupyter",
    params(
        ("name" = String, Path, description = "The kernelspec's name"),
        ("file" = String, Path, description = "The file, e.g. logo-64x64.png"),
    ),
    responses((status = 200, description = "The file (image/png, image/svg+xml, text/javascript, text/css)",
               content_type = "application/octet-stream", body = Vec<u8>)),
    security(("bearer" = []), ("cookie" = []))
)]
fn kernelspec_resource() {}

/// The account's kernels on every node.
#[utoipa::path(
    get,
    path = "/api/kernels",
    tag = "jupyter",
    responses((status = 200, body = Vec<KernelModel>)),
    security(("bearer" = []), ("cookie" = []))
)]
fn list_kernels() {}

/// Start a kernel.
#[utoipa::path(
    post,
    path = "/api/kernels",
    tag = "jupyter",
    request_body(content = Option<StartKernelRequest>, description = "Optional: the default kernelspec without it"),
    responses((status = 201, description = "The kernel", body = KernelModel)),
    security(("bearer" = []), ("cookie" = []))
)]
fn start_kernel() {}

/// One kernel.
#[utoipa::path(
    get,
    path = "/api/kernels/{id}",
    tag = "jupyter",
    params(("id" = String, Path, description = "The kernel id")),
    responses((status = 200, body = KernelModel)),
    security(("bearer" = []), ("cookie" = []))
)]
fn get_kernel() {}

/// Shut a kernel down.
#[utoipa::path(
    delete,
    path = "/api/kernels/{id}",
    tag = "jupyter",
    params(("id" = String, Path, description = "The kernel id")),
    responses((status = 204, description = "Shut down")),
    security(("bearer" = []), ("cookie" = []))
)]
fn shutdown_kernel() {}

/// Interrupt what a kernel runs.
#[utoipa::path(
    post,
    path = "/api/kernels/{id}/interrupt",
    tag = "jupyter",
    params(("id" = String, Path, description = "The kernel id")),
    responses((status = 204, description = "Interrupted")),
    security(("bearer" = []), ("cookie" = []))
)]
fn interrupt_kernel() {}

/// Restart a kernel.
#[utoipa::path(
    post,
    path = "/api/kernels/{id}/restart",
    tag = "jupyter",
    params(("id" = String, Path, description = "The kernel id")),
    responses((status = 200, description = "The kernel, once it is back", body = KernelModel)),
    security(("bearer" = []), ("cookie" = []))
)]
fn restart_kernel() {}

/// The channels WebSocket every Jupyter frontend uses (JSON, or the
/// `v1.kernel.websocket.jupyter.org` subprotocol).
#[utoipa::path(
    get,
    path = "/api/kernels/{id}/channels",
    tag = "jupyter",
    params(("id" = String, Path, description = "The kernel id"), ChannelsQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol")),
    security(("bearer" = []), ("cookie" = []), ("query" = []))
)]
fn kernel_channels() {}
