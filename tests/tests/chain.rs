//! The chain end to end: the real host between a real client and a real
//! origin, running plugins built from this workspace.

use bytes::Bytes;
use edgechain_tests::*;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::json;
use std::time::{Duration, Instant};

fn headers_dir() -> ConfigDir {
    let dir = ConfigDir::new();
    dir.add_plugin("block-paths")
        .add_plugin("add-headers")
        .manifest(json!({
            "proxychain": [
                { "name": "block", "module": "block-paths.wasm",
                  "config": { "prefixes": ["/admin"], "status": 403, "body": "nope\n" } },
                { "name": "headers", "module": "add-headers.wasm",
                  "config": "headers.json" }
            ]
        }));
    dir.write(
        "headers.json",
        json!({ "request": { "x-edge": "edgechain" }, "response": { "x-served-by": "edgechain" } })
            .to_string(),
    );
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_are_added_both_ways_and_proxy_headers_are_correct() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = headers_dir();
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    let req = Request::get("/hello?x=1")
        .header("host", "shop.example")
        .header("x-forwarded-for", "198.51.100.1")
        .header("section-io-id", "abc123")
        .header("connection", "x-hop")
        .header("x-hop", "secret")
        .body(Full::default())
        .expect("request");
    let reply = client.send(host.proxy_addr(), req).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-served-by"), "edgechain");
    assert_eq!(reply.header("x-origin"), "yes");
    assert_eq!(reply.text(), "hello from origin\n");

    let seen = origin.seen();
    assert_eq!(seen.len(), 1);
    let up = &seen[0];
    assert_eq!(up.path, "/hello?x=1");
    assert_eq!(up.headers["x-edge"], "edgechain");
    assert_eq!(up.headers["host"], "shop.example", "Host is kept");
    assert_eq!(up.headers["x-forwarded-for"], "198.51.100.1, 127.0.0.1");
    assert_eq!(up.headers["x-forwarded-proto"], "http");
    assert_eq!(up.headers["section-io-id"], "abc123");
    assert!(
        !up.headers.contains_key("x-hop"),
        "Connection-listed headers are hop-by-hop"
    );
    assert!(!reply.headers.contains_key("connection") || reply.header("connection") != "x-hop");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn blocked_path_is_answered_at_the_edge() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = headers_dir();
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    let reply = client.get(host.proxy_addr(), "/admin/users?x").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.text(), "nope\n");
    assert_eq!(reply.header("content-length"), "5");
    // The answering link was first, so no other link saw the response.
    assert_eq!(reply.header("x-served-by"), "");
    let ok = client.get(host.proxy_addr(), "/public").await;
    assert_eq!(ok.status, StatusCode::OK);
    let paths: Vec<String> = origin.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        vec!["/public"],
        "the blocked request never reached the origin"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn large_post_streams_through_byte_identical() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = headers_dir();
    let host = start_host(options(dir.path(), origin.addr)).await;
    // 8 MiB, well over any body limit: it can only pass if it is streamed.
    let body: Vec<u8> = (0..8 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let want = sha256_hex(&body);
    let req = Request::post("/upload")
        .body(Full::new(Bytes::from(body.clone())))
        .expect("request");
    let reply = TestClient::new().send(host.proxy_addr(), req).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-origin-body-len"), body.len().to_string());
    assert_eq!(reply.header("x-origin-body-sha256"), want);
    let seen = origin.seen();
    assert_eq!(seen[0].headers["content-length"], body.len().to_string());
    assert_eq!(seen[0].headers["x-edge"], "edgechain");
    host.shutdown().await;
}

