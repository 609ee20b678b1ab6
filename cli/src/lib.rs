//! The `edgechain` command line: `serve`, `validate`, `demo`, `dev`, `new` and
//! `build`.
//!
//! Kept in a library so the binary is one line and tests can run the exact
//! same code as a child process.

#![deny(missing_docs)]

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use edgechain::chain::load::ChainLoader;
use edgechain::engine::{EngineSettings, Runtime};
use edgechain::kv::KvStore;
use edgechain::limits::{
    DEFAULT_MAX_HEADERS, DEFAULT_MAX_REQUEST_HEAD_BYTES, DEFAULT_MAX_RESPONSE_HEAD_BYTES,
    EscapedSlashPolicy, HeadLimits,
};
use edgechain::server::{ServeOptions, Server};
use edgechain::telemetry::stdout::say;
use http::uri::Authority;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

mod advice;

/// An HTTP proxy that runs a chain of WebAssembly plugins in front of a next hop.
#[derive(Debug, Parser)]
#[command(name = "edgechain", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the chain in DIR in front of the next hop.
    Serve(ServeArgs),
    /// Check that DIR would load: exit 0 and print nothing, or exit 1 with the
    /// reasons on stderr (one JSON object per problem). Works offline.
    Validate {
        /// The config directory.
        #[arg(default_value = "/opt/proxy_config", env = "EDGECHAIN_CONFIG")]
        dir: PathBuf,
        #[command(flatten)]
        load: LoadArgs,
        /// Directory of the on-disk compile cache `serve` uses, so validating
        /// a chain compiles each component once for both (default:
        /// $XDG_CACHE_HOME/edgechain or ~/.cache/edgechain; `off` to disable).
        #[arg(long, env = "EDGECHAIN_COMPILE_CACHE")]
        compile_cache: Option<PathBuf>,
    },
    /// Serve the chain in DIR in front of a built-in echo origin, for trying
    /// plugins out.
    Demo(DemoArgs),
    /// Develop plugins: serve a chain, rebuild a plugin from source when it is
    /// saved, and hot-swap it in (the server keeps running).
    Dev(DevArgs),
    /// Create a plugin project (Rust, JavaScript, TypeScript or Python) that
    /// builds, loads and passes its tests as is.
    New {
        /// Plugin name (lower-case letters, digits, `-`).
        name: String,
        /// Directory to create (default: ./NAME).
        #[arg(long)]
        path: Option<PathBuf>,
        /// The SDK: guest-sdk/ of an edgechain checkout (default: the one
        /// above the new project).
        #[arg(long)]
        sdk: Option<PathBuf>,
        /// The plugin's language.
        #[arg(long, default_value = "rust",
              value_parser = clap::builder::PossibleValuesParser::new(edgechain_author::scaffold::NewLang::NAMES))]
        lang: String,
        /// An edge app instead of a plugin: a standard wasi:http component
        /// that answers requests as the last link of a chain, in place of
        /// the next hop (JavaScript, built with StarlingMonkey; with
        /// `--lang js`).
        #[arg(long)]
        app: bool,
    },
    /// Build the plugin project in DIR (a cargo crate, or a JavaScript/
    /// TypeScript or Python project) into a component the host loads; exit 1
    /// with the reason if it does not build or imports what the host lacks.
    Build(BuildArgs),
}

#[derive(Debug, Args)]
struct BuildArgs {
    /// The project directory (Cargo.toml, package.json or pyproject.toml).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Where to write the component (default: the module the project's own
    /// proxy_config/proxychain.json names, else DIR/NAME.wasm; for Rust,
    /// cargo's output under target/).
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    /// JavaScript engine: quickjs (default) or starlingmonkey.
    #[arg(long, value_parser = ["quickjs", "starlingmonkey"])]
    engine: Option<String>,
    /// The SDK for JS/TS and Python: guest-sdk/ of an edgechain checkout
    /// (default: the project's own reference, else the checkout above it).
    #[arg(long, env = "EDGECHAIN_SDK")]
    sdk: Option<PathBuf>,
    /// Cargo profile for Rust projects.
    #[arg(long, default_value = "release")]
    profile: String,
}

