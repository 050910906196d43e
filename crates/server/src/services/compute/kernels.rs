//! The compute service itself, and the kernel lifecycle of Jupyter Server's API: the
//! kernelspecs, the account's kernels (on every node), starting, interrupting, restarting
//! and shutting down a kernel.

use super::error::ComputeError;
use super::kernel_env::EnvPolicy;
use super::run_record::RunRecorder;
use crate::auth::TokenService;
use crate::cells::CellLimits;
use crate::config::Config;
use crate::kernel_proxy::{CallerCredentials, KernelProxy};
use crate::kernels::{KernelRegistry, KernelRequest};
use crate::kernelspec_resources::ResourceFile;
use crate::protocol::jupyter::{KernelModel, KernelspecList, KernelspecView};
use crate::services::audit::AuditLog;
use crate::services::gatekeeper::{Gatekeeper, NodePermit, Place};
use crate::vault::Vault;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::audit::{Action, AuditEvent};
use switchboard_core::{AccountId, User};
use switchboard_store::Store;

/// Compute: what the kernel, cell and run routes call.
pub struct Compute {
    pub(super) registry: Arc<KernelRegistry>,
    pub(super) proxy: Arc<KernelProxy>,
    pub(super) store: Arc<dyn Store>,
    /// Cell files are sealed before they are stored and opened after they are read.
    pub(super) vault: Arc<Vault>,
    pub(super) tokens: Arc<TokenService>,
    pub(super) limits: CellLimits,
    pub(super) max_long_poll: Duration,
    pub(super) gate: Arc<Gatekeeper>,
    pub(super) audit: AuditLog,
    /// Which variables of a start request's `env` reach the kernel.
    env_policy: EnvPolicy,
}

impl std::fmt::Debug for Compute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compute")
            .field("running", &self.registry.running())
            .finish_non_exhaustive()
    }
}

