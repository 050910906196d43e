//! How many client sockets this process may open. Each live session holds two (its device
//! and its viewer) and each one counts against the open-files limit, so the bench raises its
//! soft limit to the hard one first, prints both, and sizes a stage to fit under it.

use switchboard_server::open_files::{self, Limit};

/// Descriptors kept for everything but held sockets: HTTP calls, the runtime, files.
const RESERVE: u64 = 512;

/// The open-files limit before and after raising it.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub before: Limit,
    pub after: Limit,
}

impl Budget {
    /// Raises the soft limit to the hard one (the hard one too, where the process may).
    pub fn raise() -> anyhow::Result<Budget> {
        let raised = open_files::raise(u64::MAX)?;
        Ok(Budget {
            before: raised.before,
            after: raised.after,
        })
    }

    /// Sockets this process may hold open at once.
    pub fn sockets(&self) -> usize {
        usize::try_from(self.after.soft.saturating_sub(RESERVE)).unwrap_or(usize::MAX)
    }

    /// A line saying what the limits are.
    pub fn describe(&self) -> String {
        format!(
            "open files: soft {} → {}, hard {} → {} (room for {} held sockets)",
            self.before.soft,
            self.after.soft,
            self.before.hard,
            self.after.hard,
            self.sockets()
        )
    }
}

/// Caps `wanted` live sessions of `sockets_each` held sockets to what `budget` allows;
/// returns the count and, if it was capped, why.
pub fn cap(wanted: usize, sockets_each: usize, budget: &Budget) -> (usize, Option<String>) {
    let room = budget.sockets() / sockets_each.max(1);
    if wanted <= room {
        return (wanted, None);
    }
    let why = format!(
        "{wanted} live sessions need {} sockets but the open-files limit leaves room for {}: \
         capped at {room} (raise the hard limit with ulimit -Hn as root, or ask for fewer)",
        wanted * sockets_each,
        budget.sockets()
    );
    (room, Some(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_to_the_room_left() {
        let budget = Budget {
            before: Limit {
                soft: 1024,
                hard: 20_000,
            },
            after: Limit {
                soft: 20_000,
                hard: 20_000,
            },
        };
        assert_eq!(cap(5_000, 2, &budget), (5_000, None));
        let (count, why) = cap(10_000, 2, &budget);
        assert_eq!(count, 9_744);
        assert!(why.is_some());
    }
}
