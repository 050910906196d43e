//! Runs the kernel benchmark once and prints the figures:
//! `cargo run -p switchboard-kernel --example kernel_bench`.
//!
//! It is also the model of how a binary embeds the sandbox helper: call
//! `helper::run_if_requested()` first in `main` and use `HelperCommand::current_exe()`.

use switchboard_kernel::bench::{self, BenchOptions};
use switchboard_kernel::{KernelConfig, KernelLauncher, KernelSpecs, Limits, NodeConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    switchboard_kernel::helper::run_if_requested();
    let specs = KernelSpecs::discover().await?;
    let spec = specs.get("python3")?.clone();
    let runtime = tempfile::Builder::new().prefix("sbk").tempdir_in("/tmp")?;
    let launcher = KernelLauncher::new(NodeConfig {
        runtime_dir: runtime.path().join("k"),
        max_kernels: 16,
        ..NodeConfig::default()
    })?;
    let config = KernelConfig {
        limits: Limits::unlimited(),
        ..KernelConfig::default()
    };
    let report = bench::run(&launcher, &spec, &config, &BenchOptions::default()).await?;
    println!("{report}");
    Ok(())
}
