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
    init_with_writer(level, std::io::stderr);
}

/// [`init`], writing each JSON line (one `write` call per line) to what
/// `make` returns instead of stderr: `edgechain dev` uses it to name the
/// user's files rather than the copy it serves.
pub fn init_with_writer<W: std::io::Write + 'static>(
    level: &str,
    make: impl Fn() -> W + Send + Sync + 'static,
) {
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
        .with_writer(make)
        .try_init();
}
