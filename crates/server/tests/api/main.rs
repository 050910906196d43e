//! Integration tests of the server over real HTTP and WebSockets, one binary.

#![allow(clippy::unwrap_used)]

mod dashboard;
mod helpers;
mod lifecycle;
mod restart;
mod streaming;
mod timeouts;