#[derive(Debug, Args)]
struct DevArgs {
    /// Config directory holding proxychain.json (default: ./proxy_config if
    /// present, else the workspace's examples/proxy_config).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A plugin project directory to build and watch (repeatable): a cargo
    /// crate, or a JavaScript/TypeScript (package.json) or Python
    /// (pyproject.toml) project. Crates of the cargo workspace around the
    /// current directory, or the JS/TS or Python project it is, are found
    /// by themselves.
    #[arg(long = "plugin")]
    plugins: Vec<PathBuf>,
    /// The SDK for JS/TS and Python projects: guest-sdk/ of an edgechain
    /// checkout (default: found as `edgechain build` finds it).
    #[arg(long, env = "EDGECHAIN_SDK")]
    sdk: Option<PathBuf>,
    /// HOST:PORT of the next hop (default: a built-in echo origin).
    #[arg(long)]
    next_hop: Option<Authority>,
    /// Address of the proxy listener.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address of the admin listener.
    #[arg(long, default_value = "127.0.0.1:9000")]
    admin: SocketAddr,
    /// Cargo profile plugins are built with.
    #[arg(long, default_value = "release")]
    profile: String,
    /// Quiet milliseconds after a source change before building.
    #[arg(long, default_value_t = 100)]
    build_debounce_ms: u64,
    #[command(flatten)]
    tuning: Tuning,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Config directory holding proxychain.json.
    #[arg(long, default_value = "/opt/proxy_config", env = "EDGECHAIN_CONFIG")]
    config: PathBuf,
    /// Address of the proxy listener.
    #[arg(long, default_value = "0.0.0.0:80", env = "EDGECHAIN_LISTEN")]
    listen: SocketAddr,
    /// HOST:PORT of the next hop.
    #[arg(long, default_value = "next-hop:80", env = "EDGECHAIN_NEXT_HOP")]
    next_hop: Authority,
    /// Address of the admin listener (health, readiness, reload).
    #[arg(long, default_value = "0.0.0.0:9000", env = "EDGECHAIN_ADMIN")]
    admin: SocketAddr,
    #[command(flatten)]
    tuning: Tuning,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Config directory holding proxychain.json (the default is where
    /// `cargo xtask demo` builds the example chain, in the checkout).
    #[arg(long, default_value = "target/demo/proxy_config")]
    config: PathBuf,
    /// Address of the proxy listener.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Address of the admin listener.
    #[arg(long, default_value = "127.0.0.1:9000")]
    admin: SocketAddr,
    #[command(flatten)]
    tuning: Tuning,
}

/// How a chain loads, shared by `validate` and the serving commands so both
/// accept the same chains.
#[derive(Debug, Args)]
struct LoadArgs {
    /// A directory modules may be loaded from by absolute path, for wasm
    /// delivered by an image or volume rather than the config mount
    /// (repeatable, or comma-separated in the environment).
    #[arg(
        long = "module-dir",
        env = "EDGECHAIN_MODULE_DIRS",
        value_delimiter = ','
    )]
    module_dirs: Vec<PathBuf>,
    /// Seconds a whole chain may take to load (compile and initialise every
    /// link); a slower load is rejected and the previous chain keeps serving.
    /// At least 1.
    #[arg(long, default_value_t = 120, env = "EDGECHAIN_LOAD_TIMEOUT_SECS")]
    load_timeout_secs: u64,
}

