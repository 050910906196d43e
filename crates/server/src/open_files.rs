//! The open-files limit. Every connection is a file descriptor, and Linux starts most services at a soft limit of 1024,
//! far below `max_connections`. At start the node raises its soft limit to its hard limit,
//! and a node with the privilege to (root) first raises the hard limit to what
//! `max_connections` needs, the way Go's runtime and nginx's `worker_rlimit_nofile` do. Both
//! limits, before and after, are logged; a limit still short of the need is a warning that
//! names the fix.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

/// Descriptors kept for everything but client connections: the database pool, the bus,
/// kernels' ZeroMQ sockets, files being read.
const RESERVE: u64 = 4096;

/// A soft and a hard limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: u64,
    pub hard: u64,
}

/// What raising did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub before: Limit,
    pub after: Limit,
    /// What `max_connections` needs.
    pub wanted: u64,
}

impl Raised {
    /// Whether the soft limit now covers the need.
    pub fn enough(&self) -> bool {
        self.after.soft >= self.wanted
    }
}

/// Descriptors a node with `max_connections` needs: one per connection and the reserve (which
/// also covers the second descriptor of the few kernel sockets bridged to another node).
pub fn wanted(max_connections: usize) -> u64 {
    u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(RESERVE)
}

/// The process's limit now.
pub fn current() -> std::io::Result<Limit> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(std::io::Error::from)?;
    Ok(Limit { soft, hard })
}

/// Raises the limit toward `wanted`: the hard limit up to it where the process may (up to
/// the kernel's `fs.nr_open`), then the soft limit to the hard one. Never lowers either.
pub fn raise(wanted: u64) -> std::io::Result<Raised> {
    let before = current()?;
    let mut hard = before.hard;
    if hard < wanted {
        let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1 << 20);
        let target = wanted.min(ceiling).max(hard);
        // Raising the hard limit needs CAP_SYS_RESOURCE; without it the old one stays.
        if setrlimit(Resource::RLIMIT_NOFILE, before.soft, target).is_ok() {
            hard = target;
        }
    }
    if before.soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(std::io::Error::from)?;
    }
    Ok(Raised {
        before,
        after: current()?,
        wanted,
    })
}

/// Raises the limit for a node with `max_connections` and logs what it did.
pub fn raise_for(max_connections: usize) {
    let wanted = wanted(max_connections);
    match raise(wanted) {
        Ok(r) if r.enough() => tracing::info!(
            soft_before = r.before.soft,
            hard_before = r.before.hard,
            soft = r.after.soft,
            hard = r.after.hard,
            wanted,
            "open files limit"
        ),
        Ok(r) => tracing::warn!(
            soft_before = r.before.soft,
            hard_before = r.before.hard,
            soft = r.after.soft,
            hard = r.after.hard,
            wanted,
            "open files limit is below what max_connections needs: new connections may fail \
             before the cap; raise the hard limit (LimitNOFILE= in the systemd unit, \
             ulimit -Hn) or lower max_connections"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot read or raise the open files limit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_per_connection_and_a_reserve() {
        assert_eq!(wanted(10_000), 14_096);
        assert_eq!(wanted(usize::MAX), u64::MAX);
    }

    #[test]
    fn raising_never_lowers_and_ends_with_soft_at_hard() {
        let before = current().unwrap();
        let r = raise(1).unwrap();
        assert_eq!(r.before, before);
        assert!(r.after.soft >= before.soft && r.after.hard >= before.hard);
        assert_eq!(r.after.soft, r.after.hard);
        assert!(r.enough());
    }
}
