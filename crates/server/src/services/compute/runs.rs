//! One-shot runs (`POST /api/v1/execute`): code run to its end on a fresh kernel, every
//! output answered in order, the run stored as a cell with the files it wrote.

use super::cells::CellKernel;
use super::error::ComputeError;
use super::kernels::Compute;
use crate::cells;
use crate::kernel_proxy::CallerCredentials;
use crate::kernels::KernelEntry;
use crate::protocol::compute::{ExecuteAnswer, ExecuteOutput, ExecuteRequest};
use std::time::Duration;
use switchboard_core::User;
use switchboard_kernel::{ExecuteEvent, ExecuteOptions, KernelError};

/// How long a run may take when the request does not say, in seconds.
const DEFAULT_TIMEOUT: f64 = 30.0;
/// The longest a run may be given, in seconds.
const MAX_TIMEOUT: f64 = 600.0;

/// What a run produced.
#[derive(Debug)]
struct Run {
    status: String,
    execution_count: Option<i64>,
    idle: bool,
    outputs: Vec<ExecuteOutput>,
}

impl Compute {
    /// Runs `request.code` for `user` on a fresh kernel (counted like any other, so shares
    /// and the node's maximum apply), stored as a cell; everything it produced, in order,
    /// once it is done or its timeout passed, with the files it wrote. The kernel is shut
    /// down afterwards, in the background.
    pub async fn execute(
        &self,
        user: &User,
        request: ExecuteRequest,
        credentials: &CallerCredentials,
    ) -> Result<ExecuteAnswer, ComputeError> {
        let timeout = request.timeout.unwrap_or(DEFAULT_TIMEOUT);
        if !(timeout > 0.0 && timeout <= MAX_TIMEOUT) {
            return Err(ComputeError::InvalidTimeout);
        }
        self.limits.check_code_size(&request.code)?;
        // Every run is stored as a cell, so its code and files can be shared afterwards.
        let CellKernel { cell, entry, link } = self
            .launch_cell(user, request.kernel.as_deref(), &request.code, credentials)
            .await?;
        self.run_recorder()
            .run(user, entry.id(), Some(cell.id), &request.code)?;
        let options = ExecuteOptions {
            timeout: Some(Duration::from_secs_f64(timeout)),
            ..Default::default()
        };
        let run = run_to_end(&entry, &request.code, options).await;
        // No end-of-run hook is attached to this kernel: the run's files are collected here.
        let collected = cells::collect(
            &*self.store,
            &self.vault,
            user.account_id,
            &link,
            entry.kernel.home_dir(),
            self.limits,
        )
        .await;
        self.registry.retire(entry);
        let mut run = run?;
        let files = self.store.cell_files(cell.id).await?;
        run.outputs.extend(
            collected
                .refused
                .iter()
                .map(|refused| ExecuteOutput::Notice {
                    text: format!("[switchboard] file not stored: {refused}"),
                }),
        );
        Ok(ExecuteAnswer {
            status: run.status,
            execution_count: run.execution_count,
            idle: run.idle,
            outputs: run.outputs,
            cell_id: cell.id,
            url: cells::cell_url(&cell),
            permalink: cell.permalink,
            files: files.iter().map(|f| cells::file_view(cell.id, f)).collect(),
        })
    }
}

/// Runs `code` and gathers its outputs as notebooks store them, until the kernel is idle or
/// the timeout passes (`status` is then `timeout`, with the outputs so far).
async fn run_to_end(
    entry: &KernelEntry,
    code: &str,
    options: ExecuteOptions,
) -> Result<Run, ComputeError> {
    let mut execution = entry.kernel.execute_with(code, options).await?;
    let mut run = Run {
        status: "ok".to_owned(),
        execution_count: None,
        idle: false,
        outputs: Vec::new(),
    };
    while let Some(event) = execution.next().await {
        let event = match event {
            Ok(event) => event,
            Err(KernelError::Timeout { .. }) => {
                run.status = "timeout".into();
                break;
            }
            Err(e) => return Err(e.into()),
        };
        match event {
            ExecuteEvent::Stream { name, text } => {
                run.outputs.push(ExecuteOutput::Stream { name, text });
            }
            ExecuteEvent::Display { data, metadata, .. } => {
                run.outputs
                    .push(ExecuteOutput::DisplayData { data, metadata });
            }
            ExecuteEvent::Result {
                execution_count,
                data,
                metadata,
            } => run.outputs.push(ExecuteOutput::ExecuteResult {
                execution_count,
                data,
                metadata,
            }),
            ExecuteEvent::Error {
                ename,
                evalue,
                traceback,
            } => run.outputs.push(ExecuteOutput::Error {
                ename,
                evalue,
                traceback,
            }),
            ExecuteEvent::Notice(text) => run.outputs.push(ExecuteOutput::Notice { text }),
            ExecuteEvent::Reply {
                status,
                execution_count,
                ..
            } => {
                run.status = status;
                run.execution_count = execution_count;
            }
            ExecuteEvent::Idle => run.idle = true,
            _ => {}
        }
    }
    Ok(run)
}
