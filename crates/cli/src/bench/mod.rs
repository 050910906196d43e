//! `switchboard bench`: measurements of a server this command starts itself, printed
//! against the product's targets. A measurement tool, not a test: it exits 0 whether the
//! targets are met or not, and fails only if it could not measure.

pub mod child;
pub mod cpu;
pub mod detect;
pub mod fanout;

use clap::{Args, Subcommand};

/// Flags of `switchboard bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

/// The benchmarks.
#[derive(Debug, Clone, Subcommand)]
pub enum BenchCommand {
    /// One device to many viewers: frame rates, latency, CPU and memory of the server.
    Fanout(fanout::FanoutArgs),
    /// The object detector's speed per backend, on given photos.
    Detect(detect::DetectArgs),
}

/// Runs the chosen benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Fanout(args) => fanout::run(args).await,
        BenchCommand::Detect(args) => detect::run(args).await,
    }
}
