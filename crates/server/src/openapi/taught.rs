//! Taught objects: teaching one from a snapshot, listing, renaming, deleting, and looks
//! through the kept history.

#![allow(dead_code)] // The functions carry the operations' descriptions; nothing calls them.

use crate::protocol::taught::{
    RenameTaughtRequest, TaughtObjectList, TaughtObjectView, TeachRequest,
};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(paths(
    teach_object,
    list_taught_objects,
    get_taught_object,
    rename_taught_object,
    delete_taught_object,
    scan_history
))]
pub(super) struct Taught;

/// Teach the object inside a box of one of the account's snapshots, under a name; every new
/// snapshot of the account's cameras is searched for it from then on.
#[utoipa::path(
    post,
    path = "/api/v1/taught-objects",
    tag = "cameras",
    request_body = TeachRequest,
    responses((status = 201, body = TaughtObjectView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn teach_object() {}

/// The account's taught objects, oldest first, each with where it was last found.
#[utoipa::path(
    get,
    path = "/api/v1/taught-objects",
    tag = "cameras",
    responses((status = 200, body = TaughtObjectList)),
    security(("bearer" = []), ("cookie" = []))
)]
fn list_taught_objects() {}

/// One taught object, with its newest match and look through the history.
#[utoipa::path(
    get,
    path = "/api/v1/taught-objects/{id}",
    tag = "cameras",
    params(("id" = String, Path, description = "The taught object id")),
    responses((status = 200, body = TaughtObjectView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn get_taught_object() {}

/// Rename a taught object.
#[utoipa::path(
    patch,
    path = "/api/v1/taught-objects/{id}",
    tag = "cameras",
    params(("id" = String, Path, description = "The taught object id")),
    request_body = RenameTaughtRequest,
    responses((status = 200, body = TaughtObjectView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn rename_taught_object() {}

/// Delete a taught object with everywhere it was found.
#[utoipa::path(
    delete,
    path = "/api/v1/taught-objects/{id}",
    tag = "cameras",
    params(("id" = String, Path, description = "The taught object id")),
    responses((status = 204, description = "Deleted")),
    security(("bearer" = []), ("cookie" = []))
)]
fn delete_taught_object() {}

/// Start a look through the kept history for a taught object (one per account at a time);
/// its progress shows in the object's `scan`.
#[utoipa::path(
    post,
    path = "/api/v1/taught-objects/{id}/scan",
    tag = "cameras",
    params(("id" = String, Path, description = "The taught object id")),
    responses((status = 202, body = TaughtObjectView)),
    security(("bearer" = []), ("cookie" = []))
)]
fn scan_history() {}
