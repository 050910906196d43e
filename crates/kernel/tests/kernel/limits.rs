//! Resource limits inside real kernels: memory, CPU, processes (fork bomb), file size,
//! output rate, message size, idle time and lifetime.

use std::time::Duration;

use switchboard_kernel::{DeathReason, ExecuteEvent, KernelError, KernelState, OutputRate};

use crate::harness::{config, gone, node, run};

#[tokio::test]
async fn allocating_past_the_memory_limit_raises_memory_error() {
    let node = node().await;
    let mut config = config();
    config.limits.memory_bytes = Some(1 << 30);
    let kernel = node.kernel_with(&config).await;
    let outcome = run(&kernel, "x = bytearray(2 * 1024**3)").await;
    assert_eq!(
        outcome.error().map(|e| e.0),
        Some("MemoryError"),
        "{outcome:?}"
    );
    // The kernel survives and smaller allocations work.
    let outcome = run(&kernel, "y = bytearray(64 * 1024**2)\nlen(y)").await;
    assert_eq!(outcome.text_result(), Some("67108864"));
}

#[tokio::test]
async fn an_infinite_loop_past_the_cpu_limit_is_killed_and_reported() {
    let node = node().await;
    let mut config = config();
    config.limits.cpu_seconds = Some(2);
    let kernel = node.kernel_with(&config).await;
    let pid = kernel.pid();
    let mut execution = kernel.execute("while True:\n    pass").await.unwrap();
    let mut notices = Vec::new();
    let mut last = None;
    while let Some(event) = execution.next().await {
        if let Ok(ExecuteEvent::Notice(text)) = &event {
            notices.push(text.clone());
        }
        last = Some(event);
    }
    let expected = DeathReason::CpuLimit { seconds: 2 };
    assert!(
        matches!(&last, Some(Err(KernelError::Died(reason))) if *reason == expected),
        "{last:?}"
    );
    assert!(
        notices.iter().any(|n| n.contains("CPU time limit")),
        "{notices:?}"
    );
    assert_eq!(kernel.state(), KernelState::Dead(expected));
    assert!(gone(pid).await);
    // A restart brings it back with a fresh CPU budget.
    kernel.restart().await.unwrap();
    assert_eq!(run(&kernel, "1 + 1").await.text_result(), Some("2"));
}

const FORK_BOMB: &str = r#"
import os, time
def hold():
    try:
        while True:
            if os.fork() == 0:
                time.sleep(20)
                os._exit(0)
    except BaseException:
        pass
    finally:
        time.sleep(20)
        os._exit(0)
forks = 0
error = None
try:
    while True:
        if os.fork() == 0:
            hold()
        forks += 1
except OSError as e:
    error = e
print(forks, type(error).__name__, error.errno)
"#;

#[tokio::test]
async fn a_fork_bomb_is_stopped_and_harms_nobody_else() {
    let node = node().await;
    let mut config = config();
    config.limits.processes = Some(64);
    let bomb = node.kernel_with(&config).await;
    let bystander = node.kernel().await;
    let uid = bomb.sandbox_report().unwrap().uid;
    let outcome = run(&bomb, FORK_BOMB).await;
    let stdout = outcome.stdout();
    assert!(stdout.contains("BlockingIOError 11"), "{outcome:?}");
    let forks: usize = stdout.split_whitespace().next().unwrap().parse().unwrap();
    assert!(forks < 64, "{forks} forks");
    // The bomb's kernel still answers, and so do the others and this process.
    assert_eq!(
        run(&bomb, "'still here'").await.text_result(),
        Some("'still here'")
    );
    assert_eq!(run(&bystander, "6 * 7").await.text_result(), Some("42"));
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success()
    );
    assert!(
        processes_of(uid) > 1,
        "the bomb's processes are holding their slots"
    );
    bomb.shutdown().await.unwrap();
    for _ in 0..500 {
        if processes_of(uid) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        processes_of(uid),
        0,
        "shutdown killed every process of the kernel"
    );
}

