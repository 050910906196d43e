//! A cluster of nodes for the benchmarks: child processes of this command sharing a
//! PostgreSQL database, the NATS server, one token secret and one master key; and the CPU
//! time of everything such a run involves.

use super::child::ServerChild;
use super::cpu;
use anyhow::Context;
use nix::sys::signal::Signal;
use reqwest::Url;
use std::time::Duration;

/// What the nodes of a cluster share.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// How many nodes (named n1, n2, …).
    pub nodes: usize,
    /// The database every node uses.
    pub database_url: String,
    pub nats_url: String,
    pub session_lease: Duration,
    /// Every node's other flags (limits the load must not run into).
    pub flags: Vec<String>,
}

/// The nodes, `n1` at index 0. A killed node's place is empty until it is restarted.
pub struct Cluster {
    nodes: Vec<Option<ServerChild>>,
    /// Every node's flags apart from its name.
    flags: Vec<String>,
    /// Holds the shared token secret.
    _secrets: tempfile::TempDir,
}

impl Cluster {
    /// Starts `spec.nodes` nodes, one after the other (the first creates the schema).
    pub async fn start(spec: &NodeSpec) -> anyhow::Result<Cluster> {
        let secrets = tempfile::Builder::new()
            .prefix("switchboard-bench-cluster-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let secret_file = secrets.path().join("jwt-secret");
        // 128 hex digits: hex digits are base64 digits too, so this is valid base64 (the
        // format the server reads) of 96 bytes carrying 512 random bits.
        let secret = format!(
            "{:032x}{:032x}{:032x}{:032x}",
            rand::random::<u128>(),
            rand::random::<u128>(),
            rand::random::<u128>(),
            rand::random::<u128>()
        );
        std::fs::write(&secret_file, secret)
            .with_context(|| format!("cannot write {}", secret_file.display()))?;
        // One master key too, or nodes could not read each other's stored objects.
        let master_key_file = secrets.path().join("master-key");
        switchboard_server::vault::master_key::MasterKey::create(&master_key_file)?;
        let mut flags = spec.flags.clone();
        flags.extend([
            "--database-url".to_owned(),
            spec.database_url.clone(),
            "--nats-url".to_owned(),
            spec.nats_url.clone(),
            "--session-lease".to_owned(),
            format!("{}ms", spec.session_lease.as_millis()),
            "--token-secret-file".to_owned(),
            secret_file.display().to_string(),
            "--master-key-file".to_owned(),
            master_key_file.display().to_string(),
        ]);
        let mut cluster = Cluster {
            nodes: Vec::new(),
            flags,
            _secrets: secrets,
        };
        // One after the other: the first node creates the schema.
        for index in 0..spec.nodes {
            let node = cluster.launch(index).await?;
            cluster.nodes.push(Some(node));
        }
        Ok(cluster)
    }

    pub async fn launch(&self, index: usize) -> anyhow::Result<ServerChild> {
        let name = node_name(index);
        let mut flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        flags.extend(["--node-name", &name]);
        ServerChild::start(&flags)
            .await
            .with_context(|| format!("node {name} did not start"))
    }

    pub fn node(&self, index: usize) -> anyhow::Result<&ServerChild> {
        self.nodes
            .get(index)
            .and_then(Option::as_ref)
            .with_context(|| format!("node {} is not running", node_name(index)))
    }

    pub fn base(&self, index: usize) -> anyhow::Result<Url> {
        Ok(self.node(index)?.base().clone())
    }

    pub fn pids(&self) -> Vec<Option<u32>> {
        self.nodes
            .iter()
            .map(|n| n.as_ref().map(ServerChild::pid))
            .collect()
    }

    /// Sends `signal` to a node and waits until it is gone; returns how long it took.
    pub async fn signal(
        &mut self,
        index: usize,
        signal: Signal,
        patience: Duration,
    ) -> anyhow::Result<Duration> {
        let node = self
            .nodes
            .get_mut(index)
            .and_then(Option::take)
            .with_context(|| format!("node {} is not running", node_name(index)))?;
        node.signal_and_wait(signal, patience).await
    }

    /// Kills a node with SIGKILL and waits until it is gone.
    pub async fn kill(&mut self, index: usize) -> anyhow::Result<()> {
        let node = self
            .nodes
            .get_mut(index)
            .and_then(Option::take)
            .with_context(|| format!("node {} is not running", node_name(index)))?;
        node.stop().await
    }

    pub async fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        let node = self.launch(index).await?;
        if let Some(place) = self.nodes.get_mut(index) {
            *place = Some(node);
        }
        Ok(())
    }

