//! Compute under `/api/v1`: stored cells and their files, one-shot execution, and kernel
//! messages by long poll.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use crate::protocol::compute::{
    CellView, CreateCellRequest, CreatedCell, ExecuteAnswer, ExecuteRequest, MessagePoll,
    MessageSent, MessagesQuery,
};
use crate::protocol::jupyter::JupyterMessage;
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(
    create_cell,
    get_cell,
    get_cell_file,
    execute,
    post_kernel_message,
    poll_kernel_messages
))]
pub(super) struct Compute;

/// Store a cell and hand out a kernel to run it on (`kernel_id` in the answer).
#[utoipa::path(
    post,
    path = "/api/v1/cells",
    tag = "compute",
    request_body = CreateCellRequest,
    responses((status = 201, description = "The stored cell and its kernel's id", body = CreatedCell)),
    security(("bearer" = []), ("cookie" = []))
)]
fn create_cell() {}

/// A stored cell by id or permalink (no token: ids and permalinks are share links).
#[utoipa::path(
    get,
    path = "/api/v1/cells/{id_or_permalink}",
    tag = "compute",
    params(("id_or_permalink" = String, Path, description = "The cell's id or permalink")),
    responses((status = 200, body = CellView))
)]
fn get_cell() {}

/// A file a cell's run wrote.
#[utoipa::path(
    get,
    path = "/api/v1/cells/{id_or_permalink}/files/{name}",
    tag = "compute",
    params(
        ("id_or_permalink" = String, Path, description = "The cell's id or permalink"),
        ("name" = String, Path, description = "The file's name")
    ),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>))
)]
fn get_cell_file() {}

/// Run code on a kernel and answer with everything it produced.
#[utoipa::path(
    post,
    path = "/api/v1/execute",
    tag = "compute",
    request_body = ExecuteRequest,
    responses((status = 200, description = "The run's outputs and the cell it was stored as", body = ExecuteAnswer)),
    security(("bearer" = []), ("cookie" = []))
)]
fn execute() {}

/// Send a Jupyter message to a kernel.
#[utoipa::path(
    post,
    path = "/api/v1/kernels/{id}/messages",
    tag = "compute",
    params(("id" = String, Path, description = "The kernel id")),
    request_body = JupyterMessage,
    responses((status = 202, description = "Sent to the kernel", body = MessageSent)),
    security(("bearer" = []), ("cookie" = []))
)]
fn post_kernel_message() {}

/// A kernel's messages after `after`, waiting up to `wait` seconds for one.
#[utoipa::path(
    get,
    path = "/api/v1/kernels/{id}/messages",
    tag = "compute",
    params(("id" = String, Path, description = "The kernel id"), MessagesQuery),
    responses((status = 200, body = MessagePoll)),
    security(("bearer" = []), ("cookie" = []), ("query" = []))
)]
fn poll_kernel_messages() {}
