//! The process's allocator: jemalloc on Linux, with its background purging thread on.
//!
//! The collector's `memory_limiter` measures resident memory, what a container's limit counts.
//! glibc's malloc keeps most of what a burst of large requests freed (eight 16 MiB OTLP/JSON bodies
//! left the process at its ~130 MiB peak for good), so the limiter saw the burst long after it
//! was over and, past the soft limit, refused everything from then on. jemalloc returns unused
//! dirty pages to the OS after its decay time (10 s by default), and its background thread does so
//! even when nothing allocates, so resident memory follows what is really in use.

#[cfg(all(feature = "jemalloc", target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// (`cargo build --no-default-features` leaves the system allocator in place, to compare.)
///
/// Turns on jemalloc's background thread, which purges freed pages on its own schedule instead
/// of on the next allocation. Logged and otherwise ignored when it cannot be set.
pub fn start_background_purge() {
    #[cfg(all(feature = "jemalloc", target_os = "linux", not(target_env = "musl")))]
    if let Err(err) = tikv_jemalloc_ctl::background_thread::write(true) {
        ewriteln!("warning: cannot start jemalloc's background purge thread: {err}");
    }
}
