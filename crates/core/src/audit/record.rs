//! A record: who did what, to what, when, from where, with what outcome; and its hash,
//! which covers its content and the hash of the record before it, so a record cannot change,
//! vanish or move without breaking the next link.

use super::action::Action;
use super::hash::{Hash, Link};
use crate::{AccountId, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

/// Who acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A signed-in user (`actor_id` is the user id).
    User,
    /// A device streaming to a session (`actor_id` is the SUID).
    Device,
    /// A camera (`actor_id` is the camera id).
    Camera,
    /// Someone not signed in (a failed sign-in, a shared link); the client address says who.
    Anonymous,
    /// The node itself: timeouts, retention, background work.
    System,
}

impl ActorKind {
    pub const ALL: [ActorKind; 5] = [
        ActorKind::User,
        ActorKind::Device,
        ActorKind::Camera,
        ActorKind::Anonymous,
        ActorKind::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Device => "device",
            ActorKind::Camera => "camera",
            ActorKind::Anonymous => "anonymous",
            ActorKind::System => "system",
        }
    }

    pub fn parse(text: &str) -> Option<ActorKind> {
        ActorKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Who acted: a kind and, except for anonymous and system actors, an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<String>,
}

impl Actor {
    pub fn user(id: impl ToString) -> Actor {
        Actor {
            kind: ActorKind::User,
            id: Some(id.to_string()),
        }
    }
    pub fn device(suid: impl ToString) -> Actor {
        Actor {
            kind: ActorKind::Device,
            id: Some(suid.to_string()),
        }
    }
    pub fn camera(id: impl ToString) -> Actor {
        Actor {
            kind: ActorKind::Camera,
            id: Some(id.to_string()),
        }
    }
    pub fn anonymous() -> Actor {
        Actor {
            kind: ActorKind::Anonymous,
            id: None,
        }
    }
    pub fn system() -> Actor {
        Actor {
            kind: ActorKind::System,
            id: None,
        }
    }
}

/// How the attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It happened.
    Ok,
    /// It was refused: wrong password, no right, a limit.
    Denied,
    /// It was allowed but failed.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Outcome> {
        [Outcome::Ok, Outcome::Denied, Outcome::Failed]
            .into_iter()
            .find(|o| o.as_str() == text)
    }
}

/// What was acted on: a kind (`session`, `user`, `snapshot`…) and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: String,
    pub id: String,
}

impl Target {
    pub fn new(kind: &str, id: impl ToString) -> Target {
        Target {
            kind: kind.to_owned(),
            id: id.to_string(),
        }
    }
}

/// One thing to record, as the code that saw it describes it; the log adds the node, the
/// time, the sequence number and the hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub actor: Actor,
    pub account: Option<AccountId>,
    pub action: Action,
    pub target: Option<Target>,
    pub outcome: Outcome,
    /// What else matters, as a JSON object (a refusal's reason, a device's info, a search's
    /// question, a hash of code run). Never the private thing itself.
    pub detail: serde_json::Value,
    pub request_id: Option<String>,
    pub client: Option<IpAddr>,
}

impl AuditEvent {
    pub fn new(actor: Actor, action: Action) -> AuditEvent {
        AuditEvent {
            actor,
            account: None,
            action,
            target: None,
            outcome: Outcome::Ok,
            detail: serde_json::Value::Null,
            request_id: None,
            client: None,
        }
    }

    /// An event of a signed-in user, in their account.
    pub fn by(user: &crate::User, action: Action) -> AuditEvent {
        AuditEvent::new(Actor::user(user.id), action).account(user.account_id)
    }

    pub fn account(mut self, account: AccountId) -> AuditEvent {
        self.account = Some(account);
        self
    }

