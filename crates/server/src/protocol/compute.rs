//! Compute under `/api/v1` on the wire (PROTOCOL.md §15–16): stored cells and their files,
//! one-shot runs, and the long-poll fallback of a kernel's messages.

use super::jupyter::{ExecutionState, JupyterMessage};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// `POST /api/v1/cells`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCellRequest {
    /// The code (not empty, at most `max_cell_code_bytes`).
    pub code: String,
    /// The kernelspec; the default one when absent.
    #[serde(default)]
    pub kernel: Option<String>,
}

/// A file a cell's run wrote, as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CellFileView {
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// Where it is served: `/api/v1/cells/{id}/files/{name}`.
    pub url: String,
}

/// `GET /api/v1/cells/{id_or_permalink}` answer: the cell and its stored files.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CellView {
    pub id: Uuid,
    /// 11 URL-safe characters: the share link is `/c/<permalink>`.
    pub permalink: String,
    /// The share link's path.
    pub url: String,
    /// The kernelspec it runs on.
    pub kernel: String,
    pub code: String,
    pub created_at: DateTime<Utc>,
    pub files: Vec<CellFileView>,
}

/// `POST /api/v1/cells` answer: the stored cell and the kernel handed out to run it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedCell {
    pub id: Uuid,
    pub permalink: String,
    pub url: String,
    /// The kernel to send the code to, over its channels or the long-poll routes.
    pub kernel_id: String,
    pub kernel: String,
    pub code: String,
    pub created_at: DateTime<Utc>,
}

/// `POST /api/v1/execute`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    /// The code (at most `max_cell_code_bytes`).
    pub code: String,
    /// The kernelspec; the default one when absent.
    #[serde(default)]
    pub kernel: Option<String>,
    /// Seconds to let it run: above 0, at most 600; 30 when absent.
    #[serde(default)]
    pub timeout: Option<f64>,
}

/// `POST /api/v1/execute` answer: what the run produced, and the cell it was stored as.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecuteAnswer {
    /// The `execute_reply`'s status (`ok`, `error`, `aborted`), or `timeout` when the deadline
    /// passed first.
    pub status: String,
    pub execution_count: Option<i64>,
    /// Whether the kernel reported the execution finished.
    pub idle: bool,
    /// Every output in order, in the shape of notebook outputs.
    pub outputs: Vec<ExecuteOutput>,
    pub cell_id: Uuid,
    pub permalink: String,
    /// The cell's share link path.
    pub url: String,
    /// The cell's stored files after the run.
    pub files: Vec<CellFileView>,
}

/// One output of a run, as notebooks store outputs, plus Switchboard's `notice`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "output_type", rename_all = "snake_case")]
pub enum ExecuteOutput {
    /// Text on `stdout` or `stderr`.
    Stream { name: String, text: String },
    /// A rich display: MIME type → data.
    DisplayData {
        #[schema(value_type = Object)]
        data: Map<String, Value>,
        #[schema(value_type = Object)]
        metadata: Map<String, Value>,
    },
    /// The value of the last expression.
    ExecuteResult {
        execution_count: Option<i64>,
        #[schema(value_type = Object)]
        data: Map<String, Value>,
        #[schema(value_type = Object)]
        metadata: Map<String, Value>,
    },
    /// An exception.
    Error {
        ename: String,
        evalue: String,
        traceback: Vec<String>,
    },
    /// A Switchboard message: output dropped by the rate limit, a file not stored.
    Notice { text: String },
}

/// `POST /api/v1/kernels/{id}/messages` answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessageSent {
    /// The message's `header.msg_id`: replies carry it as `parent_header.msg_id`.
    pub msg_id: String,
}

/// `GET /api/v1/kernels/{id}/messages` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MessagesQuery {
    /// The last `seq` received; 0 for everything the kernel's replay buffer still holds.
    #[serde(default)]
    pub after: u64,
    /// Seconds to wait for the first message (at most `max_long_poll`).
    #[serde(default)]
    pub wait: Option<u64>,
    /// The token, for clients that cannot send headers (read by authentication).
    #[serde(default)]
    #[param(ignore)]
    pub token: Option<String>,
}

/// `GET /api/v1/kernels/{id}/messages` answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MessagePoll {
    /// The kernel's messages in order (at most 1000).
    pub messages: Vec<PolledMessage>,
    /// Pass as `after` next time.
    pub next: u64,
    /// Messages lost because the client fell further behind than the replay buffer reaches.
    pub missed: Option<MissedMessages>,
    /// The kernel's state now.
    pub state: ExecutionState,
}

/// One message of a long poll, with its number.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolledMessage {
    /// The message's number in the kernel's stream.
    pub seq: u64,
    #[serde(flatten)]
    pub message: JupyterMessage,
}

/// Numbers of messages a long poll could no longer deliver, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MissedMessages {
    pub from: u64,
    pub to: u64,
}