fn body_dir(max_body_bytes: u64) -> ConfigDir {
    let dir = ConfigDir::new();
    dir.add_plugin("body-rewrite")
        .add_plugin("add-headers")
        .manifest(json!({
            "proxychain": [
                { "name": "headers", "module": "add-headers.wasm",
                  "config": { "request": { "x-first": "1" } } },
                { "name": "body", "module": "body-rewrite.wasm", "max_body_bytes": max_body_bytes }
            ]
        }));
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_reads_and_rewrites_both_bodies() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = body_dir(64 * 1024);
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    let req = Request::post("/submit")
        .header("transfer-encoding", "chunked")
        .body(Full::new(Bytes::from_static(b"hello body")))
        .expect("request");
    let reply = client.send(host.proxy_addr(), req).await;
    assert_eq!(reply.status, StatusCode::OK);
    let up = &origin.seen()[0];
    assert_eq!(up.body, Bytes::from_static(b"HELLO BODY"));
    assert_eq!(
        up.headers["content-length"], "10",
        "framing recomputed for the new body"
    );
    assert!(!up.headers.contains_key("transfer-encoding"));
    assert_eq!(up.headers["x-request-body-bytes"], "10");
    assert_eq!(up.headers["x-first"], "1");
    let want_body = "hello from origin\n\n-- rewritten at the edge\n";
    assert_eq!(reply.text(), want_body);
    assert_eq!(reply.header("x-response-body-bytes"), "18");
    assert_eq!(reply.header("content-length"), want_body.len().to_string());

    // The plugin answers at the edge when it sees `reject` in the body.
    let req = Request::post("/submit")
        .body(Full::new(Bytes::from_static(b"please reject me")))
        .expect("request");
    let reply = client.send(host.proxy_addr(), req).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(origin.seen().len(), 1);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_the_link_limit_are_refused() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = body_dir(1024);
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    // Declared too large.
    let req = Request::post("/big")
        .body(Full::new(Bytes::from(vec![b'x'; 4096])))
        .expect("request");
    assert_eq!(
        client.send(host.proxy_addr(), req).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Chunked, found too large while reading.
    let req = Request::post("/big")
        .header("transfer-encoding", "chunked")
        .body(Full::new(Bytes::from(vec![b'x'; 4096])))
        .expect("request");
    assert_eq!(
        client.send(host.proxy_addr(), req).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert!(
        origin.seen().is_empty(),
        "nothing over the limit reaches the origin"
    );
    // A response over the limit fails the link on the way back.
    let reply = client.get(host.proxy_addr(), "/bytes/5000").await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    let reply = client.get(host.proxy_addr(), "/bytes/500").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-response-body-bytes"), "500");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_are_rewritten_in_reverse_order_by_pinned_instances() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("trace").add_plugin("block-paths").manifest(json!({
        "proxychain": [
            { "name": "a", "module": "trace.wasm", "config": { "tag": "a" } },
            { "name": "b", "module": "trace.wasm", "config": { "tag": "b" }, "instance": "reuse" },
            { "name": "block", "module": "block-paths.wasm", "config": { "prefixes": ["/stop"] } },
            { "name": "c", "module": "trace.wasm", "config": { "tag": "c" } }
        ]
    }));
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    for i in 1..=3 {
        let reply = client.get(host.proxy_addr(), "/go").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("x-trace"), "c,b,a");
        // `a` and `c` get a fresh instance per request; `b` reuses its warm one.
        assert_eq!(reply.header("x-served-a"), "1");
        assert_eq!(reply.header("x-served-c"), "1");
        // Init ran on b's first instance without serving, then 3 requests.
        assert_eq!(reply.header("x-served-b"), i.to_string());
    }
    for (i, seen) in origin.seen().iter().enumerate() {
        assert_eq!(seen.headers["x-trace"], "a,b,c");
        // Each link counts in its own key-value namespace.
        for tag in ["a", "b", "c"] {
            assert_eq!(seen.headers[format!("x-kv-{tag}")], (i + 1).to_string());
            assert_eq!(seen.headers[format!("x-name-{tag}")], tag);
            assert_eq!(seen.headers[format!("x-ip-{tag}")], "127.0.0.1");
        }
    }
    // Answered at the edge by `block`: only the links before it see the response.
    let reply = client.get(host.proxy_addr(), "/stop").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.header("x-trace"), "b,a");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn upstream_connections_are_kept_alive_and_reused() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = headers_dir();
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    for i in 0..30 {
        let reply = client.get(host.proxy_addr(), &format!("/r{i}")).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(origin.seen().len(), 30);
    assert_eq!(
        origin.connections(),
        1,
        "sequential requests share one upstream connection"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dead_upstream_is_answered_502() {
    let dir = headers_dir();
    let host = start_host(options(dir.path(), dead_addr().await)).await;
    let reply = TestClient::new().get(host.proxy_addr(), "/x").await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.text(), "next hop unavailable\n");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_upstream_is_answered_504_after_the_timeout() {
    let origin = Origin::start(Behaviour::Hang).await;
    let dir = headers_dir();
    let mut opts = options(dir.path(), origin.addr);
    opts.upstream_timeout = Duration::from_millis(300);
    let host = start_host(opts).await;
    let started = Instant::now();
    let reply = TestClient::new().get(host.proxy_addr(), "/slow").await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(origin.seen().len(), 1, "the request did reach the origin");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_chain_is_a_plain_proxy() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.manifest(json!({ "proxychain": [] }));
    let host = start_host(options(dir.path(), origin.addr)).await;
    let reply = TestClient::new().get(host.proxy_addr(), "/plain").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "hello from origin\n");
    assert_eq!(origin.seen()[0].headers["x-forwarded-proto"], "http");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn host_is_one_and_agrees_with_the_target() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = headers_dir();
    let host = start_host(options(dir.path(), origin.addr)).await;
    let addr = host.proxy_addr();
    let send = |raw: &'static [u8]| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(raw).await.expect("write");
        let mut out = Vec::new();
        let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    };
    let two =
        send(b"GET / HTTP/1.1\r\nhost: a.example\r\nhost: b.example\r\nconnection: close\r\n\r\n")
            .await;
    assert!(two.starts_with("HTTP/1.1 400"), "{two}");
    let absolute = send(
        b"GET http://public.example/x HTTP/1.1\r\nhost: internal.example\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(absolute.starts_with("HTTP/1.1 200"), "{absolute}");
    let seen = origin.seen();
    assert_eq!(
        seen.len(),
        1,
        "the two-Host request never reached the origin"
    );
    assert_eq!(
        seen[0].headers["host"], "public.example",
        "Host follows the absolute target"
    );
    assert_eq!(seen[0].path, "/x");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn head_responses_keep_their_length_through_body_reading_links() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = body_dir(1024);
    let host = start_host(options(dir.path(), origin.addr)).await;
    let req = Request::head("/bytes/5000")
        .body(Full::default())
        .expect("request");
    let reply = TestClient::new().send(host.proxy_addr(), req).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "a HEAD answer is not a body over the limit"
    );
    assert_eq!(reply.header("content-length"), "5000");
    assert!(reply.body.is_empty());
    host.shutdown().await;
}

