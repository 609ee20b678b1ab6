//! HTTP conformance of the real binary, with raw sockets on both sides: what
//! a proxy must refuse, the path plugins match on, WebSockets, who gets
//! blamed for a failure, framing from the origin, accounting of every
//! request the listener answers, and keep-alive. Each class pins the choice
//! documented in README's "What the host does to HTTP" and `docs/security.md`.

use edgechain_tests::*;
use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_edgechain-cli");

/// The chain most tests run: `/admin` blocked at the edge, a header added.
fn chain() -> ConfigDir {
    chain_tagging(json!({ "request": { "x-edge": "1" } }))
}

/// `/admin` blocked, then `add-headers` (link `tag`) with `tag_config`.
fn chain_tagging(tag_config: Value) -> ConfigDir {
    let dir = ConfigDir::new();
    dir.add_plugin("block-paths").add_plugin("add-headers");
    dir.manifest(json!({ "proxychain": [
        { "name": "block", "module": "block-paths.wasm", "config": { "prefixes": ["/admin"] } },
        { "name": "tag", "module": "add-headers.wasm", "config": tag_config },
    ]}));
    dir
}

/// A response read off a raw socket.
#[derive(Debug)]
struct RawReply {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

/// Read one response (head, then a body framed by length or chunks, or up to
/// the close) from `s`, within [`WAIT`].
async fn read_reply(s: &mut TcpStream, head_request: bool) -> Option<RawReply> {
    let read = async {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut body = buf[head_end..].to_vec();
        let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
        let reply = RawReply {
            status,
            head,
            body: Vec::new(),
        };
        let chunked = reply
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let no_body = head_request || status == 204 || status == 304 || status < 200;
        if no_body {
        } else if chunked {
            while !body.windows(5).any(|w| w == b"0\r\n\r\n") {
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            body = dechunk(&body);
        } else if let Some(len) = reply
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            while body.len() < len {
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            let _ = s.read_to_end(&mut body).await;
        }
        Some(RawReply { body, ..reply })
    };
    tokio::time::timeout(WAIT, read).await.ok().flatten()
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
}

/// Send `bytes` on a new connection and read one response.
async fn exchange(addr: SocketAddr, bytes: &[u8]) -> Option<RawReply> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    read_reply(&mut s, bytes.starts_with(b"HEAD")).await
}

/// An origin scripted at the byte level: it reads each request head (and a
/// `Content-Length` body), records it, and writes what `answer` returns for
/// (connection number, request number on it).
struct RawOrigin {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RawOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RawOrigin {
    async fn start(answer: fn(usize, usize, &str) -> Vec<u8>) -> RawOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (c, h) = (connections.clone(), heads.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = listener.accept().await else {
                    continue;
                };
                let conn = c.fetch_add(1, Ordering::SeqCst);
                let heads = h.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    for n in 0.. {
                        let end = loop {
                            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                break i + 4;
                            }
                            let mut chunk = [0u8; 8192];
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        while buf.len() < end + len {
                            let mut chunk = [0u8; 8192];
                            match s.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(k) => buf.extend_from_slice(&chunk[..k]),
                            }
                        }
                        buf.drain(..end + len);
                        heads.lock().expect("heads").push(head.clone());
                        if s.write_all(&answer(conn, n, &head)).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        RawOrigin {
            addr,
            connections,
            heads,
            task,
        }
    }

    fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("heads").clone()
    }
}

fn ok_answer(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn access_lines(host: &HostProcess) -> Vec<Value> {
    host.stdout()
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

async fn wait_for_access_line(
    host: &HostProcess,
    what: &str,
    matches: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(what, || async {
        access_lines(host).into_iter().find(|l| matches(l))
    })
    .await
    .0
}

async fn metric_value(host: &HostProcess, series: &str) -> f64 {
    metric(&TestClient::new(), host.admin, series)
        .await
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn methods_and_targets_a_proxy_must_not_forward_are_answered_here() {
    let origin = RawOrigin::start(|_, _, _| ok_answer("origin")).await;
    let dir = chain();
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let connect = exchange(
        host.proxy,
        b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n",
    )
    .await
    .expect("answer");
    assert_eq!(connect.status, 405);
    assert!(
        connect
            .header("allow")
            .is_some_and(|a| !a.contains("CONNECT"))
    );
    let trace = exchange(host.proxy, b"TRACE / HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .expect("answer");
    assert_eq!(trace.status, 405);
    let star = exchange(host.proxy, b"OPTIONS * HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .expect("answer");
    assert_eq!(star.status, 200);
    assert!(star.header("allow").is_some_and(|a| a.contains("GET")));
    let star_get = exchange(host.proxy, b"GET * HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .expect("answer");
    assert_eq!(star_get.status, 400);
    // Authority-form is CONNECT's; absolute-form names an http(s) resource.
    for target in ["internal.example:8080", "ftp://a.example/x"] {
        let reply = exchange(
            host.proxy,
            format!("GET {target} HTTP/1.1\r\nhost: public.example\r\n\r\n").as_bytes(),
        )
        .await
        .expect("answer");
        assert_eq!(reply.status, 400, "{target}");
    }
    assert!(
        origin.heads().is_empty(),
        "none reached the next hop: {:?}",
        origin.heads()
    );
    let fine = exchange(host.proxy, b"OPTIONS /x HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .expect("answer");
    assert_eq!(fine.status, 200, "OPTIONS on a path is forwarded");
    assert_eq!(origin.heads().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn host_is_required_single_and_valid() {
    let origin = RawOrigin::start(|_, _, _| ok_answer("origin")).await;
    let dir = chain();
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    for (what, request) in [
        ("missing", &b"GET / HTTP/1.1\r\n\r\n"[..]),
        ("two", b"GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n"),
        ("userinfo", b"GET / HTTP/1.1\r\nhost: user@a\r\n\r\n"),
        ("bad port", b"GET / HTTP/1.1\r\nhost: a:http\r\n\r\n"),
        ("space", b"GET / HTTP/1.1\r\nhost: a b\r\n\r\n"),
    ] {
        let reply = exchange(host.proxy, request).await.expect("answer");
        assert_eq!(reply.status, 400, "{what}: {reply:?}");
    }
    assert!(origin.heads().is_empty(), "none reached the next hop");
    // HTTP/1.0 may omit Host: forwarded as HTTP/1.1 with the next hop's.
    let reply = exchange(host.proxy, b"GET /old HTTP/1.0\r\n\r\n")
        .await
        .expect("answer");
    assert_eq!(reply.status, 200);
    let head = &origin.heads()[0];
    assert!(head.starts_with("GET /old HTTP/1.1\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("host: {}", origin.addr)),
        "{head}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_spelling_of_a_blocked_path_is_blocked_and_ambiguous_ones_refused() {
    let origin = RawOrigin::start(|_, _, _| ok_answer("origin")).await;
    let dir = chain();
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    for path in [
        "/admin",
        "/%61dmin",
        "/%61%64%6d%69%6e/x",
        "//admin",
        "/x/../admin",
        "/./admin",
        "/x/%2e%2e/admin",
        "/admin/",
    ] {
        let reply = exchange(
            host.proxy,
            format!("GET {path} HTTP/1.1\r\nhost: a\r\n\r\n").as_bytes(),
        )
        .await
        .expect("answer");
        assert_eq!(reply.status, 403, "{path} walks past block-paths");
    }
    for path in [
        "/../admin",
        "/x/../../admin",
        "/a%00b",
        "/a%zz",
        "/a\\..\\admin",
        "/%5cadmin",
    ] {
        let reply = exchange(
            host.proxy,
            format!("GET {path} HTTP/1.1\r\nhost: a\r\n\r\n").as_bytes(),
        )
        .await
        .expect("answer");
        assert_eq!(reply.status, 400, "{path} is ambiguous");
    }
    assert!(
        origin.heads().is_empty(),
        "none reached the next hop: {:?}",
        origin.heads()
    );
    // What is forwarded is the raw target (as nginx does).
    let reply = exchange(
        host.proxy,
        b"GET /public//x/./y?q=/../a HTTP/1.1\r\nhost: a\r\n\r\n",
    )
    .await
    .expect("answer");
    assert_eq!(reply.status, 200);
    assert!(
        origin.heads()[0].starts_with("GET /public//x/./y?q=/../a HTTP/1.1"),
        "{}",
        origin.heads()[0]
    );
}

/// Every spelling of a separator built from an escape, for a path rule on
/// `/admin`: encoded slashes in both cases, with dot segments around them.
const ESCAPED_SLASH_SPELLINGS: [&str; 9] = [
    "/%2Fadmin/x",
    "/%2fadmin/x",
    "/%2F%2Fadmin",
    "/.%2Fadmin",
    "/x/..%2Fadmin/x",
    "/x/..%2fadmin",
    "/x/%2e%2e%2Fadmin",
    "/x%2F..%2Fadmin/x",
    "/a/b/%2E%2E%2f%2E%2E%2fadmin",
];

/// Backslashes, raw or encoded: refused under every `--escaped-slashes`.
const BACKSLASH_SPELLINGS: [&str; 4] = ["/%5Cadmin", "/%5cadmin", "/x/..%5Cadmin", "/x/..\\admin"];

/// `trace` (tag `t`, `/rewrite` passed on as `rewrite_to`), then
/// `block-paths` for `/admin`.
fn rule_behind_a_rewriter(rewrite_to: &str) -> ConfigDir {
    let dir = ConfigDir::new();
    dir.add_plugin("trace").add_plugin("block-paths");
    dir.manifest(json!({ "proxychain": [
        { "name": "t", "module": "trace.wasm", "config": { "tag": "t", "rewrite_to": rewrite_to } },
        { "name": "block", "module": "block-paths.wasm", "config": { "prefixes": ["/admin"] } },
    ]}));
    dir
}

async fn get_raw(addr: SocketAddr, target: &str) -> RawReply {
    exchange(
        addr,
        format!("GET {target} HTTP/1.1\r\nhost: a\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap_or_else(|| panic!("no answer for {target}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn no_encoded_separator_walks_past_a_path_rule_under_any_escaped_slashes_policy() {
    let origin = RawOrigin::start(|_, _, _| ok_answer("origin")).await;
    let dir = rule_behind_a_rewriter("/x/..%2Fadmin");
    for policy in ["default", "reject", "redirect", "decode", "keep"] {
        let flags: Vec<&str> = match policy {
            "default" => vec![],
            p => vec!["--escaped-slashes", p],
        };
        let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &flags, &[]);
        let before = origin.heads().len();
        for target in ESCAPED_SLASH_SPELLINGS {
            let reply = get_raw(host.proxy, target).await;
            match policy {
                "default" | "reject" => assert_eq!(reply.status, 400, "{policy}: {target}"),
                "decode" => assert_eq!(reply.status, 403, "{policy}: {target}"),
                "redirect" => {
                    assert_eq!(reply.status, 308, "{policy}: {target}");
                    let location = reply.header("location").expect("location");
                    assert!(!location.to_ascii_lowercase().contains("%2f"), "{location}");
                    // Following it meets the rule.
                    let followed = get_raw(host.proxy, &location).await;
                    assert_eq!(followed.status, 403, "{policy}: {target} -> {location}");
                }
                // Documented as unsafe in front of an origin that decodes:
                // the plugins see `%2F` as data.
                _ => assert_eq!(reply.status, 200, "{policy}: {target}"),
            }
        }
        for target in BACKSLASH_SPELLINGS {
            assert_eq!(
                get_raw(host.proxy, target).await.status,
                400,
                "{policy}: {target}"
            );
        }
        // A plugin's rewrite is held to the same rule.
        let rewritten = get_raw(host.proxy, "/rewrite").await;
        let want = match policy {
            "decode" => 403,
            "keep" => 200,
            _ => 500,
        };
        assert_eq!(
            rewritten.status, want,
            "{policy}: a link rewriting to /x/..%2Fadmin"
        );
        if policy != "keep" {
            assert_eq!(
                origin.heads().len(),
                before,
                "{policy}: nothing reached the next hop: {:?}",
                &origin.heads()[before..]
            );
        }
        // Double encoding is data under every policy, as with nginx.
        let reply = get_raw(host.proxy, "/%252Fadmin/x").await;
        assert_eq!(reply.status, 200, "{policy}: %252F");
        let head = origin.heads().last().cloned().unwrap_or_default();
        assert!(
            head.starts_with("GET /%252Fadmin/x HTTP/1.1"),
            "{policy}: {head}"
        );
        assert!(head.contains("x-path-t: /%252Fadmin/x"), "{policy}: {head}");
        // A benign encoded slash: what plugins saw is what the next hop got.
        let reply = get_raw(host.proxy, "/files/a%2Fb?next=%2F").await;
        let head = origin.heads().last().cloned().unwrap_or_default();
        match policy {
            "decode" => {
                assert_eq!(reply.status, 200);
                assert!(
                    head.starts_with("GET /files/a/b?next=%2F HTTP/1.1"),
                    "{head}"
                );
                assert!(head.contains("x-path-t: /files/a/b\r\n"), "{head}");
            }
            "keep" => {
                assert_eq!(reply.status, 200);
                assert!(
                    head.starts_with("GET /files/a%2Fb?next=%2F HTTP/1.1"),
                    "{head}"
                );
                assert!(head.contains("x-path-t: /files/a%2Fb\r\n"), "{head}");
            }
            "redirect" => {
                assert_eq!(reply.status, 308);
                assert_eq!(
                    reply.header("location").as_deref(),
                    Some("/files/a/b?next=%2F")
                );
            }
            _ => assert_eq!(reply.status, 400),
        }
    }
}

/// A WebSocket echo origin that first sends back the `x-edge` header its
/// handshake carried.
#[allow(clippy::result_large_err)] // tungstenite's callback signature
async fn websocket_origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((s, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let seen = Arc::new(Mutex::new(String::new()));
                let seen2 = seen.clone();
                let callback =
                    move |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                          resp| {
                        let edge = req
                            .headers()
                            .get("x-edge")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        *seen2.lock().expect("seen") = format!("x-edge={edge}");
                        Ok(resp)
                    };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(s, callback).await else {
                    return;
                };
                let hello = seen.lock().expect("seen").clone();
                let _ = ws.send(Message::text(hello)).await;
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_close() {
                        break;
                    }
                    if ws.send(msg).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A WebSocket to `/socket` through `host`: the 101 (checked), and the socket
/// after the origin's greeting, which says the chain ran on the handshake.
async fn handshake(
    host: &HostProcess,
) -> (
    Socket,
    tokio_tungstenite::tungstenite::handshake::client::Response,
) {
    let url = format!("ws://{}/socket", host.proxy);
    let (mut ws, resp) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(&url))
        .await
        .expect("handshake in time")
        .expect("101 through the chain");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    let hello = ws.next().await.expect("message").expect("text");
    assert_eq!(
        hello.to_text().expect("text"),
        "x-edge=1",
        "the chain ran on the handshake"
    );
    (ws, resp)
}

#[tokio::test(flavor = "multi_thread")]
async fn websockets_run_through_the_chain_both_ways_and_drain_on_sigterm() {
    let origin = websocket_origin().await;
    let dir = chain();
    let host = HostProcess::spawn(BIN, dir.path(), origin, &[], &[]);
    let (mut ws, _) = handshake(&host).await;
    for i in 0..20 {
        let text = format!("ping {i}");
        ws.send(Message::text(text.clone())).await.expect("send");
        let back = ws.next().await.expect("echo").expect("frame");
        assert_eq!(back.to_text().expect("text"), text);
    }
    let big = vec![7u8; 256 * 1024];
    ws.send(Message::binary(big.clone()))
        .await
        .expect("send binary");
    assert_eq!(
        ws.next()
            .await
            .expect("echo")
            .expect("frame")
            .into_data()
            .to_vec(),
        big
    );

    // A plugin can refuse the handshake.
    let refused =
        tokio_tungstenite::connect_async(format!("ws://{}/admin/socket", host.proxy)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("the blocked handshake: {other:?}"),
    }

    // SIGTERM: the open tunnel keeps working until it closes, then the
    // process exits 0.
    let pid = host.pid();
    let _ = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status();
    tokio::time::sleep(Duration::from_millis(300)).await;
    ws.send(Message::text("after sigterm"))
        .await
        .expect("send while draining");
    let back = ws
        .next()
        .await
        .expect("echo while draining")
        .expect("frame");
    assert_eq!(back.to_text().expect("text"), "after sigterm");
    ws.close(None).await.expect("close");
    drop(ws);
    let line = wait_for_access_line(&host, "the tunnel's access log line", |l| {
        l["status"] == 101
            && l["request"]
                .as_str()
                .is_some_and(|r| r.starts_with("GET /socket"))
    })
    .await;
    assert!(
        line["response_body_bytes"].as_u64().unwrap_or(0) > 256 * 1024,
        "{line}"
    );
    let (status, took) = host.terminate_within(Duration::from_secs(10));
    assert!(status.success(), "exit after the drain: {status:?}");
    println!("tunnel drained; exit {took:?} after the tunnel closed");
}

/// A chain whose last link rewrites every response (a response phase).
fn chain_with_response_phase() -> ConfigDir {
    chain_tagging(
        json!({ "request": { "x-edge": "1" }, "response": { "x-served-by": "edgechain" } }),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_switch_passes_links_that_rewrite_responses() {
    // The next hop's 101 is not the plugin's status: a link that adds a
    // header to every response must not fail the handshake.
    let origin = websocket_origin().await;
    let dir = chain_with_response_phase();
    let host = HostProcess::spawn(BIN, dir.path(), origin, &[], &[]);
    let (mut ws, resp) = handshake(&host).await;
    assert_eq!(
        resp.headers().get("x-served-by").map(|v| v.as_bytes()),
        Some(&b"edgechain"[..]),
        "the response phase ran on the 101"
    );
    ws.send(Message::text("ping")).await.expect("send");
    let back = ws.next().await.expect("echo").expect("frame");
    assert_eq!(back.to_text().expect("text"), "ping");
    ws.close(None).await.expect("close");
    assert_eq!(
        metric_value(
            &host,
            "edgechain_plugin_failures_total{plugin=\"tag\",cause=\"invalid\"}"
        )
        .await,
        0.0,
        "no link was blamed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_next_hop_head_this_hop_must_not_pass_on_is_a_502_not_a_plugins_fault() {
    let origin = RawOrigin::start(|_, _, head| {
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        match path.as_str() {
            "/status-600" => b"HTTP/1.1 600 Nonsense\r\ncontent-length: 0\r\n\r\n".to_vec(),
            "/unasked-switch" => {
                b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n"
                    .to_vec()
            }
            "/huge-head" => format!(
                "HTTP/1.1 200 OK\r\nx-huge: {}\r\ncontent-length: 0\r\n\r\n",
                "a".repeat(70_000)
            )
            .into_bytes(),
            "/many-fields" => {
                let fields: String = (0..30).map(|i| format!("x-f{i}: {i}\r\n")).collect();
                format!("HTTP/1.1 200 OK\r\n{fields}content-length: 0\r\n\r\n").into_bytes()
            }
            "/reset-content" => {
                b"HTTP/1.1 205 Reset Content\r\ncontent-length: 5\r\n\r\nhello".to_vec()
            }
            _ => ok_answer("fine"),
        }
    })
    .await;
    // With a response phase and without one: the answer is the same. The
    // field limit is lowered so that it, not hyper's default (100), is tested.
    for dir in [chain_with_response_phase(), chain()] {
        let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &["--max-headers", "20"], &[]);
        for path in [
            "/status-600",
            "/unasked-switch",
            "/huge-head",
            "/many-fields",
        ] {
            let reply = exchange(
                host.proxy,
                format!("GET {path} HTTP/1.1\r\nhost: a\r\n\r\n").as_bytes(),
            )
            .await
            .expect("answer");
            assert_eq!(reply.status, 502, "{path}: {}", reply.head);
        }
        assert_eq!(
            metric_value(&host, "edgechain_upstream_errors_total{kind=\"protocol\"}").await,
            4.0
        );
        assert_eq!(
            metric_value(
                &host,
                "edgechain_plugin_failures_total{plugin=\"tag\",cause=\"invalid\"}"
            )
            .await,
            0.0,
            "no link was blamed"
        );
        // 205 carries no content, whatever the next hop sent.
        let reset = exchange(
            host.proxy,
            b"GET /reset-content HTTP/1.1\r\nhost: a\r\n\r\n",
        )
        .await
        .expect("answer");
        assert_eq!(reset.status, 205);
        assert!(reset.body.is_empty(), "{reset:?}");
        assert_eq!(reset.header("content-length").as_deref(), Some("0"));
        let fine = exchange(host.proxy, b"GET /after HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .expect("answer");
        assert_eq!(fine.status, 200, "still serving");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_faults_are_answered_as_the_clients_and_never_blame_the_origin() {
    let origin = RawOrigin::start(|_, _, _| ok_answer("origin")).await;
    let dir = chain();
    let host = HostProcess::spawn(
        BIN,
        dir.path(),
        origin.addr,
        &["--body-idle-timeout-ms", "500"],
        &[],
    );
    // A malformed chunked body.
    let reply = exchange(
        host.proxy,
        b"POST /upload HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\nZZZ\r\n",
    )
    .await
    .expect("answer");
    assert_eq!(reply.status, 400, "{reply:?}");
    // A small body that stalls: 408, and the origin never saw it.
    let started = Instant::now();
    let mut s = TcpStream::connect(host.proxy).await.expect("connect");
    s.write_all(b"POST /slow HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\nonly part")
        .await
        .expect("write");
    let reply = read_reply(&mut s, false).await.expect("answer");
    let took = started.elapsed();
    assert_eq!(reply.status, 408, "{reply:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(
        origin.heads().iter().all(|h| !h.contains("/slow")),
        "the origin never waited for it"
    );
    // A large body that stalls after streaming began: 408, not 504.
    let mut s = TcpStream::connect(host.proxy).await.expect("connect");
    s.write_all(b"POST /big HTTP/1.1\r\nhost: a\r\ncontent-length: 1000000\r\n\r\n")
        .await
        .expect("write");
    s.write_all(&vec![b'x'; 200_000]).await.expect("write part");
    let reply = read_reply(&mut s, false).await.expect("answer");
    assert_eq!(reply.status, 408, "{reply:?}");
    assert_eq!(
        metric_value(&host, "edgechain_upstream_errors_total{kind=\"protocol\"}").await
            + metric_value(&host, "edgechain_upstream_errors_total{kind=\"timeout\"}").await,
        0.0,
        "the next hop is not blamed"
    );
    assert_eq!(
        exchange(host.proxy, b"GET /after HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .expect("answer")
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ambiguous_origin_framing_is_fixed_and_such_connections_are_never_reused() {
    // Connection 0 answers with both Content-Length and chunked framing (and
    // a would-be smuggled response after the body); later ones are honest.
    let origin = RawOrigin::start(|conn, _, head| {
        if conn == 0 {
            let body = "0123456789abcdefghij";
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\nsmuggled",
                body.len()
            )
            .into_bytes()
        } else {
            let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
            ok_answer(&format!("honest {path}"))
        }
    })
    .await;
    let dir = chain();
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let mut s = TcpStream::connect(host.proxy).await.expect("connect");
    s.write_all(b"GET /first HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .expect("write");
    let first = read_reply(&mut s, false).await.expect("answer");
    assert_eq!(first.status, 200);
    assert_eq!(
        first.body, b"0123456789abcdefghij",
        "the whole chunked body, not Content-Length's 5 bytes"
    );
    assert!(first.header("content-length").is_none(), "{}", first.head);
    for i in 0..3 {
        s.write_all(format!("GET /next{i} HTTP/1.1\r\nhost: a\r\n\r\n").as_bytes())
            .await
            .expect("write");
        let next = read_reply(&mut s, false).await.expect("answer");
        assert_eq!(
            String::from_utf8_lossy(&next.body),
            format!("honest /next{i}"),
            "never another answer"
        );
    }
    assert!(
        origin.connections.load(Ordering::SeqCst) >= 2,
        "the ambiguous connection was not reused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_not_read_to_its_end_never_returns_its_connection() {
    let origin = RawOrigin::start(|_, n, head| {
        if head.starts_with("GET /large") {
            let mut out = b"HTTP/1.1 200 OK\r\ncontent-length: 4000000\r\n\r\n".to_vec();
            out.extend(std::iter::repeat_n(b'L', 4_000_000));
            out
        } else {
            ok_answer(&format!("small {n}"))
        }
    })
    .await;
    let dir = chain();
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    {
        let mut s = TcpStream::connect(host.proxy).await.expect("connect");
        s.write_all(b"GET /large HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .expect("write");
        let mut head = [0u8; 64];
        let _ = s.read(&mut head).await;
        // The client leaves mid-body.
    }
    for _ in 0..5 {
        let reply = exchange(host.proxy, b"GET /small HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .expect("answer");
        assert_eq!(reply.status, 200);
        assert!(
            String::from_utf8_lossy(&reply.body).starts_with("small"),
            "{:?}",
            String::from_utf8_lossy(&reply.body[..reply.body.len().min(40)])
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_request_the_listener_answers_is_logged_and_counted() {
    let origin = RawOrigin::start(|_, _, _| ok_answer("origin")).await;
    let dir = chain();
    let host = HostProcess::spawn(
        BIN,
        dir.path(),
        origin.addr,
        &["--header-read-timeout-ms", "300", "--max-connections", "3"],
        &[],
    );
    let malformed = exchange(host.proxy, b"G@RBAGE / HTTP/1.1\r\n\r\n")
        .await
        .expect("answer");
    assert_eq!(malformed.status, 400);
    // An HTTP/2 prior-knowledge client is closed on, not answered, and no
    // answer is logged for it.
    let h2 = exchange(host.proxy, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    assert!(h2.is_none(), "{h2:?}");
    let big = format!(
        "GET /big HTTP/1.1\r\nhost: a\r\nx-big: {}\r\n\r\n",
        "b".repeat(40 * 1024)
    );
    let oversized = exchange(host.proxy, big.as_bytes()).await.expect("answer");
    assert_eq!(oversized.status, 431);
    let slow = exchange(host.proxy, b"GET /slow HTTP/1.1\r\nhost: a\r\nx-slow: 1")
        .await
        .expect("answer");
    assert_eq!(slow.status, 408);
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(host.proxy).await.expect("connect");
        s.write_all(b"GET /hold HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .expect("write");
        assert_eq!(read_reply(&mut s, false).await.expect("answer").status, 200);
        held.push(s);
    }
    let over = exchange(host.proxy, b"GET /over HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .expect("answer");
    assert_eq!(over.status, 503);
    drop(held);
    // Each line says what went on the wire: bytes, body bytes, content type.
    for (status, request, reply) in [
        (400, "G@RBAGE / HTTP/1.1", &malformed),
        (431, "GET /big HTTP/1.1", &oversized),
        (408, "GET /slow HTTP/1.1", &slow),
        (503, "GET /over HTTP/1.1", &over),
    ] {
        let line = wait_for_access_line(&host, &format!("the {status} line"), |l| {
            l["status"] == status && l["request"] == request
        })
        .await;
        let sent = (reply.head.len() + reply.body.len()) as u64;
        assert_eq!(
            line["bytes"].as_u64(),
            Some(sent),
            "{status}: {line} for {reply:?}"
        );
        assert_eq!(
            line["response_body_bytes"].as_u64(),
            Some(reply.body.len() as u64)
        );
        assert_eq!(
            line["content_type"].as_str(),
            Some(reply.header("content-type").unwrap_or_default().as_str()),
            "{status}"
        );
    }
    assert!(
        access_lines(&host)
            .iter()
            .all(|l| l["request"] != "PRI * HTTP/2.0"),
        "no answer was sent to the HTTP/2 preface, so none is logged"
    );
    for reason in ["malformed", "too_large", "header_timeout", "over_capacity"] {
        let series = format!("edgechain_listener_rejections_total{{reason=\"{reason}\"}}");
        wait_for(&series, || async {
            (metric_value(&host, &series).await == 1.0).then_some(())
        })
        .await;
    }
    assert_eq!(
        metric_value(
            &host,
            "edgechain_requests_total{code=\"4xx\",answered_by=\"\"}"
        )
        .await,
        3.0
    );
}

/// What the listener logs is what it sent: with a head limit above hyper's own
/// 64 KiB target limit, a longer target is answered 414 by hyper, not 431.
#[tokio::test(flavor = "multi_thread")]
async fn a_target_over_hypers_limit_is_answered_and_logged_414() {
    let origin = RawOrigin::start(|_, _, _| ok_answer("origin")).await;
    let dir = chain();
    let host = HostProcess::spawn(
        BIN,
        dir.path(),
        origin.addr,
        &["--max-request-head-bytes", "131072"],
        &[],
    );
    let long = format!("GET /{} HTTP/1.1\r\nhost: a\r\n\r\n", "a".repeat(70_000));
    let reply = exchange(host.proxy, long.as_bytes()).await.expect("answer");
    assert_eq!(reply.status, 414);
    let fits = format!("GET /{} HTTP/1.1\r\nhost: a\r\n\r\n", "a".repeat(60_000));
    let reply = exchange(host.proxy, fits.as_bytes()).await.expect("answer");
    assert_eq!(reply.status, 200, "under both limits the request is served");
    wait_for_access_line(&host, "the 414 line", |l| l["status"] == 414).await;
    assert!(
        access_lines(&host).iter().all(|l| l["status"] != 431),
        "the long target is not logged as a head over the limit"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_both_ways() {
    let origin = RawOrigin::start(|_, n, _| ok_answer(&format!("answer {n}"))).await;
    let dir = chain();
    let host = HostProcess::spawn(
        BIN,
        dir.path(),
        origin.addr,
        // One worker: each worker has its own next-hop connections.
        &[
            "--header-read-timeout-ms",
            "300",
            "--keepalive-timeout-secs",
            "2",
            "--worker-threads",
            "1",
        ],
        &[],
    );
    // HTTP/1.0 clients: each request its own client connection, all on one
    // pooled HTTP/1.1 next-hop connection.
    for _ in 0..3 {
        let reply = exchange(host.proxy, b"GET /ten HTTP/1.0\r\n\r\n")
            .await
            .expect("answer");
        assert_eq!(reply.status, 200);
    }
    assert_eq!(
        origin.connections.load(Ordering::SeqCst),
        1,
        "{:?}",
        origin.heads()
    );
    assert!(
        origin
            .heads()
            .iter()
            .all(|h| h.starts_with("GET /ten HTTP/1.1"))
    );
    // An idle client connection outlives the header timeout ...
    let mut s = TcpStream::connect(host.proxy).await.expect("connect");
    s.write_all(b"GET /a HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(read_reply(&mut s, false).await.expect("answer").status, 200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    s.write_all(b"GET /b HTTP/1.1\r\nhost: a\r\n\r\n")
        .await
        .expect("write after idling");
    assert_eq!(
        read_reply(&mut s, false).await.expect("still open").status,
        200
    );
    // ... and is closed quietly after the keep-alive timeout.
    let started = Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, s.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "closed within bounds");
    assert!(
        rest.is_empty(),
        "closed without an answer: {:?}",
        String::from_utf8_lossy(&rest)
    );
    let took = started.elapsed();
    assert!(
        took > Duration::from_millis(1500) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unfinished_heads_hold_little_memory() {
    let origin = RawOrigin::start(|_, _, _| ok_answer("origin")).await;
    let dir = chain();
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let before = host.rss_kib();
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(host.proxy).await.expect("connect");
        let partial = format!(
            "GET / HTTP/1.1\r\nhost: a\r\nx-pad: {}",
            "p".repeat(30 * 1024)
        );
        s.write_all(partial.as_bytes()).await.expect("write");
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = host.rss_kib();
    println!(
        "300 unfinished 30 KiB heads: RSS {} -> {} MiB",
        before / 1024,
        after / 1024
    );
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    // Past the limit, a head is refused at once.
    let big = format!(
        "GET / HTTP/1.1\r\nhost: a\r\nx-pad: {}\r\n\r\n",
        "p".repeat(33 * 1024)
    );
    assert_eq!(
        exchange(host.proxy, big.as_bytes())
            .await
            .expect("answer")
            .status,
        431
    );
}
