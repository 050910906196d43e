//! CPU time from `/proc`: of one process (the server, or the load generator itself) and of
//! the whole machine, so a benchmark can tell when something else was competing for the
//! cores it measured on.

use anyhow::Context;

/// Clock ticks per second in `/proc/<pid>/stat` and `/proc/stat`. The kernel reports CPU
/// times there in USER_HZ, which is 100 on every architecture Linux supports apart from
/// long-gone Alpha and IA-64; reading it with sysconf would need `unsafe`, which this
/// workspace denies.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time (utime + stime, all threads) from a `/proc/<pid>/stat` file, in seconds.
pub fn process_seconds(stat_path: &str) -> anyhow::Result<f64> {
    let stat =
        std::fs::read_to_string(stat_path).with_context(|| format!("cannot read {stat_path}"))?;
    // The command name (field 2) is in parentheses and may hold spaces; count from after it.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("malformed {stat_path}"))?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of the file are utime and stime: indexes 11 and 12 after field 2.
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("malformed {stat_path}"))
    };
    Ok((ticks(11)? + ticks(12)?) as f64 / TICKS_PER_SECOND)
}

/// CPU time the whole machine has spent, summed over all cores, in seconds: `.0` running
/// processes (user, nice, system, steal), `.1` in interrupts (irq and softirq).
///
/// The two are apart because the kernel may account loopback networking to softirq time
/// rather than to the processes on either end, and a fan-out benchmark is mostly that.
pub fn machine_seconds() -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("no cpu line in /proc/stat")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let processes = field(0) + field(1) + field(2) + field(7);
    let interrupts = field(5) + field(6);
    Ok((
        processes as f64 / TICKS_PER_SECOND,
        interrupts as f64 / TICKS_PER_SECOND,
    ))
}

/// A reading of the clocks a benchmark compares, in CPU seconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    pub server: f64,
    pub load_generator: f64,
    /// Every process on the machine, these two included.
    pub machine: f64,
    /// Interrupt handling on the machine, which no process is charged for.
    pub interrupts: f64,
}

impl CpuSample {
    /// Reads the server's (`/proc/<server_pid>/stat`), this process's and the machine's.
    pub fn take(server_pid: u32) -> anyhow::Result<CpuSample> {
        let (machine, interrupts) = machine_seconds()?;
        Ok(CpuSample {
            server: process_seconds(&format!("/proc/{server_pid}/stat"))?,
            load_generator: process_seconds("/proc/self/stat")?,
            machine,
            interrupts,
        })
    }

    /// The CPU time spent between `earlier` and this sample.
    pub fn since(&self, earlier: &CpuSample) -> CpuSample {
        CpuSample {
            server: self.server - earlier.server,
            load_generator: self.load_generator - earlier.load_generator,
            machine: self.machine - earlier.machine,
            interrupts: self.interrupts - earlier.interrupts,
        }
    }

    /// CPU time spent by everything other than the server and the load generator.
    pub fn others(&self) -> f64 {
        (self.machine - self.server - self.load_generator).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_times() {
        let own = CpuSample::take(std::process::id()).unwrap();
        assert!(own.server >= 0.0 && own.machine >= own.server);
        assert!(process_seconds("/proc/self/nonexistent").is_err());
        let later = CpuSample::take(std::process::id()).unwrap();
        assert!(later.since(&own).machine >= 0.0);
    }
}
