//! `switchboard bench`: measurements of a server this command starts itself, printed
//! against the product's targets. A measurement tool, not a test: it exits 0 whether the
//! targets are met or not, and fails only if it could not measure.

pub mod at_rest;
pub mod audit;
pub mod child;
pub mod cluster;
pub mod cpu;
pub mod detect;
pub mod fanout;
pub mod gateway;
pub mod kernel;
pub mod nodes;
pub mod scale;
pub mod search;
pub mod teach;
pub mod temp_database;
pub mod voice;
pub mod webrtc;

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
    /// Jupyter kernels: round trip through the server versus direct, pool hand-out versus
    /// cold start, memory of idle kernels.
    Kernel(kernel::KernelArgs),
    /// Jupyter Server with this server as its kernel gateway: the execute round trip through
    /// both, beside Jupyter Server with its own kernels, and what each hop adds.
    Gateway(gateway::GatewayArgs),
    /// Several nodes over PostgreSQL and NATS: latency the relay adds, frames relayed per
    /// second with each node's CPU, and failover time after a node is killed.
    Cluster(cluster::ClusterArgs),
    /// The audit trail: records per second its writer stores, and what recording adds to
    /// sign-ins, viewing starts and snapshot uploads (trail on ÷ off).
    Audit(audit::AuditArgs),
    /// Encryption at rest: snapshot upload and thumbnail latency with objects sealed versus
    /// stored plain, side by side, and their ratio.
    AtRest(at_rest::AtRestArgs),
    /// Taught objects: the matcher's recall and false matches on real photographs, its time
    /// beside detection, and what three taught objects add to an upload through a server.
    Teach(teach::TeachArgs),
    /// Voice questions: spoken by espeak-ng in two voices, recognized with the search's
    /// grammar; accuracy over the set and milliseconds per question.
    Voice(voice::VoiceArgs),
    /// Many open sessions on one server: memory per waiting and live session, idle CPU,
    /// timer lateness, and every session back after SIGTERM and SIGKILL with its CDR once.
    Scale(scale::ScaleArgs),
    /// WebRTC: one publisher to many WebRTC viewers (frames each receives, CPU per forwarded
    /// stream, memory per viewer, the delay the server adds) and the bandwidth of the same
    /// picture over WebRTC versus MJPEG.
    Webrtc(webrtc::WebRtcArgs),
}

/// Runs the chosen benchmark.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Fanout(args) => fanout::run(args).await,
        BenchCommand::Webrtc(args) => webrtc::run(args).await,
        BenchCommand::Detect(args) => detect::run(args).await,
        BenchCommand::Kernel(args) => kernel::run(args).await,
        BenchCommand::Gateway(args) => gateway::run(args).await,
        BenchCommand::Cluster(args) => cluster::run(args).await,
        BenchCommand::Audit(args) => audit::run(args).await,
        BenchCommand::AtRest(args) => at_rest::run(args).await,
        BenchCommand::Teach(args) => teach::run(args).await,
        BenchCommand::Voice(args) => voice::run(args).await,
        BenchCommand::Scale(args) => scale::run(args).await,
    }
}
