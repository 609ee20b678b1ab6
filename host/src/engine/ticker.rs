//! The epoch ticker: one thread that advances every engine's epoch while
//! guest code may be running, and sleeps otherwise.
//!
//! Epoch interruption is how a running guest is made to yield and how its
//! time is checked (see `plugin::clock`); it needs the epoch to advance, but
//! only while some call is in progress. An idle pod should not wake up 1 000
//! times a second, so the thread parks once no call has been running for a
//! few ticks, and the next call wakes it.
//!
//! Calls announce themselves with [`Running`] guards: two atomic operations
//! per call, and a wake-up (one syscall) only when the ticker is parked.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;
use wasmtime::EngineWeak;

/// How often the epoch advances while calls run.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Idle ticks before the ticker parks.
const IDLE_TICKS: u32 = 10;

struct Ticker {
    running: AtomicUsize,
    parked: AtomicBool,
    engines: Mutex<Vec<EngineWeak>>,
    thread: Thread,
}

static TICKER: OnceLock<Ticker> = OnceLock::new();

fn ticker() -> std::io::Result<&'static Ticker> {
    if let Some(t) = TICKER.get() {
        return Ok(t);
    }
    let handle = std::thread::Builder::new()
        .name("edgechain-epoch".into())
        .spawn(tick)?;
    let _ = TICKER.set(Ticker {
        running: AtomicUsize::new(0),
        parked: AtomicBool::new(false),
        engines: Mutex::new(Vec::new()),
        thread: handle.thread().clone(),
    });
    // Another thread may have won the race; its ticker serves both.
    TICKER
        .get()
        .ok_or_else(|| std::io::Error::other("epoch ticker"))
}

/// Advance `engine`'s epoch from now on (until it is dropped).
pub fn register(engine: EngineWeak) -> std::io::Result<()> {
    let t = ticker()?;
    if let Ok(mut engines) = t.engines.lock() {
        engines.push(engine);
    }
    Ok(())
}

fn tick() {
    // The thread starts before the static is set: wait for it.
    let t = loop {
        if let Some(t) = TICKER.get() {
            break t;
        }
        std::thread::park_timeout(EPOCH_TICK);
    };
    let mut idle = 0u32;
    loop {
        std::thread::sleep(EPOCH_TICK);
        if let Ok(mut engines) = t.engines.lock() {
            engines.retain(|weak| match weak.upgrade() {
                Some(engine) => {
                    engine.increment_epoch();
                    true
                }
                None => false,
            });
        }
        if t.running.load(Ordering::SeqCst) > 0 {
            idle = 0;
            continue;
        }
        idle += 1;
        if idle < IDLE_TICKS {
            continue;
        }
        // Announce the park, then look once more: a call that started in
        // between either sees `parked` and wakes us, or is seen here.
        t.parked.store(true, Ordering::SeqCst);
        while t.running.load(Ordering::SeqCst) == 0 && t.parked.load(Ordering::SeqCst) {
            std::thread::park();
        }
        t.parked.store(false, Ordering::SeqCst);
        idle = 0;
    }
}

/// A call in progress: the ticker runs while any exists.
#[derive(Debug)]
pub struct Running(());

impl Running {
    /// Announce a call (waking the ticker if it sleeps).
    pub fn start() -> Running {
        if let Some(t) = TICKER.get() {
            t.running.fetch_add(1, Ordering::SeqCst);
            if t.parked.swap(false, Ordering::SeqCst) {
                t.thread.unpark();
            }
        }
        Running(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = TICKER.get() {
            t.running.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Whether the ticker is asleep now (for tests and metrics).
pub fn is_parked() -> bool {
    TICKER
        .get()
        .is_some_and(|t| t.parked.load(Ordering::SeqCst))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ticker_sleeps_when_idle_and_ticks_for_a_call() {
        let engine = wasmtime::Engine::default();
        register(engine.weak()).expect("ticker");
        let waited = std::time::Instant::now();
        while !is_parked() {
            assert!(waited.elapsed() < Duration::from_secs(10), "never parked");
            std::thread::sleep(Duration::from_millis(5));
        }
        let call = Running::start();
        assert!(!is_parked(), "a call wakes it");
        drop(call);
    }
}
