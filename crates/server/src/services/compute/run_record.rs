//! Code run on kernels, on the audit trail: who ran what where — the cell or kernel and a
//! SHA-256 of the code, never the code itself (it may hold secrets, and the cell keeps it).

use super::error::ComputeError;
use crate::kernels::KernelEntry;
use crate::services::audit::AuditLog;
use sha2::Digest;
use switchboard_core::User;
use switchboard_core::audit::{Action, AuditEvent, Hash};
use switchboard_kernel::WireMessage;

/// Records runs; cheap to clone.
#[derive(Debug, Clone)]
pub struct RunRecorder {
    audit: AuditLog,
}

impl RunRecorder {
    pub fn new(audit: AuditLog) -> RunRecorder {
        RunRecorder { audit }
    }

    /// Records `code` run by `caller` on kernel `kernel` (of cell `cell`, if any).
    pub fn run(
        &self,
        caller: &User,
        kernel: &str,
        cell: Option<uuid::Uuid>,
        code: &str,
    ) -> Result<(), ComputeError> {
        let digest = sha2::Sha256::digest(code.as_bytes());
        let event = AuditEvent::by(caller, Action::CodeRun).detail(serde_json::json!({
            "kernel": kernel,
            "cell": cell,
            "code_sha256": Hash(digest.into()).to_hex(),
            "code_bytes": code.len(),
        }));
        let event = match cell {
            Some(cell) => event.target("cell", cell),
            None => event.target("kernel", kernel),
        };
        Ok(self.audit.record(event)?)
    }

    /// Records a message a client sends to a kernel if it runs code (an `execute_request`).
    pub fn execute_request(
        &self,
        caller: &User,
        entry: &KernelEntry,
        msg: &WireMessage,
    ) -> Result<(), ComputeError> {
        if msg.msg_type() != "execute_request" {
            return Ok(());
        }
        let cell = entry.cell.as_ref().map(|link| link.id);
        self.run(caller, entry.id(), cell, msg.content_str("code"))
    }
}
