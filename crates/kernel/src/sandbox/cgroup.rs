//! Control groups: each kernel gets its own group per controller, so the memory and the
//! number of tasks of *all* its processes together are bounded, and everything in the
//! group can be found and killed.
//!
//! Hosts differ: a cgroup v2 hierarchy with the controllers enabled, v1 controllers each on
//! its own mount (`/sys/fs/cgroup/memory`, `/sys/fs/cgroup/pids`), or a mix (a v2 hierarchy
//! holding no controller beside v1 ones). Each controller is looked up on its own in
//! `/proc/self/mountinfo` (v2 first, when our own v2 group offers it) and probed by making a
//! group and writing a limit; only a controller that passes is used. Kernel groups live in
//! `switchboard-kernels/<kernel id>` under the server's own group of that hierarchy.
//!
//! Without a usable memory controller the kernel's memory is summed by a watchdog instead
//! ([`crate::sandbox::memory_watch`]); without a pids controller, a private uid per kernel
//! makes `RLIMIT_NPROC` a bound on all its tasks.

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

/// The folder, under the server's own group, that holds the kernels' groups.
const KERNELS_FOLDER: &str = "switchboard-kernels";
/// The leaf the server moves itself into on cgroup v2 when its own group may not hold both
/// processes and controller-enabled children (the "no internal processes" rule).
const SERVER_LEAF: &str = "switchboard-server";

/// A cgroup hierarchy's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Version {
    /// Legacy hierarchies, one or more controllers per mount.
    V1,
    /// The unified hierarchy.
    V2,
}

/// One usable controller: where this server makes kernel groups for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Controller {
    /// The hierarchy's version.
    pub version: Version,
    /// `<mount>/<server's group>/switchboard-kernels`.
    pub base: PathBuf,
}

/// The controllers this host lets the server use, found once at start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CgroupSupport {
    /// The memory controller.
    pub memory: Option<Controller>,
    /// The pids controller.
    pub pids: Option<Controller>,
    /// Why a controller is not used.
    pub notes: Vec<String>,
}

impl CgroupSupport {
    /// Finds and probes the memory and pids controllers (only as root: others cannot make
    /// groups).
    pub fn detect() -> Self {
        let mut support = CgroupSupport::default();
        if !nix::unistd::geteuid().is_root() {
            support.notes.push("cgroups need root; not used".to_owned());
            return support;
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        for name in ["memory", "pids"] {
            let found = find_controller(name, &mounts, &own).and_then(|c| {
                probe(name, &c)?;
                Ok(c)
            });
            let slot = match name {
                "memory" => &mut support.memory,
                _ => &mut support.pids,
            };
            match found {
                Ok(controller) => *slot = Some(controller),
                Err(note) => support.notes.push(format!("{name}: {note}")),
            }
        }
        support
    }

    fn bases(&self) -> Vec<PathBuf> {
        let mut bases: Vec<PathBuf> = [&self.memory, &self.pids]
            .into_iter()
            .flatten()
            .map(|c| c.base.clone())
            .collect();
        bases.dedup();
        bases
    }
}

impl fmt::Display for CgroupSupport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |c: &Option<Controller>| match c {
            Some(c) => format!("{:?}", c.version).to_lowercase(),
            None => "none".to_owned(),
        };
        write!(f, "memory={} pids={}", show(&self.memory), show(&self.pids))
    }
}

/// Finds where controller `name` can be used, from `/proc/self/mountinfo` and
/// `/proc/self/cgroup` (their contents).
fn find_controller(name: &str, mountinfo: &str, own_cgroups: &str) -> Result<Controller, String> {
    let mounts: Vec<Mount> = mountinfo.lines().filter_map(Mount::parse).collect();
    // v2 first: the controller must be offered to our own group.
    if let Some(v2) = mounts.iter().find(|m| m.fstype == "cgroup2")
        && let Some(own) = own_group(own_cgroups, |controllers| controllers.is_empty())
    {
        let group = v2.path_of(&own);
        let offered = std::fs::read_to_string(group.join("cgroup.controllers"))
            .unwrap_or_default()
            .split_whitespace()
            .any(|c| c == name);
        if offered {
            return Ok(Controller {
                version: Version::V2,
                base: group.join(KERNELS_FOLDER),
            });
        }
    }
    let v1 = mounts
        .iter()
        .find(|m| m.fstype == "cgroup" && m.super_options.split(',').any(|o| o == name))
        .ok_or_else(|| "no cgroup v1 or v2 hierarchy offers this controller".to_owned())?;
    let own = own_group(own_cgroups, |controllers| {
        controllers.split(',').any(|c| c == name)
    })
    .unwrap_or_else(|| "/".to_owned());
    Ok(Controller {
        version: Version::V1,
        base: v1.path_of(&own).join(KERNELS_FOLDER),
    })
}

