//! CPU time of the calling thread, for the benches' per-tick CPU figures.
//!
//! `CLOCK_THREAD_CPUTIME_ID`, not `/proc/thread-self/schedstat`: the kernel updates
//! schedstat's runtime only at scheduler events (a tick, a switch), so a short measurement
//! read it in steps of milliseconds; the clock accounts the running thread's time up to the
//! call.

/// Nanoseconds this thread has spent on a CPU.
pub fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    // Both fields are non-negative for a CPU-time clock.
    (t.tv_sec as u64) * 1_000_000_000 + t.tv_nsec as u64
}
