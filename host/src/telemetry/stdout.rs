//! The process's one writer to stdout, shared by the access log and every
//! other line a command prints (`dev`'s progress, `demo`'s banner).
//!
//! Callers only copy their line into one in-memory buffer under a
//! short-held mutex; a writer thread takes the whole buffer, then writes and
//! flushes it with the stdout lock held only for that write. Nobody ever
//! holds stdout while waiting for something else, so one writer cannot stall
//! another, and a slow or blocked stdout delays output but never a caller:
//! access-log lines beyond [`DROPPABLE_LINES`] are dropped and counted, other
//! lines always queue.
//!
//! Under load the writer is not woken per line: the first line into an empty
//! buffer wakes it, and it then lets lines gather for [`LINGER`] before one
//! write, as nginx's `access_log ... buffer= flush=` does. A line a person
//! waits for ([`Priority::Always`]) is written without the wait.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Droppable lines (the access log) that may wait for the writer before new
/// ones are dropped.
pub const DROPPABLE_LINES: usize = 16 * 1024;

/// How long the writer lets access-log lines gather before it writes them:
/// one write per this much time under load, instead of one per line.
pub const LINGER: Duration = Duration::from_millis(5);

/// Whether a line may be dropped when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// High-volume output (the access log): dropped when the queue is full.
    Droppable,
    /// Output a person waits for (`dev` progress, banners): always queued.
    Always,
}

#[derive(Default)]
struct Queue {
    /// Lines waiting, each ending in a newline.
    buf: Vec<u8>,
    /// Droppable lines in `buf`.
    droppable: usize,
    /// A line in `buf` must not wait for [`LINGER`].
    urgent: bool,
    /// Bytes taken by the writer and not yet flushed.
    writing: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when lines are queued.
    ready: Condvar,
    /// Signalled when the writer has flushed what it took.
    flushed: Condvar,
}

/// Handle to the stdout writer. Cheap to clone.
#[derive(Clone)]
pub struct Stdout {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Stdout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stdout").finish_non_exhaustive()
    }
}

static GLOBAL: OnceLock<Option<Stdout>> = OnceLock::new();

impl Stdout {
    /// The process-wide writer, started on first use; `None` only if its
    /// thread could not be started.
    pub fn global() -> Option<&'static Stdout> {
        GLOBAL
            .get_or_init(|| Stdout::start(|| Box::new(std::io::stdout())).ok())
            .as_ref()
    }

    /// A writer thread writing to what `open` returns (stdout, or a test sink).
    fn start(open: fn() -> Box<dyn Write + Send>) -> std::io::Result<Stdout> {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            ready: Condvar::new(),
            flushed: Condvar::new(),
        });
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("edgechain-stdout".into())
            .spawn(move || write_lines(&writer, open()))?;
        Ok(Stdout { shared })
    }

    /// Queue one line (without its newline). Never blocks on stdout; returns
    /// `false` if a droppable line was dropped because the queue is full.
    pub fn line(&self, line: String, priority: Priority) -> bool {
        self.bytes(line.as_bytes(), priority)
    }

    /// [`Stdout::line`] for a line already in bytes (the access log writes
    /// its lines into a reused buffer); the newline is added here.
    pub fn bytes(&self, line: &[u8], priority: Priority) -> bool {
        let Ok(mut q) = self.shared.queue.lock() else {
            return false;
        };
        if priority == Priority::Droppable {
            if q.droppable >= DROPPABLE_LINES {
                return false;
            }
            q.droppable += 1;
        }
        let wake = q.buf.is_empty() || (priority == Priority::Always && !q.urgent);
        q.urgent |= priority == Priority::Always;
        q.buf.extend_from_slice(line);
        q.buf.push(b'\n');
        drop(q);
        if wake {
            self.shared.ready.notify_one();
        }
        true
    }

    /// Wait until every line queued so far is written, at most `within`;
    /// whether everything was written. Called before the process exits.
    pub fn flush(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let Ok(mut q) = self.shared.queue.lock() else {
            return false;
        };
        while !q.buf.is_empty() || q.writing > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = match self.shared.flushed.wait_timeout(q, left) {
                Ok((q, _)) => q,
                Err(_) => return false,
            };
        }
        true
    }
}

fn write_lines(shared: &Shared, mut out: Box<dyn Write + Send>) {
    let mut batch = Vec::with_capacity(64 * 1024);
    loop {
        {
            let Ok(mut q) = shared.queue.lock() else {
                return;
            };
            while q.buf.is_empty() {
                q = match shared.ready.wait(q) {
                    Ok(q) => q,
                    Err(_) => return,
                };
            }
            if !q.urgent {
                // Let the lines of the requests in flight gather: one write
                // for all of them, and no wake-up per line.
                q = match shared.ready.wait_timeout_while(q, LINGER, |q| !q.urgent) {
                    Ok((q, _)) => q,
                    Err(_) => return,
                };
            }
            // The callers get the last batch's buffer back, emptied: the two
            // alternate, so neither is allocated again once grown.
            batch.clear();
            std::mem::swap(&mut batch, &mut q.buf);
            q.droppable = 0;
            q.urgent = false;
            q.writing = batch.len();
        }
        // The stdout lock (inside `Stdout::write_all`) is held for this write only.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        if let Ok(mut q) = shared.queue.lock() {
            q.writing = 0;
        }
        shared.flushed.notify_all();
    }
}

/// Print `line` through the shared writer (falling back to `println!` if it
/// could not start): for output a person reads, never dropped.
pub fn say(line: impl Into<String>) {
    let line = line.into();
    match Stdout::global() {
        Some(out) => {
            out.line(line, Priority::Always);
        }
        None => println!("{line}"),
    }
}

/// Write out everything queued before the process exits (bounded).
pub fn flush() {
    if let Some(out) = GLOBAL.get().and_then(Option::as_ref) {
        out.flush(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that blocks every write until released, like a full pipe.
    struct Gate;

    static OPEN: Mutex<bool> = Mutex::new(false);
    static OPENED: Condvar = Condvar::new();
    static WRITTEN: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
            while !*open {
                open = OPENED.wait(open).unwrap_or_else(|e| e.into_inner());
            }
            WRITTEN
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_stdout_never_blocks_callers_and_drops_only_droppable_lines() {
        let out = Stdout::start(|| Box::new(Gate)).expect("writer thread");
        // The writer takes the first line and blocks on the gate; everything
        // after must queue without blocking this thread.
        assert!(out.line("first".into(), Priority::Always));
        let taken = Instant::now();
        while out.shared.queue.lock().map(|q| q.writing).unwrap_or(0) == 0 {
            assert!(
                taken.elapsed() < Duration::from_secs(10),
                "writer never took a line"
            );
            std::thread::yield_now();
        }
        let started = Instant::now();
        let mut dropped = 0;
        for i in 0..DROPPABLE_LINES + 100 {
            if !out.line(format!("access {i}"), Priority::Droppable) {
                dropped += 1;
            }
        }
        assert!(out.line("dev line".into(), Priority::Always));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(dropped, 100, "only lines over the cap are dropped");
        assert!(!out.flush(Duration::from_millis(50)), "still blocked");

        *OPEN.lock().unwrap_or_else(|e| e.into_inner()) = true;
        OPENED.notify_all();
        assert!(out.flush(Duration::from_secs(10)));
        let written = WRITTEN.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&written);
        assert!(text.starts_with("first\n"));
        assert!(text.ends_with("dev line\n"), "priority lines are kept");
    }
}
