//! Warm pools, the node's kernel cap, and reaping orphans of a killed server.

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use switchboard_kernel::{KernelError, KernelPool, Sandbox};

use crate::harness::{alive, config, gone, node, node_with, run};

#[tokio::test]
async fn a_pool_hands_out_warm_kernels_at_once_and_refills() {
    let node = node().await;
    let pool = KernelPool::new(node.launcher.clone(), node.spec.clone(), config(), 2);
    assert!(pool.wait_ready(2, Duration::from_secs(120)).await);
    let started = Instant::now();
    let first = pool.take().await.unwrap();
    let handed_out = started.elapsed();
    assert!(handed_out < Duration::from_millis(50), "{handed_out:?}");
    let second = pool.take().await.unwrap();
    assert_ne!(first.id(), second.id());
    assert_eq!(run(&first, "1 + 1").await.text_result(), Some("2"));
    assert!(
        pool.wait_ready(2, Duration::from_secs(120)).await,
        "refilled"
    );
    assert_eq!(node.launcher.running(), 4);
    drop(pool);
    for _ in 0..1000 {
        if node.launcher.running() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        node.launcher.running(),
        2,
        "dropping the pool stopped its warm kernels"
    );
}

#[tokio::test]
async fn the_node_refuses_kernels_past_its_maximum() {
    let node = node_with(2).await;
    let a = node.kernel().await;
    let _b = node.kernel().await;
    let refused = node.launcher.launch(&node.spec, &config()).await;
    assert!(
        matches!(refused, Err(KernelError::Capacity { max: 2 })),
        "{refused:?}"
    );
    let pool = KernelPool::new(node.launcher.clone(), node.spec.clone(), config(), 1);
    assert!(matches!(
        pool.take().await,
        Err(KernelError::Capacity { max: 2 })
    ));
    a.shutdown().await.unwrap();
    let c = node.launcher.launch(&node.spec, &config()).await.unwrap();
    assert_eq!(
        run(&c, "'room again'").await.text_result(),
        Some("'room again'")
    );
}

#[tokio::test]
async fn kernels_left_by_a_killed_server_are_reaped_at_start() {
    let node = node().await;
    let id = uuid::Uuid::new_v4().to_string();
    let home = node.runtime_dir.join(&id).join("home");
    std::fs::create_dir_all(&home).unwrap();
    let orphan = std::process::Command::new("sleep")
        .arg("1000")
        .current_dir(&home)
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = orphan.id();
    std::fs::write(node.runtime_dir.join(format!("{id}.pid")), pid.to_string()).unwrap();
    // A pid file naming a process that is not a kernel is ignored.
    let innocent = std::process::Command::new("sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let other = uuid::Uuid::new_v4().to_string();
    std::fs::write(
        node.runtime_dir.join(format!("{other}.pid")),
        innocent.id().to_string(),
    )
    .unwrap();

    assert!(node.launcher.reap_orphans(&Sandbox::default()) >= 1);
    // Reap the zombie (we are its parent) and check it died.
    let mut orphan = orphan;
    let status = orphan.wait().unwrap();
    assert!(!status.success());
    assert!(gone(pid).await);
    assert!(!node.runtime_dir.join(&id).exists());
    assert!(alive(innocent.id()));
    let mut innocent = innocent;
    innocent.kill().unwrap();
    let _ = innocent.wait();
}
