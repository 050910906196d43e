//! Places held in the store's admission counts, given back when their holder is done.

use super::node::NodePermit;
use std::sync::Arc;
use switchboard_store::Store;

/// Gives a place back without waiting (from a `Drop`): on the runtime when there is one; a
/// place that cannot be given back stops counting when its lease runs out.
fn release_later(id: String, store: Arc<dyn Store>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            if let Err(e) = store.release_slot(&id).await {
                tracing::debug!(error = %e, "a place is given back when its lease ends");
            }
        });
    }
}

/// A place held while something runs (a viewer watching, a kernel), with this node's permit
/// for it; dropping it gives both back.
pub struct Place {
    slot: Option<(String, Arc<dyn Store>)>,
    _permit: NodePermit,
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Place")
            .field("slot", &self.slot.as_ref().map(|(id, _)| id))
            .finish_non_exhaustive()
    }
}

impl Place {
    pub(super) fn held(id: String, permit: NodePermit, store: Arc<dyn Store>) -> Self {
        Place {
            slot: Some((id, store)),
            _permit: permit,
        }
    }

    /// A place that holds nothing (the gatekeeper is off).
    pub fn free() -> Self {
        Place {
            slot: None,
            _permit: NodePermit::free(),
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Some((id, store)) = self.slot.take() {
            release_later(id, store);
        }
    }
}

/// A reservation for a row being created (a session, camera or user): it counts until the
/// row exists. [`Reservation::done`] gives it back once the row is stored (or the creation
/// failed); dropping it does the same without waiting.
pub struct Reservation {
    slot: Option<(String, Arc<dyn Store>)>,
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("slot", &self.slot.as_ref().map(|(id, _)| id))
            .finish()
    }
}

impl Reservation {
    pub(super) fn held(id: String, store: Arc<dyn Store>) -> Self {
        Reservation {
            slot: Some((id, store)),
        }
    }

    /// A reservation that holds nothing (the gatekeeper is off).
    pub fn free() -> Self {
        Reservation { slot: None }
    }

    /// Gives the reservation back now.
    pub async fn done(mut self) {
        if let Some((id, store)) = self.slot.take()
            && let Err(e) = store.release_slot(&id).await
        {
            tracing::debug!(error = %e, "a reservation is given back when its lease ends");
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if let Some((id, store)) = self.slot.take() {
            release_later(id, store);
        }
    }
}
