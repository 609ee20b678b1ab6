//! Listeners and the server's lifetime: open the admin port first (probes
//! are answered while the chain loads), load the chain, bind the proxy port,
//! accept connections under a cap, and drain in-flight requests (and
//! upgraded tunnels) on shutdown while the admin port still answers.

mod accept;
mod workers;

use crate::admin::Admin;
use crate::chain::ChainSnapshot;
use crate::chain::SharedChain;
use crate::chain::load::{ChainLoader, LoadError};
use crate::conn::{self, ConnInfo};
use crate::engine::{EngineError, EngineSettings, Runtime};
use crate::kv::KvStore;
use crate::limits::HeadLimits;
use crate::proxy::completion::Observer;
use crate::reload::Reloader;
use crate::reload::watch::{Watch, WatchSettings};
use crate::telemetry::access::AccessLog;
use crate::telemetry::metrics::Metrics;
use crate::upstream::UpstreamSettings;
use accept::{ConnLimits, LISTEN_BACKLOG, accept_loop};
use arc_swap::ArcSwap;
use http::uri::Authority;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Everything `edgechain serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The config directory holding `proxychain.json`.
    pub config_dir: PathBuf,
    /// Proxy listen address.
    pub listen: SocketAddr,
    /// Admin listen address.
    pub admin: SocketAddr,
    /// Next hop.
    pub next_hop: Authority,
    /// Time allowed for the next hop's response headers.
    pub upstream_timeout: Duration,
    /// Most client connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// Time a client has to send a complete request head, from its first
    /// byte.
    pub header_read_timeout: Duration,
    /// Time an idle keep-alive connection is kept open.
    pub keepalive_timeout: Duration,
    /// Longest pause between two pieces of a request body (then 408).
    pub body_idle_timeout: Duration,
    /// Engine sizing.
    pub engine: EngineSettings,
    /// Longest time shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// Automatic reload triggers.
    pub watch: WatchSettings,
    /// Write the JSON access log to stdout.
    pub access_log: bool,
    /// Directories outside the config directory that modules may be loaded
    /// from by absolute path (wasm delivered by an image or a volume).
    pub module_dirs: Vec<PathBuf>,
    /// Head size and header count accepted from clients and plugins.
    pub head_limits: HeadLimits,
    /// Longest time one chain may take to load.
    pub load_timeout: Duration,
    /// Proxy workers. One serves on the caller's runtime; more each get a
    /// thread with their own single-threaded runtime, `SO_REUSEPORT`
    /// listener and next-hop connections, sharing nothing on the request
    /// path (nginx's model).
    pub workers: usize,
    /// Accept `POST /reload` from any peer, not only loopback.
    pub remote_reload: bool,
}

impl ServeOptions {
    /// Defaults for everything but the directory and addresses.
    pub fn new(
        config_dir: PathBuf,
        listen: SocketAddr,
        admin: SocketAddr,
        next_hop: Authority,
    ) -> Self {
        ServeOptions {
            config_dir,
            listen,
            admin,
            next_hop,
            upstream_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            header_read_timeout: Duration::from_secs(10),
            keepalive_timeout: conn::DEFAULT_KEEPALIVE_TIMEOUT,
            body_idle_timeout: crate::client_body::DEFAULT_BODY_IDLE_TIMEOUT,
            engine: EngineSettings::default(),
            drain_timeout: Duration::from_secs(30),
            watch: WatchSettings::default(),
            access_log: true,
            module_dirs: Vec::new(),
            head_limits: HeadLimits::default(),
            load_timeout: crate::chain::load::DEFAULT_LOAD_TIMEOUT,
            workers: 1,
            remote_reload: false,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The wasm engine could not be created.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The initial chain did not load.
    #[error("cannot load the chain: {0}")]
    Load(#[from] LoadError),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A server whose admin port is open (liveness 200, readiness 503) while
/// its first chain has yet to load: what [`Server::begin`] returns, so an
/// orchestrator's probes are answered however long the load takes.
pub struct Starting {
    opts: ServeOptions,
    metrics: Arc<Metrics>,
    reloader: Arc<Reloader>,
    chain: SharedChain,
    watch: Watch,
    admin: Arc<Admin>,
    admin_addr: SocketAddr,
    admin_stop: tokio::sync::watch::Sender<bool>,
    admin_task: JoinHandle<()>,
}

/// A running server. Dropping it does not stop it; call [`Server::shutdown`].
pub struct Server {
    proxy_addr: SocketAddr,
    admin_addr: SocketAddr,
    reloader: Arc<Reloader>,
    chain: SharedChain,
    metrics: Arc<Metrics>,
    admin: Arc<Admin>,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    admin_stop: tokio::sync::watch::Sender<bool>,
    admin_task: JoinHandle<()>,
}

/// Longest time the admin port waits for its own requests (a probe, a
/// scrape, a reload) once the proxy has drained.
const ADMIN_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

impl Server {
    /// Open the admin port, load the chain, bind the proxy port and start
    /// serving in the background ([`Server::begin`] then
    /// [`Starting::serve`]).
    pub async fn start(opts: ServeOptions) -> Result<Server, StartError> {
        Server::begin(opts).await?.serve().await
    }

    /// Open the admin port, before anything is loaded: `/healthz` answers
    /// 200 and `/readyz` 503 from here on, so a slow first load (up to the
    /// load timeout) is not mistaken for a dead process.
    pub async fn begin(opts: ServeOptions) -> Result<Starting, StartError> {
        let runtime = Runtime::new(opts.engine.clone())?;
        let metrics = Arc::new(Metrics::new());
        let loader = ChainLoader::new(runtime, KvStore::default(), metrics.plugins.clone())
            .with_module_dirs(opts.module_dirs.clone())
            .with_load_timeout(opts.load_timeout)
            .with_head_limits(opts.head_limits)
            .with_instance_bound(opts.engine.max_instances.max(1))
            .with_cache_metrics(metrics.cache.clone());
        let chain: SharedChain = Arc::new(ArcSwap::from_pointee(ChainSnapshot::empty()));
        let reloader = Arc::new(Reloader::new(
            loader,
            opts.config_dir.clone(),
            chain.clone(),
            metrics.reload.clone(),
        ));
        // Subscribe to changes before the first load, so none is missed.
        let watch = Watch::new(reloader.clone(), opts.watch);

        let bind_error = |addr| move |source| StartError::Bind { addr, source };
        let admin_listener = TcpListener::bind(opts.admin)
            .await
            .map_err(bind_error(opts.admin))?;
        let admin_addr = admin_listener
            .local_addr()
            .map_err(bind_error(opts.admin))?;
        let admin = Arc::new(Admin::new(
            reloader.clone(),
            metrics.clone(),
            opts.remote_reload,
        ));
        let (admin_stop, admin_stopped) = tokio::sync::watch::channel(false);
        let admin_limits = ConnLimits {
            slots: Arc::new(Semaphore::new(opts.max_connections.max(1))),
            header_read_timeout: opts.header_read_timeout,
            keepalive_timeout: opts.keepalive_timeout,
            drain_timeout: ADMIN_DRAIN_TIMEOUT,
            head: opts.head_limits,
        };
        let handler = admin.clone();
        let admin_task = tokio::spawn(accept_loop(
            admin_listener,
            admin_limits,
            admin_stopped,
            None,
            move |req, conn: ConnInfo| {
                let admin = handler.clone();
                async move {
                    let resp = admin.handle(req, conn.peer).await;
                    conn.watch.idle();
                    resp
                }
            },
        ));
        tracing::info!(
            admin = %admin_addr,
            config = %opts.config_dir.display(),
            "admin port open; loading the chain"
        );
        Ok(Starting {
            opts,
            metrics,
            reloader,
            chain,
            watch,
            admin,
            admin_addr,
            admin_stop,
            admin_task,
        })
    }
}

impl Starting {
    /// The bound admin address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Load the chain, then bind the proxy port and serve; readiness turns
    /// 200 once the proxy accepts. The proxy port is bound only then: a
    /// connection accepted earlier would have been forwarded through no
    /// chain at all. On failure the admin port is closed again.
    pub async fn serve(self) -> Result<Server, StartError> {
        let Starting {
            opts,
            metrics,
            reloader,
            chain,
            watch,
            admin,
            admin_addr,
            admin_stop,
            admin_task,
        } = self;
        let loading = std::time::Instant::now();
        let started = async {
            reloader.load_initial().await?;
            let load_ms = loading.elapsed().as_secs_f64() * 1e3;
            let listening = listen(&opts, &chain, &metrics)?;
            Ok::<_, StartError>((load_ms, listening))
        }
        .await;
        let (load_ms, (proxy_addr, stop, proxy_tasks, threads)) = match started {
            Ok(up) => up,
            Err(e) => {
                let _ = admin_stop.send(true);
                let _ = admin_task.await;
                return Err(e);
            }
        };
        admin.set_ready();
        let watch_task = tokio::spawn(watch.run(stop.subscribe()));
        tracing::info!(
            listen = %proxy_addr,
            admin = %admin_addr,
            next_hop = %opts.next_hop,
            config = %opts.config_dir.display(),
            links = chain.load().link_count(),
            hash = %chain.load().hash(),
            workers = opts.workers.max(1),
            load_ms,
            "serving"
        );
        let mut tasks = proxy_tasks;
        tasks.push(watch_task);
        Ok(Server {
            proxy_addr,
            admin_addr,
            reloader,
            chain,
            metrics,
            admin,
            stop,
            tasks,
            threads,
            admin_stop,
            admin_task,
        })
    }
}

/// What [`listen`] starts: the proxy's address, the sender that stops it,
/// and the tasks and threads serving it.
type Listening = (
    SocketAddr,
    tokio::sync::watch::Sender<bool>,
    Vec<JoinHandle<()>>,
    Vec<std::thread::JoinHandle<()>>,
);

/// Bind the proxy port and start its workers over `chain`.
fn listen(
    opts: &ServeOptions,
    chain: &SharedChain,
    metrics: &Arc<Metrics>,
) -> Result<Listening, StartError> {
    let bind_error = |addr| move |source| StartError::Bind { addr, source };
    let workers = opts.workers.max(1);
    let (proxy_sockets, proxy_addr) =
        workers::bind(opts.listen, workers).map_err(bind_error(opts.listen))?;
    let mut upstream = UpstreamSettings::new(opts.next_hop.clone());
    upstream.timeout = opts.upstream_timeout;
    upstream.max_response_head_bytes = opts.head_limits.max_response_head_bytes;
    upstream.max_response_headers = opts.head_limits.max_headers;
    let access = if opts.access_log {
        AccessLog::stdout(metrics.requests.access_log_dropped.clone()).map_err(|source| {
            StartError::Bind {
                addr: opts.listen,
                source,
            }
        })?
    } else {
        AccessLog::disabled()
    };
    let observer = Observer {
        access,
        metrics: metrics.requests.clone(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let limits = ConnLimits {
        slots: Arc::new(Semaphore::new(opts.max_connections.max(1))),
        header_read_timeout: opts.header_read_timeout,
        keepalive_timeout: opts.keepalive_timeout,
        drain_timeout: opts.drain_timeout,
        head: opts.head_limits,
    };
    let serving = workers::Serving {
        chain: chain.clone(),
        upstream,
        observer,
        body_idle_timeout: opts.body_idle_timeout,
        limits,
        stop: stopped,
    };
    let mut tasks = Vec::new();
    let mut threads = Vec::new();
    if workers == 1 {
        // One worker: the proxy runs on this runtime, beside the rest.
        for socket in proxy_sockets {
            let listener = socket.listen(LISTEN_BACKLOG).map_err(|e| {
                let _ = stop.send(true);
                bind_error(opts.listen)(e)
            })?;
            tasks.push(tokio::spawn(serving.clone().run(listener)));
        }
    } else {
        for (i, socket) in proxy_sockets.into_iter().enumerate() {
            match serving.clone().spawn_thread(i, socket) {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    // Stop the workers already started.
                    let _ = stop.send(true);
                    return Err(StartError::Bind {
                        addr: opts.listen,
                        source: e,
                    });
                }
            }
        }
    }
    Ok((proxy_addr, stop, tasks, threads))
}

impl Server {
    /// The bound proxy address.
    pub fn proxy_addr(&self) -> SocketAddr {
        self.proxy_addr
    }

    /// The bound admin address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The reloader (for signal handlers and watchers).
    pub fn reloader(&self) -> &Arc<Reloader> {
        &self.reloader
    }

    /// The process's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The live chain.
    pub fn chain(&self) -> Arc<ChainSnapshot> {
        self.chain.load_full()
    }

    /// Stop accepting, let in-flight requests finish (up to the drain
    /// timeout; what is left then is cut off), then return. Readiness turns
    /// 503 at once, so the orchestrator stops sending traffic; liveness and
    /// the rest of the admin port stay up until the proxy has drained.
    pub async fn shutdown(self) {
        self.admin.set_draining();
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        let _ = self.admin_stop.send(true);
        let _ = self.admin_task.await;
    }
}