fn processes_of(uid: u32) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                let zombie = s
                    .lines()
                    .any(|l| l.starts_with("State:") && l.contains('Z'));
                let owned = s.lines().any(|l| {
                    l.strip_prefix("Uid:")
                        .and_then(|v| v.split_whitespace().next())
                        == Some(uid.to_string().as_str())
                });
                owned && !zombie
            })
        })
        .count()
}

#[tokio::test]
async fn files_past_the_size_limit_cannot_be_written() {
    let node = node().await;
    let mut config = config();
    config.limits.file_size_bytes = Some(1 << 20);
    let kernel = node.kernel_with(&config).await;
    let outcome = run(
        &kernel,
        "try:\n    open('big', 'wb').write(b'x' * (2 << 20))\nexcept OSError as e:\n    print(e.errno)",
    )
    .await;
    assert_eq!(outcome.stdout(), "27\n", "EFBIG: {outcome:?}");
}

#[tokio::test]
async fn output_past_the_rate_limit_is_dropped_with_a_visible_notice() {
    let node = node().await;
    let mut config = config();
    config.limits.output = OutputRate {
        messages_per_second: 20,
        bytes_per_second: 1 << 20,
        burst_seconds: 1,
    };
    let kernel = node.kernel_with(&config).await;
    let outcome = run(
        &kernel,
        "import time\nfor i in range(400):\n    print(i, flush=True)\n    time.sleep(0.002)",
    )
    .await;
    let notices = outcome.notices();
    assert!(
        notices
            .iter()
            .any(|n| n.contains("output rate limit exceeded")),
        "{notices:?}"
    );
    assert!(
        notices
            .iter()
            .any(|n| n.contains("were dropped by the output rate limit")),
        "{notices:?}"
    );
    assert!(outcome.stdout().lines().count() < 400);
    assert_eq!(outcome.events.last(), Some(&ExecuteEvent::Idle));
}

#[tokio::test]
async fn oversize_messages_are_dropped_with_a_notice() {
    let node = node().await;
    let mut config = config();
    config.limits.max_message_bytes = 100_000;
    let kernel = node.kernel_with(&config).await;
    let outcome = run(&kernel, "print('x' * 300_000)").await;
    assert!(!outcome.stdout().contains("xxxx"));
    assert!(
        outcome
            .notices()
            .iter()
            .any(|n| n.contains("dropped a stream message")),
        "{outcome:?}"
    );
    assert_eq!(outcome.events.last(), Some(&ExecuteEvent::Idle));
}

#[tokio::test]
async fn idle_kernels_are_stopped() {
    let node = node().await;
    let mut config = config();
    config.limits.idle_timeout = Some(Duration::from_secs(1));
    let kernel = node.kernel_with(&config).await;
    run(&kernel, "1").await;
    let reason = tokio::time::timeout(Duration::from_secs(30), kernel.wait_dead())
        .await
        .unwrap();
    assert_eq!(reason, DeathReason::IdleTimeout { seconds: 1 });
    assert!(matches!(
        kernel.execute("1").await,
        Err(KernelError::Stopped(DeathReason::IdleTimeout { .. }))
    ));
}

#[tokio::test]
async fn kernels_are_stopped_at_the_end_of_their_lifetime_even_when_busy() {
    let node = node().await;
    let mut config = config();
    config.limits.lifetime = Some(Duration::from_secs(2));
    let kernel = node.kernel_with(&config).await;
    let mut execution = kernel.execute("import time\ntime.sleep(60)").await.unwrap();
    let mut last = None;
    while let Some(event) = execution.next().await {
        last = Some(event);
    }
    assert!(
        matches!(
            last,
            Some(Err(KernelError::Died(DeathReason::Lifetime { seconds: 2 })))
        ),
        "{last:?}"
    );
}
