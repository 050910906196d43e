//! Places held in the store's admission counts, given back when their holder is done.

use super::node::NodePermit;
use std::sync::Arc;
use switchboard_store::Store;

/// A row of the store's admission counts, given back when dropped: without waiting, on the
/// runtime when there is one; a row that cannot be given back stops counting when its lease
/// runs out.
struct Slot(Option<(String, Arc<dyn Store>)>);

impl Slot {
    /// The row's id, for `Debug`.
    fn id(&self) -> Option<&str> {
        self.0.as_ref().map(|(id, _)| id.as_str())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some((id, store)) = self.0.take() else {
            return;
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store.release_slot(&id).await {
                    tracing::debug!(error = %e, "a place is given back when its lease ends");
                }
            });
        }
    }
}

/// A place held while something runs (a viewer watching, a kernel), with this node's permit
/// for it; dropping it gives both back.
pub struct Place {
    slot: Slot,
    _permit: NodePermit,
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Place")
            .field("slot", &self.slot.id())
            .finish_non_exhaustive()
    }
}

impl Place {
    pub(super) fn held(id: String, permit: NodePermit, store: Arc<dyn Store>) -> Self {
        Place {
            slot: Slot(Some((id, store))),
            _permit: permit,
        }
    }

    /// A place that holds nothing (the gatekeeper is off).
    pub fn free() -> Self {
        Place {
            slot: Slot(None),
            _permit: NodePermit::free(),
        }
    }
}

/// A reservation for a row being created (a session, camera or user): it counts until the
/// row exists. [`Reservation::done`] gives it back once the row is stored (or the creation
/// failed); dropping it does the same without waiting.
pub struct Reservation(Slot);

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Reservation").field(&self.0.id()).finish()
    }
}

impl Reservation {
    pub(super) fn held(id: String, store: Arc<dyn Store>) -> Self {
        Reservation(Slot(Some((id, store))))
    }

    /// A reservation that holds nothing (the gatekeeper is off).
    pub fn free() -> Self {
        Reservation(Slot(None))
    }

    /// Gives the reservation back now.
    pub async fn done(mut self) {
        if let Some((id, store)) = self.0.0.take()
            && let Err(e) = store.release_slot(&id).await
        {
            tracing::debug!(error = %e, "a reservation is given back when its lease ends");
        }
    }
}
