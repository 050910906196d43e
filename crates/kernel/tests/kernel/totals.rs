//! Whole-kernel bounds: the memory and tasks of all of a kernel's processes together
//! (cgroups, or the memory watchdog without them), the size of its folder, and the cleanup
//! of both when the kernel ends or a killed server left it behind.

use std::path::{Path, PathBuf};

use switchboard_kernel::{
    DeathReason, KernelConfig, KernelError, Layer, RunAs, Sandbox, SandboxConfig,
};

use crate::harness::{config, eventually, node, run};

/// Six children of the kernel each hold 300 MiB for a moment, then the parent reports how
/// many were killed.
const HUNGRY_CHILDREN: &str = r#"
import os, time
kids = []
for i in range(6):
    pid = os.fork()
    if pid == 0:
        try:
            data = b'x' * (300 << 20)
            time.sleep(3)
        finally:
            os._exit(0)
    kids.append(pid)
killed = 0
for pid in kids:
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9:
        killed += 1
print('killed', killed)
"#;

fn with_sandbox(mut config: KernelConfig, tweak: impl FnOnce(&mut SandboxConfig)) -> KernelConfig {
    let mut sandbox = SandboxConfig::default();
    tweak(&mut sandbox);
    config.sandbox = Sandbox::Enforce(sandbox);
    config
}

/// The kernel's group of the memory controller, if it has one.
fn memory_group(groups: &[PathBuf]) -> Option<PathBuf> {
    groups
        .iter()
        .find(|g| g.join("memory.max").exists() || g.join("memory.limit_in_bytes").exists())
        .cloned()
}

fn peak_memory(group: &Path) -> u64 {
    ["memory.max_usage_in_bytes", "memory.peak"]
        .iter()
        .find_map(|f| std::fs::read_to_string(group.join(f)).ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_kernels_children_together_stay_within_its_memory_limit() {
    let node = node().await;
    assert!(
        node.launcher.host().cgroups.memory.is_some(),
        "this host has a usable memory cgroup: {}",
        node.launcher.host()
    );
    let mut config = config();
    config.limits.total_memory_bytes = Some(512 << 20);
    let hungry = node.kernel_with(&config).await;
    let bystander = node.kernel().await;
    let groups = hungry.sandbox_report().unwrap().cgroups;
    let group = memory_group(&groups).expect("the kernel runs in a memory cgroup");

    let outcome = hungry
        .execute(HUNGRY_CHILDREN)
        .await
        .unwrap()
        .finish()
        .await;
    match outcome {
        // The OOM killer ended the biggest processes: at most one child held its 300 MiB.
        Ok(outcome) => {
            let killed: usize = outcome
                .stdout()
                .trim()
                .strip_prefix("killed ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{outcome:?}"));
            assert!(killed >= 5, "{killed} children killed: {outcome:?}");
        }
        // Or it picked the kernel itself, which is then reported as such.
        Err(KernelError::Died(reason)) => {
            assert_eq!(reason, DeathReason::MemoryLimit { bytes: 512 << 20 });
            hungry.restart().await.unwrap();
        }
        Err(e) => panic!("{e}"),
    }
    let peak = peak_memory(&group);
    assert!(peak > 300 << 20, "the children did allocate: {peak}");
    assert!(peak <= 512 << 20, "peak {peak} within the limit");
    assert_eq!(run(&hungry, "6 * 7").await.text_result(), Some("42"));
    assert_eq!(
        run(&bystander, "'fine'").await.text_result(),
        Some("'fine'")
    );
}

#[tokio::test]
async fn without_cgroups_the_memory_watchdog_kills_a_kernel_over_its_total() {
    let node = node().await;
    let mut config = with_sandbox(config(), |s| s.cgroups = Layer::Off);
    config.limits.total_memory_bytes = Some(256 << 20);
    let hungry = node.kernel_with(&config).await;
    let bystander = node.kernel().await;
    assert!(hungry.sandbox_report().unwrap().cgroups.is_empty());
    // Two processes of 200 MiB each: neither alone is over the limit, together they are.
    let code = "import os, time\nif os.fork() == 0:\n    data = b'x' * (200 << 20)\n    time.sleep(30)\n    os._exit(0)\nmine = b'x' * (200 << 20)\ntime.sleep(30)";
    let outcome = hungry.execute(code).await.unwrap().finish().await;
    assert!(
        matches!(
            &outcome,
            Err(KernelError::Died(DeathReason::MemoryLimit { bytes })) if *bytes == 256 << 20
        ),
        "{outcome:?}"
    );
    assert_eq!(run(&bystander, "6 * 7").await.text_result(), Some("42"));
    hungry.restart().await.unwrap();
    assert_eq!(run(&hungry, "'back'").await.text_result(), Some("'back'"));
}

#[tokio::test]
async fn a_fork_bomb_of_a_root_kernel_stays_within_the_pids_cgroup() {
    // As root RLIMIT_NPROC does not count: only the cgroup bounds the kernel's tasks.
    let node = node().await;
    let mut config = with_sandbox(config(), |s| s.run_as = RunAs::Unchanged);
    config.limits.processes = Some(64);
    let bomb = node.kernel_with(&config).await;
    let report = bomb.sandbox_report().unwrap();
    assert_eq!(report.uid, 0);
    let group = report
        .cgroups
        .iter()
        .find(|g| g.join("pids.max").exists())
        .cloned()
        .expect("the kernel runs in a pids cgroup");
    let code = "import os, time\nkids = []\nerror = None\ntry:\n    for i in range(10000):\n        pid = os.fork()\n        if pid == 0:\n            time.sleep(30)\n            os._exit(0)\n        kids.append(pid)\nexcept OSError as e:\n    error = type(e).__name__\nfor pid in kids:\n    os.kill(pid, 9)\n    os.waitpid(pid, 0)\nprint(len(kids), error)";
    let outcome = run(&bomb, code).await;
    let stdout = outcome.stdout();
    let mut words = stdout.split_whitespace();
    let forks: usize = words.next().unwrap().parse().unwrap();
    assert_eq!(words.next(), Some("BlockingIOError"), "{outcome:?}");
    assert!(forks < 64, "{forks} forks");
    assert_eq!(
        run(&bomb, "'still here'").await.text_result(),
        Some("'still here'")
    );
    bomb.shutdown().await.unwrap();
    drop(bomb);
    eventually("the kernel's cgroup is removed", || !group.exists()).await;
}

#[tokio::test]
async fn a_kernels_folder_is_bounded_as_a_whole_and_seen_by_the_host() {
    let node = node().await;
    let mut config = config();
    config.limits.folder_bytes = Some(64 << 20);
    let kernel = node.kernel_with(&config).await;
    let code = r#"
import os, errno
def fill(name, size):
    try:
        with open(name, 'wb') as f:
            f.write(b'\1' * size)
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
print('big:', ' '.join(fill(f'big{i}.bin', 40 << 20) for i in range(3)))
for i in range(3):
    if os.path.exists(f'big{i}.bin'):
        os.remove(f'big{i}.bin')
count, error = 0, None
try:
    while count < 100000:
        open(f'f{count}', 'w').close()
        count += 1
except OSError as e:
    error = errno.errorcode[e.errno]
print('many:', count, error)
for i in range(count):
    os.remove(f'f{i}')
open('visible.txt', 'w').write('seen from outside')
"#;
    let outcome = run(&kernel, code).await;
    let stdout = outcome.stdout();
    let line = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{prefix} missing: {outcome:?}"))
            .trim()
            .to_owned()
    };
    assert_eq!(line("big:"), "ok ENOSPC ENOSPC", "{outcome:?}");
    let many = line("many:");
    let (count, error) = many.split_once(' ').unwrap();
    assert_eq!(error, "ENOSPC", "{outcome:?}");
    assert!(count.parse::<usize>().unwrap() < 100_000);
    // The server reads the kernel's files at their usual place.
    let home = kernel.home_dir();
    assert_eq!(
        std::fs::read_to_string(home.join("visible.txt")).unwrap(),
        "seen from outside"
    );
    let dir = kernel.dir().to_path_buf();
    assert!(mounted(&dir), "the folder is a tmpfs on the host side");
    kernel.shutdown().await.unwrap();
    drop(kernel);
    eventually("the folder is unmounted and removed", || {
        !mounted(&dir) && !dir.exists()
    })
    .await;
}

