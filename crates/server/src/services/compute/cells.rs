//! Stored cells: creating one (stored, with a kernel handed out and attached to it), reading
//! it and its files. Reading needs no account: ids and permalinks are unguessable share links.

use super::error::ComputeError;
use super::kernels::Compute;
use crate::cell_link::CellLink;
use crate::cells::{self, file_view};
use crate::kernel_proxy::CallerCredentials;
use crate::kernels::{KernelEntry, KernelRequest};
use crate::protocol::compute::{CellView, CreateCellRequest, CreatedCell};
use crate::vault::Object;
use std::sync::Arc;
use switchboard_core::User;
use switchboard_core::audit::{Action, Actor, AuditEvent};
use switchboard_store::{Cell, StoreError};

/// A cell just stored, and the kernel handed out for it.
pub(super) struct CellKernel {
    pub(super) cell: Cell,
    pub(super) entry: Arc<KernelEntry>,
    pub(super) link: Arc<CellLink>,
}

impl Compute {
    /// Stores `request`'s cell for `user` and hands out a kernel for it, whose runs' files
    /// are collected into the cell. The caller runs the code itself, over the kernel's
    /// channels.
    pub async fn create_cell(
        &self,
        user: &User,
        request: CreateCellRequest,
        credentials: &CallerCredentials,
    ) -> Result<CreatedCell, ComputeError> {
        self.limits.check_code(&request.code)?;
        let CellKernel { cell, entry, link } = self
            .launch_cell(user, request.kernel.as_deref(), &request.code, credentials)
            .await?;
        // Attached before the caller learns the kernel id, so no execution is missed.
        cells::attach_cell_kernel(&self.store, &self.vault, self.limits, &entry, link).await;
        Ok(CreatedCell {
            id: cell.id,
            url: cells::cell_url(&cell),
            permalink: cell.permalink,
            kernel_id: entry.id().to_owned(),
            kernel: cell.kernel,
            code: cell.code,
            created_at: cell.created_at,
        })
    }

    /// What cell creation and one-shot runs share: a kernel handed out for a new cell (the
    /// kernel first, so a caller past their share stores nothing; their kernels on other
    /// nodes count), then the cell stored with the kernel's spec. A cell that cannot be
    /// stored shuts its kernel down.
    pub(super) async fn launch_cell(
        &self,
        user: &User,
        kernel: Option<&str>,
        code: &str,
        credentials: &CallerCredentials,
    ) -> Result<CellKernel, ComputeError> {
        // A run is refused once the account's cells store their limit of files, or its
        // kernels used their CPU seconds of the day.
        self.gate.admit_run(user.account_id).await?;
        let (_starting, place) = self.admit_kernel(user.account_id).await?;
        let link = Arc::new(CellLink::new(uuid::Uuid::new_v4()));
        let elsewhere = self.proxy.counts_elsewhere(credentials, user.id).await;
        let entry = self
            .registry
            .launch(
                user.id,
                user.account_id,
                KernelRequest {
                    spec: kernel,
                    cell: Some(Arc::clone(&link)),
                    ..KernelRequest::default()
                },
                elsewhere,
                place,
            )
            .await?;
        let stored = cells::store_cell(
            &*self.store,
            link.id,
            user.id,
            user.account_id,
            &entry.kernel.spec().name,
            code,
        )
        .await;
        match stored {
            Ok(cell) => Ok(CellKernel { cell, entry, link }),
            Err(e) => {
                let _ = self.registry.remove(entry.id(), user.account_id).await;
                Err(e)
            }
        }
    }

    /// The cell with this id or permalink, and its stored files.
    pub async fn cell(&self, id_or_permalink: &str) -> Result<CellView, ComputeError> {
        let cell = cells::find_cell(&*self.store, id_or_permalink).await?;
        let files = self.store.cell_files(cell.id).await?;
        self.audit.record(
            AuditEvent::new(Actor::anonymous(), Action::LinkOpened)
                .account(cell.account_id)
                .target("cell", cell.id)
                .detail(serde_json::json!({ "by": if id_or_permalink == cell.permalink { "permalink" } else { "id" } })),
        )?;
        Ok(CellView {
            files: files.iter().map(|f| file_view(cell.id, f)).collect(),
            id: cell.id,
            url: cells::cell_url(&cell),
            permalink: cell.permalink,
            kernel: cell.kernel,
            code: cell.code,
            created_at: cell.created_at,
        })
    }

    /// The content of the file `name` a run of the cell with this id or permalink wrote.
    pub async fn cell_file(
        &self,
        id_or_permalink: &str,
        name: &str,
    ) -> Result<Vec<u8>, ComputeError> {
        if !cells::is_file_name(name) {
            return Err(ComputeError::FileNotFound);
        }
        let cell = cells::find_cell(&*self.store, id_or_permalink).await?;
        let stored = match self.store.cell_file(cell.id, name).await {
            Ok((_, stored)) => stored,
            Err(StoreError::NotFound) => return Err(ComputeError::FileNotFound),
            Err(e) => return Err(e.into()),
        };
        let object = Object::CellFile {
            cell: cell.id,
            name,
        };
        let content = self.vault.open(cell.account_id, object, &stored).await?;
        self.audit.record(
            AuditEvent::new(Actor::anonymous(), Action::CellFileDownloaded)
                .account(cell.account_id)
                .target("cell", cell.id)
                .detail(serde_json::json!({ "file": name, "bytes": content.len() })),
        )?;
        Ok(content.to_vec())
    }
}
