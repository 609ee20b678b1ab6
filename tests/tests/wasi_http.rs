//! Standard `wasi:http` components as the chain's last link, and outbound
//! HTTP from plugins, in the real binary: off-the-shelf components built from
//! their crates.io sources (the `wasi` crate's HTTP proxy example and wstd's
//! `http_server` example, unchanged), `ext-auth` against a real auth service,
//! and a plugin calling an authority it was not granted.

use bytes::Bytes;
use edgechain_tests::*;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

const BIN: &str = env!("CARGO_BIN_EXE_edgechain-cli");

fn component(file: &str) -> PathBuf {
    PathBuf::from(env!("EDGECHAIN_TEST_WASI_HTTP_DIR")).join(file)
}

/// A chain: a header plugin, then the wstd example app as the terminal.
fn app_chain(app: Value) -> ConfigDir {
    let dir = ConfigDir::new();
    dir.add_plugin("add-headers");
    std::fs::copy(
        component("wstd_http_server.wasm"),
        dir.path().join("app.wasm"),
    )
    .expect("copy app");
    let mut app_link = json!({ "name": "app", "module": "app.wasm", "timeout_ms": 5000 });
    if let (Some(l), Some(extra)) = (app_link.as_object_mut(), app.as_object()) {
        l.extend(extra.clone());
    }
    dir.manifest(json!({ "proxychain": [
        { "name": "tag", "module": "add-headers.wasm",
          "config": { "request": { "x-edge": "1" }, "response": { "x-served-by": "edgechain" } } },
        app_link,
    ]}));
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn an_off_the_shelf_wasi_http_app_answers_behind_a_plugin() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = app_chain(json!({}));
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let client = TestClient::new();

    let hello = client.get(host.proxy, "/").await;
    assert_eq!(hello.status, StatusCode::OK);
    assert_eq!(hello.text(), "Hello, wasi:http/proxy world!\n");
    assert_eq!(
        hello.header("x-served-by"),
        "edgechain",
        "the earlier link's response phase ran"
    );

    // The request as the earlier link rewrote it reaches the app.
    let headers = client
        .send(
            host.proxy,
            http::Request::get("/echo-headers")
                .header("x-test", "yes")
                .body(Full::default())
                .expect("request"),
        )
        .await;
    assert_eq!(headers.header("x-edge"), "1");
    assert_eq!(headers.header("x-test"), "yes");

    // Bodies stream both ways: a 1 MiB upload echoed back byte for byte.
    let upload: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let echoed = client
        .send(
            host.proxy,
            http::Request::post("/echo")
                .body(Full::new(Bytes::from(upload.clone())))
                .expect("request"),
        )
        .await;
    assert_eq!(echoed.status, StatusCode::OK);
    assert_eq!(sha256_hex(&echoed.body), sha256_hex(&upload));

    // A streamed response arrives in pieces, not at the end.
    let started = Instant::now();
    let resp = hyper_get(host.proxy, "/stream-body").await;
    let (parts, mut body) = resp.into_parts();
    assert_eq!(parts.status, StatusCode::OK);
    let mut first = None;
    let mut text = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.expect("frame");
        if let Some(data) = frame.data_ref() {
            first.get_or_insert_with(|| started.elapsed());
            text.extend_from_slice(data);
        }
    }
    let total = started.elapsed();
    let first = first.expect("some body");
    println!("stream-body: first bytes after {first:?}, all after {total:?}");
    assert!(
        total - first > Duration::from_millis(250),
        "the body streamed"
    );
    assert_eq!(String::from_utf8_lossy(&text).lines().count(), 5);

    assert!(origin.seen().is_empty(), "the next hop was never asked");
    let line = wait_for("the access log line", || async {
        host.stdout()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["request"] == "GET / HTTP/1.1")
    })
    .await
    .0;
    assert_eq!(line["answered_by"], "app");
    // Four requests, one handler call each (counted when the head is ready).
    assert_eq!(
        metric(
            &client,
            host.admin,
            "edgechain_plugin_calls_total{plugin=\"app\"}"
        )
        .await,
        Some(4.0)
    );
}