impl Compute {
    /// The service over this node's kernels, reaching other nodes' through `proxy`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: &Config,
        registry: Arc<KernelRegistry>,
        proxy: Arc<KernelProxy>,
        store: Arc<dyn Store>,
        vault: Arc<Vault>,
        tokens: Arc<TokenService>,
        gate: Arc<Gatekeeper>,
        audit: AuditLog,
    ) -> Compute {
        Compute {
            audit,
            vault,
            registry,
            proxy,
            store,
            tokens,
            limits: CellLimits::from_config(config),
            max_long_poll: config.sessions.max_long_poll,
            gate,
            env_policy: EnvPolicy::new(&config.kernels.kernel_env_allowed),
        }
    }

    /// Admits one more kernel of `account`: this node's kernel starts at once, the account's
    /// kernels across the cluster and its CPU seconds of the day. The place is held by the
    /// kernel's entry; the start permit by the caller until the kernel is up.
    pub(super) async fn admit_kernel(
        &self,
        account: AccountId,
    ) -> Result<(NodePermit, Place), ComputeError> {
        let starting = self.gate.admit_kernel_start().await?;
        let place = self.gate.admit_kernel(account).await?;
        Ok((starting, place))
    }

    /// Kernels running on this node (handed out; warm ones not included).
    pub fn running(&self) -> usize {
        self.registry.running()
    }

    /// Warm kernels waiting in the pools.
    pub fn warm(&self) -> usize {
        self.registry.warm()
    }

    /// Shuts every kernel of this node down, as the node stops.
    pub async fn shutdown_all(&self) {
        self.registry.shutdown_all().await;
    }

    /// The kernelspecs this node can start, with their resources.
    pub fn kernelspecs(&self) -> Result<KernelspecList, ComputeError> {
        let resources = self.registry.resources()?;
        let mut list = KernelspecList::from(self.registry.specs()?);
        for (name, view) in &mut list.kernelspecs {
            view.resources = resources.listing(name);
        }
        Ok(list)
    }

    /// The kernelspec `name` (any case), with its resources.
    pub fn kernelspec(&self, name: &str) -> Result<KernelspecView, ComputeError> {
        let spec = self.registry.specs()?.get(&name.to_lowercase())?;
        let mut view = KernelspecView::from(spec);
        view.resources = self.registry.resources()?.listing(&spec.name);
        Ok(view)
    }

    /// The resource `file` (a logo, `kernel.js`, `kernel.css`) of kernelspec `name`.
    pub async fn kernelspec_resource(
        &self,
        name: &str,
        file: &str,
    ) -> Result<ResourceFile, ComputeError> {
        let spec = self.registry.specs()?.get(&name.to_lowercase())?;
        self.registry.resources()?.read(&spec.name, file).await
    }

    /// The account's kernels, on this node and (in a cluster) on every other live node.
    pub async fn list_kernels(
        &self,
        account: AccountId,
        credentials: &CallerCredentials,
    ) -> Result<Vec<KernelModel>, ComputeError> {
        // A node without kernels still lists those of the others.
        let mut list: Vec<KernelModel> = match self.registry.list(account) {
            Ok(here) => here.iter().map(|e| e.model()).collect(),
            Err(e) if !self.proxy.clustered() => return Err(e),
            Err(_) => Vec::new(),
        };
        list.extend(self.proxy.kernels_elsewhere(credentials).await);
        Ok(list)
    }

    /// Starts a kernel of the kernelspec `name` (the default one when `None`) for `user`,
    /// counting the user's kernels on other nodes against their shares.
    /// The variables of `env` the node's allow-list passes; what it leaves out is logged by
    /// name.
    pub async fn start_kernel(
        &self,
        user: &User,
        name: Option<&str>,
        env: BTreeMap<String, String>,
        credentials: &CallerCredentials,
    ) -> Result<KernelModel, ComputeError> {
        self.audit.check()?;
        let env = self.env_policy.sort(env)?;
        if !env.ignored.is_empty() {
            tracing::info!(
                user = %user.id,
                ignored = ?env.ignored,
                "kernel start: variables outside kernel_env_allowed were left out"
            );
        }
        let (_starting, place) = self.admit_kernel(user.account_id).await?;
        let elsewhere = self.proxy.counts_elsewhere(credentials, user.id).await;
        let passed: Vec<String> = env.passed.keys().cloned().collect();
        let request = KernelRequest {
            spec: name,
            env: env.passed,
            ..KernelRequest::default()
        };
        let entry = self
            .registry
            .launch(user.id, user.account_id, request, elsewhere, place)
            .await?;
        self.audit
            .record_durable(
                AuditEvent::by(user, Action::KernelStarted)
                    .target("kernel", entry.id())
                    .detail(serde_json::json!({
                        "kernelspec": entry.kernel.spec().name,
                        "env": passed,
                    })),
            )
            .await?;
        Ok(entry.model())
    }

    /// The account's kernel `id`.
    pub fn kernel(&self, account: AccountId, id: &str) -> Result<KernelModel, ComputeError> {
        Ok(self.registry.get(id, account)?.model())
    }

    /// Shuts the account's kernel `id` down (its whole process group).
    pub async fn shut_down_kernel(&self, caller: &User, id: &str) -> Result<(), ComputeError> {
        self.registry.remove(id, caller.account_id).await?;
        self.audit
            .note(AuditEvent::by(caller, Action::KernelStopped).target("kernel", id));
        Ok(())
    }

    /// Records code sent to kernels to run.
    pub(super) fn run_recorder(&self) -> RunRecorder {
        RunRecorder::new(self.audit.clone())
    }

    /// Interrupts what the account's kernel `id` runs.
    pub async fn interrupt_kernel(&self, account: AccountId, id: &str) -> Result<(), ComputeError> {
        let entry = self.registry.get(id, account)?;
        entry.touch();
        Ok(entry.kernel.interrupt().await?)
    }

    /// Restarts the account's kernel `id` (its variables are lost); its model once it is back.
    pub async fn restart_kernel(
        &self,
        account: AccountId,
        id: &str,
    ) -> Result<KernelModel, ComputeError> {
        let entry = self.registry.get(id, account)?;
        entry.touch();
        entry.kernel.restart().await?;
        Ok(entry.model())
    }
}
