//! Integration tests against real ipykernel kernels (installed by `scripts/test`).
#![allow(clippy::unwrap_used)]

mod harness;

mod basics;
mod bench;
mod limits;
mod pool;
mod sandbox;
mod totals;
