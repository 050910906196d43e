//! The node monitor: this node registers itself in the `services` table, samples its own
//! load every few seconds into `service_status` (capped per service), and keeps the newest
//! status of every service in memory, so admin views and [`Monitor::least_loaded_node`]
//! answer without a query.

use crate::kernels::KernelRegistry;
use crate::live::SessionRegistry;
use chrono::Utc;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use switchboard_core::{Service, ServiceStatus, SessionState, least_loaded};
use switchboard_store::Store;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, RefreshKind, System};
use tokio_util::sync::CancellationToken;

/// The kind of service a Switchboard server registers as.
pub const SERVER_KIND: &str = "server";

/// A device counts as streaming if it sent a frame this recently.
const STREAMING_WITHIN_MS: i64 = 10_000;

/// Samples this node and remembers everyone's newest status.
pub struct Monitor {
    store: Arc<dyn Store>,
    service: Service,
    interval: Duration,
    keep: u32,
    latest: RwLock<HashMap<String, (Service, ServiceStatus)>>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor")
            .field("service", &self.service.id)
            .finish()
    }
}

/// What the sampler reads from the process and machine.
struct Sampler {
    /// `None` where the platform gives no process figures; samples then carry counts only.
    system: Option<System>,
    pid: Pid,
    started: std::time::Instant,
}

impl Sampler {
    fn new() -> Self {
        let pid = Pid::from_u32(std::process::id());
        let system = match System::new_with_specifics(RefreshKind::nothing()) {
            Ok(mut system) => {
                system.refresh_memory();
                // CPU use is a difference between two samples: take the first now.
                system.refresh_processes_specifics(
                    ProcessesToUpdate::Some(&[pid]),
                    true,
                    ProcessRefreshKind::nothing().with_cpu().with_memory(),
                );
                Some(system)
            }
            Err(e) => {
                tracing::warn!(error = %e, "no process figures on this platform; the monitor records counts only");
                None
            }
        };
        Sampler {
            system,
            pid,
            started: std::time::Instant::now(),
        }
    }

    /// CPU percent, resident and virtual bytes, CPU seconds, memory percent.
    fn process_figures(&mut self) -> (f64, u64, u64, f64, f64) {
        let Some(system) = self.system.as_mut() else {
            return Default::default();
        };
        system.refresh_memory();
        system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[self.pid]),
            true,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
        let total = system.total_memory().max(1);
        system
            .process(self.pid)
            .map(|p| {
                (
                    f64::from(p.cpu_usage()),
                    p.memory(),
                    p.virtual_memory(),
                    p.accumulated_cpu_time() as f64 / 1000.0,
                    p.memory() as f64 * 100.0 / total as f64,
                )
            })
            .unwrap_or_default()
    }

    fn sample(
        &mut self,
        service_id: &str,
        registry: &SessionRegistry,
        kernels: &KernelRegistry,
    ) -> ServiceStatus {
        let (cpu_percent, rss, virt, cpu_seconds, memory_percent) = self.process_figures();
        let now_ms = Utc::now().timestamp_millis();
        let (mut viewers, mut devices) = (0u32, 0u32);
        let handles = registry.all();
        for h in &handles {
            let st = h.status();
            viewers += st.viewers;
            let streaming = h
                .stats()
                .last_frame_ms()
                .is_some_and(|t| now_ms - t < STREAMING_WITHIN_MS);
            if st.state == SessionState::Live && streaming {
                devices += 1;
            }
        }
        ServiceStatus {
            service_id: service_id.to_owned(),
            at: crate::live::now(),
            load: System::load_average().map(|l| l.one).unwrap_or(0.0),
            cpu_percent,
            memory_percent,
            cpu_seconds,
            wall_seconds: self.started.elapsed().as_secs_f64(),
            virtual_bytes: virt,
            resident_bytes: rss,
            sessions: u32::try_from(handles.len()).unwrap_or(u32::MAX),
            viewers,
            devices,
            kernels: u32::try_from(kernels.running()).unwrap_or(u32::MAX),
        }
    }
}

impl Monitor {
    /// Registers this node's server process, first marking rows a crash of this node left
    /// running as stopped. `advertised` is where other nodes reach it (see
    /// [`crate::Config::advertised_address`]).
    pub async fn start(
        store: Arc<dyn Store>,
        node: String,
        advertised: (String, u16),
        interval: Duration,
        keep: u32,
    ) -> Result<Arc<Monitor>, switchboard_store::StoreError> {
        let now = crate::live::now();
        let stale = store.mark_node_stopped(&node, now).await?;
        if stale > 0 {
            tracing::info!(node = %node, stale, "marked services left by an earlier run as stopped");
        }
        let pid = std::process::id();
        let service = Service {
            id: format!("{node}/{SERVER_KIND}/{pid}/{}", now.timestamp_millis()),
            node,
            kind: SERVER_KIND.to_owned(),
            address: advertised.0,
            port: advertised.1,
            pid,
            started_at: now,
            stopped_at: None,
            running: true,
        };
        store.register_service(&service).await?;
        Ok(Arc::new(Monitor {
            store,
            service,
            interval,
            keep,
            latest: RwLock::new(HashMap::new()),
        }))
    }

