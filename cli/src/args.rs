//! The flag groups several commands share: how a chain loads ([`LoadArgs`],
//! `validate` and the serving commands) and how a server runs ([`Tuning`],
//! `serve`, `demo` and `dev`), so the same flag means the same everywhere.

use clap::Args;
use edgechain::engine::EngineSettings;
use edgechain::limits::{
    DEFAULT_MAX_HEADERS, DEFAULT_MAX_REQUEST_HEAD_BYTES, DEFAULT_MAX_RESPONSE_HEAD_BYTES,
    EscapedSlashPolicy, HeadLimits,
};
use edgechain::server::ServeOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a chain loads, shared by `validate` and the serving commands so both
/// accept the same chains.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// A directory modules may be loaded from by absolute path, for wasm
    /// delivered by an image or volume rather than the config mount
    /// (repeatable, or comma-separated in the environment).
    #[arg(
        long = "module-dir",
        env = "EDGECHAIN_MODULE_DIRS",
        value_delimiter = ','
    )]
    pub(crate) module_dirs: Vec<PathBuf>,
    /// Seconds a whole chain may take to load (compile and initialise every
    /// link); a slower load is rejected and the previous chain keeps serving.
    /// At least 1.
    #[arg(long, default_value_t = 120, env = "EDGECHAIN_LOAD_TIMEOUT_SECS")]
    load_timeout_secs: u64,
}

impl LoadArgs {
    /// The load timeout; 0 is refused rather than taken as some other
    /// value, since no chain loads in no time.
    pub(crate) fn load_timeout(&self) -> anyhow::Result<Duration> {
        if self.load_timeout_secs == 0 {
            anyhow::bail!(
                "--load-timeout-secs 0: a chain cannot load in no time; give at least 1 (seconds to compile and initialise every link)"
            );
        }
        Ok(Duration::from_secs(self.load_timeout_secs))
    }
}

/// How a server runs, shared by `serve`, `demo` and `dev`.
#[derive(Debug, Args)]
pub(crate) struct Tuning {
    /// Proxy workers (default: one per CPU core). Each is a thread with its
    /// own single-threaded runtime, listener (`SO_REUSEPORT`) and next-hop
    /// connections, as nginx's worker processes; with 1, everything runs on
    /// one thread.
    #[arg(long, env = "EDGECHAIN_WORKER_THREADS")]
    worker_threads: Option<usize>,
    /// Milliseconds allowed for the next hop's response headers (then 504).
    #[arg(long, default_value_t = 30_000, env = "EDGECHAIN_UPSTREAM_TIMEOUT_MS")]
    upstream_timeout_ms: u64,
    /// Most client connections served at once; more are answered 503 and closed.
    #[arg(long, default_value_t = 10_000, env = "EDGECHAIN_MAX_CONNECTIONS")]
    max_connections: usize,
    /// Milliseconds a client has to send a complete request head, counted
    /// from its first byte (then 408).
    #[arg(
        long,
        default_value_t = 10_000,
        env = "EDGECHAIN_HEADER_READ_TIMEOUT_MS"
    )]
    header_read_timeout_ms: u64,
    /// Seconds an idle keep-alive client connection is kept open.
    #[arg(long, default_value_t = 75, env = "EDGECHAIN_KEEPALIVE_TIMEOUT_SECS")]
    keepalive_timeout_secs: u64,
    /// Milliseconds a request body may pause between two pieces before the
    /// client gets 408.
    #[arg(long, default_value_t = 60_000, env = "EDGECHAIN_BODY_IDLE_TIMEOUT_MS")]
    body_idle_timeout_ms: u64,
    /// Most header fields in a request (more: 431) or in a message a plugin
    /// produces (more: the link fails).
    #[arg(long, default_value_t = DEFAULT_MAX_HEADERS, env = "EDGECHAIN_MAX_HEADERS",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    max_headers: usize,
    /// Most bytes of a request head, request line included (more: 431; a
    /// target over 64 KiB: 414); also bounds the requests plugins produce.
    #[arg(long, default_value_t = DEFAULT_MAX_REQUEST_HEAD_BYTES, env = "EDGECHAIN_MAX_REQUEST_HEAD_BYTES",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=1 << 20))]
    max_request_head_bytes: usize,
    /// Most bytes of a response head a plugin may produce.
    #[arg(long, default_value_t = DEFAULT_MAX_RESPONSE_HEAD_BYTES, env = "EDGECHAIN_MAX_RESPONSE_HEAD_BYTES",
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=1 << 20))]
    max_response_head_bytes: usize,
    /// What an encoded `/` (`%2F`) in a request path means: `reject` (400),
    /// `redirect` (308 to the decoded target), `decode` (to `/`, for plugins
    /// and the next hop alike) or `keep` (data; only for a next hop that does
    /// not decode it). See docs/security.md.
    #[arg(long, default_value = "reject", env = "EDGECHAIN_ESCAPED_SLASHES",
          value_parser = EscapedSlashPolicy::NAMES)]
    escaped_slashes: String,
    /// Most plugin instances alive at once (each in-flight request holds one
    /// per link); beyond it requests get 503.
    #[arg(long, default_value_t = 1000, env = "EDGECHAIN_MAX_INSTANCES")]
    max_instances: u32,
    /// Seconds between content-hash polls of the config directory (0: off).
    #[arg(long, default_value_t = 30, env = "EDGECHAIN_POLL_INTERVAL")]
    poll_interval: u64,
    /// Quiet milliseconds after a filesystem event before reloading.
    #[arg(long, default_value_t = 200, env = "EDGECHAIN_DEBOUNCE_MS")]
    debounce_ms: u64,
    /// Directory for wasmtime's on-disk compile cache, so a restart does not
    /// recompile unchanged plugins (default: $XDG_CACHE_HOME/edgechain or
    /// ~/.cache/edgechain; `off` to disable; an unwritable one is skipped
    /// with a warning).
    #[arg(long, env = "EDGECHAIN_COMPILE_CACHE")]
    compile_cache: Option<PathBuf>,
    /// Pre-initialise plugins at load (`init` runs once; fresh instances
    /// start from its snapshot): `on` or `off` (to compare, or to debug).
    #[arg(long, default_value = "on", env = "EDGECHAIN_PREINIT", value_parser = ["on", "off"])]
    preinit: String,
    /// Where the JSON access log goes: `stdout` or `off`.
    #[arg(long, default_value = "stdout", env = "EDGECHAIN_ACCESS_LOG", value_parser = ["stdout", "off"])]
    access_log: String,
    /// Who may `POST /reload` on the admin port: `loopback` (a sidecar, or
    /// `kubectl exec`) or `any` (everyone who reaches the port, which probes
    /// and metrics scrapers do).
    #[arg(long, default_value = "loopback", env = "EDGECHAIN_ADMIN_RELOAD_FROM", value_parser = ["loopback", "any"])]
    admin_reload_from: String,
    #[command(flatten)]
    load: LoadArgs,
    /// Seconds to let in-flight requests finish after SIGTERM before exiting.
    #[arg(long, default_value_t = 30, env = "EDGECHAIN_DRAIN_TIMEOUT_SECS")]
    drain_timeout_secs: u64,
    /// Diagnostic log filter (RUST_LOG syntax; RUST_LOG wins when set).
    #[arg(long, default_value = "info", env = "EDGECHAIN_LOG_LEVEL")]
    pub(crate) log_level: String,
}

