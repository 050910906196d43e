//! Landlock: the kernel reads only what it needs, writes only in its own folder, cannot use
//! TCP, and (ABI 6+) cannot signal processes or reach abstract Unix sockets outside its
//! sandbox. Applied best-effort up to the newest ABI this crate knows; what the running
//! kernel enforced is reported.

use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, LandlockStatus, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, path_beneath_rules,
};
use serde::{Deserialize, Serialize};

/// The newest ABI this crate handles; older kernels get what they support.
const NEWEST: ABI = ABI::V10;

/// Paths the kernel may use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandlockPlan {
    /// Read and execute.
    pub read: Vec<PathBuf>,
    /// Read, write, create, remove, execute.
    pub read_write: Vec<PathBuf>,
    /// The ABI whose rights to handle: the host's (see [`probe_abi`]), so that "full"
    /// means everything this host can enforce. `None`: the newest this crate knows.
    pub abi: Option<u32>,
}

/// The `landlock` crate's ABI for a number (`None` for unknown numbers).
fn abi_of(number: u32) -> Option<ABI> {
    Some(match number {
        1 => ABI::V1,
        2 => ABI::V2,
        3 => ABI::V3,
        4 => ABI::V4,
        5 => ABI::V5,
        6 => ABI::V6,
        7 => ABI::V7,
        8 => ABI::V8,
        9 => ABI::V9,
        10 => ABI::V10,
        _ => return None,
    })
}

/// What Landlock enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandlockOutcome {
    /// `"full"`, `"partial"` or `"none"`.
    pub status: &'static str,
    /// The ABI in effect.
    pub abi: Option<u32>,
}

impl LandlockPlan {
    /// Restricts the calling thread (and what it `exec`s) to this plan.
    pub fn apply(&self) -> Result<LandlockOutcome, String> {
        let abi = self.abi.and_then(abi_of).unwrap_or(NEWEST);
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(abi))
            .map_err(|e| format!("landlock: {e}"))?;
        if !AccessNet::from_all(abi).is_empty() {
            ruleset = ruleset
                .handle_access(AccessNet::from_all(abi))
                .map_err(|e| format!("landlock: {e}"))?;
        }
        if !Scope::from_all(abi).is_empty() {
            ruleset = ruleset
                .scope(Scope::from_all(abi))
                .map_err(|e| format!("landlock: {e}"))?;
        }
        let status = ruleset
            .create()
            .and_then(|r| r.add_rules(path_beneath_rules(&self.read, AccessFs::from_read(abi))))
            .and_then(|r| {
                r.add_rules(path_beneath_rules(
                    &self.read_write,
                    AccessFs::from_all(abi),
                ))
            })
            .and_then(|r| r.restrict_self())
            .map_err(|e| format!("landlock: {e}"))?;
        let abi = match status.landlock {
            LandlockStatus::Available {
                effective_abi,
                kernel_abi,
            } => Some(kernel_abi.map_or(effective_abi as u32, |v| v as u32)),
            _ => None,
        };
        Ok(LandlockOutcome {
            status: match status.ruleset {
                RulesetStatus::FullyEnforced => "full",
                RulesetStatus::PartiallyEnforced => "partial",
                RulesetStatus::NotEnforced => "none",
            },
            abi,
        })
    }
}

/// The Landlock ABI the host supports, as far as access rights tell (ABIs that add only
/// flags, like 7 and 8 over 6, read as the lowest of their group). `None`: no Landlock.
/// Creates (and closes) rulesets; restricts nothing.
pub fn probe_abi() -> Option<u32> {
    let abis = [
        (10, ABI::V10),
        (9, ABI::V9),
        (6, ABI::V6),
        (5, ABI::V5),
        (4, ABI::V4),
        (3, ABI::V3),
        (2, ABI::V2),
        (1, ABI::V1),
    ];
    abis.into_iter().find_map(|(number, abi)| {
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(abi))
            .ok()?;
        if !AccessNet::from_all(abi).is_empty() {
            ruleset = ruleset.handle_access(AccessNet::from_all(abi)).ok()?;
        }
        if !Scope::from_all(abi).is_empty() {
            ruleset = ruleset.scope(Scope::from_all(abi)).ok()?;
        }
        ruleset.create().ok().map(|_| number)
    })
}
