//! The benchmark entry point works (with few samples; the figures come from
//! `examples/kernel_bench.rs`).

use switchboard_kernel::bench::{self, BenchOptions};

use crate::harness::{config, node};

#[tokio::test]
async fn the_benchmark_measures_everything() {
    let node = node().await;
    let options = BenchOptions {
        round_trips: 20,
        cold_starts: 2,
        pool_takes: 2,
        idle_kernels: 2,
    };
    let report = bench::run(&node.launcher, &node.spec, &config(), &options)
        .await
        .unwrap();
    eprintln!("{report}");
    assert_eq!(report.crate_round_trip.samples, 20);
    assert_eq!(report.direct_round_trip.samples, 20);
    assert!(report.crate_round_trip.p50 > std::time::Duration::ZERO);
    assert!(report.cold_start.p50 > report.pool_hand_out.p50);
    assert!(report.idle_rss.iter().all(|rss| *rss > 10 << 20));
    assert_eq!(node.launcher.running(), 0);
}