    pub fn target(mut self, kind: &str, id: impl ToString) -> AuditEvent {
        self.target = Some(Target::new(kind, id));
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> AuditEvent {
        self.outcome = outcome;
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> AuditEvent {
        self.detail = detail;
        self
    }

    pub fn request(mut self, request_id: Option<String>, client: Option<IpAddr>) -> AuditEvent {
        if self.request_id.is_none() {
            self.request_id = request_id;
        }
        if self.client.is_none() {
            self.client = client;
        }
        self
    }
}

/// A stored record: an event with its place in its node's chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The node whose chain holds it.
    pub node: String,
    /// Its number in that chain, from 1.
    pub seq: u64,
    pub at: Timestamp,
    pub actor: Actor,
    pub account: Option<AccountId>,
    /// The action's name as stored (an [`Action`] when this release knows it).
    pub action: String,
    pub target: Option<Target>,
    pub outcome: String,
    /// The detail exactly as stored (JSON text): the hash covers these bytes.
    pub detail: String,
    pub request_id: Option<String>,
    pub client: Option<String>,
    /// The hash of the record before it in the chain (zeros for the first).
    pub prev_hash: Hash,
    /// The hash of this record's content and `prev_hash`.
    pub hash: Hash,
}

impl AuditRecord {
    /// Makes the record that follows `link` in `node`'s chain.
    pub fn next(node: &str, link: &Link, at: Timestamp, event: AuditEvent) -> AuditRecord {
        let detail = if event.detail.is_null() {
            "{}".to_owned()
        } else {
            event.detail.to_string()
        };
        let mut record = AuditRecord {
            node: node.to_owned(),
            seq: link.seq + 1,
            at,
            actor: event.actor,
            account: event.account,
            action: event.action.as_str().to_owned(),
            target: event.target,
            outcome: event.outcome.as_str().to_owned(),
            detail,
            request_id: event.request_id,
            client: event.client.map(|ip| ip.to_string()),
            prev_hash: link.hash,
            hash: Hash::ZERO,
        };
        record.hash = record_hash(&record);
        record
    }

    /// This record as the next link of its chain.
    pub fn link(&self) -> Link {
        Link {
            seq: self.seq,
            hash: self.hash,
        }
    }
}

/// Version of the hashed encoding, hashed first so a future change cannot collide.
const ENCODING: u8 = 1;

/// The hash of `record`: SHA-256 over its fields, each length-prefixed (so no two different
/// records encode alike), and its `prev_hash`. The number (`seq`) is deliberately not
/// covered: it is the record's position, and a record moved to another position is then
/// still itself, which lets verification tell a reordering from an edit.
pub fn record_hash(record: &AuditRecord) -> Hash {
    let mut h = Sha256::new();
    h.update([ENCODING]);
    field(&mut h, record.node.as_bytes());
    h.update(record.at.timestamp_millis().to_be_bytes());
    field(&mut h, record.actor.kind.as_str().as_bytes());
    optional(&mut h, record.actor.id.as_deref());
    optional(&mut h, record.account.map(|a| a.to_string()).as_deref());
    field(&mut h, record.action.as_bytes());
    optional(&mut h, record.target.as_ref().map(|t| t.kind.as_str()));
    optional(&mut h, record.target.as_ref().map(|t| t.id.as_str()));
    field(&mut h, record.outcome.as_bytes());
    field(&mut h, record.detail.as_bytes());
    optional(&mut h, record.request_id.as_deref());
    optional(&mut h, record.client.as_deref());
    h.update(record.prev_hash.0);
    Hash(h.finalize().into())
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

/// An absent field encodes unlike any present one, even an empty one.
fn optional(h: &mut Sha256, value: Option<&str>) {
    match value {
        None => h.update([0]),
        Some(text) => {
            h.update([1]);
            field(h, text.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(ms: i64) -> crate::Timestamp {
        chrono::Utc
            .timestamp_millis_opt(ms)
            .single()
            .expect("valid")
    }

    #[test]
    fn a_record_links_to_the_one_before() {
        let first = AuditRecord::next(
            "n1",
            &Link::GENESIS,
            at(1),
            AuditEvent::new(Actor::user("u"), Action::SignIn),
        );
        let second = AuditRecord::next(
            "n1",
            &first.link(),
            at(2),
            AuditEvent::new(Actor::anonymous(), Action::SignIn),
        );
        assert_eq!(first.seq, 1);
        assert_eq!(second.seq, 2);
        assert_eq!(second.prev_hash, first.hash);
        assert_eq!(record_hash(&second), second.hash);
    }

    #[test]
    fn every_field_is_covered() {
        let base = AuditRecord::next(
            "n1",
            &Link::GENESIS,
            at(1),
            AuditEvent::new(Actor::user("u"), Action::SignIn).target("user", "u"),
        );
        type Change = Box<dyn Fn(&mut AuditRecord)>;
        let changes: Vec<Change> = vec![
            Box::new(|r| r.node.push('x')),
            Box::new(|r| r.at = at(2)),
            Box::new(|r| r.actor = Actor::device("u")),
            Box::new(|r| r.actor.id = None),
            Box::new(|r| r.action = "auth.sign_out".into()),
            Box::new(|r| r.target = None),
            Box::new(|r| r.outcome = "denied".into()),
            Box::new(|r| r.detail = "{\"a\":1}".into()),
            Box::new(|r| r.request_id = Some(String::new())),
            Box::new(|r| r.client = Some("10.0.0.1".into())),
            Box::new(|r| r.prev_hash = Hash([1; 32])),
        ];
        for change in changes {
            let mut edited = base.clone();
            change(&mut edited);
            assert_ne!(record_hash(&edited), base.hash, "{edited:?}");
        }
    }
}
