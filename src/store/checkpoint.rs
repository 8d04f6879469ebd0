//! Checkpoints off the writer's thread.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses the
//! threshold, on the writer, fsync included: a third of ingest time in the
//! benchmark. Here a thread with its own connection copies the log into the
//! database (a passive checkpoint, which never blocks the writer or the
//! readers) after commits, at most every [`EVERY`]. The writer keeps a high
//! automatic threshold as a backstop should this thread fall behind.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The least time between two background checkpoints.
const EVERY: Duration = Duration::from_millis(200);

pub(crate) struct Checkpointer {
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread; without one (thread limits), SQLite's automatic
    /// checkpoint on the writer still runs.
    pub(crate) fn start(path: &Path, busy: Duration) -> Checkpointer {
        let (nudge, nudged) = mpsc::sync_channel::<()>(1);
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("tracelite-checkpoint".into())
            .spawn(move || {
                let Ok(conn) = super::open_connection(&path, busy, false) else {
                    return;
                };
                let mut last = Instant::now() - EVERY;
                while let Ok(()) = nudged.recv() {
                    // Let a few commits gather, but stop promptly on close.
                    let wait = EVERY.saturating_sub(last.elapsed());
                    if !wait.is_zero() {
                        match nudged.recv_timeout(wait) {
                            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                            Err(RecvTimeoutError::Disconnected) => break,
                        }
                    }
                    let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    last = Instant::now();
                }
                let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            })
            .ok();
        Checkpointer {
            nudge: thread.is_some().then_some(nudge),
            thread,
        }
    }

    /// Whether a thread took over checkpoints.
    pub(crate) fn is_running(&self) -> bool {
        self.nudge.is_some()
    }

    /// Tells the thread a commit happened. Never blocks.
    pub(crate) fn nudge(&self) {
        if let Some(nudge) = &self.nudge {
            match nudge.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.nudge.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
