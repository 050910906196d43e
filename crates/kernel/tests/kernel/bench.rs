//! The measuring pieces `switchboard bench kernel` uses work on a real kernel (with few
//! samples; the figures come from that command).

use switchboard_kernel::bench::{DirectClient, GroupMemory, Percentiles};

use crate::harness::node;

#[tokio::test]
async fn direct_client_and_group_memory_measure_a_kernel() {
    let node = node().await;
    let kernel = node.kernel().await;
    let mut client = DirectClient::connect(&kernel).await.unwrap();
    let mut samples = Vec::new();
    for _ in 0..5 {
        samples.push(client.round_trip().await.unwrap());
    }
    let round_trip = Percentiles::of(samples);
    assert_eq!(round_trip.samples, 5);
    assert!(round_trip.p50 > std::time::Duration::ZERO);

    let memory = GroupMemory::of(kernel.pid());
    assert!(memory.processes >= 1, "{memory:?}");
    assert!(memory.rss > 10 << 20, "{memory:?}");
    assert!(memory.pss > 0 && memory.pss <= memory.rss, "{memory:?}");

    kernel.shutdown().await.unwrap();
    assert_eq!(GroupMemory::of(kernel.pid()).processes, 0);
}