impl LoadArgs {
    /// The load timeout; 0 is refused rather than taken as some other
    /// value, since no chain loads in no time.
    fn load_timeout(&self) -> anyhow::Result<Duration> {
        if self.load_timeout_secs == 0 {
            anyhow::bail!(
                "--load-timeout-secs 0: a chain cannot load in no time; give at least 1 (seconds to compile and initialise every link)"
            );
        }
        Ok(Duration::from_secs(self.load_timeout_secs))
    }
}

#[derive(Debug, Args)]
struct Tuning {
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
    log_level: String,
}

impl Tuning {
    fn apply(&self, opts: &mut ServeOptions) -> anyhow::Result<()> {
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

/// Parse the command line and run it. The binary's whole `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every thread runs a single-threaded scheduler (no work stealing, no
    // cross-thread wakeups): this one does the control work (loading,
    // reloads, admin, signals) and, with one worker, serves too.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report_error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Validate {
                dir,
                load,
                compile_cache,
            } => {
                return validate(dir, load, compile_cache).await;
            }
            Command::Demo(args) => demo(args).await,
            Command::Dev(args) => dev(args).await,
            Command::New {
                name,
                path,
                sdk,
                lang,
                app,
            } => new_plugin(name, path, sdk, &lang, app),
            Command::Build(args) => return build_plugin(args).await,
        }
        .map(|()| ExitCode::SUCCESS)
    });
    // Access-log lines of the last (drained) requests are written before exit.
    edgechain::telemetry::stdout::flush();
    match result {
        Ok(code) => code,
        Err(e) => {
            report_error(&error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, each said once: the library's errors already
/// carry their cause in their message, which `{:#}` would repeat.
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

/// The compile cache directory: the flag's, unless it is `off`; without the
/// flag, the user's cache directory when there is one.
fn compile_cache_dir(flag: Option<&std::path::Path>) -> Option<PathBuf> {
    match flag {
        Some(dir) if dir == std::path::Path::new("off") => None,
        Some(dir) => Some(dir.to_owned()),
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|d| d.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .map(|d| d.join("edgechain")),
    }
}

/// One JSON line on stderr, usable before (or without) the log subscriber.
fn report_error(message: &str) {
    let line = serde_json::json!({ "level": "ERROR", "message": message });
    eprintln!("{line}");
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    edgechain::telemetry::init(&args.tuning.log_level);
    let mut opts = ServeOptions::new(args.config, args.listen, args.admin, args.next_hop);
    args.tuning.apply(&mut opts)?;
    run_until_signal(opts).await
}

async fn demo(args: DemoArgs) -> anyhow::Result<()> {
    edgechain::telemetry::init(&args.tuning.log_level);
    let next_hop = spawn_demo_origin().await?;
    let origin = next_hop.clone();
    let mut opts = ServeOptions::new(args.config, args.listen, args.admin, next_hop);
    args.tuning.apply(&mut opts)?;
    let config = opts.config_dir.clone();
    let listen = opts.listen;
    if !config.join("proxychain.json").exists() {
        anyhow::bail!(
            "no chain in {}: pass --config DIR, or run `cargo xtask demo` in the edgechain checkout (it builds the example chain there)",
            config.display()
        );
    }
    let server = Server::start(opts).await.context("cannot start")?;
    // Said once the chain serves (the default directory is the checkout's).
    say(format!("edgechain demo: chain from {}", config.display()));
    say(format!("  try: curl -si http://{listen}/"));
    say(format!("       curl -si http://{listen}/admin"));
    say(format!(
        "  demo origin (echoes what reached it): http://{origin}"
    ));
    serve_until_signal(server).await
}

/// Start the demo origin on a free loopback port; its address as a next hop.
async fn spawn_demo_origin() -> anyhow::Result<Authority> {
    let origin = edgechain::demo_origin::spawn(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .context("cannot start the demo origin")?;
    origin
        .to_string()
        .parse()
        .context("demo origin address is not an authority")
}

async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let config = match args.config {
        Some(dir) => dir,
        None => default_dev_config()?,
    };
    let stage_dir = std::env::temp_dir().join(format!("edgechain-dev-{}", std::process::id()));
    // The server's diagnostics are about the staged copy it serves: they
    // name the user's directory instead.
    let terms = edgechain_author::dev::stage::UserTerms::new(
        std::fs::canonicalize(&config).unwrap_or_else(|_| config.clone()),
        stage_dir.clone(),
    );
    edgechain::telemetry::init_with_writer(&args.tuning.log_level, move || {
        terms.writer(std::io::stderr())
    });
    let next_hop = match args.next_hop {
        Some(hop) => hop,
        None => spawn_demo_origin().await?,
    };
    let mut serve = ServeOptions::new(config, args.listen, args.admin, next_hop);
    args.tuning.apply(&mut serve)?;
    let opts = edgechain_author::dev::DevOptions {
        serve,
        plugin_dirs: args.plugins,
        workspace: true,
        sdk: args.sdk,
        profile: args.profile,
        debounce: Duration::from_millis(args.build_debounce_ms),
        stage_dir,
    };
    edgechain_author::dev::run(opts, async {
        if let Err(e) = shutdown_signal().await {
            tracing::error!(error = %e, "cannot wait for signals; stopping");
        }
    })
    .await
    .context("edgechain dev")
}

/// `./proxy_config` if it has a manifest, else the example chain of the
/// edgechain workspace around the current directory.
fn default_dev_config() -> anyhow::Result<PathBuf> {
    let here = std::env::current_dir().context("cannot read the current directory")?;
    let local = here.join("proxy_config");
    if local.join(edgechain::config::MANIFEST_FILE).is_file() {
        return Ok(local);
    }
    here.ancestors()
        .map(|dir| dir.join("examples/proxy_config"))
        .find(|dir| dir.join(edgechain::config::MANIFEST_FILE).is_file())
        .context("no chain to serve: pass --config DIR (or run where ./proxy_config/proxychain.json exists)")
}

fn new_plugin(
    name: String,
    path: Option<PathBuf>,
    sdk: Option<PathBuf>,
    lang: &str,
    app: bool,
) -> anyhow::Result<()> {
    use edgechain_author::scaffold::NewLang;
    let lang = NewLang::parse(lang).context("unknown --lang")?;
    let created = edgechain_author::scaffold::create(&edgechain_author::scaffold::NewOptions {
        name,
        path,
        sdk,
        lang,
        app,
    })?;
    let dir = created.dir.display();
    let dev = "edgechain dev --plugin . --config proxy_config  # serve it, rebuild on save";
    if app {
        say(format!("created JavaScript edge app (wasi:http) {dir}"));
        say(format!("  cd {dir}"));
        say("  npm install && npm test                      # the handler under Node");
        say(
            "  edgechain build                              # proxy_config/<name>.wasm (StarlingMonkey; installs it once, ~390 MB)",
        );
        say(format!("  {dev}"));
        return Ok(());
    }
    match lang {
        NewLang::Rust => {
            say(format!("created plugin crate {dir}"));
            if created.workspace_member {
                say("  (a member of this workspace: `cargo xtask plugins` builds it too)");
            }
            say(format!("  cd {dir}"));
            say("  cargo test                                   # unit tests, natively");
            say(format!("  {dev}"));
        }
        NewLang::Js | NewLang::Ts => {
            say(format!("created {} plugin project {dir}", lang.describe()));
            say(format!("  cd {dir}"));
            say("  npm install && npm test                      # unit tests under Node");
            say("  edgechain build                              # proxy_config/<name>.wasm");
            say(format!("  {dev}"));
        }
        NewLang::Python => {
            let python = created
                .sdk
                .as_ref()
                .map(|s| s.join(".venv/bin/python").display().to_string())
                .unwrap_or_else(|| "python3".into());
            say(format!("created Python plugin project {dir}"));
            say(format!("  cd {dir}"));
            say(
                "  edgechain build                              # installs the toolchain once; proxy_config/<name>.wasm",
            );
            say(format!("  {python} -m pytest   # unit tests under CPython"));
            say(format!("  {dev}"));
        }
    }
    Ok(())
}

/// `edgechain build`: plain-text errors (an author reads them), exit 1.
async fn build_plugin(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let opts = edgechain_author::build::BuildOptions {
        dir: args.dir,
        out: args.out,
        engine: args.engine,
        sdk: args.sdk,
        profile: args.profile,
    };
    let progress = |line: &str| eprintln!("edgechain build: {line}");
    match edgechain_author::build::build(&opts, &progress).await {
        Ok(built) => {
            let out = std::env::current_dir()
                .ok()
                .and_then(|cwd| built.out.strip_prefix(cwd).ok().map(PathBuf::from))
                .unwrap_or_else(|| built.out.clone());
            println!(
                "built {} ({}): {} ({:.2} MiB, {}) in {:.1} s",
                built.name,
                built.lang,
                out.display(),
                built.bytes as f64 / 1_048_576.0,
                built.detail,
                built.elapsed.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("edgechain build: error: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn run_until_signal(opts: ServeOptions) -> anyhow::Result<()> {
    // The admin port answers probes from here on, however long the load.
    let starting = Server::begin(opts).await.context("cannot start")?;
    let server = tokio::select! {
        started = starting.serve() => started.context("cannot start")?,
        signal = shutdown_signal() => {
            signal?;
            tracing::info!("stopped before the first chain loaded");
            return Ok(());
        }
    };
    serve_until_signal(server).await
}

async fn serve_until_signal(server: Server) -> anyhow::Result<()> {
    wait_for_shutdown(&server).await?;
    tracing::info!("shutting down: draining in-flight requests");
    server.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_shutdown(server: &Server) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot install SIGHUP handler")?;
    loop {
        tokio::select! {
            _ = term.recv() => return Ok(()),
            _ = int.recv() => return Ok(()),
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading");
                server.reloader().reload(edgechain::reload::Trigger::Signal).await;
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_shutdown(_server: &Server) -> anyhow::Result<()> {
    shutdown_signal().await
}

/// SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")
    }
}

async fn validate(
    dir: PathBuf,
    load: LoadArgs,
    compile_cache: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    // A small pool: validation instantiates each plugin once. The compile
    // cache is `serve`'s, so a chain validated before it is served (or a
    // second validation) compiles nothing again.
    let settings = EngineSettings {
        max_instances: 16,
        compile_cache: compile_cache_dir(compile_cache.as_deref()),
        ..EngineSettings::default()
    };
    let runtime = Runtime::new(settings).context("cannot create the wasm engine")?;
    let metrics = edgechain::telemetry::metrics::Metrics::new();
    let loader = ChainLoader::new(runtime, KvStore::default(), metrics.plugins.clone())
        .with_module_dirs(load.module_dirs.clone())
        .with_load_timeout(load.load_timeout()?);
    match loader.load(&dir).await {
        Ok(_) => {
            for warning in advice::instance_mode_warnings(&dir, &load.module_dirs) {
                eprintln!("{warning}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            for message in e.messages() {
                report_error(&message);
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_chain_says_each_cause_once() {
        let syntax = edgechain::config::Manifest::parse(std::path::Path::new("m.json"), b"{", &[])
            .err()
            .map(anyhow::Error::new)
            .unwrap_or_else(|| anyhow::anyhow!("accepted"))
            .context("cannot start");
        let text = error_chain(&syntax);
        assert!(text.starts_with("cannot start: m.json: EOF"), "{text}");
        assert_eq!(text.matches("EOF").count(), 1, "{text}");
        let io = anyhow::Error::new(std::io::Error::other("refused")).context("cannot connect");
        assert_eq!(error_chain(&io), "cannot connect: refused");
    }
}
