//! A plugin call's own time, and the bound that holds whatever the guest does.
//!
//! `timeout_ms` is the time the plugin itself spends: running wasm, and
//! waiting in host or WASI calls (a `sleep`, an outbound request). Time spent
//! queued for a worker thread after the engine made the guest yield does not
//! count, so a busy server never turns healthy calls into timeouts.
//!
//! Two mechanisms enforce it together:
//! - while wasm runs, the engine's epoch callback checks the clock at every
//!   tick and traps the guest once its time is spent (see `state.rs`);
//! - [`Bounded`] wraps the call's future: it measures each poll, and while
//!   the guest waits in a host call it arms a timer for the time left. When
//!   the time is spent it returns [`Overrun`] and drops the call, abandoning
//!   the guest wherever it is; its instance is then discarded.
//!
//! A generous wall-clock backstop ([`backstop`]) also ends calls that, under
//! extreme overload, wait for the scheduler far longer than they run.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The own-time account of one instance, shared by its store (the epoch
/// callback) and the [`Bounded`] future driving its current call.
#[derive(Debug)]
pub struct CallClock {
    origin: Instant,
    /// Nanoseconds of own time allowed for the current call.
    budget: AtomicU64,
    /// Nanoseconds of own time used by the current call, not counting the
    /// poll in progress.
    used: AtomicU64,
    /// When the poll in progress started (nanoseconds since `origin`), or
    /// `u64::MAX` outside a poll.
    running_since: AtomicU64,
    /// The epoch callback made the guest yield to the scheduler during the
    /// poll in progress (so the wait that follows is not the plugin's).
    yielded: AtomicBool,
}

const IDLE: u64 = u64::MAX;

/// Most own time one poll is charged. Running wasm yields at every epoch
/// tick, so a poll is about one tick of guest work; anything beyond that is
/// the OS preempting the thread (a busy machine), which is not the plugin's
/// time. A starved ticker can only make a poll undercount, and the
/// wall-clock [`backstop`] bounds that.
const POLL_CHARGE_CAP: u64 = 2 * 1_000_000 * crate::engine::ticker::EPOCH_TICK.as_millis() as u64;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl CallClock {
    /// A clock with nothing spent.
    pub fn new() -> Arc<CallClock> {
        Arc::new(CallClock {
            origin: Instant::now(),
            budget: AtomicU64::new(0),
            used: AtomicU64::new(0),
            running_since: AtomicU64::new(IDLE),
            yielded: AtomicBool::new(false),
        })
    }

    fn since_origin(&self, at: Instant) -> u64 {
        nanos(at.saturating_duration_since(self.origin))
    }

    /// Start a new call with `budget` of own time.
    pub fn arm(&self, budget: Duration) {
        self.budget.store(nanos(budget), Ordering::Relaxed);
        self.used.store(0, Ordering::Relaxed);
        self.running_since.store(IDLE, Ordering::Relaxed);
        self.yielded.store(false, Ordering::Relaxed);
    }

    /// Own time used so far by the current call, including the poll in
    /// progress.
    pub fn used(&self, now: Instant) -> Duration {
        let mut used = self.used.load(Ordering::Relaxed);
        let since = self.running_since.load(Ordering::Relaxed);
        if since != IDLE {
            let in_poll = self.since_origin(now).saturating_sub(since);
            used = used.saturating_add(in_poll.min(POLL_CHARGE_CAP));
        }
        Duration::from_nanos(used)
    }

    /// Whether the current call has spent its budget.
    pub fn spent(&self, now: Instant) -> bool {
        nanos(self.used(now)) >= self.budget.load(Ordering::Relaxed)
    }

    /// The time left of the budget.
    pub fn left(&self, now: Instant) -> Duration {
        Duration::from_nanos(self.budget.load(Ordering::Relaxed)).saturating_sub(self.used(now))
    }

    /// Called by the epoch callback when it makes the guest yield.
    pub fn note_yield(&self) {
        self.yielded.store(true, Ordering::Relaxed);
    }

    fn start_poll(&self, now: Instant) {
        self.yielded.store(false, Ordering::Relaxed);
        self.running_since
            .store(self.since_origin(now), Ordering::Relaxed);
    }

    /// Ends a poll; whether the guest yielded to the scheduler in it.
    /// The call completed within this poll, which is not charged (no clock
    /// is read for it): at most one epoch tick, since the guest yields at
    /// every tick and the deadline is checked there.
    fn finish_poll(&self) {
        self.running_since.store(IDLE, Ordering::Relaxed);
    }

    fn end_poll(&self, now: Instant) -> bool {
        let since = self.running_since.swap(IDLE, Ordering::Relaxed);
        if since != IDLE {
            let in_poll = self.since_origin(now).saturating_sub(since);
            self.charge(Duration::from_nanos(in_poll.min(POLL_CHARGE_CAP)));
        }
        self.yielded.load(Ordering::Relaxed)
    }

    fn charge(&self, d: Duration) {
        self.used.fetch_add(nanos(d), Ordering::Relaxed);
    }
}

