//! Counts what a cluster's nodes publish on NATS: a plain subscriber to every Switchboard
//! subject (`sb.>`) sees each message once, whichever node sent it, and names its kind from
//! the subject (`sb.<suid>.frames` is a frame, `sb.account.<id>.events` an account event).

use anyhow::Context;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::task::JoinHandle;

/// Messages and payload bytes of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub messages: u64,
    pub bytes: u64,
}

/// Messages seen since the counter started, by kind.
pub type Counts = BTreeMap<String, Tally>;

/// A running subscription that counts every message on `sb.>`.
pub struct NatsCounter {
    counts: Arc<Mutex<Counts>>,
    task: JoinHandle<()>,
}

impl NatsCounter {
    /// Subscribes at `url` and starts counting once the server has the subscription.
    pub async fn start(url: &str) -> anyhow::Result<NatsCounter> {
        let client = async_nats::connect(url)
            .await
            .with_context(|| format!("cannot connect to NATS at {url}"))?;
        let mut subscription = client
            .subscribe("sb.>")
            .await
            .context("cannot subscribe to sb.> on NATS")?;
        client
            .flush()
            .await
            .context("NATS did not confirm the subscription")?;
        let counts = Arc::new(Mutex::new(Counts::new()));
        let into = counts.clone();
        let task = tokio::spawn(async move {
            // The client lives as long as the subscription is read.
            let _client = client;
            while let Some(message) = subscription.next().await {
                let mut counts = into.lock().unwrap_or_else(PoisonError::into_inner);
                let tally = counts.entry(kind(&message.subject)).or_default();
                tally.messages += 1;
                tally.bytes += message.payload.len() as u64;
            }
        });
        Ok(NatsCounter { counts, task })
    }

    /// What was counted so far.
    pub fn snapshot(&self) -> Counts {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops counting.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// What `later` counted beyond `earlier`, kind by kind.
pub fn since(later: &Counts, earlier: &Counts) -> Counts {
    later
        .iter()
        .map(|(kind, tally)| {
            let before = earlier.get(kind).copied().unwrap_or_default();
            let delta = Tally {
                messages: tally.messages.saturating_sub(before.messages),
                bytes: tally.bytes.saturating_sub(before.bytes),
            };
            (kind.clone(), delta)
        })
        .filter(|(_, t)| t.messages > 0)
        .collect()
}

/// The kind of a Switchboard subject: its last token for a session's subjects
/// (`frames`, `status`, …), else its first two with the id left out (`account events`).
fn kind(subject: &str) -> String {
    let tokens: Vec<&str> = subject.split('.').collect();
    match tokens.as_slice() {
        ["sb", "account", _, last] => format!("account {last}"),
        ["sb", "auth", what] => format!("auth {what}"),
        ["sb", "probe", _] => "node probes".to_owned(),
        ["sb", _, last] => (*last).to_owned(),
        _ => "other".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_kind_of_every_subject() {
        let suid = "sb.0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(kind(&format!("{suid}.frames")), "frames");
        assert_eq!(kind(&format!("{suid}.presence")), "presence");
        assert_eq!(kind("sb.account.42.events"), "account events");
        assert_eq!(kind("sb.auth.revoked"), "auth revoked");
        assert_eq!(kind("sb.probe.n1"), "node probes");
        assert_eq!(kind("elsewhere"), "other");
    }

    #[test]
    fn subtracts_kind_by_kind() {
        let tally = |messages, bytes| Tally { messages, bytes };
        let earlier = Counts::from([("frames".to_owned(), tally(2, 200))]);
        let later = Counts::from([
            ("frames".to_owned(), tally(5, 500)),
            ("status".to_owned(), tally(1, 10)),
        ]);
        let delta = since(&later, &earlier);
        assert_eq!(delta["frames"], tally(3, 300));
        assert_eq!(delta["status"], tally(1, 10));
        assert!(since(&earlier, &earlier).is_empty());
    }
}
