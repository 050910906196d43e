//! Jupyter Server's kernel API on the wire (PROTOCOL.md §15): the kernel model and the
//! kernelspecs answer with Jupyter Server's own field names, so Jupyter clients read them
//! unchanged, and the messages of the channels socket and its long-poll fallback.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use switchboard_core::UserId;

/// A kernel as Jupyter Server describes it, plus `owner`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KernelModel {
    /// A UUID (version 8) that also names the node that runs the kernel.
    pub id: String,
    /// The kernelspec it runs.
    pub name: String,
    /// When a client last sent it something, or its state last changed. Always written
    /// with its fraction of a second: Jupyter Server's gateway client parses it with
    /// `%Y-%m-%dT%H:%M:%S.%fZ` and fails on a whole second.
    #[serde(with = "jupyter_time")]
    #[schema(value_type = String, format = DateTime)]
    pub last_activity: DateTime<Utc>,
    pub execution_state: ExecutionState,
    /// Open channels sockets.
    pub connections: u64,
    /// The user who started it (not in Jupyter Server's model; nodes count each other's
    /// kernels by it).
    pub owner: UserId,
}

/// Jupyter's timestamps: UTC, always with milliseconds (`2026-01-01T12:00:00.000Z`).
mod jupyter_time {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        DateTime::<Utc>::deserialize(d)
    }
}

/// What a kernel is doing, in Jupyter's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionState {
    Starting,
    Idle,
    Busy,
    Restarting,
    Dead,
}

impl From<&switchboard_kernel::KernelState> for ExecutionState {
    fn from(state: &switchboard_kernel::KernelState) -> Self {
        use switchboard_kernel::KernelState;
        match state {
            KernelState::Starting => ExecutionState::Starting,
            KernelState::Idle => ExecutionState::Idle,
            KernelState::Busy => ExecutionState::Busy,
            KernelState::Restarting => ExecutionState::Restarting,
            KernelState::Dead(_) => ExecutionState::Dead,
        }
    }
}

/// `POST /api/kernels`. Jupyter clients send more fields (`path`, …) or no body at all;
/// only `name` and `env` are read.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct StartKernelRequest {
    /// The kernelspec; the default one when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Variables for the kernel's environment, as Jupyter Server's gateway client sends them
    /// (`KERNEL_USERNAME`, …): those the node's `kernel_env_allowed` allows are set, others
    /// are left out and logged. At most 64, each value at most 4096 bytes.
    #[serde(default)]
    pub env: Option<BTreeMap<String, String>>,
}

/// `GET /api/kernelspecs` answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KernelspecList {
    /// The spec a kernel gets when none is named (`python3` when present).
    pub default: Option<String>,
    /// Every spec by name.
    pub kernelspecs: BTreeMap<String, KernelspecView>,
}

/// One kernelspec as Jupyter Server lists it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KernelspecView {
    pub name: String,
    pub spec: KernelspecBody,
    /// Logos (`logo-64x64`, …), `kernel.js` and `kernel.css`: the path each is served at,
    /// `/kernelspecs/{name}/{file}`.
    pub resources: BTreeMap<String, String>,
}

/// The content of a kernelspec's `kernel.json`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KernelspecBody {
    /// The command; `{connection_file}` stands for the connection file's path.
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub display_name: String,
    pub language: String,
    /// `signal` or `message`.
    pub interrupt_mode: String,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
}

impl From<&switchboard_kernel::KernelSpec> for KernelspecView {
    fn from(spec: &switchboard_kernel::KernelSpec) -> Self {
        use switchboard_kernel::InterruptMode;
        KernelspecView {
            name: spec.name.clone(),
            spec: KernelspecBody {
                argv: spec.argv.clone(),
                env: spec.env.clone(),
                display_name: spec.display_name.clone(),
                language: spec.language.clone(),
                interrupt_mode: match spec.interrupt_mode {
                    InterruptMode::Signal => "signal",
                    InterruptMode::Message => "message",
                }
                .to_owned(),
                metadata: spec.metadata.clone(),
            },
            resources: BTreeMap::new(),
        }
    }
}

impl From<&switchboard_kernel::KernelSpecs> for KernelspecList {
    fn from(specs: &switchboard_kernel::KernelSpecs) -> Self {
        KernelspecList {
            default: specs.default_name().map(str::to_owned),
            kernelspecs: specs
                .iter()
                .map(|spec| (spec.name.clone(), KernelspecView::from(spec)))
                .collect(),
        }
    }
}

