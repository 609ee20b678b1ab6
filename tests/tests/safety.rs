//! Plugins cannot hurt the host: hostile plugins (built from
//! `tests/plugins/hostile`) run in the real `edgechain serve` process, and bad
//! HTTP hits the real listener.

use edgechain_tests::*;
use http::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_edgechain-cli");

/// A hostile link per mode; `/evil/<name>` triggers link `<name>`.
fn hostile_dir() -> ConfigDir {
    let dir = ConfigDir::new();
    dir.add_plugin("hostile").add_plugin("add-headers");
    let link = |name: &str, mode: &str, extra: Value| {
        let mut l = json!({ "name": name, "module": "hostile.wasm", "config": { "mode": mode } });
        if let (Some(l), Some(extra)) = (l.as_object_mut(), extra.as_object()) {
            l.extend(extra.clone());
        }
        l
    };
    dir.manifest(json!({ "proxychain": [
        { "name": "tag", "module": "add-headers.wasm", "config": { "response": { "x-chain": "ran" } } },
        link("loop", "loop", json!({ "timeout_ms": 50 })),
        link("grow", "grow", json!({ "memory_limit_mb": 16 })),
        link("panic", "panic", json!({})),
        link("trap-response", "trap-response", json!({})),
        link("forbidden-header", "forbidden-header", json!({})),
        link("forbidden-method", "forbidden-method", json!({})),
        link("bad-status", "bad-status", json!({})),
        link("flood", "flood", json!({ "timeout_ms": 20000 })),
        link("snoop", "snoop", json!({})),
        link("granted", "snoop", json!({ "grants": { "config_dir": "granted", "env": ["EDGECHAIN_TEST_GRANTED"] } })),
        link("open-panic", "panic", json!({ "on_error": "fail-open" })),
        link("open-loop", "loop", json!({ "on_error": "fail-open", "timeout_ms": 50 })),
    ]}));
    dir.write("granted/secret.txt", "for granted eyes only");
    dir
}

fn spawn_hostile(origin: &Origin, dir: &ConfigDir) -> HostProcess {
    HostProcess::spawn(
        BIN,
        dir.path(),
        origin.addr,
        &[],
        &[("EDGECHAIN_TEST_GRANTED", "yes")],
    )
}

fn plugin_logs(host: &HostProcess, plugin: &str) -> Vec<Value> {
    host.logs()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["plugin"] == plugin)
        .collect()
}