impl Tuning {
    /// Set `opts` from the flags; fails on a flag value no server can use.
    pub(crate) fn apply(&self, opts: &mut ServeOptions) -> anyhow::Result<()> {
        opts.workers = self
            .worker_threads
            .filter(|n| *n > 0)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        opts.upstream_timeout = Duration::from_millis(self.upstream_timeout_ms);
        opts.max_connections = self.max_connections;
        opts.access_log = self.access_log == "stdout";
        opts.remote_reload = self.admin_reload_from == "any";
        opts.module_dirs = self.load.module_dirs.clone();
        opts.load_timeout = self.load.load_timeout()?;
        opts.head_limits = HeadLimits {
            max_headers: self.max_headers,
            max_request_head_bytes: self.max_request_head_bytes,
            max_response_head_bytes: self.max_response_head_bytes,
            escaped_slashes: EscapedSlashPolicy::from_name(&self.escaped_slashes)
                .unwrap_or_default(),
        };
        opts.drain_timeout = Duration::from_secs(self.drain_timeout_secs);
        opts.header_read_timeout = Duration::from_millis(self.header_read_timeout_ms);
        opts.keepalive_timeout = Duration::from_secs(self.keepalive_timeout_secs.max(1));
        opts.body_idle_timeout = Duration::from_millis(self.body_idle_timeout_ms.max(1));
        opts.engine = EngineSettings {
            max_instances: self.max_instances,
            compile_cache: compile_cache_dir(self.compile_cache.as_deref()),
            limits: true,
            preinit: self.preinit == "on",
        };
        opts.watch.debounce = Duration::from_millis(self.debounce_ms);
        opts.watch.poll_interval =
            (self.poll_interval > 0).then(|| Duration::from_secs(self.poll_interval));
        Ok(())
    }
}

/// The compile cache directory: the flag's, unless it is `off`; without the
/// flag, the user's cache directory when there is one.
pub(crate) fn compile_cache_dir(flag: Option<&Path>) -> Option<PathBuf> {
    match flag {
        Some(dir) if dir == Path::new("off") => None,
        Some(dir) => Some(dir.to_owned()),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|d| d.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("edgechain")),
    }
}
