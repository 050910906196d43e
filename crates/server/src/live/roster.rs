//! The map of this node's open sessions by SUID, with what their actors need: shared by the
//! registry and by the actor and follower tasks it starts, which remove themselves from it.

use super::SessionHandle;
use super::deps::ActorDeps;
use std::collections::HashMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use switchboard_core::Suid;

/// The open sessions' handles. Only single map operations run under the lock, never an
/// await.
pub(super) struct Roster {
    map: RwLock<HashMap<Suid, SessionHandle>>,
    deps: ActorDeps,
}

impl Roster {
    pub(super) fn new(deps: ActorDeps) -> Self {
        Roster {
            map: RwLock::new(HashMap::new()),
            deps,
        }
    }

    pub(super) fn read(&self) -> RwLockReadGuard<'_, HashMap<Suid, SessionHandle>> {
        // Only single map operations run under the lock, so poisoning leaves it consistent.
        self.map
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, HashMap<Suid, SessionHandle>> {
        self.map
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn deps(&self) -> &ActorDeps {
        &self.deps
    }

    /// Forgets a session's handle unless another has taken its place (a follower that became
    /// the owner, or the reverse).
    pub(super) fn remove_if_same(&self, suid: Suid, handle: &SessionHandle) {
        let mut map = self.write();
        if map.get(&suid).is_some_and(|h| h.same(handle)) {
            map.remove(&suid);
        }
    }
}
