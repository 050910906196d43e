//! The abuse suite: each test performs an attack an outsider (a self-registered account, or
//! no account at all) could try, and asserts it fails. One module per trust boundary; every
//! bound the server promises is hit here at least once.

#![allow(clippy::unwrap_used)]

// The API suite's harness and assertions, shared rather than copied.
#[allow(dead_code)]
#[path = "../api/expect.rs"]
mod expect;
#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;

mod accounts;
mod admission;
mod api_docs;
mod at_rest;
mod audit;
mod connections;
mod data_files;
mod headers;
mod kernel_gateway;
mod kernel_sandbox;
mod metrics;
mod origin;
mod pictures;
mod revocation;
mod security;
mod sign_in;
mod smoke;
mod taught;
mod voice;
mod webrtc;
mod websocket_limits;