/// A `reuse` link keeps at most `max_warm` idle instances, and `/metrics`
/// shows its instances and their memory; without `max_warm` a small plugin
/// keeps every instance a burst made.
#[tokio::test(flavor = "multi_thread")]
async fn max_warm_bounds_the_idle_instances_a_reuse_link_keeps() {
    const BURST: usize = 6;
    for (max_warm, kept) in [(Some(2), 2), (None, BURST)] {
        let gate = Gate::start().await;
        let dir = ConfigDir::new();
        dir.add_plugin("trace");
        let mut link = json!({ "name": "t", "module": "trace.wasm", "instance": "reuse",
                               "config": { "tag": "t" } });
        if let Some(n) = max_warm {
            link["max_warm"] = json!(n);
        }
        dir.manifest(json!({ "proxychain": [link] }));
        let host = start_host(options(dir.path(), gate.addr)).await;
        let admin = host.admin_addr();
        let client = TestClient::new();
        let series = |name: &str| format!("{name}{{plugin=\"t\"}}");
        let requests: Vec<_> = (0..BURST)
            .map(|i| {
                let (client, proxy) = (client.clone(), host.proxy_addr());
                tokio::spawn(async move { client.get(proxy, &format!("/held/{i}")).await })
            })
            .collect();
        gate.wait_arrived(BURST, "the burst to reach the next hop")
            .await;
        let in_use = metric(&client, admin, &series("edgechain_plugin_instances_in_use")).await;
        assert_eq!(
            in_use,
            Some(BURST as f64),
            "each held request pins an instance"
        );
        let held = metric(&client, admin, &series("edgechain_plugin_memory_bytes"))
            .await
            .unwrap_or_default();
        assert!(held > 0.0, "the instances' memory is shown");
        gate.release();
        for r in requests {
            assert_eq!(r.await.expect("request").status, StatusCode::OK);
        }
        wait_for("every instance to be released", || async {
            (metric(&client, admin, &series("edgechain_plugin_instances_in_use")).await
                == Some(0.0))
            .then_some(())
        })
        .await;
        let warm = metric(&client, admin, &series("edgechain_plugin_instances_warm")).await;
        assert_eq!(warm, Some(kept as f64), "max_warm {max_warm:?}");
        let idle = metric(&client, admin, &series("edgechain_plugin_memory_bytes"))
            .await
            .unwrap_or_default();
        // The instances dropped took their memory with them.
        assert!(idle > 0.0 && idle <= held, "{idle} of {held}");
        if kept < BURST {
            assert!(idle < held, "{idle} of {held}");
        }
        host.shutdown().await;
    }
}