#[tokio::test]
async fn groups_and_folders_left_by_a_killed_server_are_reaped() {
    use std::os::unix::process::CommandExt;
    let node = node().await;
    let cgroups = &node.launcher.host().cgroups;
    let base = cgroups
        .pids
        .as_ref()
        .expect("this host has a usable pids cgroup")
        .base
        .clone();
    // What a killed server leaves: a kernel folder still mounted, and a process in the
    // kernel's group that left the kernel's process group and folder.
    let id = uuid::Uuid::new_v4().to_string();
    let dir = node.runtime_dir.join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success());
    let group = base.join(&id);
    std::fs::create_dir(&group).unwrap();
    // Joins the group before it execs, as the sandbox helper does.
    let mut escaped = std::process::Command::new("sh");
    escaped
        .arg("-c")
        .arg("echo $$ > \"$1\" && exec sleep 1000")
        .arg("sh")
        .arg(group.join("cgroup.procs"))
        .current_dir("/")
        .process_group(0);
    let mut escaped = escaped.spawn().unwrap();
    let procs = group.join("cgroup.procs");
    eventually("the process joined the group", || {
        std::fs::read_to_string(&procs).is_ok_and(|p| !p.trim().is_empty())
    })
    .await;

    assert!(node.launcher.reap_orphans(&Sandbox::default()) >= 1);
    let status = escaped.wait().unwrap();
    assert!(!status.success(), "the escaped process was killed");
    assert!(!group.exists(), "the group was removed");
    assert!(
        !mounted(&dir) && !dir.exists(),
        "the folder was unmounted and removed"
    );
}

fn mounted(dir: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(dir.to_str().unwrap()))
}
