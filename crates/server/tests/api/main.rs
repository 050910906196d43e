//! Integration tests of the server over real HTTP and WebSockets, one binary.

#![allow(clippy::unwrap_used)]

mod accounts;
mod at_rest;
mod audit;
mod bad_input;
mod browser;
mod browser_audit;
mod browser_cameras;
mod browser_cells;
mod browser_limits;
mod browser_security;
mod browser_taught;
mod browser_voice;
mod browser_webrtc;
mod cameras;
mod cells;
mod cluster;
mod cluster_failures;
mod cluster_kernels;
mod cluster_live;
mod cluster_proxy;
mod controls;
mod dashboard;
mod expect;
mod ffmpeg;
mod gateway;
mod haproxy;
mod helpers;
mod kernels;
mod lifecycle;
mod limits;
mod openapi;
mod operations;
mod protocol_doc;
mod restart;
mod security;
mod streaming;
mod taught;
mod timeouts;
mod tls;
mod turn;
mod voice;
mod webrtc;
