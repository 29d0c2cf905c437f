//! The allocator's settings for a process that mostly waits on its hosts: one glibc arena and a fixed mmap threshold, so memory stays flat in the size of the fleet.
//!
//! Measured with the fleet benchmark's scale phase (`benches/fleet.sh`, BENCHMARKS.md): a small
//! change to 256 hosts peaked at 27.0 MB against 21.2 MB for one host with glibc's defaults,
//! and at 24.7 MB against 21.2 MB with these settings.
//! - Per-thread arenas: every thread that allocates (the runtime's workers, its blocking pool
//!   running journal writes and git) gets an arena of its own, and each keeps the memory freed
//!   in it. bosun allocates little (about 6,000 calls a second at 256 hosts, heaptrack), and the
//!   same scale run was no slower with one arena.
//! - The mmap threshold: glibc raises it each time a mapped block is freed, after which large,
//!   short-lived buffers (the plan, a command's collected output) come from the heap and leave
//!   holes there. Fixed at its default of 128 KiB, they are mapped and given back when freed.

/// Applies the settings. Call it first thing in `main`, before any thread starts.
pub fn settle() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: `mallopt` only sets allocator parameters; it is called before any other
        // thread exists, and a refused setting (return value 0) leaves glibc's default.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
        }
    }
}
