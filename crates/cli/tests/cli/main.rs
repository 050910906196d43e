//! Tests of the real `switchboard` binary as a process, one integration binary.

#![allow(clippy::unwrap_used)]

mod process;
mod simulate;
mod support;