/// `GET /api/kernels/{id}/channels` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChannelsQuery {
    /// The client's Jupyter session: a client that reconnects with the same one first
    /// receives what it missed.
    #[serde(default)]
    pub session_id: Option<String>,
}

/// A Jupyter message in the JSON form of the channels socket: what
/// `POST /api/v1/kernels/{id}/messages` takes and its long poll answers. Header, content
/// and metadata are Jupyter's and passed through as they are.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JupyterMessage {
    /// `shell`, `control` or `stdin` from a client; `iopub`, `shell`, `stdin` or `control`
    /// from the kernel.
    pub channel: String,
    /// `msg_id`, `msg_type`, `session`, `username`, `date`, `version`.
    #[schema(value_type = Object)]
    pub header: Map<String, Value>,
    /// The header of the request this message answers (empty if none).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub parent_header: Map<String, Value>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: Map<String, Value>,
    #[schema(value_type = Object)]
    pub content: Value,
    /// Binary buffers are not carried in this form.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub buffers: Vec<Value>,
    /// The header's `msg_id` (in answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<String>,
    /// The header's `msg_type` (in answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg_type: Option<String>,
}

impl From<&switchboard_kernel::WireMessage> for JupyterMessage {
    fn from(msg: &switchboard_kernel::WireMessage) -> Self {
        JupyterMessage {
            channel: msg.channel.as_str().to_owned(),
            header: msg.header.clone(),
            parent_header: msg.parent_header.clone(),
            metadata: msg.metadata.clone(),
            content: msg.content.clone(),
            buffers: Vec::new(),
            msg_id: Some(msg.msg_id().to_owned()),
            msg_type: Some(msg.msg_type().to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_kernel::{InterruptMode, KernelSpec, KernelSpecs};

    fn spec(name: &str, language: &str, interrupt_mode: InterruptMode) -> KernelSpec {
        KernelSpec {
            name: name.to_owned(),
            display_name: name.to_uppercase(),
            language: language.to_owned(),
            argv: vec![name.to_owned(), "{connection_file}".to_owned()],
            env: BTreeMap::from([("A".to_owned(), "1".to_owned())]),
            interrupt_mode,
            metadata: Map::new(),
            resource_dir: None,
            runtime_paths: vec!["/opt/runtime".into()],
        }
    }

    #[test]
    fn kernelspecs_read_as_jupyter_server_lists_them() {
        let mut specs = KernelSpecs::default();
        specs.insert(spec("python3", "python", InterruptMode::Signal));
        specs.insert(spec("bash", "bash", InterruptMode::Message));
        let api = serde_json::to_value(KernelspecList::from(&specs)).unwrap();
        assert_eq!(api["default"], "python3");
        let bash = &api["kernelspecs"]["bash"];
        assert_eq!(bash["name"], "bash");
        assert_eq!(bash["resources"], serde_json::json!({}));
        assert_eq!(
            bash["spec"],
            serde_json::json!({
                "argv": ["bash", "{connection_file}"],
                "env": {"A": "1"},
                "display_name": "BASH",
                "language": "bash",
                "interrupt_mode": "message",
                "metadata": {},
            }),
            "the spec's own fields only: no folders of this host"
        );
    }

    #[test]
    fn a_kernel_model_has_jupyter_servers_field_names() {
        let model = KernelModel {
            id: "5f0c2a9e-1b7d-8c3e-9a51-2f6d8e0b7c44".into(),
            name: "python3".into(),
            last_activity: "2026-01-01T12:00:00.651Z".parse().unwrap(),
            execution_state: ExecutionState::Idle,
            connections: 1,
            owner: UserId::new(),
        };
        let json = serde_json::to_value(&model).unwrap();
        let mut fields: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "connections",
                "execution_state",
                "id",
                "last_activity",
                "name",
                "owner"
            ]
        );
        assert_eq!(json["execution_state"], "idle");
        assert_eq!(json["last_activity"], "2026-01-01T12:00:00.651Z");
        let back: KernelModel = serde_json::from_value(json).unwrap();
        assert_eq!(back, model);
        // A whole second keeps its fraction: Jupyter Server's gateway parses `.%fZ`.
        let whole = KernelModel {
            last_activity: "2026-01-01T12:00:00Z".parse().unwrap(),
            ..model
        };
        let json = serde_json::to_value(&whole).unwrap();
        assert_eq!(json["last_activity"], "2026-01-01T12:00:00.000Z");
    }
}
