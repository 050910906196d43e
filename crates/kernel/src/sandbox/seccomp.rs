//! The seccomp filter: everything is allowed except
//! - `socket()`/`socketpair()` for any family but `AF_UNIX` (TCP, UDP, raw, packet…; IPC
//!   ZeroMQ needs `AF_UNIX`), and io_uring, which could open sockets past the filter;
//!   netlink sockets fail with `EOPNOTSUPP` instead, which libzmq (`getifaddrs` while
//!   resolving `tcp://127.0.0.1`, as ipykernel does for its subprocess pipe) treats as "no
//!   interfaces" rather than aborting the kernel;
//! - leaving the process group or session (`setsid`, `setpgid`), so one `killpg` ends
//!   everything the kernel started;
//! - new namespaces (`unshare`, `setns`, `clone` with `CLONE_NEW*`), mounts, `ptrace`,
//!   `bpf`, `perf_event_open`, `userfaultfd`, keyrings, modules, `kexec`, file handles.
//!
//! Denied calls fail with `EPERM`. `clone3` fails with `ENOSYS` (its flags are behind a
//! pointer the filter cannot read), so the C library falls back to `clone`, which is checked.
//! On x86-64 the same calls are denied under the x32 numbering.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Whether the running kernel supports seccomp filters.
pub fn available() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Seccomp:")))
        .unwrap_or(false)
}

/// Installs the filters on the calling thread (and what it `exec`s). Sets `no_new_privs`.
pub fn apply() -> Result<(), String> {
    for program in programs()? {
        seccompiler::apply_filter(&program).map_err(|e| format!("seccomp: {e}"))?;
    }
    Ok(())
}

/// The BPF programs: one per errno (their rules never overlap).
pub fn programs() -> Result<Vec<BpfProgram>, String> {
    let netlink = BTreeMap::from([(
        libc::SYS_socket,
        vec![rule(vec![condition(
            0,
            SeccompCmpOp::Eq,
            libc::AF_NETLINK as u64,
        )?])?],
    )]);
    let clone3 = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
    [
        (deny_rules()?, libc::EPERM),
        (netlink, libc::EOPNOTSUPP),
        (clone3, libc::ENOSYS),
    ]
    .into_iter()
    .map(|(rules, errno)| {
        let filter = SeccompFilter::new(
            with_x32(rules),
            SeccompAction::Allow,
            SeccompAction::Errno(errno as u32),
            target_arch()?,
        )
        .map_err(|e| format!("seccomp filter: {e}"))?;
        BpfProgram::try_from(filter).map_err(|e| format!("seccomp compile: {e}"))
    })
    .collect()
}

fn target_arch() -> Result<TargetArch, String> {
    std::env::consts::ARCH
        .try_into()
        .map_err(|e| format!("seccomp: unsupported architecture: {e:?}"))
}

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, String> {
    let len = match op {
        SeccompCmpOp::MaskedEq(_) => SeccompCmpArgLen::Qword,
        _ => SeccompCmpArgLen::Dword,
    };
    SeccompCondition::new(arg, len, op, value).map_err(|e| format!("seccomp condition: {e}"))
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, String> {
    SeccompRule::new(conditions).map_err(|e| format!("seccomp rule: {e}"))
}

fn deny_rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>, String> {
    let neither = |allowed: &[i32]| -> Result<Vec<SeccompRule>, String> {
        let conditions = allowed
            .iter()
            .map(|family| condition(0, SeccompCmpOp::Ne, *family as u64))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(vec![rule(conditions)?])
    };
    let mut rules = BTreeMap::new();
    // Netlink is refused by its own filter, with another errno.
    rules.insert(
        libc::SYS_socket,
        neither(&[libc::AF_UNIX, libc::AF_NETLINK])?,
    );
    rules.insert(libc::SYS_socketpair, neither(&[libc::AF_UNIX])?);

    let namespace_flags = [
        libc::CLONE_NEWNS,
        libc::CLONE_NEWCGROUP,
        libc::CLONE_NEWUTS,
        libc::CLONE_NEWIPC,
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWPID,
        libc::CLONE_NEWNET,
        0x80, // CLONE_NEWTIME
    ];
    let clone_rules = namespace_flags
        .iter()
        .map(|&flag| {
            let flag = flag as u64;
            rule(vec![condition(0, SeccompCmpOp::MaskedEq(flag), flag)?])
        })
        .collect::<Result<Vec<_>, String>>()?;
    rules.insert(libc::SYS_clone, clone_rules);

    for nr in [
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_setsid,
        libc::SYS_setpgid,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_pivot_root,
        libc::SYS_chroot,
        libc::SYS_open_tree,
        libc::SYS_move_mount,
        libc::SYS_fsopen,
        libc::SYS_fsconfig,
        libc::SYS_fsmount,
        libc::SYS_fspick,
        libc::SYS_mount_setattr,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_userfaultfd,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_init_module,
        libc::SYS_finit_module,
        libc::SYS_delete_module,
        libc::SYS_kexec_load,
        libc::SYS_kexec_file_load,
        libc::SYS_open_by_handle_at,
        libc::SYS_name_to_handle_at,
        libc::SYS_swapon,
        libc::SYS_swapoff,
        libc::SYS_reboot,
        libc::SYS_acct,
    ] {
        rules.insert(nr, Vec::new());
    }
    Ok(rules)
}

/// On x86-64, also matches each call under its x32 number (`nr | 0x4000_0000`): the audit
/// architecture is the same, so the filter's architecture check lets them through.
fn with_x32(rules: BTreeMap<i64, Vec<SeccompRule>>) -> BTreeMap<i64, Vec<SeccompRule>> {
    if !cfg!(target_arch = "x86_64") {
        return rules;
    }
    const X32_BIT: i64 = 0x4000_0000;
    let mut all = rules.clone();
    for (nr, chain) in rules {
        all.insert(nr | X32_BIT, chain);
    }
    all
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn filters_compile() {
        let programs = programs().unwrap();
        assert_eq!(programs.len(), 3);
        assert!(programs.iter().all(|p| !p.is_empty()));
        assert!(available());
    }
}
