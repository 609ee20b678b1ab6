//! The platform's proxy contract, checked against the real binary: one JSON
//! access log line per request on stdout, JSON diagnostics on stderr,
//! Prometheus metrics, health endpoints, the validation hook, and a graceful
//! SIGTERM.

use bytes::Bytes;
use edgechain_tests::*;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_edgechain-cli");

fn chain_dir() -> ConfigDir {
    let dir = ConfigDir::new();
    dir.add_plugin("block-paths").add_plugin("add-headers").manifest(json!({
        "proxychain": [
            { "name": "block", "module": "block-paths.wasm", "config": { "prefixes": ["/admin"] } },
            { "name": "headers", "module": "add-headers.wasm",
              "config": { "response": { "x-served-by": "edgechain" } } }
        ]
    }));
    dir
}

async fn access_lines(host: &HostProcess, n: usize) -> Vec<Value> {
    let (lines, _) = wait_for(&format!("{n} access log lines"), || async {
        let lines = host.stdout();
        (lines.len() >= n).then_some(lines)
    })
    .await;
    lines
        .iter()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("access line is not JSON ({e}): {l}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_gets_one_json_access_line_with_the_platform_fields() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = chain_dir();
    // One worker: the current-thread scheduler serves everything.
    let host = HostProcess::spawn(
        BIN,
        dir.path(),
        origin.addr,
        &["--worker-threads", "1"],
        &[],
    );
    let client = TestClient::new();

    let forwarded = Request::get("/shop?q=1")
        .header("host", "shop.example")
        .header("referer", "https://ref.example/")
        .header("user-agent", "curl/8")
        .header("x-forwarded-proto", "https")
        .header("section-io-id", "req-123")
        .body(Full::default())
        .expect("request");
    assert_eq!(
        client.send(host.proxy, forwarded).await.status,
        StatusCode::OK
    );
    let lines = access_lines(&host, 1).await;
    let l = &lines[0];
    assert_eq!(l["request"], "GET /shop?q=1 HTTP/1.1");
    assert_eq!(l["status"], 200);
    assert_eq!(l["response_body_bytes"], "hello from origin\n".len());
    assert!(
        l["bytes"].as_u64() > l["response_body_bytes"].as_u64(),
        "bytes include the head: {l}"
    );
    assert_eq!(l["hostname"], "shop.example");
    assert_eq!(l["referrer"], "https://ref.example/");
    assert_eq!(l["useragent"], "curl/8");
    assert_eq!(l["http_x_forwarded_proto"], "https");
    assert_eq!(l["section_io_id"], "req-123");
    assert_eq!(l["upstream_status"], 200);
    assert_eq!(l["answered_by"], Value::Null);
    assert_eq!(
        l["links"],
        json!([
            { "link": "block", "phase": "request", "outcome": "next" },
            { "link": "headers", "phase": "request", "outcome": "next" },
            { "link": "headers", "phase": "response", "outcome": "ok" }
        ])
    );
    for timing in [
        "request_time_seconds",
        "upstream_time_seconds",
        "plugin_time_seconds",
    ] {
        assert!(
            l[timing].as_f64().is_some_and(|t| (0.0..10.0).contains(&t)),
            "{timing}: {l}"
        );
    }
    assert!(
        l["time"]
            .as_str()
            .is_some_and(|t| t.len() == 24 && t.ends_with('Z')),
        "{l}"
    );

    // Answered at the edge.
    assert_eq!(
        client.get(host.proxy, "/admin").await.status,
        StatusCode::FORBIDDEN
    );
    // Hostile bytes in headers (quotes, backslashes, non-UTF-8) and a POST body.
    let hostile = Request::post("/x")
        .header("user-agent", "a\"b\\c\td")
        .header("referer", &[0xff, b'"', 0xfe][..])
        .body(Full::new(Bytes::from_static(b"12345")))
        .expect("request");
    assert_eq!(
        client.send(host.proxy, hostile).await.status,
        StatusCode::OK
    );

    let lines = access_lines(&host, 3).await;
    assert_eq!(lines.len(), 3, "exactly one line per request");
    let edge = &lines[1];
    assert_eq!(edge["status"], 403);
    assert_eq!(edge["answered_by"], "block");
    assert_eq!(edge["upstream_status"], Value::Null);
    assert_eq!(edge["content_type"], "text/plain; charset=utf-8");
    let h = &lines[2];
    assert_eq!(h["useragent"], "a\"b\\c\td");
    assert_eq!(h["referrer"], "\u{fffd}\"\u{fffd}");
    assert_eq!(h["request"], "POST /x HTTP/1.1");

    // Diagnostics are JSON too.
    for line in host.logs() {
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stderr line is not JSON ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["timestamp"].is_string(),
            "{line}"
        );
    }
}

