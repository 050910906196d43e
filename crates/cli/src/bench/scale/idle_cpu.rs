//! The server's CPU while it only holds what a stage opened: the cost of keeping sessions and
//! connections alive (timers, pings, the devices' rare frames), in percent of one core.

use crate::bench::child::ServerChild;
use crate::bench::cpu::CpuSample;
use std::time::Duration;

/// The server's CPU time over `window`, in percent of one core.
pub async fn measure(server: &ServerChild, window: Duration) -> anyhow::Result<f64> {
    let start = CpuSample::take(server.pid())?;
    tokio::time::sleep(window).await;
    let spent = CpuSample::take(server.pid())?.since(&start);
    Ok(100.0 * spent.server / window.as_secs_f64())
}
