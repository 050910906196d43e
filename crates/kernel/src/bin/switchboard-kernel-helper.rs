//! The sandbox helper as its own binary: `switchboard-kernel-helper <plan.json>` (or with
//! the `__switchboard_kernel_helper` argument first, like the `switchboard` binary).
//! See `switchboard_kernel::helper`.

fn main() {
    switchboard_kernel::helper::run_if_requested();
    match std::env::args_os().nth(1) {
        Some(plan) => switchboard_kernel::helper::run(std::path::Path::new(&plan)),
        None => {
            eprintln!("usage: switchboard-kernel-helper <plan.json>");
            std::process::exit(2);
        }
    }
}