async fn hyper_get(addr: SocketAddr, path: &str) -> http::Response<hyper::body::Incoming> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", "app.test")
        .body(Full::<Bytes>::default())
        .expect("request");
    tokio::time::timeout(WAIT, sender.send_request(req))
        .await
        .expect("in time")
        .expect("response")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_app_is_answered_by_its_policy_and_bounded_in_time() {
    let origin = Origin::start(Behaviour::Echo).await;
    let closed = app_chain(json!({ "timeout_ms": 300 }));
    let host = HostProcess::spawn(BIN, closed.path(), origin.addr, &[], &[]);
    let client = TestClient::new();
    let failed = client.get(host.proxy, "/response-fail").await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(failed.text(), "edge module failed\n");
    // Waiting (a sleep in the app) counts against its own time.
    let started = Instant::now();
    let slow = client.get(host.proxy, "/wait-response").await;
    assert_eq!(slow.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert!(
        metric(
            &client,
            host.admin,
            "edgechain_plugin_failures_total{plugin=\"app\",cause=\"timeout\"}"
        )
        .await
            == Some(1.0)
    );
    // A body cut off mid-stream is an aborted response, never a clean end.
    let cut = client
        .try_send(
            host.proxy,
            http::Request::get("/response-body-fail")
                .body(Full::default())
                .expect("request"),
        )
        .await;
    assert!(
        cut.is_err() || cut.as_ref().is_ok_and(|r| r.status.is_server_error()),
        "a failing body is not a complete answer: {cut:?}"
    );
    // wasi:http takes any three digits for a status; the host answers only
    // what a plugin may (200..=599), so the rest fail the app as invalid.
    let status = |code: &str| {
        http::Request::get("/response-status")
            .header("x-response-status", code)
            .body(Full::default())
            .expect("request")
    };
    let invalid = "edgechain_plugin_failures_total{plugin=\"app\",cause=\"invalid\"}";
    let before = metric(&client, host.admin, invalid).await.unwrap_or(0.0);
    for code in ["101", "150", "600", "999"] {
        let reply = client.send(host.proxy, status(code)).await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR, "{code}");
    }
    assert_eq!(
        metric(&client, host.admin, invalid).await,
        Some(before + 4.0)
    );
    assert_eq!(
        client.send(host.proxy, status("204")).await.status,
        StatusCode::NO_CONTENT
    );
    assert!(origin.seen().is_empty());
    drop(host);

    // fail-open: a bodiless request goes on to the next hop.
    let open = app_chain(json!({ "on_error": "fail-open" }));
    let host = HostProcess::spawn(BIN, open.path(), origin.addr, &[], &[]);
    let reply = client.get(host.proxy, "/response-fail").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "hello from origin\n");
    assert_eq!(origin.seen().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn wasi_http_components_load_only_where_they_can_serve() {
    // The `wasi` crate's proxy example, alone.
    let dir = ConfigDir::new();
    std::fs::copy(
        component("wasip2_http_proxy.wasm"),
        dir.path().join("proxy.wasm"),
    )
    .expect("copy");
    dir.manifest(json!({ "proxychain": [{ "name": "proxy", "module": "proxy.wasm" }] }));
    let origin = Origin::start(Behaviour::Echo).await;
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let reply = TestClient::new().get(host.proxy, "/").await;
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (StatusCode::OK, "Hello, WASI!")
    );
    drop(host);

    // Not last: refused, naming the link.
    dir.add_plugin("add-headers");
    dir.manifest(json!({ "proxychain": [
        { "name": "proxy", "module": "proxy.wasm" },
        { "name": "tag", "module": "add-headers.wasm" },
    ]}));
    let stderr = refused(dir.path());
    assert!(
        stderr.contains("link `proxy`") && stderr.contains("must be the last link"),
        "{stderr}"
    );

    // Settings a handler cannot take are refused, not ignored.
    dir.manifest(json!({ "proxychain": [
        { "name": "proxy", "module": "proxy.wasm", "config": { "greeting": "hi" } },
    ]}));
    let stderr = refused(dir.path());
    assert!(stderr.contains("has no `init`"), "{stderr}");
    dir.manifest(json!({ "proxychain": [
        { "name": "proxy", "module": "proxy.wasm", "instance": "reuse" },
    ]}));
    let stderr = refused(dir.path());
    assert!(stderr.contains("fresh instance per request"), "{stderr}");

    // A truncated component is refused.
    let mut bytes = std::fs::read(component("wstd_http_server.wasm")).expect("read");
    bytes.truncate(bytes.len() / 2);
    std::fs::write(dir.path().join("half.wasm"), bytes).expect("write");
    dir.manifest(json!({ "proxychain": [{ "name": "half", "module": "half.wasm" }] }));
    let stderr = refused(dir.path());
    assert!(stderr.contains("link `half`"), "{stderr}");
}