/// The longest wall-clock time a call with own-time `budget` may take,
/// however long it waits for the scheduler.
pub fn backstop(budget: Duration) -> Duration {
    budget
        .saturating_mul(20)
        .saturating_add(Duration::from_secs(5))
}

/// The call ran out of time (own time, or the wall-clock backstop) and was
/// abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overrun;

pin_project_lite::pin_project! {
    /// A guest call under its time bound. See the module documentation.
    pub struct Bounded<F> {
        #[pin]
        inner: F,
        clock: Arc<CallClock>,
        // Set at the first poll, which reads the clock anyway.
        started: Option<Instant>,
        backstop: Duration,
        // Set while the guest waits in a host call: since when.
        blocked_since: Option<Instant>,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
        // Keeps the epoch ticker running while the call lasts.
        _running: crate::engine::ticker::Running,
    }
}

impl<F: Future> Bounded<F> {
    /// Drive `call` with the own-time budget already armed on `clock`.
    pub fn new(clock: Arc<CallClock>, budget: Duration, call: F) -> Self {
        Bounded {
            inner: call,
            clock,
            started: None,
            backstop: backstop(budget),
            blocked_since: None,
            timer: None,
            _running: crate::engine::ticker::Running::start(),
        }
    }
}

impl<F: Future> Future for Bounded<F> {
    type Output = Result<F::Output, Overrun>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let now = Instant::now();
        if let Some(since) = this.blocked_since.take() {
            this.clock.charge(now.saturating_duration_since(since));
        }
        let started = *this.started.get_or_insert(now);
        if this.clock.spent(now) || now.saturating_duration_since(started) > *this.backstop {
            return Poll::Ready(Err(Overrun));
        }
        this.clock.start_poll(now);
        if let Poll::Ready(out) = this.inner.poll(cx) {
            this.clock.finish_poll();
            return Poll::Ready(Ok(out));
        }
        let end = Instant::now();
        if this.clock.end_poll(end) {
            // Yielded at an epoch tick: the wait for the scheduler is not
            // the plugin's time.
            return Poll::Pending;
        }
        // Waiting in a host call: that time is the plugin's. Wake up when it
        // would be spent.
        *this.blocked_since = Some(end);
        let wake_at = tokio::time::Instant::from_std(end + this.clock.left(end));
        let timer = match this.timer.as_mut() {
            Some(t) => {
                t.as_mut().reset(wake_at);
                t
            }
            None => this
                .timer
                .insert(Box::pin(tokio::time::sleep_until(wake_at))),
        };
        if timer.as_mut().poll(cx).is_ready() {
            cx.waker().wake_by_ref();
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_in_a_host_call_counts_and_is_cut_at_the_budget() {
        let clock = CallClock::new();
        let budget = Duration::from_millis(30);
        clock.arm(budget);
        let started = Instant::now();
        let call = Bounded::new(clock.clone(), budget, async {
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        assert_eq!(call.await, Err(Overrun));
        let took = started.elapsed();
        assert!(took >= budget && took < Duration::from_secs(2), "{took:?}");
    }

    #[tokio::test]
    async fn a_call_within_its_budget_completes() {
        let clock = CallClock::new();
        let budget = Duration::from_millis(500);
        clock.arm(budget);
        let call = Bounded::new(clock.clone(), budget, async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            7
        });
        assert_eq!(call.await, Ok(7));
        assert!(clock.used(Instant::now()) >= Duration::from_millis(5));
    }

    #[tokio::test]
    async fn waiting_after_a_yield_is_not_the_plugins_time() {
        let clock = CallClock::new();
        let budget = Duration::from_millis(20);
        clock.arm(budget);
        // A guest that yields (as the epoch callback makes it) and is then
        // kept waiting by a busy scheduler for far longer than its budget.
        let yielding = clock.clone();
        let mut polls = 0;
        let call = Bounded::new(
            clock.clone(),
            budget,
            std::future::poll_fn(move |cx| {
                polls += 1;
                if polls > 3 {
                    return Poll::Ready("done");
                }
                yielding.note_yield();
                cx.waker().wake_by_ref();
                Poll::Pending
            }),
        );
        let busy_scheduler = async {
            for _ in 0..3 {
                tokio::task::yield_now().await;
                std::thread::sleep(Duration::from_millis(15));
            }
        };
        let (out, ()) = tokio::join!(call, busy_scheduler);
        assert_eq!(out, Ok("done"));
        assert!(clock.used(Instant::now()) < budget);
    }
}
