//! Switchboard compute kernels: Jupyter kernels run as sandboxed, limited processes and
//! spoken to over the Jupyter wire protocol.
//!
//! - [`KernelSpecs`] finds kernelspecs the way Jupyter does (plus a built-in `python3`).
//! - [`KernelLauncher`] launches kernels for a node ([`NodeConfig`]: runtime folder,
//!   `max_kernels`, sandbox helper), each in its own folder, process group and sandbox,
//!   with the limits of its [`KernelConfig`].
//! - [`Kernel`] is the handle the server holds: [`Kernel::execute`] streams what code
//!   produces; [`Kernel::subscribe`] and [`Kernel::send`] relay raw [`WireMessage`]s (with
//!   conversions to and from Jupyter Server's WebSocket forms) for a
//!   `/api/kernels/{id}/channels` endpoint; interrupt, restart, shutdown; a numbered,
//!   bounded replay buffer for reconnecting clients.
//! - [`KernelPool`] keeps warm kernels of a spec for instant hand-out.
//! - [`bench`] measures the round trip, pool hand-out, cold start and memory.
//!
//! The server never runs user code in its own process: kernels start through the sandbox
//! [`helper`], which the server's binary provides by calling
//! [`helper::run_if_requested`] first thing in `main`.
//!
//! Architecture invariant: every wait has a deadline, and every kernel process lives in
//! a process group that is killed when its [`Kernel`] is dropped.

mod actor;
mod after_run;
pub mod bench;
pub mod config;
mod connection;
mod error;
pub mod helper;
mod kernel;
mod launch;
mod launcher;
pub mod limits;
mod orphans;
mod pool;
mod process_group;
mod rate;
mod replay;
pub mod sandbox;
pub mod spec;
pub mod wire;

pub use after_run::{AFTER_RUN_WAIT, AfterRun};
pub use config::{HELPER_ARG, HelperCommand, KernelConfig, NodeConfig, ReplayLimits, Timeouts};
pub use error::{DeathReason, KernelError, Result};
pub use kernel::{
    ExecuteEvent, ExecuteOptions, Execution, Kernel, KernelState, Outcome, ProcessInfo,
};
pub use launcher::KernelLauncher;
pub use limits::{Limits, OutputRate};
pub use pool::KernelPool;
pub use replay::{Delivery, Numbered, Subscription};
pub use sandbox::{HostSupport, Layer, RunAs, Sandbox, SandboxConfig, SandboxReport};
pub use spec::{InterruptMode, KernelSpec, KernelSpecs, PythonInfo};
pub use wire::{Channel, WireMessage, WsFrame};