async fn failures(
    client: &TestClient,
    host: &HostProcess,
    plugin: &str,
    cause: &str,
) -> Option<f64> {
    let series =
        format!("edgechain_plugin_failures_total{{plugin=\"{plugin}\",cause=\"{cause}\"}}");
    metric(client, host.admin, &series).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_hostile_plugin_gets_its_status_and_is_logged_and_counted() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = hostile_dir();
    let host = spawn_hostile(&origin, &dir);
    let client = TestClient::new();
    // (link, status the client sees, cause counted, how long it may take)
    let cases = [
        (
            "loop",
            StatusCode::INTERNAL_SERVER_ERROR,
            "timeout",
            Duration::from_millis(50),
        ),
        (
            "grow",
            StatusCode::INTERNAL_SERVER_ERROR,
            "memory",
            Duration::ZERO,
        ),
        (
            "panic",
            StatusCode::INTERNAL_SERVER_ERROR,
            "trap",
            Duration::ZERO,
        ),
        (
            "trap-response",
            StatusCode::INTERNAL_SERVER_ERROR,
            "trap",
            Duration::ZERO,
        ),
        (
            "forbidden-header",
            StatusCode::INTERNAL_SERVER_ERROR,
            "invalid",
            Duration::ZERO,
        ),
        (
            "forbidden-method",
            StatusCode::INTERNAL_SERVER_ERROR,
            "invalid",
            Duration::ZERO,
        ),
        (
            "bad-status",
            StatusCode::INTERNAL_SERVER_ERROR,
            "invalid",
            Duration::ZERO,
        ),
        ("open-panic", StatusCode::OK, "trap", Duration::ZERO),
        (
            "open-loop",
            StatusCode::OK,
            "timeout",
            Duration::from_millis(50),
        ),
    ];
    for (link, status, cause, budget) in cases {
        let before = origin.seen().len();
        let started = Instant::now();
        let reply = client.get(host.proxy, &format!("/evil/{link}")).await;
        let took = started.elapsed();
        println!("{link}: {} in {took:?}", reply.status);
        assert_eq!(reply.status, status, "{link}: body {}", reply.text());
        // The deadline plus a margin for a loaded CI machine.
        assert!(
            took < budget + Duration::from_millis(700),
            "{link} took {took:?}"
        );
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            assert_eq!(
                reply.text(),
                "edge module failed\n",
                "{link}: no internals leak"
            );
        } else {
            // fail-open: the link was skipped and the request went on.
            assert_eq!(reply.header("x-chain"), "ran");
            assert_eq!(
                origin.seen().len(),
                before + 1,
                "{link}: reached the origin"
            );
        }
        assert_eq!(
            failures(&client, &host, link, cause).await,
            Some(1.0),
            "{link}: counted as {cause}"
        );
        // Stderr arrives through a pipe: wait (bounded) for the line.
        wait_for(
            &format!("{link}: failure logged with cause {cause}"),
            || async {
                plugin_logs(&host, link)
                    .iter()
                    .any(|l| l["cause"] == cause && l["level"] == "WARN")
                    .then_some(())
            },
        )
        .await;
    }
    // Every failing instance was discarded; the chain still serves normally.
    for _ in 0..3 {
        let reply = client.get(host.proxy, "/fine").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("x-chain"), "ran");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_grants_nothing_but_what_the_manifest_names() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = hostile_dir();
    let host = spawn_hostile(&origin, &dir);
    let client = TestClient::new();

    assert_eq!(
        client.get(host.proxy, "/evil/snoop").await.status,
        StatusCode::OK
    );
    let seen = origin.seen();
    let h = |name: &str| {
        seen[0]
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    for probe in [
        "x-snoop-root",
        "x-snoop-passwd",
        "x-snoop-cwd-file",
        "x-snoop-config",
        "x-snoop-net",
    ] {
        assert!(h(probe).starts_with("denied"), "{probe}: {}", h(probe));
    }
    assert_eq!(h("x-snoop-env-count"), "0", "no environment");
    assert_eq!(h("x-snoop-env-granted"), "");
    assert_eq!(h("x-snoop-env-home"), "");
    assert_eq!(h("x-snoop-args"), "0", "no arguments");
    assert_eq!(h("x-snoop-stdin-bytes"), "0", "no host stdin");

    assert_eq!(
        client.get(host.proxy, "/evil/granted").await.status,
        StatusCode::OK
    );
    let seen = origin.seen();
    let h = |name: &str| {
        seen[1]
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(
        h("x-snoop-config"),
        "allowed",
        "granted config_dir is readable"
    );
    assert!(
        h("x-snoop-config-sibling").starts_with("denied"),
        "cannot climb out: {}",
        h("x-snoop-config-sibling")
    );
    assert!(h("x-snoop-root").starts_with("denied"));
    assert_eq!(
        h("x-snoop-env-granted"),
        "yes",
        "granted variable is visible"
    );
    assert_eq!(h("x-snoop-env-count"), "1", "and only it");
    assert_eq!(h("x-snoop-env-home"), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stdout_flood_is_captured_rate_limited_and_harmless() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = hostile_dir();
    let host = spawn_hostile(&origin, &dir);
    let client = TestClient::new();
    let started = Instant::now();
    let reply = client.get(host.proxy, "/evil/flood").await;
    let took = started.elapsed().as_secs_f64();
    assert_eq!(reply.status, StatusCode::OK);
    let stdout_lines = || {
        plugin_logs(&host, "flood")
            .iter()
            .filter(|l| l["stream"] == "stdout")
            .count()
    };
    wait_for("flood output in the log", || async {
        (stdout_lines() > 0).then_some(())
    })
    .await;
    let lines = stdout_lines();
    println!("flood: 100000 lines written in {took:.2} s, {lines} logged");
    assert!(lines > 0, "plugin output is logged with the plugin's name");
    // A burst of 50, then 50 lines per second.
    let allowed = 50.0 + 50.0 * took.ceil() + 1.0;
    assert!(
        (lines as f64) <= allowed,
        "output is rate-limited: {lines} lines logged"
    );
    // Dropped lines are counted in summaries: once the second flood starts,
    // every line of the first is accounted for, logged or dropped.
    assert_eq!(
        client.get(host.proxy, "/evil/flood").await.status,
        StatusCode::OK
    );
    wait_for("every line of the first flood accounted for", || async {
        let logged = plugin_logs(&host, "flood");
        let dropped: u64 = logged.iter().filter_map(|l| l["suppressed"].as_u64()).sum();
        let shown = logged.iter().filter(|l| l["stream"] == "stdout").count() as u64;
        (dropped + shown >= 100_000).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn well_behaved_requests_are_served_while_plugins_misbehave_and_memory_stays_bounded() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = hostile_dir();
    let host = spawn_hostile(&origin, &dir);
    let client = TestClient::new();
    // Warm up, then measure the host's resident memory.
    for _ in 0..20 {
        client.get(host.proxy, "/fine").await;
    }
    let rss_before = host.rss_kib();
    let mut hostile = Vec::new();
    for i in 0..60 {
        let link = ["loop", "grow", "panic"][i % 3];
        let client = client.clone();
        let addr = host.proxy;
        hostile.push(tokio::spawn(async move {
            client.get(addr, &format!("/evil/{link}")).await.status
        }));
    }
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..100 {
        let t = Instant::now();
        let reply = client.get(host.proxy, "/fine").await;
        slowest = slowest.max(t.elapsed());
        assert_eq!(reply.status, StatusCode::OK);
    }
    let fine_took = started.elapsed();
    for h in hostile {
        assert_eq!(
            h.await.expect("hostile request"),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
    let rss_after = host.rss_kib();
    println!(
        "100 good requests in {fine_took:?} (slowest {slowest:?}) beside 60 hostile ones; RSS {} -> {} MiB",
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(
        slowest < Duration::from_secs(2),
        "a good request waited {slowest:?}"
    );
    // 20 instances grew to their 16 MiB cap; the pool gives the memory back.
    assert!(
        rss_after < rss_before + 128 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
}

/// Send raw bytes and read until the server closes or `limit` passes.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(limit, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_http_gets_clear_answers_and_the_server_keeps_serving() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("passthrough")
        .manifest(json!({ "proxychain": [{ "name": "p", "module": "passthrough.wasm" }] }));
    let mut opts = options(dir.path(), origin.addr);
    opts.header_read_timeout = Duration::from_millis(300);
    opts.max_connections = 4;
    let host = start_host(opts).await;
    let addr = host.proxy_addr();

    let malformed = raw(addr, b"GARBAGE\r\n\r\n", WAIT).await;
    assert!(
        malformed.starts_with("HTTP/1.1 400"),
        "malformed request line: {malformed:?}"
    );

    let big = format!(
        "GET / HTTP/1.1\r\nhost: a\r\nx-big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let oversized = raw(addr, big.as_bytes(), WAIT).await;
    assert!(
        oversized.starts_with("HTTP/1.1 431"),
        "oversized headers: {:?}",
        &oversized[..oversized.len().min(80)]
    );

    let many: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
    let many = raw(
        addr,
        format!("GET / HTTP/1.1\r\nhost: a\r\n{many}\r\n").as_bytes(),
        WAIT,
    )
    .await;
    assert!(
        many.starts_with("HTTP/1.1 431"),
        "too many headers: {:?}",
        &many[..many.len().min(80)]
    );

    // Slowloris: headers that never finish are cut off by the read timeout.
    let started = Instant::now();
    let slow = raw(addr, b"GET / HTTP/1.1\r\nhost: a\r\nx-slow: 1", WAIT).await;
    let took = started.elapsed();
    println!("slow headers closed after {took:?}: {slow:?}");
    assert!(
        took < Duration::from_secs(3),
        "slow client held the connection {took:?}"
    );
    assert!(
        slow.is_empty() || slow.starts_with("HTTP/1.1 408"),
        "{slow:?}"
    );

    // Too many connections: beyond the cap a client gets 503 at once.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /hold HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).await.expect("response");
        assert_eq!(&buf, b"HTTP/1.1 200");
        held.push(s);
    }
    let refused = raw(addr, b"GET / HTTP/1.1\r\nhost: a\r\n\r\n", WAIT).await;
    assert!(
        refused.starts_with("HTTP/1.1 503"),
        "over the cap: {refused:?}"
    );
    drop(held);

    // And the server still serves normally.
    // (The held connections' slots free up as the server sees them close.)
    wait_for("a normal request after the abuse", || async {
        let req = http::Request::get("/after")
            .body(Default::default())
            .expect("request");
        let reply = TestClient::new().try_send(addr, req).await.ok()?;
        (reply.status == StatusCode::OK).then_some(())
    })
    .await;
    host.shutdown().await;
}

/// A chain of one hostile link (`mode`, extra manifest fields) after a tag.
fn one_hostile(mode: &str, extra: Value) -> ConfigDir {
    let dir = ConfigDir::new();
    dir.add_plugin("hostile").add_plugin("add-headers");
    let mut link = json!({ "name": mode, "module": "hostile.wasm", "config": { "mode": mode } });
    if let (Some(l), Some(extra)) = (link.as_object_mut(), extra.as_object()) {
        l.extend(extra.clone());
    }
    dir.manifest(json!({ "proxychain": [
        { "name": "tag", "module": "add-headers.wasm", "config": { "response": { "x-chain": "ran" } } },
        link,
    ]}));
    dir
}

/// `timeout_ms` is the plugin's own time: a link whose calls take about 1 ms
/// of CPU never times out at 50 ms, however long requests queue for the one
/// worker thread.
#[tokio::test(flavor = "multi_thread")]
async fn load_never_turns_a_healthy_call_into_a_timeout() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = one_hostile(
        "busy",
        json!({ "timeout_ms": 50, "config": { "mode": "busy", "busy_us": 1000 } }),
    );
    let host = HostProcess::spawn(
        BIN,
        dir.path(),
        origin.addr,
        &["--worker-threads", "1"],
        &[],
    );
    let client = TestClient::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let (client, addr) = (client.clone(), host.proxy);
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..10 {
                let reply = client.get(addr, "/work").await;
                statuses.push((reply.status, reply.text()));
            }
            statuses
        }));
    }
    let mut ok = 0;
    for t in tasks {
        for (status, body) in t.await.expect("client task") {
            assert_eq!(
                status,
                StatusCode::OK,
                "a healthy call failed under load: {body}"
            );
            ok += 1;
        }
    }
    println!(
        "{ok} requests of ~1 ms plugin CPU, 200 connections, one worker: {:?}",
        started.elapsed()
    );
    assert_eq!(failures(&client, &host, "busy", "timeout").await, None);
}

/// A link that blocks in a host call (`sleep`, a WASI poll) is cut off at its
/// budget like a busy loop, under concurrent load, and gives its instance
/// back: a handful of such requests cannot starve everyone else.
#[tokio::test(flavor = "multi_thread")]
async fn a_link_blocked_in_a_host_call_is_answered_within_its_budget() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = one_hostile("sleep", json!({ "timeout_ms": 50 }));
    // Each blocked request holds two instances (the tag waits for the
    // response phase): 6 blocked ones fill 12 of 16 slots.
    let host = HostProcess::spawn(
        BIN,
        dir.path(),
        origin.addr,
        &["--max-instances", "16"],
        &[],
    );
    let client = TestClient::new();
    for wave in 0..4 {
        let mut blocked = Vec::new();
        for _ in 0..6 {
            let (client, addr) = (client.clone(), host.proxy);
            blocked.push(tokio::spawn(async move {
                let started = Instant::now();
                let reply = client.get(addr, "/evil/sleep").await;
                (reply.status, reply.text(), started.elapsed())
            }));
        }
        let fine = client.get(host.proxy, "/fine").await;
        assert_eq!(
            fine.status,
            StatusCode::OK,
            "wave {wave}: others are served"
        );
        for b in blocked {
            let (status, body, took) = b.await.expect("blocked request");
            println!("wave {wave}: blocked link answered {status} in {took:?}");
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
            assert!(took < Duration::from_millis(50 + 700), "took {took:?}");
        }
    }
    assert_eq!(
        failures(&client, &host, "sleep", "timeout").await,
        Some(24.0)
    );
    assert_eq!(
        client.get(host.proxy, "/after").await.status,
        StatusCode::OK
    );
}

/// An `init` that blocks in a host call fails `validate` within its bound,
/// and a reload to it is rejected while the old chain serves; the next good
/// chain goes live normally.
#[tokio::test(flavor = "multi_thread")]
async fn a_blocking_init_never_wedges_loading() {
    let blocked = one_hostile("sleep-init", json!({ "init_timeout_ms": 300 }));
    let started = Instant::now();
    let out = std::process::Command::new(BIN)
        .arg("validate")
        .arg(blocked.path())
        .output()
        .expect("run validate");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("validate rejected a blocking init in {took:?}: {stderr}");
    assert!(!out.status.success());
    assert!(
        stderr.contains("link `sleep-init`") && stderr.contains("deadline of 300 ms exceeded"),
        "{stderr}"
    );
    assert!(took < Duration::from_secs(10), "validate took {took:?}");

    // The whole-chain bound holds too, whatever the per-link budgets say.
    let slow = one_hostile("sleep-init", json!({ "init_timeout_ms": 60000 }));
    let started = Instant::now();
    let out = std::process::Command::new(BIN)
        .args(["validate", "--load-timeout-secs", "1"])
        .arg(slow.path())
        .output()
        .expect("run validate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("load timeout"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));

    // A serving host: reload to the blocking chain, then to a good one.
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("hostile").add_plugin("add-headers");
    let chain = |version: &str| {
        json!({ "proxychain": [{ "name": "tag", "module": "add-headers.wasm",
            "config": { "response": { "x-version": version } } }] })
    };
    dir.manifest(chain("1"));
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let client = TestClient::new();
    assert_eq!(client.get(host.proxy, "/").await.header("x-version"), "1");
    dir.manifest(json!({ "proxychain": [
        { "name": "blocked", "module": "hostile.wasm", "init_timeout_ms": 300,
          "config": { "mode": "sleep-init" } }] }));
    let started = Instant::now();
    wait_for("the blocking reload to be rejected", || async {
        let reply = client.get(host.proxy, "/during").await;
        assert_eq!(reply.status, StatusCode::OK, "requests keep succeeding");
        assert_eq!(reply.header("x-version"), "1", "the old chain serves");
        host.logs()
            .iter()
            .any(|l| l.contains("reload failed") && l.contains("blocked"))
            .then_some(())
    })
    .await;
    println!(
        "reload to a blocking init rejected after {:?}",
        started.elapsed()
    );
    dir.manifest(chain("2"));
    wait_for("the next good chain to go live", || async {
        (client.get(host.proxy, "/").await.header("x-version") == "2").then_some(())
    })
    .await;
}

/// Plugin output is held to the limits client input is: too many header
/// fields or a huge head, on the request or the response path, fail the link
/// (500), never panic the host, and leave its memory bounded.
#[tokio::test(flavor = "multi_thread")]
async fn plugin_output_is_bounded_like_client_input() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("hostile");
    let link = |mode: &str| {
        json!({ "name": mode, "module": "hostile.wasm", "memory_limit_mb": 256,
                "timeout_ms": 5000, "config": { "mode": mode } })
    };
    dir.manifest(json!({ "proxychain": [
        link("many-headers"), link("many-headers-answer"), link("huge-head"), link("huge-head-response"),
    ]}));
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let client = TestClient::new();
    client.get(host.proxy, "/warm").await;
    let rss_before = host.rss_kib();
    for round in 0..3 {
        for mode in [
            "many-headers",
            "many-headers-answer",
            "huge-head",
            "huge-head-response",
        ] {
            let reply = client.get(host.proxy, &format!("/evil/{mode}")).await;
            assert_eq!(
                reply.status,
                StatusCode::INTERNAL_SERVER_ERROR,
                "round {round}, {mode}: {}",
                reply.text()
            );
            assert!(
                reply.headers.len() < 20,
                "{mode}: no oversized head reached the client"
            );
        }
    }
    for mode in [
        "many-headers",
        "many-headers-answer",
        "huge-head",
        "huge-head-response",
    ] {
        assert_eq!(
            failures(&client, &host, mode, "invalid").await,
            Some(3.0),
            "{mode}"
        );
    }
    assert!(
        origin.seen().iter().all(|s| s.headers.len() < 20),
        "nothing oversized reached the origin"
    );
    let rss_after = host.rss_kib();
    println!(
        "RSS {} -> {} MiB after 12 oversized decisions",
        rss_before / 1024,
        rss_after / 1024
    );
    assert!(
        rss_after < rss_before + 200 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    let logs = host.logs().join("\n");
    assert!(!logs.contains("panicked"), "no panic: {logs}");
    assert!(
        logs.contains("more than 100 header fields") && logs.contains("head larger than"),
        "{logs}"
    );
    assert_eq!(client.get(host.proxy, "/fine").await.status, StatusCode::OK);
}

/// A client that leaves while a link runs (499) still finds that call in
/// the access log's `links` and in the metrics, as `cancelled`, in either
/// phase. (The `wasi:http` handler's case is in `wasi_http.rs`.)
#[tokio::test(flavor = "multi_thread")]
async fn a_call_cut_short_by_a_client_that_left_is_logged_and_counted() {
    let next = |link: &str, phase: &str| json!({ "link": link, "phase": phase, "outcome": "next" });
    let cancelled = |phase: &str| json!({ "link": "slow", "phase": phase, "outcome": "cancelled" });
    let cases = [
        (
            "sleep",
            "edgechain_plugin_instances_in_use{plugin=\"slow\"}",
            json!([next("tag", "request"), cancelled("request")]),
        ),
        (
            "sleep-response",
            "edgechain_upstream_duration_seconds_count",
            json!([
                next("tag", "request"),
                next("slow", "request"),
                cancelled("response")
            ]),
        ),
    ];
    for (mode, running, links) in cases {
        let origin = Origin::start(Behaviour::Echo).await;
        let dir = ConfigDir::new();
        dir.add_plugin("hostile").add_plugin("add-headers");
        dir.manifest(json!({ "proxychain": [
            { "name": "tag", "module": "add-headers.wasm", "config": { "response": { "x-chain": "ran" } } },
            { "name": "slow", "module": "hostile.wasm", "timeout_ms": 60000,
              "config": { "mode": mode, "sleep_ms": 60000 } },
        ]}));
        let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
        let client = TestClient::new();
        let line = leave_while_running(&host, "/evil/slow", running, 1.0).await;
        assert_eq!(line["links"], links, "{mode}: {line}");
        assert_eq!(line["cause"], "client_closed", "{mode}: {line}");
        let sample = |name: &str| format!("{name}{{plugin=\"slow\"}}");
        let cancelled_calls = sample("edgechain_plugin_cancelled_calls_total");
        assert_eq!(
            metric(&client, host.admin, &cancelled_calls).await,
            Some(1.0),
            "{mode}"
        );
        let calls = if mode == "sleep" { 1.0 } else { 2.0 };
        let total = sample("edgechain_plugin_calls_total");
        assert_eq!(
            metric(&client, host.admin, &total).await,
            Some(calls),
            "{mode}"
        );
        let in_use = sample("edgechain_plugin_instances_in_use");
        assert_eq!(
            metric(&client, host.admin, &in_use).await,
            Some(0.0),
            "{mode}: the instance is gone"
        );
        if mode == "sleep" {
            assert!(
                origin.seen().is_empty(),
                "the request never reached the next hop"
            );
        }
        // A call that returns is recorded by its outcome, not as cancelled.
        let reply = client.get(host.proxy, "/fine").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            metric(&client, host.admin, &cancelled_calls).await,
            Some(1.0),
            "{mode}"
        );
    }
}
