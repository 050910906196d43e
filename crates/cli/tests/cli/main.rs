//! Tests of the real `switchboard` binary as a process, one integration binary.

#![allow(clippy::unwrap_used)]

mod audit;
mod bench_at_rest;
mod bench_cluster;
mod bench_kernel;
mod bench_scale;
mod bench_teach;
mod bench_webrtc;
mod camera;
mod config;
mod detector;
mod failover;
mod installed;
mod keys;
mod limits;
mod process;
mod simulate;
mod support;
