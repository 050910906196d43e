//! The kernel sandbox helper for this crate's integration tests, which cannot make their
//! own test binary a helper (the `switchboard` binary is one: its `main` calls
//! `switchboard_kernel::helper::run_if_requested` first). Production nodes use the
//! `switchboard` binary itself or `kernel_helper`.

fn main() {
    switchboard_kernel::helper::run_if_requested();
    match std::env::args_os().nth(1) {
        Some(plan) => switchboard_kernel::helper::run(std::path::Path::new(&plan)),
        None => {
            eprintln!("usage: switchboard-server-kernel-helper <plan.json>");
            std::process::exit(2);
        }
    }
}