/// Our group in the hierarchy whose `/proc/self/cgroup` controller list matches.
fn own_group(own_cgroups: &str, matches: impl Fn(&str) -> bool) -> Option<String> {
    own_cgroups.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        matches(controllers).then(|| path.to_owned())
    })
}

/// A mount from `/proc/self/mountinfo`.
struct Mount {
    root: String,
    point: PathBuf,
    fstype: String,
    super_options: String,
}

impl Mount {
    fn parse(line: &str) -> Option<Mount> {
        let (before, after) = line.split_once(" - ")?;
        let fields: Vec<&str> = before.split(' ').collect();
        let mut after = after.split(' ');
        Some(Mount {
            root: fields.get(3)?.to_string(),
            point: PathBuf::from(unescape(fields.get(4)?)),
            fstype: after.next()?.to_owned(),
            super_options: after.nth(1).unwrap_or("").to_owned(),
        })
    }

    /// Where the group `group` (a path from `/proc/self/cgroup`) is under this mount.
    fn path_of(&self, group: &str) -> PathBuf {
        let relative = Path::new(group)
            .strip_prefix(&self.root)
            .unwrap_or(Path::new(""));
        self.point.join(relative)
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(code) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Makes the base folder (enabling the controller below it on v2) and checks that a kernel
/// group can be made and limited there.
fn probe(name: &str, controller: &Controller) -> Result<(), String> {
    if controller.version == Version::V2 {
        enable_v2(name, controller)?;
    } else {
        create_dir(&controller.base)?;
    }
    let probe = controller
        .base
        .join(format!("probe-{}", uuid::Uuid::new_v4()));
    create_dir(&probe)?;
    let limit = match name {
        "memory" if controller.version == Version::V1 => "memory.limit_in_bytes",
        "memory" => "memory.max",
        _ => "pids.max",
    };
    let written = write(&probe.join(limit), "max")
        .or_else(|_| write(&probe.join(limit), &(1u64 << 40).to_string()));
    let _ = std::fs::remove_dir(&probe);
    written
}

/// On v2 a controller reaches a group only when every ancestor enables it for its children
/// (`cgroup.subtree_control`), and a group with processes may not enable any: when our own
/// group refuses (it holds the server), the server moves into a leaf of its own first.
fn enable_v2(name: &str, controller: &Controller) -> Result<(), String> {
    let own = controller
        .base
        .parent()
        .ok_or_else(|| "bad cgroup path".to_owned())?;
    let enable = |group: &Path| write(&group.join("cgroup.subtree_control"), &format!("+{name}"));
    if let Err(first) = enable(own) {
        let leaf = own.join(SERVER_LEAF);
        create_dir(&leaf)?;
        write(&leaf.join("cgroup.procs"), &std::process::id().to_string())
            .map_err(|e| format!("{first}; moving the server into {}: {e}", leaf.display()))?;
        enable(own)?;
    }
    create_dir(&controller.base)?;
    enable(&controller.base)
}

fn create_dir(dir: &Path) -> Result<(), String> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("creating {}: {e}", dir.display())),
    }
}

fn write(file: &Path, value: &str) -> Result<(), String> {
    std::fs::write(file, value).map_err(|e| format!("writing {value} to {}: {e}", file.display()))
}

/// One kernel's groups (one per hierarchy). Dropping it kills what is left in them and
/// removes them.
#[derive(Debug)]
pub(crate) struct KernelCgroup {
    dirs: Vec<PathBuf>,
    memory: Option<(Version, PathBuf)>,
}

impl KernelCgroup {
    /// Makes the groups of kernel `id` with its limits (`None`: unlimited). Returns `None`
    /// when no controller is usable or no limit asks for one.
    pub(crate) fn create(
        support: &CgroupSupport,
        id: &str,
        memory_bytes: Option<u64>,
        processes: Option<u64>,
    ) -> crate::Result<Option<Self>> {
        let memory = support.memory.as_ref().filter(|_| memory_bytes.is_some());
        let pids = support.pids.as_ref().filter(|_| processes.is_some());
        if memory.is_none() && pids.is_none() {
            return Ok(None);
        }
        let mut group = KernelCgroup {
            dirs: Vec::new(),
            memory: None,
        };
        let failed = |e: String| crate::KernelError::Sandbox(format!("kernel cgroup: {e}"));
        for base in support.bases() {
            let dir = base.join(id);
            create_dir(&dir).map_err(failed)?;
            group.dirs.push(dir);
        }
        let dir_of = |c: &Controller| c.base.join(id);
        if let (Some(controller), Some(bytes)) = (memory, memory_bytes) {
            let dir = dir_of(controller);
            match controller.version {
                Version::V1 => {
                    write(&dir.join("memory.limit_in_bytes"), &bytes.to_string())
                        .map_err(failed)?;
                    // Swap counts too where the host accounts it (no swap: no such file).
                    let _ = write(&dir.join("memory.memsw.limit_in_bytes"), &bytes.to_string());
                }
                Version::V2 => {
                    write(&dir.join("memory.max"), &bytes.to_string()).map_err(failed)?;
                    let _ = write(&dir.join("memory.swap.max"), "0");
                }
            }
            group.memory = Some((controller.version, dir));
        }
        if let (Some(controller), Some(n)) = (pids, processes) {
            write(&dir_of(controller).join("pids.max"), &n.to_string()).map_err(failed)?;
        }
        Ok(Some(group))
    }

