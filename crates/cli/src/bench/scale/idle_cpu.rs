//! The server's CPU while it only holds what a stage opened: the cost of keeping sessions and
//! connections alive (timers, pings, the devices' rare frames), in percent of one core; and
//! what every other process used meanwhile, which would skew it.

use crate::bench::child::ServerChild;
use crate::bench::cpu::CpuSample;
use std::time::Duration;

/// CPU over a window, in percent of one core.
#[derive(Debug, Clone, Copy)]
pub struct IdleCpu {
    pub server: f64,
    /// This bench (the idle clients' reading and the devices' frames).
    pub bench: f64,
    /// Every process other than the server and this bench.
    pub others: f64,
}

/// The CPU time of the server and of everything else over `window`.
pub async fn measure(server: &ServerChild, window: Duration) -> anyhow::Result<IdleCpu> {
    let start = CpuSample::take(server.pid())?;
    tokio::time::sleep(window).await;
    let spent = CpuSample::take(server.pid())?.since(&start);
    let share = |seconds: f64| 100.0 * seconds / window.as_secs_f64();
    Ok(IdleCpu {
        server: share(spent.server),
        bench: share(spent.load_generator),
        others: share(spent.others()),
    })
}

impl IdleCpu {
    /// Adds the figures to a stage's report, the server's judged by the goal for idle
    /// connections if `judged`.
    pub fn push(&self, report: &mut super::report::StageReport, judged: bool) {
        use super::report::{Figure, Goal};
        let name = "server CPU, idle";
        report.push(if judged {
            Figure::judged(
                name,
                self.server,
                "% of a core",
                Goal::AtMost(IDLE_GOAL_PERCENT),
            )
        } else {
            Figure::info(name, self.server, "% of a core")
        });
        report.push(Figure::info(
            "bench CPU meanwhile",
            self.bench,
            "% of a core",
        ));
        report.push(Figure::info(
            "other processes' CPU meanwhile",
            self.others,
            "% of a core",
        ));
    }
}

/// The product's goal for a node that only holds idle sessions and connections.
const IDLE_GOAL_PERCENT: f64 = 10.0;
