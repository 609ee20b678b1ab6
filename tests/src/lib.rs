//! Test harness: real plugins built from the workspace, a real origin server
//! that records what reaches it, the real host started on `127.0.0.1:0`, and a
//! client with bounded waits.

use bytes::Bytes;
use edgechain::server::{ServeOptions, Server};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// Longest any single test wait may take before it fails with a message.
pub const WAIT: Duration = Duration::from_secs(20);

/// The built component of workspace plugin `name` (crate name, e.g. `add-headers`).
pub fn plugin_wasm(name: &str) -> PathBuf {
    let path = Path::new(env!("EDGECHAIN_TEST_PLUGIN_DIR"))
        .join(format!("{}.wasm", name.replace('-', "_")));
    assert!(
        path.is_file(),
        "plugin {name} was not built: {} is missing",
        path.display()
    );
    path
}

/// A temporary config directory.
pub struct ConfigDir {
    dir: tempfile::TempDir,
}

impl Default for ConfigDir {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigDir {
    /// An empty directory.
    pub fn new() -> Self {
        ConfigDir {
            dir: tempfile::tempdir().expect("create temp dir"),
        }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Copy plugin `name`'s wasm in as `<name>.wasm`.
    pub fn add_plugin(&self, name: &str) -> &Self {
        let dest = self.path().join(format!("{name}.wasm"));
        std::fs::copy(plugin_wasm(name), &dest).expect("copy plugin");
        self
    }

    /// Write `contents` to `rel`, creating parent directories.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Self {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dirs");
        }
        std::fs::write(path, contents).expect("write file");
        self
    }

    /// Write `proxychain.json`.
    pub fn manifest(&self, json: serde_json::Value) -> &Self {
        self.write("proxychain.json", json.to_string())
    }
}

/// One request as the origin received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// How the origin answers.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// 200 with `x-origin: yes`, `x-origin-body-sha256`/`-len` describing the
    /// body it received, `x-upstream-version` echoing the request's
    /// `x-version`, and body `hello from origin\n`; `/bytes/N` answers N bytes
    /// instead.
    Echo,
    /// Never answer (holds the connection), for timeout tests.
    Hang,
    /// Answer like `Echo`, after a delay.
    Slow(Duration),
}

/// A real HTTP/1.1 origin on `127.0.0.1:0` that records what reaches it.
pub struct Origin {
    /// Its address.
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Origin {
    /// Start an origin.
    pub async fn start(behaviour: Behaviour) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind origin");
        let addr = listener.local_addr().expect("origin addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (seen2, conns2) = (seen.clone(), connections.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                conns2.fetch_add(1, Ordering::SeqCst);
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| answer(req, seen.clone(), behaviour));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Origin {
            addr,
            seen,
            connections,
            task,
        }
    }

    /// Requests received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("origin log").clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn answer(
    req: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
    behaviour: Behaviour,
) -> Result<http::Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let version = parts.headers.get("x-version").cloned();
    seen.lock().expect("origin log").push(Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        headers: parts.headers,
        body: body.clone(),
    });
    match behaviour {
        Behaviour::Hang => std::future::pending::<()>().await,
        Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
        Behaviour::Echo => {}
    }
    let out = match path
        .strip_prefix("/bytes/")
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(n) => Bytes::from((0..n).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>()),
        None => Bytes::from_static(b"hello from origin\n"),
    };
    let mut resp = http::Response::builder();
    if let Some(v) = version {
        resp = resp.header("x-upstream-version", v);
    }
    let resp = resp
        .header("x-origin", "yes")
        .header("x-origin-body-len", body.len())
        .header("x-origin-body-sha256", sha256_hex(&body))
        .header("connection", "keep-alive")
        .body(Full::new(out))
        .expect("origin response");
    Ok(resp)
}