    /// Whether the groups bound the kernel's memory.
    pub(crate) fn bounds_memory(&self) -> bool {
        self.memory.is_some()
    }

    /// The `cgroup.procs` files a process writes its pid into to join the groups.
    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Whether the OOM killer has killed a process of the kernel.
    pub(crate) fn oom_killed(&self) -> bool {
        match &self.memory {
            Some((Version::V2, dir)) => std::fs::read_to_string(dir.join("memory.events"))
                .ok()
                .and_then(|events| {
                    events.lines().find_map(|l| {
                        l.strip_prefix("oom_kill ")
                            .and_then(|n| n.trim().parse::<u64>().ok())
                    })
                })
                .is_some_and(|n| n > 0),
            Some((Version::V1, dir)) => std::fs::read_to_string(dir.join("memory.oom_control"))
                .ok()
                .and_then(|control| {
                    control.lines().find_map(|l| {
                        l.strip_prefix("oom_kill ")
                            .and_then(|n| n.trim().parse::<u64>().ok())
                    })
                })
                .is_some_and(|n| n > 0),
            None => false,
        }
    }

    /// SIGKILLs every process in the groups.
    pub(crate) fn kill(&self) {
        for dir in &self.dirs {
            kill_all(dir);
        }
    }
}

impl Drop for KernelCgroup {
    fn drop(&mut self) {
        for dir in &self.dirs {
            remove(dir);
        }
    }
}

/// Kills what a killed server's kernel `id` left in its groups and removes them.
pub(crate) fn reap(support: &CgroupSupport, id: &str) -> usize {
    support
        .bases()
        .iter()
        .map(|base| {
            let dir = base.join(id);
            if !dir.exists() {
                return 0;
            }
            let killed = kill_all(&dir);
            remove(&dir);
            killed
        })
        .sum()
}

/// SIGKILLs the processes of the group `dir` until none is left (bounded). Returns how
/// many were signalled.
fn kill_all(dir: &Path) -> usize {
    // cgroup v2 kills the whole group at once, forks in flight included.
    let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    let mut killed = 0;
    for _ in 0..100 {
        let pids = procs(dir);
        if pids.is_empty() {
            break;
        }
        for pid in &pids {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        killed += pids.len();
        std::thread::sleep(Duration::from_millis(1));
    }
    killed
}

fn procs(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills what is left and removes the group; a group empties a moment after its last
/// process is killed, so removal is retried for up to a second.
fn remove(dir: &Path) {
    for _ in 0..200 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(e) if e.kind() == ErrorKind::NotFound => return,
            Err(_) => {
                kill_all(dir);
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
    tracing::warn!(group = %dir.display(), "could not remove a kernel's cgroup");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MOUNTINFO: &str = "\
35 24 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
40 35 0:35 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 35 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
42 35 0:37 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct";

    const OWN: &str = "\
8:pids:/
4:memory:/process_api/abc
1:cpu,cpuacct:/
0::/";

    #[test]
    fn v1_controllers_are_found_under_our_own_group() {
        // The v2 hierarchy offers nothing at this made-up root, so v1 is used.
        let memory = find_controller("memory", MOUNTINFO, OWN).unwrap();
        assert_eq!(memory.version, Version::V1);
        assert_eq!(
            memory.base,
            Path::new("/sys/fs/cgroup/memory/process_api/abc/switchboard-kernels")
        );
        let pids = find_controller("pids", MOUNTINFO, OWN).unwrap();
        assert_eq!(
            pids.base,
            Path::new("/sys/fs/cgroup/pids/switchboard-kernels")
        );
        assert!(find_controller("rdma", MOUNTINFO, OWN).is_err());
    }

    #[test]
    fn mount_points_are_unescaped_and_roots_stripped() {
        let mount = Mount::parse("50 35 0:40 /outer /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw")
            .unwrap();
        assert_eq!(mount.point, Path::new("/sys/fs/my cgroup"));
        assert_eq!(
            mount.path_of("/outer/inner"),
            Path::new("/sys/fs/my cgroup/inner")
        );
    }
}
