//! One guarded guest call, the only way the host runs guest code: a filter's
//! hooks, a handler's request, instantiation, `init`, and pre-initialisation
//! all go through [`guarded`], so each gets the same deadline, the same
//! memory accounting and the same name for what went wrong.

use super::clock::{Bounded, Overrun};
use super::state::{DeadlineExceeded, HostState};
use std::time::Duration;
use wasmtime::Store;

/// Why a guest call failed. Each goes through the link's `on_error` policy.
#[derive(Debug, thiserror::Error)]
pub enum LinkFailure {
    /// The guest trapped (including Rust panics).
    #[error("trap: {0}")]
    Trap(String),
    /// The call used more than its own-time budget (`timeout_ms`, or
    /// `init_timeout_ms` for `init`), running or waiting in host calls.
    #[error("deadline of {0} ms exceeded")]
    Timeout(u64),
    /// The instance tried to grow past `memory_limit_mb`.
    #[error("memory limit of {0} MiB reached")]
    Memory(u64),
    /// The decision was not valid HTTP.
    #[error("invalid decision: {0}")]
    Invalid(String),
    /// No instance could be created (pool exhausted or instantiation trap).
    #[error("cannot instantiate: {0}")]
    Instantiate(String),
    /// A body was larger than the link's `max_body_bytes`.
    #[error("body larger than max_body_bytes ({0})")]
    BodyTooLarge(u64),
}

impl LinkFailure {
    /// A short, stable label for logs and metrics.
    pub fn cause(&self) -> &'static str {
        match self {
            LinkFailure::Trap(_) => "trap",
            LinkFailure::Timeout(_) => "timeout",
            LinkFailure::Memory(_) => "memory",
            LinkFailure::Invalid(_) => "invalid",
            LinkFailure::Instantiate(_) => "instantiate",
            LinkFailure::BodyTooLarge(_) => "body_too_large",
        }
    }
}

/// Give `store` a fresh `budget` of own time and forget an earlier refused
/// growth, before guest code runs (also for guest code the host drives
/// itself, such as Wizer reading memories out).
pub fn arm(store: &mut Store<HostState>, budget: Duration) {
    store.data().clock.arm(budget);
    store.data_mut().limiter.hit = false;
    store.set_epoch_deadline(1);
}

/// Run `call` on `store` within `budget` of the guest's own time. Whatever
/// the guest does (runs, or waits in a host call), the call ends within its
/// budget when the link's limits are on; an overrun abandons it. A failure is
/// named: the deadline, the memory cap, or a trap.
pub async fn guarded<R>(
    store: &mut Store<HostState>,
    budget: Duration,
    call: impl AsyncFnOnce(&mut Store<HostState>) -> wasmtime::Result<R>,
) -> Result<R, LinkFailure> {
    arm(store, budget);
    let result = if store.data().link.limits {
        let clock = store.data().clock.clone();
        Bounded::new(clock, budget, call(store))
            .await
            .map_err(|Overrun| LinkFailure::Timeout(millis(budget)))?
    } else {
        call(store).await
    };
    result.map_err(|e| classify(e, store, budget))
}

/// What a failed call's error means.
fn classify(e: wasmtime::Error, store: &Store<HostState>, budget: Duration) -> LinkFailure {
    if e.downcast_ref::<DeadlineExceeded>().is_some() {
        LinkFailure::Timeout(millis(budget))
    } else if store.data().limiter.hit {
        LinkFailure::Memory(store.data().limiter.limit_mb())
    } else {
        LinkFailure::Trap(format!("{e:#}"))
    }
}

/// Whole milliseconds of `d`, for messages.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
