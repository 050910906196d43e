//! The sandbox helper: the process between the server and the kernel. The launcher starts
//! it (already in its own process group) as `<helper> <plan.json>`; it applies the
//! [`SandboxPlan`] to itself, writes one report line on stderr, and `exec`s the kernel.
//! It never returns to its caller.
//!
//! A binary becomes a helper by calling [`run_if_requested`] first thing in `main`, best
//! before any thread or async runtime is started (so not inside `#[tokio::main]`'s body
//! but in a plain `main` that builds the runtime afterwards): the helper then is the
//! single-threaded process the sandbox steps expect. This crate's
//! `switchboard-kernel-helper` binary is such a helper too.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;

use crate::config::HELPER_ARG;
use crate::sandbox::{FAILURE_PREFIX, REPORT_PREFIX, SandboxPlan, SandboxReport};

/// If this process was started as the sandbox helper (`argv[1]` is
/// [`HELPER_ARG`](crate::config::HELPER_ARG)), runs it and never returns; otherwise
/// returns at once.
pub fn run_if_requested() {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() != Some(std::ffi::OsStr::new(HELPER_ARG)) {
        return;
    }
    match args.next() {
        Some(plan) => run(Path::new(&plan)),
        None => fail("usage: <helper> __switchboard_kernel_helper <plan.json>".into()),
    }
}

/// Runs the helper with the plan at `plan_path`. Never returns.
pub fn run(plan_path: &Path) -> ! {
    let plan = match std::fs::read(plan_path)
        .map_err(|e| format!("reading {}: {e}", plan_path.display()))
        .and_then(|bytes| {
            serde_json::from_slice::<SandboxPlan>(&bytes).map_err(|e| format!("bad plan: {e}"))
        }) {
        Ok(plan) => plan,
        Err(message) => fail(message),
    };
    match apply(&plan) {
        Ok(report) => {
            let line = serde_json::to_string(&report).unwrap_or_default();
            let _ = writeln!(std::io::stderr(), "{REPORT_PREFIX}{line}");
            let Some((program, args)) = plan.argv.split_first() else {
                fail("empty kernel command".into())
            };
            let error = std::process::Command::new(program)
                .args(args)
                .current_dir(&plan.workdir)
                .exec();
            fail(format!("exec {program}: {error}"))
        }
        Err(message) => fail(message),
    }
}

/// Applies every layer of `plan` to this process, in order.
fn apply(plan: &SandboxPlan) -> Result<SandboxReport, String> {
    let mut report = SandboxReport {
        landlock: "off".into(),
        ..SandboxReport::default()
    };
    // First, while the host's /sys is still in view: from here on every process the kernel
    // starts is counted in its groups.
    let me = std::process::id().to_string();
    for procs in &plan.cgroup_procs {
        std::fs::write(procs, &me)
            .map_err(|e| format!("joining the kernel's cgroup {}: {e}", procs.display()))?;
        if let Some(group) = procs.parent() {
            report.cgroups.push(group.to_path_buf());
        }
    }
    if let Some(namespaces) = &plan.namespaces {
        match namespaces.apply() {
            Ok(view) => {
                report.network_namespace = namespaces.network;
                report.view = view;
            }
            Err(e) if plan.required.namespaces => return Err(e),
            Err(e) => report.notes.push(format!("namespaces not applied: {e}")),
        }
    }
    let target_uid = plan
        .user
        .map_or_else(|| nix::unistd::getuid().as_raw(), |u| u.uid);
    report.rlimits = plan.rlimits.apply(target_uid)?;
    if let Some(identity) = plan.user {
        identity.become_it()?;
    }
    report.uid = nix::unistd::getuid().as_raw();
    report.gid = nix::unistd::getgid().as_raw();
    if report.uid == 0 && plan.rlimits.processes.is_some() {
        report
            .notes
            .push("root ignores RLIMIT_NPROC: process limit not enforced".into());
    }
    if plan.die_with_parent {
        // Set after the uid change, which clears it.
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .map_err(|e| format!("prctl(PR_SET_PDEATHSIG): {e}"))?;
        if nix::unistd::getppid().as_raw() as u32 != plan.parent_pid {
            return Err("the server exited while the kernel was starting".into());
        }
    }
    if let Some(landlock) = &plan.landlock {
        match landlock.apply() {
            Ok(outcome) => {
                report.landlock = outcome.status.into();
                report.landlock_abi = outcome.abi;
                if plan.required.landlock && outcome.status == "none" {
                    return Err("Landlock is required but the kernel enforced nothing".into());
                }
            }
            Err(e) if plan.required.landlock => return Err(e),
            Err(e) => {
                report.landlock = "none".into();
                report.notes.push(e);
            }
        }
    }
    if plan.seccomp {
        match crate::sandbox::seccomp::apply() {
            Ok(()) => report.seccomp = true,
            Err(e) if plan.required.seccomp => return Err(e),
            Err(e) => report.notes.push(e),
        }
    }
    Ok(report)
}

fn fail(message: String) -> ! {
    let _ = writeln!(std::io::stderr(), "{FAILURE_PREFIX}{message}");
    std::process::exit(126)
}