fn sample(metrics: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    metrics
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref buckets) => {
                buckets.last().map_or(0.0, |b| b.count)
            }
            _ => 0.0,
        })
        .sum()
}

async fn scrape(client: &TestClient, host: &HostProcess) -> prometheus_parse::Scrape {
    let reply = client.get(host.admin, "/metrics").await;
    assert_eq!(reply.status, StatusCode::OK);
    let text = reply.text();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    prometheus_parse::Scrape::parse(lines)
        .unwrap_or_else(|e| panic!("metrics do not parse ({e}):\n{text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_parse_and_move_with_traffic_and_health_endpoints_answer() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = chain_dir();
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let client = TestClient::new();
    assert_eq!(
        client.get(host.admin, "/healthz").await.status,
        StatusCode::OK
    );
    assert_eq!(
        client.get(host.admin, "/readyz").await.status,
        StatusCode::OK
    );
    assert_eq!(
        client.get(host.admin, "/nope").await.status,
        StatusCode::NOT_FOUND
    );

    let before = scrape(&client, &host).await;
    assert_eq!(sample(&before, "edgechain_build_info", &[]), 1.0);
    assert_eq!(sample(&before, "edgechain_chain_links", &[]), 2.0);
    for _ in 0..5 {
        client.get(host.proxy, "/ok").await;
    }
    for _ in 0..2 {
        client.get(host.proxy, "/admin").await;
    }
    let after = wait_for("request counters to move", || async {
        let m = scrape(&client, &host).await;
        (sample(&m, "edgechain_requests_total", &[("code", "4xx")]) >= 2.0).then_some(m)
    })
    .await
    .0;
    let ok = sample(
        &after,
        "edgechain_requests_total",
        &[("code", "2xx"), ("answered_by", "")],
    );
    assert_eq!(ok, 5.0);
    assert_eq!(
        sample(
            &after,
            "edgechain_requests_total",
            &[("code", "4xx"), ("answered_by", "block")]
        ),
        2.0
    );
    assert_eq!(
        sample(
            &after,
            "edgechain_plugin_calls_total",
            &[("plugin", "block")]
        ),
        7.0
    );
    // headers: 5 on-request + 5 on-response.
    assert_eq!(
        sample(
            &after,
            "edgechain_plugin_calls_total",
            &[("plugin", "headers")]
        ),
        10.0
    );
    assert_eq!(
        sample(
            &after,
            "edgechain_plugin_instances_in_use",
            &[("plugin", "headers")]
        ),
        0.0
    );
    assert_eq!(
        sample(&after, "edgechain_request_duration_seconds", &[]),
        7.0
    );
    assert_eq!(
        sample(&after, "edgechain_upstream_duration_seconds", &[]),
        5.0
    );
    assert!(sample(&after, "edgechain_response_bytes_total", &[]) >= 5.0 * 18.0);
    assert_eq!(sample(&after, "edgechain_reload_successes_total", &[]), 1.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_errors_are_counted_by_kind() {
    let dir = chain_dir();
    let host = HostProcess::spawn(BIN, dir.path(), dead_addr().await, &[], &[]);
    let client = TestClient::new();
    assert_eq!(
        client.get(host.proxy, "/x").await.status,
        StatusCode::BAD_GATEWAY
    );
    let m = scrape(&client, &host).await;
    assert_eq!(
        sample(
            &m,
            "edgechain_upstream_errors_total",
            &[("kind", "connect")]
        ),
        1.0
    );
    assert_eq!(
        sample(&m, "edgechain_requests_total", &[("code", "5xx")]),
        1.0
    );
}

fn run_hook(script: &str, dir: &Path) -> std::process::Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/section")
        .join(script);
    std::process::Command::new("sh")
        .arg(path)
        .env("EDGECHAIN_BIN", BIN)
        .env("EDGECHAIN_CONFIG", dir)
        .output()
        .expect("run hook")
}

#[test]
fn the_platform_hooks_validate_offline_and_prepare_succeeds() {
    let dir = chain_dir();
    let ok = run_hook("validate.sh", dir.path());
    assert!(ok.status.success());
    assert!(
        ok.stdout.is_empty() && ok.stderr.is_empty(),
        "valid config must be silent"
    );

    dir.write("proxychain.json", "{}");
    let bad = run_hook("validate.sh", dir.path());
    assert!(!bad.status.success());
    assert!(bad.stdout.is_empty());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("missing field `proxychain`"));

    let prepare = run_hook("prepare.sh", dir.path());
    assert!(prepare.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    let origin = Origin::start(Behaviour::Slow(Duration::from_millis(700))).await;
    let dir = chain_dir();
    let host = HostProcess::spawn(
        BIN,
        dir.path(),
        origin.addr,
        &["--drain-timeout-secs", "10"],
        &[],
    );
    let addr = host.proxy;
    let in_flight = tokio::spawn(async move { TestClient::new().get(addr, "/slow").await });
    wait_for("the request to reach the origin", || async {
        (!origin.seen().is_empty()).then_some(())
    })
    .await;
    let status = tokio::task::spawn_blocking(move || host.terminate())
        .await
        .expect("terminate");
    let reply = in_flight.await.expect("in-flight request");
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the in-flight request was finished"
    );
    assert_eq!(reply.text(), "hello from origin\n");
    assert!(status.success(), "exit status {status:?}");
    // New connections are refused after shutdown.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// The admin port as an orchestrator's probes see it: `/healthz` and
/// `/readyz` statuses, and the readiness body.
async fn probes(
    client: &TestClient,
    admin: std::net::SocketAddr,
) -> (StatusCode, StatusCode, String) {
    let live = client.get(admin, "/healthz").await.status;
    let ready = client.get(admin, "/readyz").await;
    (live, ready.status, ready.text())
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_answer_through_a_slow_start_and_a_drain() {
    // The chain's `init` waits on one gate, so the first load takes exactly
    // as long as the test says; the next hop is another, holding a request
    // through the drain.
    let init = Gate::start().await;
    let origin = Gate::start().await;
    let dir = ConfigDir::new();
    dir.add_plugin("hostile").manifest(json!({ "proxychain": [{
        "name": "slow-start",
        "module": "hostile.wasm",
        "config": { "mode": "fetch-init", "url": format!("http://{}/init", init.addr) },
        "init_timeout_ms": 60_000,
        "grants": { "http": [init.addr.to_string()] }
    }]}));
    let mut host = HostProcess::spawn_starting(
        BIN,
        dir.path(),
        origin.addr,
        &["--drain-timeout-secs", "60"],
    );
    let client = TestClient::new();

    init.wait_arrived(1, "the chain's init to ask the gate")
        .await;
    for _ in 0..3 {
        assert_eq!(
            probes(&client, host.admin).await,
            (
                StatusCode::OK,
                StatusCode::SERVICE_UNAVAILABLE,
                "no chain loaded yet\n".to_owned()
            ),
            "while the first chain loads: alive, not ready"
        );
    }
    init.release();
    tokio::task::block_in_place(|| host.wait_serving(WAIT));
    assert_eq!(
        probes(&client, host.admin).await,
        (StatusCode::OK, StatusCode::OK, "ready\n".to_owned()),
        "serving: alive and ready"
    );

    let proxy = host.proxy;
    let in_flight = tokio::spawn(async move { TestClient::new().get(proxy, "/held").await });
    origin
        .wait_arrived(1, "the request to reach the next hop")
        .await;
    host.signal_term();
    let (draining, _) = wait_for("readiness to fail once the drain begins", || async {
        let (live, ready, body) = probes(&client, host.admin).await;
        assert_eq!(live, StatusCode::OK, "liveness holds through the drain");
        (ready == StatusCode::SERVICE_UNAVAILABLE).then_some(body)
    })
    .await;
    assert_eq!(draining, "draining\n");
    assert!(host.is_running(), "the held request keeps the drain going");
    assert_eq!(
        probes(&client, host.admin).await.0,
        StatusCode::OK,
        "still alive while draining"
    );

    origin.release();
    let reply = in_flight.await.expect("in-flight request");
    assert_eq!(reply.status, StatusCode::OK, "the held request finished");
    assert_eq!(reply.text(), "released\n");
    let status = tokio::task::block_in_place(|| host.wait_exit(WAIT));
    assert!(status.success(), "exit status {status:?}");
    assert!(
        tokio::net::TcpStream::connect(host.admin).await.is_err(),
        "the admin port closes with the process"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_cut_off_at_the_drain_timeout_is_logged_as_such() {
    let origin = Gate::start().await;
    let dir = chain_dir();
    let mut host = HostProcess::spawn(
        BIN,
        dir.path(),
        origin.addr,
        &["--drain-timeout-secs", "1"],
        &[],
    );
    let proxy = host.proxy;
    let in_flight = tokio::spawn(async move {
        TestClient::new()
            .try_send(
                proxy,
                Request::get("/held")
                    .body(Full::default())
                    .expect("request"),
            )
            .await
    });
    origin
        .wait_arrived(1, "the request to reach the next hop")
        .await;
    host.signal_term();
    let status = tokio::task::block_in_place(|| host.wait_exit(WAIT));
    assert!(status.success(), "exit status {status:?}");
    assert!(
        in_flight.await.expect("client task").is_err(),
        "the client saw its connection closed without an answer"
    );
    let lines = access_lines(&host, 1).await;
    let line = &lines[0];
    assert_eq!(line["request"], "GET /held HTTP/1.1");
    assert_eq!(line["status"], 503, "{line}");
    assert_eq!(line["cause"], "drain_timeout", "{line}");
    assert_eq!(line["upstream_status"], Value::Null);
    assert!(
        host.logs()
            .iter()
            .any(|l| l.contains("drain timeout reached; cutting off what is still in flight")),
        "{:?}",
        host.logs()
    );
}

/// `edgechain serve` with `args` on free loopback ports, expected to refuse
/// to start: its stderr. One that serves instead fails the test after
/// [`WAIT`].
fn refused_start(dir: &Path, args: &[&str]) -> String {
    let mut child = std::process::Command::new(BIN)
        .arg("serve")
        .arg("--config")
        .arg(dir)
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run edgechain serve");
    let started = std::time::Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > WAIT {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{args:?}: serve did not refuse to start within {WAIT:?}; stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{args:?} started: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

#[test]
fn settings_that_cannot_serve_are_refused_at_start_with_a_json_reason() {
    let dir = chain_dir();
    let stderr = refused_start(dir.path(), &["--max-instances", "1"]);
    let last: Value = stderr
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON line on stderr: {stderr}"));
    assert_eq!(last["level"], "ERROR", "{last}");
    let message = last["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("2 links") && message.contains("--max-instances is 1"),
        "{message}"
    );

    let stderr = refused_start(dir.path(), &["--load-timeout-secs", "0"]);
    let line: Value = serde_json::from_str(stderr.trim())
        .unwrap_or_else(|e| panic!("stderr is not one JSON line ({e}): {stderr}"));
    assert!(
        line["message"]
            .as_str()
            .is_some_and(|m| m.contains("--load-timeout-secs") && m.contains("at least 1")),
        "{line}"
    );
}
