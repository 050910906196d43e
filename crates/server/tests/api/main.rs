//! Integration tests of the server over real HTTP and WebSockets, one binary.

#![allow(clippy::unwrap_used)]

mod accounts;
mod bad_input;
mod browser;
mod cameras;
mod controls;
mod dashboard;
mod expect;
mod ffmpeg;
mod helpers;
mod kernels;
mod lifecycle;
mod operations;
mod protocol_doc;
mod restart;
mod streaming;
mod timeouts;
mod tls;
