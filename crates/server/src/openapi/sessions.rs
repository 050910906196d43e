//! Sessions: opening, listing, long-polling the state of, ending, and the ticket's QR code.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use crate::protocol::{
    CreateSessionRequest, SessionList, SessionListQuery, SessionView, SessionWaitQuery,
};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(create_session, list_sessions, get_session, end_session, session_qr))]
pub(super) struct Sessions;

/// Open a session: a new ticket for a device to redeem.
#[utoipa::path(
    post,
    path = "/api/v1/sessions",
    tag = "sessions",
    request_body = CreateSessionRequest,
    responses((status = 201, description = "The new session, with its ticket", body = SessionView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn create_session() {}

/// The account's sessions, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/sessions",
    tag = "sessions",
    params(SessionListQuery),
    responses((status = 200, body = SessionList)),
    security(("bearer" = []), ("cookie" = []))
)]
fn list_sessions() {}

/// One session; with `wait`, a long poll that answers once its state changes.
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{suid}",
    tag = "sessions",
    params(("suid" = String, Path, description = "The session id"), SessionWaitQuery),
    responses((status = 200, body = SessionView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn get_session() {}

/// End a session (`ended_by_user`); ending an ended one answers its final state.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions/{suid}",
    tag = "sessions",
    params(("suid" = String, Path, description = "The session id")),
    responses((status = 200, body = SessionView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn end_session() {}

/// The device URL as a QR code, while the ticket can be redeemed.
#[utoipa::path(
    get,
    path = "/api/v1/sessions/{suid}/qr.svg",
    tag = "sessions",
    params(("suid" = String, Path, description = "The session id")),
    responses((status = 200, description = "An SVG picture", content_type = "image/svg+xml", body = String)),
    security(("bearer" = []), ("cookie" = []))
)]
fn session_qr() {}
