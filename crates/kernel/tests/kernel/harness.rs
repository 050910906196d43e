//! One place that starts kernels for tests: a launcher per test with its own runtime
//! folder, the crate's helper binary, and the host's `python3` kernelspec.

use std::path::PathBuf;
use std::time::Duration;

use switchboard_kernel::{
    HelperCommand, Kernel, KernelConfig, KernelLauncher, KernelSpec, KernelSpecs, NodeConfig,
    Outcome,
};
use tokio::sync::OnceCell;

static SPECS: OnceCell<KernelSpecs> = OnceCell::const_new();

/// A launcher with its own runtime folder, removed at the end of the test.
pub struct TestNode {
    pub launcher: KernelLauncher,
    pub spec: KernelSpec,
    #[allow(dead_code)]
    pub runtime_dir: PathBuf,
    _root: tempfile::TempDir,
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// The `python3` kernelspec; panics with instructions when ipykernel is missing.
pub async fn python3() -> KernelSpec {
    let specs = SPECS
        .get_or_init(|| async { KernelSpecs::discover().await.unwrap() })
        .await;
    let python = specs.python().unwrap_or_else(|| {
        panic!("python3 not found on PATH: run scripts/test, which installs what these tests need")
    });
    assert!(
        python.ipykernel,
        "ipykernel is not importable by {}: run scripts/test (it pip-installs ipykernel, \
         matplotlib and ipywidgets)",
        python.executable.display()
    );
    specs.get("python3").unwrap().clone()
}

/// A node allowing `max_kernels` kernels.
pub async fn node_with(max_kernels: usize) -> TestNode {
    init_logs();
    let spec = python3().await;
    let root = tempfile::Builder::new()
        .prefix("sbk")
        .tempdir_in("/tmp")
        .unwrap();
    let runtime_dir = root.path().join("k");
    let launcher = KernelLauncher::new(NodeConfig {
        runtime_dir: runtime_dir.clone(),
        max_kernels,
        helper: HelperCommand::program(env!("CARGO_BIN_EXE_switchboard-kernel-helper")),
    })
    .unwrap();
    TestNode {
        launcher,
        spec,
        runtime_dir,
        _root: root,
    }
}

/// A node allowing 64 kernels.
pub async fn node() -> TestNode {
    node_with(64).await
}

/// Default limits and sandbox, with deadlines fit for a loaded 2-core machine.
pub fn config() -> KernelConfig {
    let mut config = KernelConfig::default();
    config.timeouts.start = Duration::from_secs(120);
    config.timeouts.execute = Duration::from_secs(120);
    config.timeouts.request = Duration::from_secs(30);
    config
}

impl TestNode {
    /// Launches a kernel with [`config`].
    pub async fn kernel(&self) -> Kernel {
        self.kernel_with(&config()).await
    }

    /// Launches a kernel with `config`.
    pub async fn kernel_with(&self, config: &KernelConfig) -> Kernel {
        self.launcher.launch(&self.spec, config).await.unwrap()
    }
}

/// Runs `code` to the end and returns what it produced.
pub async fn run(kernel: &Kernel, code: &str) -> Outcome {
    kernel.execute(code).await.unwrap().finish().await.unwrap()
}

/// Whether `pid` is a live (not zombie) process.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("State:"))
                .map(|v| !v.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Waits (up to 10 s) until `pid` is gone.
pub async fn gone(pid: u32) -> bool {
    for _ in 0..1000 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Waits (up to 10 s) until `condition` holds; panics saying what never became true.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never became true: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
