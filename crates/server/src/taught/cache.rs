//! An account's templates, decoded once and kept in memory while its taught objects stay
//! the same, so each snapshot costs one small read (the ids) instead of opening and decoding
//! every template again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use switchboard_core::AccountId;
use switchboard_vision::Template;
use uuid::Uuid;

/// The decoded templates of one account's taught objects.
pub struct TemplateSet {
    /// Every taught object the set was read for, sorted, including any whose template would
    /// not open (so it is not tried again for every snapshot).
    ids: Vec<Uuid>,
    /// The templates that opened, by taught object.
    templates: Vec<(Uuid, Template)>,
}

impl std::fmt::Debug for TemplateSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateSet")
            .field("ids", &self.ids)
            .field("templates", &self.templates.len())
            .finish()
    }
}

impl TemplateSet {
    /// A set read for `ids` (sorted), holding `templates`.
    pub fn new(ids: Vec<Uuid>, templates: Vec<(Uuid, Template)>) -> TemplateSet {
        TemplateSet { ids, templates }
    }

    /// The taught objects it was read for, sorted.
    pub fn ids(&self) -> &[Uuid] {
        &self.ids
    }

    /// The templates, by taught object.
    pub fn templates(&self) -> &[(Uuid, Template)] {
        &self.templates
    }
}

/// Decoded template sets by account, at most `capacity` accounts (an arbitrary one makes
/// room past that: a miss costs only a re-read).
#[derive(Debug)]
pub struct TemplateCache {
    sets: Mutex<HashMap<AccountId, Arc<TemplateSet>>>,
    capacity: usize,
}

impl TemplateCache {
    /// A cache of at most `capacity` accounts' sets.
    pub fn new(capacity: usize) -> TemplateCache {
        TemplateCache {
            sets: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The account's set, if it was read for exactly these taught objects (`ids`, sorted).
    pub fn get(&self, account: AccountId, ids: &[Uuid]) -> Option<Arc<TemplateSet>> {
        let sets = self.sets.lock().ok()?;
        sets.get(&account).filter(|set| set.ids() == ids).cloned()
    }

    /// Keeps the account's set, replacing what was kept.
    pub fn put(&self, account: AccountId, set: Arc<TemplateSet>) {
        if let Ok(mut sets) = self.sets.lock() {
            if sets.len() >= self.capacity
                && !sets.contains_key(&account)
                && let Some(evicted) = sets.keys().next().copied()
            {
                sets.remove(&evicted);
            }
            sets.insert(account, set);
        }
    }

    /// Forgets the account's set (its taught objects changed, or it was deleted).
    pub fn forget(&self, account: AccountId) {
        if let Ok(mut sets) = self.sets.lock() {
            sets.remove(&account);
        }
    }
}
