//! `switchboard`: the command line. A thin layer: it parses flags, builds the configuration
//! and calls into the library crates.

mod admin;
mod audit;
mod bench;
mod camera;
mod camera_load;
mod doctor;
mod formats;
mod load;
mod malloc_arenas;
mod settings;
mod simulate;

use anyhow::Context;
use clap::{Parser, Subcommand};
use settings::ServeArgs;
use std::sync::LazyLock;

/// What `switchboard --version` prints (`-V` prints the first line only): the version, and
/// the model built into the program with its licence, which a distributor must know.
static LONG_VERSION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{}\n\n{}",
        env!("CARGO_PKG_VERSION"),
        switchboard_vision::BUILTIN_MODEL_NOTE
    )
});

/// Switchboard: a self-hosted real-time session server.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, long_version = LONG_VERSION.as_str(), about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (embedded defaults: SQLite under ./data, HTTP on 127.0.0.1:8080).
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(ServeArgs),
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Administration that works on the database directly, with or without a running server.
    Admin(admin::AdminArgs),
    /// Load a running server with simulated devices and viewers, and report what viewers saw
    /// (`simulate cameras`: cameras uploading photos while users search).
    Simulate(simulate::SimulateCommand),
    /// Start a server and measure it against the product's targets.
    Bench(bench::BenchArgs),
    /// Capture photos on a camera's computer and upload them to a camera of a server.
    Camera(Box<camera::CameraArgs>),
    /// What this machine has for each optional part (detector, ONNX Runtime, kernels and
    /// their sandbox, ffmpeg, TLS), and the command that adds what is missing.
    Doctor(doctor::DoctorArgs),
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (defaults, file, environment, flags) with secrets masked.
    Print(Box<ServeArgs>),
    /// Print a commented example configuration file.
    Example,
}

fn main() -> anyhow::Result<()> {
    // A kernel's sandbox helper is this binary started with a special argument; it must
    // run before any thread exists, so before the runtime and even argument parsing.
    switchboard_kernel::helper::run_if_requested();
    malloc_arenas::limit_to_cores();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            settings::init_logging(args.log_format);
            let config = args.load()?;
            serve(config).await
        }
        Command::Migrate(args) => {
            settings::init_logging(args.log_format);
            let config = args.load()?;
            std::fs::create_dir_all(&config.operations.data_dir).with_context(|| {
                format!("cannot create {}", config.operations.data_dir.display())
            })?;
            switchboard_store::migrate(&config.database_url())
                .await
                .context("migrations failed")?;
            println!("database is up to date");
            Ok(())
        }
        Command::Config { command } => {
            match command {
                ConfigCommand::Print(args) => print!("{}", args.load()?.to_masked_toml()),
                ConfigCommand::Example => print!("{}", switchboard_server::config::EXAMPLE_TOML),
            }
            Ok(())
        }
        Command::Admin(args) => admin::run(args).await,
        Command::Simulate(args) => simulate::run(args).await,
        Command::Bench(args) => bench::run(args).await,
        Command::Camera(args) => camera::run(*args).await,
        Command::Doctor(args) => doctor::run(args).await,
    }
}

async fn serve(config: switchboard_server::Config) -> anyhow::Result<()> {
    let listen = config.network.listen;
    let server = switchboard_server::Server::start(config)
        .await
        .context("the server could not start")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| {
            format!("cannot listen on {listen}: is another server running there? (use --listen)")
        })?;
    server.serve(listener, shutdown_signal()).await?;
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