/// Run `edgechain validate` on `dir`, expect it to fail, return its stderr.
fn refused(dir: &std::path::Path) -> String {
    let out = std::process::Command::new(BIN)
        .arg("validate")
        .arg(dir)
        .output()
        .expect("validate");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "validate accepted {}: {stderr}",
        dir.display()
    );
    stderr
}

/// A real auth service: `authorization: Bearer good` is allowed (with
/// `x-user-id: alice`), `Bearer slow` answers after 2 s, anything else gets
/// 401 with a challenge and a body. Counts the requests it sees.
async fn auth_service() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    async move {
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let path = req
                            .headers()
                            .get("x-original-path")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        if auth == "Bearer slow" {
                            tokio::time::sleep(Duration::from_secs(2)).await;
                        }
                        let resp = if auth == "Bearer good" {
                            http::Response::builder()
                                .header("x-user-id", "alice")
                                .header("x-seen-path", path)
                                .body(Full::new(Bytes::from_static(b"ok")))
                        } else {
                            http::Response::builder()
                                .status(401)
                                .header("www-authenticate", "Bearer realm=\"edge\"")
                                .header("content-type", "text/plain")
                                .body(Full::new(Bytes::from_static(b"who are you?\n")))
                        };
                        Ok::<_, hyper::Error>(resp.expect("response"))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, seen)
}

fn ext_auth_chain(auth: SocketAddr, grant: &str, on_failure: &str) -> ConfigDir {
    let dir = ConfigDir::new();
    dir.add_plugin("ext-auth");
    dir.manifest(json!({ "proxychain": [{
        "name": "auth", "module": "ext-auth.wasm", "timeout_ms": 600,
        "grants": { "http": [grant] },
        "config": { "url": format!("http://{auth}/check"), "allow_headers": ["x-user-id"],
                    "timeout_ms": 300, "on_failure": on_failure }
    }]}));
    dir
}

