//! Giving memory back after a burst. glibc keeps what is freed in its arenas for reuse: after
//! hundreds of streams close, the heap in use is back to a few MiB, but the process keeps tens
//! of MiB resident until it exits. A task checks every few seconds how much the arenas hold
//! free and, past a threshold, asks glibc to return it (`malloc_trim`).

use std::time::Duration;

/// How often the arenas' free memory is checked.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// Free memory in the arenas worth returning: less is left for reuse.
const TRIM_ABOVE_BYTES: usize = 8 << 20;

/// Starts the task (Linux with glibc; elsewhere nothing).
pub fn return_freed_memory() -> Option<tokio::task::JoinHandle<()>> {
    imp::spawn()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use super::{CHECK_EVERY, TRIM_ABOVE_BYTES};

    pub fn spawn() -> Option<tokio::task::JoinHandle<()>> {
        Some(tokio::spawn(async {
            let mut every = tokio::time::interval(CHECK_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                // SAFETY: mallinfo2 only reads the allocator's statistics.
                let free = unsafe { libc::mallinfo2() }.fordblks;
                if free < TRIM_ABOVE_BYTES {
                    continue;
                }
                // Walking the arenas takes a few milliseconds: not on a runtime worker.
                let trimmed = tokio::task::spawn_blocking(|| {
                    // SAFETY: malloc_trim only returns free pages to the system; 0 keeps no pad.
                    unsafe { libc::malloc_trim(0) }
                })
                .await;
                tracing::debug!(
                    free,
                    returned = matches!(trimmed, Ok(1)),
                    "returned freed memory"
                );
            }
        }))
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub fn spawn() -> Option<tokio::task::JoinHandle<()>> {
        None
    }
}
