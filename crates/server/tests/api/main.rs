//! Integration tests of the server over real HTTP and WebSockets, one binary.

mod helpers;
mod lifecycle;
mod restart;
mod streaming;
mod timeouts;
