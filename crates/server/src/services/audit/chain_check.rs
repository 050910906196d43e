//! Checking stored chains: every node's records and checkpoints read from the store and
//! judged by [`verify_chain`]. Used by `switchboard admin audit verify` and the tests.

use switchboard_core::audit::verify::{Facts, Verdict, verify_chain};
use switchboard_store::{Store, StoreError};

/// Records read from the database at a time.
const PAGE: u32 = 10_000;

/// The chain the CLI's own records go to: beside the node's, so a running node and the
/// command never write the same chain.
pub fn cli_chain(node: &str) -> String {
    format!("{node}/cli")
}

/// Every node's chain, checked.
pub async fn verify_all(
    store: &dyn Store,
    local: Option<(&str, Vec<u8>)>,
    extra: &[Vec<u8>],
) -> Result<Vec<Verdict>, StoreError> {
    let mut verdicts = Vec::new();
    for node in store.audit_nodes().await? {
        let mut facts = Vec::new();
        let mut after = 0;
        loop {
            let page = store.audit_chain(&node, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            facts.extend(page.iter().map(Facts::of));
        }
        let checkpoints = store.audit_checkpoints(&node).await?;
        // This machine's own key is the anchor for its node (and the node's CLI chain):
        // keys in the database are trusted for other nodes only, as nothing else names them.
        let mut trusted: Vec<Vec<u8>> = match &local {
            Some((name, key)) if node == *name || node == cli_chain(name) => vec![key.clone()],
            _ => store.audit_keys(&node).await?,
        };
        trusted.extend(extra.iter().cloned());
        verdicts.push(verify_chain(&node, &facts, &checkpoints, &trusted));
    }
    Ok(verdicts)
}