/// An HTTP/1.1 server on `127.0.0.1:0` that holds every request until the
/// test opens it, then answers 200 `released`: for holding a plugin's `init`
/// or an in-flight request exactly as long as a test needs, without timing.
pub struct Gate {
    /// Its address.
    pub addr: SocketAddr,
    open: tokio::sync::watch::Sender<bool>,
    arrived: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Gate {
    /// A closed gate.
    pub async fn start() -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind gate");
        let addr = listener.local_addr().expect("gate addr");
        let (open, opened) = tokio::sync::watch::channel(false);
        let arrived = Arc::new(AtomicUsize::new(0));
        let counter = arrived.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (opened, counter) = (opened.clone(), counter.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |_req: Request<Incoming>| {
                        let (mut opened, counter) = (opened.clone(), counter.clone());
                        async move {
                            counter.fetch_add(1, Ordering::SeqCst);
                            let _ = opened.wait_for(|open| *open).await;
                            Ok::<_, hyper::Error>(http::Response::new(Full::new(
                                Bytes::from_static(b"released\n"),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Gate {
            addr,
            open,
            arrived,
            task,
        }
    }

    /// Requests that have arrived (held or answered).
    pub fn arrived(&self) -> usize {
        self.arrived.load(Ordering::SeqCst)
    }

    /// Wait (bounded by [`WAIT`]) until `n` requests have arrived.
    pub async fn wait_arrived(&self, n: usize, what: &str) {
        wait_for(what, || async { (self.arrived() >= n).then_some(()) }).await;
    }

    /// Answer every held request, and every later one at once.
    pub fn release(&self) {
        let _ = self.open.send(true);
    }
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An address where nothing listens.
pub async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}

/// Serve options for a test host: loopback ports, next hop `next_hop`.
pub fn options(dir: &Path, next_hop: SocketAddr) -> ServeOptions {
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut opts = ServeOptions::new(
        dir.to_owned(),
        any,
        any,
        next_hop.to_string().parse().expect("authority"),
    );
    opts.engine.max_instances = 64;
    // In-process hosts would write into the test runner's stdout.
    opts.access_log = false;
    opts
}

/// Start the real host. Set `EDGECHAIN_TEST_LOG=debug` (a log filter) to see
/// its diagnostics while debugging a test.
pub async fn start_host(opts: ServeOptions) -> Server {
    if let Ok(filter) = std::env::var("EDGECHAIN_TEST_LOG") {
        edgechain::telemetry::init(&filter);
    }
    match tokio::time::timeout(WAIT, Server::start(opts)).await {
        Ok(Ok(server)) => server,
        Ok(Err(e)) => panic!("host did not start: {e}"),
        Err(_) => panic!("host did not start within {WAIT:?}"),
    }
}

/// A response, fully read.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Reply {
    /// Header `name` as text, or "" if absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive HTTP client.
#[derive(Clone)]
pub struct TestClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Default for TestClient {
    fn default() -> Self {
        Self::new()
    }
}

impl TestClient {
    /// A new client with its own connection pool.
    pub fn new() -> Self {
        TestClient {
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    /// Send `req` to `addr` and read the whole response, failing the test after
    /// [`WAIT`] or on a transport error.
    pub async fn send(&self, addr: SocketAddr, req: Request<Full<Bytes>>) -> Reply {
        match self.try_send(addr, req).await {
            Ok(reply) => reply,
            Err(e) => panic!("request failed: {e}"),
        }
    }

    /// Like [`TestClient::send`], but a transport error is returned.
    pub async fn try_send(
        &self,
        addr: SocketAddr,
        req: Request<Full<Bytes>>,
    ) -> Result<Reply, String> {
        let (mut parts, body) = req.into_parts();
        let pq = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        parts.uri = format!("http://{addr}{pq}").parse().expect("uri");
        let fut = async {
            let resp = self
                .client
                .request(Request::from_parts(parts, body))
                .await
                .map_err(|e| format!("{e:?}"))?;
            let (parts, body) = resp.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| format!("{e:?}"))?
                .to_bytes();
            Ok(Reply {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(WAIT, fut)
            .await
            .unwrap_or_else(|_| panic!("no response within {WAIT:?}"))
    }

    /// GET `path`.
    pub async fn get(&self, addr: SocketAddr, path: &str) -> Reply {
        self.send(
            addr,
            Request::get(path).body(Full::default()).expect("request"),
        )
        .await
    }
}

/// Poll `check` every 10 ms until it returns `Some`, failing the test with
/// `what` after [`WAIT`]. Returns the value and how long it took.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return (v, started.elapsed());
        }
        assert!(
            started.elapsed() < WAIT,
            "timed out after {WAIT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `POST /reload` on the admin port; the JSON report.
pub async fn post_reload(client: &TestClient, admin: SocketAddr) -> serde_json::Value {
    let reply = client
        .send(
            admin,
            Request::post("/reload")
                .body(Full::default())
                .expect("request"),
        )
        .await;
    serde_json::from_slice(&reply.body).expect("reload report is JSON")
}

/// The value of metric sample `name` (exact series, e.g. `x_total`) from
/// `GET /metrics`, or `None` if absent.
pub async fn metric(client: &TestClient, admin: SocketAddr, name: &str) -> Option<f64> {
    let reply = client.get(admin, "/metrics").await;
    reply
        .text()
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// How [`HostProcess::spawn_command`] starts a command.
#[derive(Debug, Clone, Copy)]
pub struct Launch<'a> {
    /// `--next-hop`; `None` keeps the command's own (dev/demo: an echo origin).
    pub next_hop: Option<SocketAddr>,
    /// Extra environment variables.
    pub env: &'a [(&'a str, &'a str)],
    /// Working directory (default: the test's).
    pub cwd: Option<&'a Path>,
    /// Longest wait for the command to serve.
    pub start_within: Duration,
}

impl Default for Launch<'_> {
    fn default() -> Self {
        Launch {
            next_hop: None,
            env: &[],
            cwd: None,
            start_within: WAIT,
        }
    }
}

/// The real `edgechain serve` as a child process, for tests that need its
/// logs, its exit or its memory use. Killed on drop.
pub struct HostProcess {
    child: std::process::Child,
    /// Proxy address (`0.0.0.0:0` until it serves, see
    /// [`HostProcess::spawn_starting`]).
    pub proxy: SocketAddr,
    /// Admin address.
    pub admin: SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
    stdout: Arc<Mutex<Vec<String>>>,
    /// The start-up lines ("admin port open", "serving") as they come.
    milestones: std::sync::mpsc::Receiver<String>,
}

/// The log message of the line saying the admin port is open.
const ADMIN_OPEN: &str = "\"message\":\"admin port open; loading the chain\"";
/// The log message of the line saying the proxy serves.
const SERVING: &str = "\"message\":\"serving\"";

/// Collect a child's output lines on a thread; `on_line` sees each first.
fn collect_lines(
    pipe: impl std::io::Read + Send + 'static,
    lines: Arc<Mutex<Vec<String>>>,
    on_line: impl Fn(&str) + Send + 'static,
) {
    use std::io::BufRead;
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            on_line(&line);
            lines.lock().expect("output lines").push(line);
        }
    });
}

impl HostProcess {
    /// Start `bin serve --config dir --next-hop next_hop` on loopback ports
    /// chosen by the OS, plus `extra` arguments and environment `env`.
    pub fn spawn(
        bin: &str,
        dir: &Path,
        next_hop: SocketAddr,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> HostProcess {
        let mut args: Vec<std::ffi::OsString> = vec!["serve".into(), "--config".into()];
        args.push(dir.into());
        args.extend(extra.iter().map(Into::into));
        Self::spawn_command(
            bin,
            "serve",
            &args,
            Launch {
                next_hop: Some(next_hop),
                env,
                ..Launch::default()
            },
        )
    }

    /// Start `bin serve --config dir --next-hop next_hop` plus `extra`, and
    /// return as soon as its admin port is open, before its chain has
    /// loaded: [`HostProcess::proxy`] is unknown until
    /// [`HostProcess::wait_serving`].
    pub fn spawn_starting(
        bin: &str,
        dir: &Path,
        next_hop: SocketAddr,
        extra: &[&str],
    ) -> HostProcess {
        let mut args: Vec<std::ffi::OsString> = vec!["serve".into(), "--config".into()];
        args.push(dir.into());
        args.extend(extra.iter().map(Into::into));
        let mut host = Self::launch(
            bin,
            &args,
            Launch {
                next_hop: Some(next_hop),
                ..Launch::default()
            },
        );
        let line = host.milestone("serve", ADMIN_OPEN, WAIT);
        host.admin = address(&line, "admin");
        host
    }

    /// Wait for the host to serve (its first chain loaded, the proxy port
    /// bound), failing the test after `within`; fills in [`HostProcess::proxy`].
    pub fn wait_serving(&mut self, within: Duration) {
        let line = self.milestone("serve", SERVING, within);
        self.proxy = address(&line, "listen");
    }

    /// The next start-up line containing `message`, failing the test (with
    /// the output so far) if none comes within `within`.
    fn milestone(&mut self, what: &str, message: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.milestones.recv_timeout(left) {
                Ok(line) if line.contains(message) => return line,
                Ok(_) => {}
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "edgechain {what}: no {message} line within {within:?}; stdout: {:?}; stderr: {:?}",
                        self.stdout(),
                        self.logs()
                    );
                }
            }
        }
    }

    /// Start `bin` with `args` (a command that serves, e.g. `serve` or `dev`)
    /// on loopback ports chosen by the OS, and wait for it to serve.
    pub fn spawn_command(
        bin: &str,
        what: &str,
        args: &[std::ffi::OsString],
        launch: Launch<'_>,
    ) -> HostProcess {
        let mut host = Self::launch(bin, args, launch);
        let line = host.milestone(what, SERVING, launch.start_within);
        host.proxy = address(&line, "listen");
        host.admin = address(&line, "admin");
        host
    }

    /// Start `bin` with `args` on loopback ports chosen by the OS, collecting
    /// its output.
    fn launch(bin: &str, args: &[std::ffi::OsString], launch: Launch<'_>) -> HostProcess {
        let mut cmd = std::process::Command::new(bin);
        cmd.args(args)
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"]);
        if let Some(next_hop) = launch.next_hop {
            cmd.arg("--next-hop").arg(next_hop.to_string());
        }
        if let Some(dir) = launch.cwd {
            cmd.current_dir(dir);
        }
        let env = launch.env;
        cmd.env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("spawn edgechain");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let tx = Mutex::new(tx);
        collect_lines(
            child.stderr.take().expect("stderr pipe"),
            stderr.clone(),
            move |line| {
                if line.contains(SERVING) || line.contains(ADMIN_OPEN) {
                    let _ = tx.lock().map(|tx| tx.send(line.to_owned()));
                }
            },
        );
        collect_lines(
            child.stdout.take().expect("stdout pipe"),
            stdout.clone(),
            |_| {},
        );
        let unknown = SocketAddr::from(([0, 0, 0, 0], 0));
        HostProcess {
            proxy: unknown,
            admin: unknown,
            child,
            stderr,
            stdout,
            milestones: rx,
        }
    }

    /// Stderr lines so far.
    pub fn logs(&self) -> Vec<String> {
        self.stderr.lock().expect("log lines").clone()
    }

    /// Stdout lines so far (the access log).
    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().expect("output lines").clone()
    }

    /// Resident set size of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (it has not exited or restarted).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send SIGTERM and wait for the exit, bounded by [`WAIT`].
    pub fn terminate(self) -> std::process::ExitStatus {
        self.terminate_within(WAIT).0
    }

    /// Send SIGTERM and wait for the exit, failing the test after `within`;
    /// the exit status and how long the exit took.
    pub fn terminate_within(mut self, within: Duration) -> (std::process::ExitStatus, Duration) {
        self.signal_term();
        let started = std::time::Instant::now();
        let status = self.wait_exit(within);
        (status, started.elapsed())
    }

    /// Send SIGTERM and return at once (the drain runs meanwhile).
    pub fn signal_term(&self) {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
    }

    /// Wait for the process to exit, failing the test after `within`.
    pub fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "edgechain did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The address in field `key` of a start-up log line.
fn address(line: &str, key: &str) -> SocketAddr {
    let line: serde_json::Value = serde_json::from_str(line).expect("start-up line is JSON");
    line[key]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address `{key}` in {line}"))
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The edgechain checkout these tests belong to.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Copy the checkout's sources to `to`, for a test that changes a workspace
/// or installs toolchains without touching the real one: no build output,
/// VCS data, installed toolchains, links or built components.
pub fn copy_checkout(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create copy");
    for entry in std::fs::read_dir(from).expect("read checkout") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        let hidden = name.to_string_lossy().starts_with('.');
        let kind = entry.file_type().expect("file type");
        if hidden || kind.is_symlink() || ["target", "node_modules"].iter().any(|s| name == *s) {
            continue;
        }
        let (src, dest) = (entry.path(), to.join(&name));
        if kind.is_dir() {
            copy_checkout(&src, &dest);
        } else if kind.is_file() && src.extension().is_none_or(|e| e != "wasm") {
            std::fs::copy(&src, &dest).expect("copy file");
        }
    }
}

/// Send `GET path` to `host` on a connection of its own, wait until the
/// metric sample `running` reads `value` (the call to cut short is under
/// way), close the connection, and return the request's access-log line,
/// which must say 499.
pub async fn leave_while_running(
    host: &HostProcess,
    path: &str,
    running: &str,
    value: f64,
) -> serde_json::Value {
    use tokio::io::AsyncWriteExt;
    let client = TestClient::new();
    let mut s = tokio::net::TcpStream::connect(host.proxy)
        .await
        .expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: a\r\n\r\n").as_bytes())
        .await
        .expect("write");
    wait_for(&format!("{running} to read {value}"), || async {
        (metric(&client, host.admin, running).await == Some(value)).then_some(())
    })
    .await;
    drop(s);
    let (line, _) = wait_for("the 499's access log line", || async {
        host.stdout()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|l| l["status"] == 499)
    })
    .await;
    line
}
