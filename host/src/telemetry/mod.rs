//! Diagnostics: JSON lines on stderr (level, time, message, fields), as the
//! platform's log pipeline expects. Stdout is reserved for access logs (and,
//! in the authoring commands, their progress lines), through [`stdout`].

pub mod access;
pub mod metrics;
pub mod stdout;

use tracing_subscriber::EnvFilter;

/// Install the global JSON subscriber. `level` is a `RUST_LOG`-style filter
/// (`info`, `edgechain=debug,plugin=trace`…); `RUST_LOG` wins when set.
/// Calling it twice is harmless (the second call does nothing).
pub fn init(level: &str) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(true)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
