//! How many arenas glibc's malloc may keep. By default it grows to eight per core, one per
//! thread that allocates while another holds an arena; a node's threads (the runtime's
//! workers, the blocking pool, one per SQLite connection) then each keep what a burst of
//! requests freed, and an idle session looked four times its size (16 KiB instead of 4 KiB in
//! `bench scale`). One arena per core keeps the memory of idle sessions near what they hold,
//! while each thread's cache still serves most allocations without a lock.

/// Caps the arenas at the number of cores, unless `MALLOC_ARENA_MAX` says otherwise (glibc
/// reads it itself). Must run before the process starts its threads.
pub fn limit_to_cores() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let arenas = libc::c_int::try_from(cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes a setting of glibc's allocator; it is called before
        // any other thread exists, and an unknown or refused value leaves the default.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}
