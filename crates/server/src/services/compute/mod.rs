//! The compute service: Jupyter kernels (start, list, interrupt, restart, shut down, their
//! messages), stored cells (a cell is stored with a kernel handed out for it, whose runs'
//! files are kept with it) and one-shot runs. [`Compute`] lives in `App.compute`; its
//! failures are [`ComputeError`].
//!
//! Kernels of this node are in `crate::kernels` (`KernelRegistry`), the files of a cell's
//! runs in `crate::cells`; kernels of other nodes are reached through `crate::kernel_proxy`,
//! with the caller's credentials ([`crate::kernel_proxy::CallerCredentials`]).

mod cells;
mod channels;
pub mod cpu_meter;
pub mod error;
mod kernel_env;
mod kernels;
mod run_record;
mod runs;

pub use channels::KernelChannel;
pub use error::{ComputeError, KernelShare};
pub use kernel_env::{EnvPolicy, SortedEnv};
pub use kernels::Compute;