async fn get_as(client: &TestClient, addr: SocketAddr, path: &str, token: &str) -> Reply {
    client
        .send(
            addr,
            http::Request::get(path)
                .header("authorization", format!("Bearer {token}"))
                .header("x-user-id", "mallory")
                .body(Full::default())
                .expect("request"),
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn ext_auth_asks_a_real_service_and_follows_its_answer() {
    let origin = Origin::start(Behaviour::Echo).await;
    let (auth, auth_seen) = auth_service().await;
    let dir = ext_auth_chain(auth, &auth.to_string(), "deny");
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let client = TestClient::new();

    // Allowed: the service's x-user-id replaces the client's forged one.
    let ok = get_as(&client, host.proxy, "/%61ccount", "good").await;
    assert_eq!(ok.status, StatusCode::OK);
    let seen = origin.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].headers["x-user-id"], "alice");
    assert_eq!(
        seen[0].path, "/%61ccount",
        "the next hop gets the raw target"
    );

    // Denied: the client gets the service's status, challenge and body.
    let denied = get_as(&client, host.proxy, "/account", "bad").await;
    assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
    assert_eq!(denied.header("www-authenticate"), "Bearer realm=\"edge\"");
    assert_eq!(denied.text(), "who are you?\n");
    assert_eq!(
        origin.seen().len(),
        1,
        "a denied request never reaches the origin"
    );

    // The service too slow: on_failure deny answers 503.
    let started = Instant::now();
    let slow = get_as(&client, host.proxy, "/account", "slow").await;
    assert_eq!(slow.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(origin.seen().len(), 1);
    assert_eq!(auth_seen.load(Ordering::SeqCst), 3);

    let authority = auth.to_string();
    let series = |outcome: &str| {
        format!(
            "edgechain_plugin_http_requests_total{{plugin=\"auth\",authority=\"{authority}\",outcome=\"{outcome}\"}}"
        )
    };
    assert_eq!(metric(&client, host.admin, &series("ok")).await, Some(2.0));
    assert_eq!(
        metric(&client, host.admin, &series("timeout")).await,
        Some(1.0)
    );
    drop(host);

    // on_failure allow: the slow service lets the request on, without the
    // client's forged x-user-id.
    let dir = ext_auth_chain(auth, &auth.to_string(), "allow");
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let slow = get_as(&client, host.proxy, "/account", "slow").await;
    assert_eq!(slow.status, StatusCode::OK);
    let last = origin.seen().pop().expect("reached the origin");
    assert!(
        last.headers.get("x-user-id").is_none(),
        "{:?}",
        last.headers
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authority_that_is_not_granted_is_never_contacted() {
    let origin = Origin::start(Behaviour::Echo).await;
    let (auth, auth_seen) = auth_service().await;
    // Granted some other authority only.
    let dir = ext_auth_chain(auth, "other.internal:8080", "deny");
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let client = TestClient::new();
    let reply = get_as(&client, host.proxy, "/", "good").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        auth_seen.load(Ordering::SeqCst),
        0,
        "no connection was attempted"
    );
    assert!(origin.seen().is_empty());
    let denied = metric(
        &client,
        host.admin,
        "edgechain_plugin_http_requests_total{plugin=\"auth\",authority=\"denied\",outcome=\"denied\"}",
    )
    .await;
    assert_eq!(denied, Some(1.0));
    wait_for("the plugin's error log", || async {
        host.logs()
            .iter()
            .any(|l| l.contains("\"plugin\":\"auth\"") && l.contains("not granted"))
            .then_some(())
    })
    .await;
}

/// A client that leaves while the terminal app runs (499) finds the app's
/// call in the access log's `links` as `cancelled`, and counted.
#[tokio::test(flavor = "multi_thread")]
async fn an_app_call_cut_short_by_a_client_that_left_is_logged_and_counted() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = app_chain(json!({}));
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    // The example app sleeps a second before answering `/wait-response`.
    let running = "edgechain_plugin_instances_in_use{plugin=\"app\"}";
    let line = leave_while_running(&host, "/wait-response", running, 1.0).await;
    assert_eq!(
        line["links"],
        json!([
            { "link": "tag", "phase": "request", "outcome": "next" },
            { "link": "app", "phase": "request", "outcome": "cancelled" },
        ]),
        "{line}"
    );
    let client = TestClient::new();
    let sample = |name: &str| format!("{name}{{plugin=\"app\"}}");
    assert_eq!(
        metric(
            &client,
            host.admin,
            &sample("edgechain_plugin_cancelled_calls_total")
        )
        .await,
        Some(1.0)
    );
    assert!(
        origin.seen().is_empty(),
        "the app answers, not the next hop"
    );
}

/// A terminal app with a `when` answers only the requests in its scope; the
/// others go on to the next hop, and the links before it run either way.
#[tokio::test(flavor = "multi_thread")]
async fn a_scoped_terminal_app_answers_in_scope_and_the_next_hop_the_rest() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = app_chain(json!({ "when": { "path": { "prefix": "/app" } } }));
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let client = TestClient::new();
    let outside = client.get(host.proxy, "/elsewhere").await;
    assert_eq!(outside.status, StatusCode::OK);
    assert_eq!(
        outside.text(),
        "hello from origin\n",
        "the next hop answered"
    );
    assert_eq!(outside.header("x-served-by"), "edgechain");
    assert_eq!(origin.seen().len(), 1);
    // wstd's example answers paths it does not route with 404: it ran.
    let inside = client.get(host.proxy, "/%61pp/x").await;
    assert_ne!(inside.text(), "hello from origin\n", "the app answered");
    assert_eq!(inside.header("x-served-by"), "edgechain");
    assert_eq!(origin.seen().len(), 1, "nothing more reached the next hop");
    let calls = metric(
        &client,
        host.admin,
        "edgechain_plugin_calls_total{plugin=\"app\"}",
    )
    .await;
    assert_eq!(calls, Some(1.0));
    let skipped = metric(
        &client,
        host.admin,
        "edgechain_plugin_skipped_total{plugin=\"app\"}",
    )
    .await;
    assert_eq!(skipped, Some(1.0));
}