    pub fn complaints(&self) -> Vec<String> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
            .flat_map(|(i, n)| {
                n.complaints()
                    .into_iter()
                    .map(move |line| format!("{}: {line}", node_name(i)))
            })
            .collect()
    }

    pub async fn stop(self) {
        for node in self.nodes.into_iter().flatten() {
            if let Err(e) = node.stop().await {
                eprintln!("warning: {e:#}");
            }
        }
    }
}

pub fn node_name(index: usize) -> String {
    format!("n{}", index + 1)
}

/// CPU seconds of the processes a cluster run involves, and of the whole machine.
#[derive(Debug, Clone, Default)]
pub struct ClusterCpu {
    /// Per node, `None` for a node that is not running.
    pub nodes: Vec<Option<f64>>,
    pub bench: f64,
    pub nats: f64,
    pub postgres: f64,
    pub machine: f64,
    pub interrupts: f64,
}

impl ClusterCpu {
    pub fn take(pids: &[Option<u32>]) -> anyhow::Result<ClusterCpu> {
        let (machine, interrupts) = cpu::machine_seconds()?;
        let nodes = pids
            .iter()
            .map(|pid| pid.and_then(|p| cpu::process_seconds(&format!("/proc/{p}/stat")).ok()))
            .collect();
        Ok(ClusterCpu {
            nodes,
            bench: cpu::process_seconds("/proc/self/stat")?,
            nats: seconds_of_processes_named("nats-server"),
            postgres: seconds_of_processes_named("postgres"),
            machine,
            interrupts,
        })
    }

    pub fn since(&self, earlier: &ClusterCpu) -> ClusterCpu {
        ClusterCpu {
            nodes: self
                .nodes
                .iter()
                .zip(&earlier.nodes)
                .map(|(now, then)| Some((*now)? - (*then)?))
                .collect(),
            bench: self.bench - earlier.bench,
            nats: (self.nats - earlier.nats).max(0.0),
            postgres: (self.postgres - earlier.postgres).max(0.0),
            machine: self.machine - earlier.machine,
            interrupts: self.interrupts - earlier.interrupts,
        }
    }

    /// Everything but the nodes, this process, NATS and PostgreSQL.
    pub fn others(&self) -> f64 {
        let nodes: f64 = self.nodes.iter().flatten().sum();
        (self.machine - nodes - self.bench - self.nats - self.postgres).max(0.0)
    }

    pub fn print(&self, window_secs: f64, roles: &[&str]) {
        let share = |seconds: f64| {
            format!(
                "{seconds:.2} s ({:.0}% of one core)",
                100.0 * seconds / window_secs
            )
        };
        for (index, seconds) in self.nodes.iter().enumerate() {
            if let Some(seconds) = seconds {
                let role = roles.get(index).copied().unwrap_or("idle");
                let label = format!("CPU {} ({role})", node_name(index));
                println!("  {label:<36}{}", share(*seconds));
            }
        }
        println!("  {:<36}{}", "CPU nats-server", share(self.nats));
        println!("  {:<36}{}", "CPU postgres", share(self.postgres));
        println!(
            "  {:<36}{}",
            "CPU bench (devices, viewers)",
            share(self.bench)
        );
        println!("  {:<36}{}", "interrupts (softirq)", share(self.interrupts));
        println!("  {:<36}{}", "other processes' CPU", share(self.others()));
        // Two cores shared by the nodes, NATS, PostgreSQL and the load: anything else
        // running skews every figure.
        if self.others() > 0.25 * window_secs {
            println!(
                "  warning: other processes used the CPU during the measurement; \
                 rates and latencies above are pessimistic"
            );
        }
    }
}

/// CPU seconds of every process whose name is `name` now. Processes that exited since an
/// earlier reading drop out, so differences are approximate (PostgreSQL's backends live as
/// long as the nodes' connections, which outlast a measurement).
pub fn seconds_of_processes_named(name: &str) -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .filter_map(|e| cpu::process_seconds(&e.path().join("stat").to_string_lossy()).ok())
        .sum()
}