    /// This node's service record.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Samples this node every interval until `shutdown`, then marks it stopped.
    pub async fn run(
        self: Arc<Self>,
        registry: SessionRegistry,
        kernels: Arc<KernelRegistry>,
        shutdown: CancellationToken,
    ) {
        let mut sampler = Sampler::new();
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.step(&mut sampler, &registry, &kernels).await,
                () = shutdown.cancelled() => break,
            }
        }
        if let Err(e) = self
            .store
            .mark_service_stopped(&self.service.id, crate::live::now())
            .await
        {
            tracing::warn!(error = %e, "could not mark this node stopped");
        }
    }

    /// One sample: record it, then refresh everyone's newest status.
    async fn step(
        &self,
        sampler: &mut Sampler,
        registry: &SessionRegistry,
        kernels: &KernelRegistry,
    ) {
        let status = sampler.sample(&self.service.id, registry, kernels);
        crate::metrics::record_process(&status);
        if let Err(e) = self.store.record_status(&status, self.keep).await {
            tracing::warn!(error = %e, "could not record this node's status");
        }
        self.write()
            .insert(self.service.id.clone(), (self.service.clone(), status));
        if let Err(e) = self.refresh().await {
            tracing::warn!(error = %e, "could not read other nodes' status");
        }
    }

    /// Reloads every service's newest status from the store (other nodes write there).
    pub async fn refresh(&self) -> Result<(), switchboard_store::StoreError> {
        let services = self.store.services().await?;
        let statuses = self.store.latest_statuses().await?;
        let by_id: HashMap<_, _> = services.into_iter().map(|s| (s.id.clone(), s)).collect();
        let fresh: HashMap<_, _> = statuses
            .into_iter()
            .filter_map(|st| {
                by_id
                    .get(&st.service_id)
                    .map(|s| (s.id.clone(), (s.clone(), st)))
            })
            .collect();
        *self.write() = fresh;
        Ok(())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, (Service, ServiceStatus)>> {
        // Only whole-map operations run under the lock; a poisoned map is still consistent.
        self.latest
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The newest status of every known service.
    pub fn latest(&self) -> Vec<(Service, ServiceStatus)> {
        let map = self
            .latest
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut all: Vec<_> = map.values().cloned().collect();
        all.sort_by(|a, b| a.0.node.cmp(&b.0.node).then(a.0.id.cmp(&b.0.id)));
        all
    }

    /// Statuses older than this are of nodes presumed dead.
    fn stale_before(&self) -> chrono::DateTime<Utc> {
        Utc::now()
            - chrono::Duration::from_std(self.interval * 3).unwrap_or(chrono::Duration::seconds(30))
    }

    /// The least-loaded running node with a recent status, for new work such as kernels.
    pub fn least_loaded_node(&self) -> Option<String> {
        let stale_before = self.stale_before();
        let all = self.latest();
        least_loaded(all.iter().map(|(s, st)| (s, st)), SERVER_KIND, stale_before)
            .map(str::to_owned)
    }

    /// The server process of every node that is running and reported recently (the newest
    /// process per node), by node name: where requests for another node's work go.
    pub fn live_nodes(&self) -> Vec<Service> {
        let stale_before = self.stale_before();
        let mut newest: HashMap<String, Service> = HashMap::new();
        for (service, status) in self.latest() {
            if !service.running || service.kind != SERVER_KIND || status.at < stale_before {
                continue;
            }
            match newest.get(&service.node) {
                Some(known) if known.started_at >= service.started_at => {}
                _ => {
                    newest.insert(service.node.clone(), service);
                }
            }
        }
        let mut nodes: Vec<_> = newest.into_values().collect();
        nodes.sort_by(|a, b| a.node.cmp(&b.node));
        nodes
    }
}

impl crate::services::admin::NodeBoard for Monitor {
    fn latest(&self) -> Vec<(Service, ServiceStatus)> {
        Monitor::latest(self)
    }

    fn least_loaded_node(&self) -> Option<String> {
        Monitor::least_loaded_node(self)
    }
}

/// The base URL (`scheme://host:port`, no trailing slash) of a registered service: its
/// address is a host, or `https://host` for a node reached over TLS.
pub fn service_base_url(service: &Service) -> String {
    let address = service.address.trim_end_matches('/');
    if address.contains("://") {
        format!("{address}:{}", service.port)
    } else if address.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("http://[{address}]:{}", service.port)
    } else {
        format!("http://{address}:{}", service.port)
    }
}
