//! The HTTP cache in the chain, end to end: the real host between a real
//! client and a real origin each test scripts (so it can count what reaches
//! it and choose every header), one test per RFC rule or safety class.

use bytes::Bytes;
use edgechain_tests::{ConfigDir, TestClient, WAIT, metric, options, start_host, wait_for};
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

type Script = dyn Fn(&http::request::Parts, usize) -> Response<Full<Bytes>> + Send + Sync;

/// An origin answering by `script(request, how many requests it had before)`,
/// holding each request until `open` is true.
struct Scripted {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<http::request::Parts>>>,
    count: Arc<AtomicUsize>,
    open: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Scripted {
    async fn start(
        script: impl Fn(&http::request::Parts, usize) -> Response<Full<Bytes>> + Send + Sync + 'static,
    ) -> Scripted {
        let script: Arc<Script> = Arc::new(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let (open, opened) = tokio::sync::watch::channel(true);
        let (s2, c2) = (seen.clone(), count.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (script, seen, count, opened) =
                    (script.clone(), s2.clone(), c2.clone(), opened.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (script, seen, count, mut opened) =
                            (script.clone(), seen.clone(), count.clone(), opened.clone());
                        async move {
                            let (parts, body) = req.into_parts();
                            let _ = body.collect().await;
                            let n = count.fetch_add(1, Ordering::SeqCst);
                            seen.lock().expect("seen").push(parts.clone());
                            let _ = opened.wait_for(|o| *o).await;
                            Ok::<_, hyper::Error>(script(&parts, n))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Scripted {
            addr,
            seen,
            count,
            open,
            task,
        }
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    fn last(&self) -> http::request::Parts {
        self.seen
            .lock()
            .expect("seen")
            .last()
            .cloned()
            .expect("a request reached the origin")
    }
}

/// A response with `headers` and body `body`.
fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(status);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(Full::new(Bytes::from(body.to_owned())))
        .expect("response")
}

/// A host whose chain is only a cache with `settings`, in front of `origin`.
async fn cached(
    origin: &Scripted,
    settings: serde_json::Value,
) -> (edgechain::server::Server, ConfigDir) {
    let dir = ConfigDir::new();
    dir.manifest(json!({ "proxychain": [ { "name": "cache", "cache": settings } ] }));
    let host = start_host(options(dir.path(), origin.addr)).await;
    (host, dir)
}

fn get(path: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut b = Request::get(path);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(Full::default()).expect("request")
}

/// The body served, whether it was a hit, and the Cache-Status.
async fn fetch(
    c: &TestClient,
    addr: SocketAddr,
    req: Request<Full<Bytes>>,
) -> edgechain_tests::Reply {
    c.send(addr, req).await
}

#[tokio::test]
async fn a_fresh_response_is_stored_and_served_with_age_and_cache_status() {
    let origin = Scripted::start(|_, n| {
        answer(
            200,
            &[("cache-control", "max-age=100"), ("x-n", &n.to_string())],
            "body",
        )
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    let c = TestClient::new();
    let first = fetch(&c, host.proxy_addr(), get("/a", &[])).await;
    assert_eq!(
        first.header("cache-status"),
        "edgechain; fwd=uri-miss; fwd-status=200; stored"
    );
    let second = fetch(&c, host.proxy_addr(), get("/a", &[])).await;
    assert_eq!(
        origin.count(),
        1,
        "the second request was answered by the cache"
    );
    assert_eq!((second.text(), second.header("x-n")), ("body".into(), "0"));
    assert!(
        second
            .header("cache-status")
            .starts_with("edgechain; hit; ttl="),
        "{}",
        second.header("cache-status")
    );
    assert!(second.header("age").parse::<u64>().is_ok(), "Age is sent");
    // HEAD is answered from the stored GET, without a body.
    let head = fetch(
        &c,
        host.proxy_addr(),
        Request::head("/a").body(Full::default()).expect("req"),
    )
    .await;
    assert_eq!(
        (head.status.as_u16(), head.body.len(), origin.count()),
        (200, 0, 1)
    );
    assert_eq!(
        metric(&c, host.admin_addr(), "edgechain_cache_hits_total").await,
        Some(2.0)
    );
    assert_eq!(
        metric(&c, host.admin_addr(), "edgechain_cache_misses_total").await,
        Some(1.0)
    );
    assert_eq!(
        metric(&c, host.admin_addr(), "edgechain_cache_objects").await,
        Some(1.0)
    );
    assert!(
        metric(&c, host.admin_addr(), "edgechain_cache_stored_bytes")
            .await
            .is_some_and(|b| b > 0.0)
    );
}

#[tokio::test]
async fn the_key_has_scheme_host_and_normalised_target() {
    let origin = Scripted::start(|p, _| {
        let host = p
            .headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_owned();
        answer(
            200,
            &[("cache-control", "max-age=100")],
            &format!("{host}{}", p.uri),
        )
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    let c = TestClient::new();
    let addr = host.proxy_addr();
    let a = fetch(&c, addr, get("/p", &[("host", "a.example")])).await;
    let b = fetch(&c, addr, get("/p", &[("host", "b.example")])).await;
    assert_ne!(a.text(), b.text(), "two hosts, one path: two objects");
    let https = fetch(
        &c,
        addr,
        get(
            "/p",
            &[("host", "a.example"), ("x-forwarded-proto", "https")],
        ),
    )
    .await;
    assert_eq!(origin.count(), 3, "the scheme is part of the key");
    assert!(https.header("cache-status").contains("stored"));
    // Spellings the key folds: host case, trailing dot, default port, dot segments.
    for (host_, path) in [
        ("A.EXAMPLE", "/p"),
        ("a.example.", "/p"),
        ("a.example:80", "/p"),
        ("a.example", "/x/../p"),
    ] {
        let r = fetch(&c, addr, get(path, &[("host", host_)])).await;
        assert_eq!(r.text(), a.text(), "{host_} {path}");
    }
    assert_eq!(origin.count(), 3, "every spelling hit the stored object");
    fetch(&c, addr, get("/p?q=1", &[("host", "a.example")])).await;
    assert_eq!(origin.count(), 4, "the query is part of the key");
}

#[tokio::test]
async fn responses_without_freshness_or_meant_for_one_client_are_never_served_to_another() {
    // Each case: the request of client one, the origin's headers; a second
    // client must reach the origin and never see the first one's body.
    type Fields = &'static [(&'static str, &'static str)];
    let cases: &[(&str, Fields, Fields)] = &[
        ("no-freshness", &[], &[]),
        ("private", &[], &[("cache-control", "private, max-age=100")]),
        (
            "private-field",
            &[],
            &[("cache-control", "private=\"x-user\", max-age=100")],
        ),
        (
            "no-store",
            &[],
            &[("cache-control", "no-store, max-age=100")],
        ),
        (
            "authorization",
            &[("authorization", "Bearer one")],
            &[("cache-control", "max-age=100")],
        ),
        (
            "set-cookie",
            &[],
            &[
                ("cache-control", "max-age=100"),
                ("set-cookie", "session=one"),
            ],
        ),
        (
            "vary-cookie",
            &[("cookie", "session=one")],
            &[("cache-control", "max-age=100"), ("vary", "Cookie")],
        ),
        (
            "vary-authorization",
            &[("authorization", "Bearer one")],
            &[
                ("cache-control", "public, max-age=100"),
                ("vary", "Authorization"),
            ],
        ),
        (
            "vary-star",
            &[],
            &[("cache-control", "max-age=100"), ("vary", "*")],
        ),
        (
            "targeted-private",
            &[],
            &[
                ("cache-control", "max-age=100"),
                ("edgechain-cache-control", "private"),
            ],
        ),
    ];
    for (name, request, response) in cases {
        let response: Vec<(String, String)> = response
            .iter()
            .map(|(a, b)| ((*a).into(), (*b).into()))
            .collect();
        let origin = Scripted::start(move |_, n| {
            let h: Vec<(&str, &str)> = response
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            answer(200, &h, &format!("for client {n}"))
        })
        .await;
        let (host, _dir) = cached(&origin, json!({})).await;
        let c = TestClient::new();
        let path = format!("/{name}");
        let one = fetch(&c, host.proxy_addr(), get(&path, request)).await;
        assert_eq!(one.text(), "for client 0", "{name}");
        let other: &[(&str, &str)] = match *name {
            "vary-cookie" => &[("cookie", "session=two")],
            "vary-authorization" => &[("authorization", "Bearer two")],
            _ => &[],
        };
        let two = fetch(&c, host.proxy_addr(), get(&path, other)).await;
        assert_eq!(
            two.text(),
            "for client 1",
            "{name}: the second client got the first one's response"
        );
        assert!(
            two.header("set-cookie").is_empty() || *name == "set-cookie",
            "{name}"
        );
        assert!(
            !two.header("cache-status").contains("hit"),
            "{name}: {}",
            two.header("cache-status")
        );
        if name.starts_with("vary-") && *name != "vary-star" {
            // Stored as that client's own variant: only the same value gets it.
            let again = fetch(&c, host.proxy_addr(), get(&path, request)).await;
            assert_eq!(again.text(), "for client 0", "{name}");
            let none = fetch(&c, host.proxy_addr(), get(&path, &[])).await;
            assert_eq!(none.text(), "for client 2", "{name}: a client without it");
        } else {
            assert!(
                !one.header("cache-status").contains("stored"),
                "{name}: {}",
                one.header("cache-status")
            );
        }
    }
}

#[tokio::test]
async fn a_stored_set_cookie_response_keeps_its_cookie_for_the_first_client_only() {
    let origin = Scripted::start(|_, n| {
        answer(
            200,
            &[
                ("cache-control", "max-age=100"),
                ("set-cookie", &format!("s={n}")),
            ],
            "shared",
        )
    })
    .await;
    let (host, _dir) = cached(&origin, json!({"store_set_cookie": true})).await;
    let c = TestClient::new();
    let one = fetch(&c, host.proxy_addr(), get("/c", &[])).await;
    assert_eq!(one.header("set-cookie"), "s=0");
    let two = fetch(&c, host.proxy_addr(), get("/c", &[])).await;
    assert_eq!(
        (
            two.text().as_str(),
            two.header("set-cookie"),
            origin.count()
        ),
        ("shared", "", 1)
    );
}

#[tokio::test]
async fn headers_the_key_does_not_include_cannot_poison_the_cache() {
    let origin = Scripted::start(|p, _| {
        let fwd = p
            .headers
            .get("x-forwarded-host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("good.example")
            .to_owned();
        answer(
            200,
            &[("cache-control", "max-age=100")],
            &format!("<script src=//{fwd}/a.js>"),
        )
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    let c = TestClient::new();
    for (i, name) in edgechain::cache::key::UNKEYED_INPUTS.iter().enumerate() {
        let path = format!("/page{i}");
        let evil = fetch(&c, host.proxy_addr(), get(&path, &[(name, "evil.example")])).await;
        assert!(
            !evil.header("cache-status").contains("stored"),
            "{name}: {}",
            evil.header("cache-status")
        );
        let victim = fetch(&c, host.proxy_addr(), get(&path, &[])).await;
        assert_eq!(victim.text(), "<script src=//good.example/a.js>", "{name}");
    }
    // Unless the origin says it varies on it: then it is a keyed input.
    let origin = Scripted::start(|p, _| {
        let fwd = p
            .headers
            .get("x-forwarded-host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("good")
            .to_owned();
        answer(
            200,
            &[
                ("cache-control", "max-age=100"),
                ("vary", "X-Forwarded-Host"),
            ],
            &fwd,
        )
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    assert_eq!(
        fetch(
            &c,
            host.proxy_addr(),
            get("/v", &[("x-forwarded-host", "evil")])
        )
        .await
        .text(),
        "evil"
    );
    assert_eq!(
        fetch(&c, host.proxy_addr(), get("/v", &[])).await.text(),
        "good"
    );
    assert_eq!(
        fetch(
            &c,
            host.proxy_addr(),
            get("/v", &[("x-forwarded-host", "evil")])
        )
        .await
        .text(),
        "evil"
    );
    assert_eq!(origin.count(), 2, "each variant stored once");
}

#[tokio::test]
async fn stale_responses_are_validated_and_a_304_refreshes_the_stored_one() {
    // Age 50 with max-age 10: stored already stale, so the next request validates.
    let origin = Scripted::start(|p, n| {
        if p.headers
            .get("if-none-match")
            .is_some_and(|v| v == "\"v1\"")
        {
            answer(
                304,
                &[
                    ("etag", "\"v1\""),
                    ("cache-control", "max-age=100"),
                    ("x-refreshed", "yes"),
                ],
                "",
            )
        } else {
            answer(
                200,
                &[
                    ("etag", "\"v1\""),
                    ("cache-control", "max-age=10"),
                    ("age", "50"),
                ],
                &format!("original {n}"),
            )
        }
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    let c = TestClient::new();
    fetch(&c, host.proxy_addr(), get("/s", &[])).await;
    let second = fetch(&c, host.proxy_addr(), get("/s", &[])).await;
    assert_eq!(origin.last().headers["if-none-match"], "\"v1\"");
    assert_eq!(
        (
            second.status.as_u16(),
            second.text().as_str(),
            second.header("x-refreshed")
        ),
        (200, "original 0", "yes")
    );
    assert!(
        second
            .header("cache-status")
            .starts_with("edgechain; fwd=stale; fwd-status=304"),
        "{}",
        second.header("cache-status")
    );
    let third = fetch(&c, host.proxy_addr(), get("/s", &[])).await;
    assert_eq!(
        (origin.count(), third.text().as_str()),
        (2, "original 0"),
        "fresh again after the 304"
    );
    // A client's own conditional is answered from the store.
    let cond = fetch(
        &c,
        host.proxy_addr(),
        get("/s", &[("if-none-match", "\"v1\"")]),
    )
    .await;
    assert_eq!((cond.status.as_u16(), origin.count()), (304, 2));
}

#[tokio::test]
async fn request_directives_no_cache_max_age_and_only_if_cached() {
    let origin = Scripted::start(|_, n| {
        answer(
            200,
            &[("cache-control", "max-age=100"), ("age", "20")],
            &n.to_string(),
        )
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    let c = TestClient::new();
    let cold = fetch(
        &c,
        host.proxy_addr(),
        get("/r", &[("cache-control", "only-if-cached")]),
    )
    .await;
    assert_eq!((cold.status.as_u16(), origin.count()), (504, 0));
    fetch(&c, host.proxy_addr(), get("/r", &[])).await;
    fetch(
        &c,
        host.proxy_addr(),
        get("/r", &[("cache-control", "no-cache")]),
    )
    .await;
    assert_eq!(origin.count(), 2, "no-cache goes to the origin");
    fetch(&c, host.proxy_addr(), get("/r", &[("pragma", "no-cache")])).await;
    assert_eq!(origin.count(), 3, "so does Pragma: no-cache");
    fetch(
        &c,
        host.proxy_addr(),
        get("/r", &[("cache-control", "max-age=5")]),
    )
    .await;
    assert_eq!(origin.count(), 4, "older than the request's max-age");
    fetch(
        &c,
        host.proxy_addr(),
        get("/r", &[("cache-control", "min-fresh=90")]),
    )
    .await;
    assert_eq!(origin.count(), 5, "not fresh enough for min-fresh");
    let hit = fetch(
        &c,
        host.proxy_addr(),
        get("/r", &[("cache-control", "only-if-cached")]),
    )
    .await;
    assert_eq!((hit.status.as_u16(), origin.count()), (200, 5));
}

#[tokio::test]
async fn stale_while_revalidate_serves_stale_and_refreshes_behind() {
    let origin = Scripted::start(|_, n| {
        answer(
            200,
            &[
                ("cache-control", "max-age=10, stale-while-revalidate=1000"),
                ("age", "20"),
            ],
            &n.to_string(),
        )
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    let c = TestClient::new();
    fetch(&c, host.proxy_addr(), get("/w", &[])).await;
    let stale = fetch(&c, host.proxy_addr(), get("/w", &[])).await;
    assert_eq!(stale.text(), "0", "served stale at once");
    assert!(
        stale
            .header("cache-status")
            .contains("stale-while-revalidate"),
        "{}",
        stale.header("cache-status")
    );
    wait_for(
        "the background revalidation to reach the origin",
        || async { (origin.count() == 2).then_some(()) },
    )
    .await;
    assert_eq!(
        metric(&c, host.admin_addr(), "edgechain_cache_stale_total").await,
        Some(1.0)
    );
}

#[tokio::test]
async fn stale_if_error_serves_stale_when_the_origin_fails() {
    let origin = Scripted::start(|_, n| {
        if n == 0 {
            answer(
                200,
                &[
                    ("cache-control", "max-age=10, stale-if-error=1000"),
                    ("age", "20"),
                ],
                "good",
            )
        } else {
            answer(503, &[], "down")
        }
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    let c = TestClient::new();
    fetch(&c, host.proxy_addr(), get("/e", &[])).await;
    let r = fetch(&c, host.proxy_addr(), get("/e", &[])).await;
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "good"));
    assert!(
        r.header("cache-status").contains("fwd-status=503"),
        "{}",
        r.header("cache-status")
    );
    // must-revalidate forbids it.
    let origin = Scripted::start(|_, n| {
        if n == 0 {
            answer(
                200,
                &[
                    (
                        "cache-control",
                        "max-age=10, stale-if-error=1000, must-revalidate",
                    ),
                    ("age", "20"),
                ],
                "good",
            )
        } else {
            answer(503, &[], "down")
        }
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    fetch(&c, host.proxy_addr(), get("/e", &[])).await;
    assert_eq!(
        fetch(&c, host.proxy_addr(), get("/e", &[]))
            .await
            .status
            .as_u16(),
        503
    );
}

#[tokio::test]
async fn unsafe_methods_invalidate_the_target_and_its_location() {
    let origin = Scripted::start(|p, n| {
        if p.method == http::Method::POST {
            answer(201, &[("location", "/other")], "")
        } else {
            answer(200, &[("cache-control", "max-age=100")], &n.to_string())
        }
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    let c = TestClient::new();
    for path in ["/t", "/other"] {
        fetch(&c, host.proxy_addr(), get(path, &[])).await;
        fetch(&c, host.proxy_addr(), get(path, &[])).await;
    }
    assert_eq!(origin.count(), 2);
    let post = c
        .send(
            host.proxy_addr(),
            Request::post("/t").body(Full::default()).expect("req"),
        )
        .await;
    assert_eq!(post.status.as_u16(), 201);
    for path in ["/t", "/other"] {
        let r = fetch(&c, host.proxy_addr(), get(path, &[])).await;
        assert!(
            r.header("cache-status").contains("fwd=uri-miss"),
            "{path}: {}",
            r.header("cache-status")
        );
    }
    assert_eq!(origin.count(), 5);
}

#[tokio::test]
async fn targeted_fields_win_and_are_not_passed_downstream() {
    let origin = Scripted::start(|_, n| {
        answer(
            200,
            &[
                ("cache-control", "no-store"),
                ("cdn-cache-control", "max-age=100"),
                ("surrogate-key", "k1 k2"),
                ("cache-tag", "k3"),
            ],
            &n.to_string(),
        )
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    let c = TestClient::new();
    let r = fetch(&c, host.proxy_addr(), get("/g", &[])).await;
    assert_eq!(
        r.header("cdn-cache-control"),
        "max-age=100",
        "CDN-Cache-Control is kept for downstream CDNs"
    );
    assert_eq!((r.header("surrogate-key"), r.header("cache-tag")), ("", ""));
    fetch(&c, host.proxy_addr(), get("/g", &[])).await;
    assert_eq!(
        origin.count(),
        1,
        "CDN-Cache-Control beat Cache-Control: no-store"
    );
    let origin = Scripted::start(|_, n| {
        answer(
            200,
            &[
                ("cdn-cache-control", "no-store"),
                ("x-edge-cc", "max-age=100"),
            ],
            &n.to_string(),
        )
    })
    .await;
    let (host, _dir) = cached(&origin, json!({"targeted_field": "X-Edge-CC"})).await;
    let r = fetch(&c, host.proxy_addr(), get("/g", &[])).await;
    assert_eq!(
        r.header("x-edge-cc"),
        "",
        "the targeted field is for this cache alone"
    );
    fetch(&c, host.proxy_addr(), get("/g", &[])).await;
    assert_eq!(
        origin.count(),
        1,
        "the targeted field beat CDN-Cache-Control"
    );
}

async fn purge(c: &TestClient, admin: SocketAddr, body: serde_json::Value) -> (u16, String) {
    let r = c
        .send(
            admin,
            Request::post("/cache/purge")
                .body(Full::new(Bytes::from(body.to_string())))
                .expect("req"),
        )
        .await;
    (r.status.as_u16(), r.text())
}

#[tokio::test]
async fn purge_by_url_and_surrogate_key_hard_and_soft() {
    let origin = Scripted::start(|p, n| {
        let key = if p.uri.path() == "/k" {
            "tagged"
        } else {
            "other"
        };
        answer(
            200,
            &[
                ("cache-control", "max-age=100"),
                ("surrogate-key", key),
                ("etag", "\"e\""),
            ],
            &n.to_string(),
        )
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    let (c, addr, admin) = (TestClient::new(), host.proxy_addr(), host.admin_addr());
    for p in ["/u", "/k"] {
        fetch(&c, addr, get(p, &[])).await;
    }
    let url = format!("http://{addr}/u");
    assert_eq!(
        purge(&c, admin, json!({"url": url})).await,
        (200, r#"{"purged":1,"soft":false}"#.into())
    );
    let after = fetch(&c, addr, get("/u", &[])).await;
    assert!(
        after.header("cache-status").contains("fwd=uri-miss"),
        "hard purge deletes"
    );
    let (status, text) = purge(&c, admin, json!({"surrogate_key": "tagged", "soft": true})).await;
    assert_eq!(
        (status, text.as_str()),
        (200, r#"{"purged":1,"soft":true}"#)
    );
    let soft = fetch(&c, addr, get("/k", &[])).await;
    assert!(
        soft.header("cache-status").contains("fwd=stale"),
        "soft purge marks stale: {}",
        soft.header("cache-status")
    );
    assert_eq!(
        origin.last().headers["if-none-match"],
        "\"e\"",
        "a soft-purged object is validated"
    );
    assert_eq!(
        purge(&c, admin, json!({"surrogate_key": "tagged"})).await.1,
        r#"{"purged":1,"soft":false}"#
    );
    for bad in [
        json!({}),
        json!({"url": "/relative"}),
        json!({"url": "http://a/", "surrogate_key": "k"}),
        json!({"nope": 1}),
    ] {
        assert_eq!(purge(&c, admin, bad.clone()).await.0, 400, "{bad}");
    }
}

#[tokio::test]
async fn the_store_survives_a_reload_unless_its_settings_change() {
    let origin =
        Scripted::start(|_, n| answer(200, &[("cache-control", "max-age=100")], &n.to_string()))
            .await;
    let (host, dir) = cached(&origin, json!({})).await;
    let c = TestClient::new();
    fetch(&c, host.proxy_addr(), get("/z", &[])).await;
    // The same settings, spelled differently: a new chain, the same store.
    dir.manifest(json!({ "proxychain": [ { "name": "cache", "cache": { "max_size_mb": 256 } } ] }));
    let report = edgechain_tests::post_reload(&c, host.admin_addr()).await;
    assert_eq!(report["changed"], true, "{report}");
    assert_eq!(
        fetch(&c, host.proxy_addr(), get("/z", &[])).await.text(),
        "0"
    );
    assert_eq!(origin.count(), 1);
    dir.manifest(json!({ "proxychain": [ { "name": "cache", "cache": { "max_size_mb": 128 } } ] }));
    let report = edgechain_tests::post_reload(&c, host.admin_addr()).await;
    assert_eq!(report["changed"], true, "{report}");
    assert_eq!(
        fetch(&c, host.proxy_addr(), get("/z", &[])).await.text(),
        "1",
        "new settings, new store"
    );
}

#[tokio::test]
async fn objects_over_the_size_limit_pass_through_uncached() {
    let big = "x".repeat(1024 * 1024 + 1);
    let origin =
        Scripted::start(move |_, _| answer(200, &[("cache-control", "max-age=100")], &big)).await;
    let (host, _dir) = cached(&origin, json!({"max_object_mb": 1})).await;
    let c = TestClient::new();
    let r = fetch(&c, host.proxy_addr(), get("/big", &[])).await;
    assert_eq!(r.body.len(), 1024 * 1024 + 1);
    fetch(&c, host.proxy_addr(), get("/big", &[])).await;
    assert_eq!(origin.count(), 2);
}

#[tokio::test]
async fn two_hundred_concurrent_misses_make_one_origin_request() {
    let origin = Scripted::start(|_, n| {
        answer(
            200,
            &[("cache-control", "max-age=100")],
            &format!("fetch {n}"),
        )
    })
    .await;
    let _ = origin.open.send(false);
    let (host, _dir) = cached(&origin, json!({})).await;
    let addr = host.proxy_addr();
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let c = TestClient::new();
        tasks.push(tokio::spawn(async move { c.get(addr, "/hot").await }));
    }
    let c = TestClient::new();
    wait_for("199 requests to wait for the first", || async {
        (metric(&c, host.admin_addr(), "edgechain_cache_collapsed_total").await == Some(199.0))
            .then_some(())
    })
    .await;
    let _ = origin.open.send(true);
    for t in tasks {
        let r = tokio::time::timeout(WAIT, t)
            .await
            .expect("answered")
            .expect("joined");
        assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "fetch 0"));
    }
    assert_eq!(origin.count(), 1, "exactly one request reached the origin");
}

#[tokio::test]
async fn uncacheable_keys_are_not_serialised_behind_one_request() {
    let origin =
        Scripted::start(|_, n| answer(200, &[("cache-control", "private")], &n.to_string())).await;
    let (host, _dir) = cached(&origin, json!({})).await;
    let c = TestClient::new();
    fetch(&c, host.proxy_addr(), get("/p", &[])).await;
    // Now known as hit-for-pass: concurrent requests all go to the origin at once.
    let _ = origin.open.send(false);
    let addr = host.proxy_addr();
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.get(addr, "/p").await })
        })
        .collect();
    wait_for("all five at the origin together", || async {
        (origin.count() == 6).then_some(())
    })
    .await;
    let _ = origin.open.send(true);
    for t in tasks {
        t.await.expect("joined");
    }
}

#[tokio::test]
async fn links_before_the_cache_run_on_hits_and_links_after_it_only_on_misses() {
    // The origin gives no freshness: the link after the cache adds it, so a
    // stored response proves that link saw it before it was stored.
    let origin = Scripted::start(|p, n| {
        let after = p.headers.get("x-after").map_or("no", |_| "yes");
        answer(200, &[("x-after-ran", after)], &n.to_string())
    })
    .await;
    let dir = ConfigDir::new();
    dir.add_plugin("add-headers").manifest(json!({ "proxychain": [
        { "name": "before", "module": "add-headers.wasm", "config": { "response": { "x-before": "yes" } } },
        { "name": "cache", "cache": {} },
        { "name": "after", "module": "add-headers.wasm",
          "config": { "request": { "x-after": "1" }, "response": { "cache-control": "max-age=100" } } }
    ]}));
    let host = start_host(options(dir.path(), origin.addr)).await;
    let c = TestClient::new();
    let calls = |name: &'static str| {
        let c = c.clone();
        let admin = host.admin_addr();
        async move {
            metric(
                &c,
                admin,
                &format!("edgechain_plugin_calls_total{{plugin=\"{name}\"}}"),
            )
            .await
            .unwrap_or(0.0)
        }
    };
    let miss = fetch(&c, host.proxy_addr(), get("/l", &[])).await;
    assert_eq!(
        (miss.header("x-before"), miss.header("x-after-ran")),
        ("yes", "yes")
    );
    assert!(
        miss.header("cache-status").contains("stored"),
        "{}",
        miss.header("cache-status")
    );
    let (before, after) = (calls("before").await, calls("after").await);
    assert_eq!(
        (before, after),
        (2.0, 2.0),
        "both links ran on the miss, each way"
    );
    let hit = fetch(&c, host.proxy_addr(), get("/l", &[])).await;
    assert!(
        hit.header("cache-status").contains("hit"),
        "{}",
        hit.header("cache-status")
    );
    assert_eq!((hit.text().as_str(), hit.header("x-before")), ("0", "yes"));
    assert_eq!(
        calls("before").await,
        4.0,
        "the link before the cache ran on the hit, both ways"
    );
    assert_eq!(
        calls("after").await,
        2.0,
        "the link after the cache did not run on the hit"
    );
    assert_eq!(origin.count(), 1);
}

#[tokio::test]
async fn the_real_binary_logs_what_the_cache_did() {
    let origin = Scripted::start(|p, _| {
        if p.uri.path() == "/private" {
            answer(200, &[("cache-control", "private")], "p")
        } else {
            answer(200, &[("cache-control", "max-age=100")], "x")
        }
    })
    .await;
    let dir = ConfigDir::new();
    dir.manifest(json!({ "proxychain": [ { "name": "cache", "cache": {} } ] }));
    let host = edgechain_tests::HostProcess::spawn(
        env!("CARGO_BIN_EXE_edgechain-cli"),
        dir.path(),
        origin.addr,
        &[],
        &[],
    );
    let c = TestClient::new();
    for (path, method) in [
        ("/x", "GET"),
        ("/x", "GET"),
        ("/x", "POST"),
        ("/private", "GET"),
    ] {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Full::default())
            .expect("req");
        c.send(host.proxy, req).await;
    }
    let (lines, _) = wait_for("four access log lines", || async {
        let lines: Vec<String> = host
            .stdout()
            .into_iter()
            .filter(|l| l.contains("\"request\""))
            .collect();
        (lines.len() >= 4).then_some(lines)
    })
    .await;
    let outcomes: Vec<String> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("JSON line")["cache"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(outcomes, ["miss", "hit", "pass", "miss"]);
}

#[tokio::test]
async fn ranges_and_bodiless_responses_are_served_from_the_store() {
    let origin = Scripted::start(|p, _| match p.uri.path() {
        "/empty" => answer(204, &[("cache-control", "max-age=100")], ""),
        "/599" => answer(
            599,
            &[("cache-control", "max-age=100, must-understand")],
            "x",
        ),
        _ => answer(200, &[("cache-control", "max-age=100")], "0123456789"),
    })
    .await;
    let (host, _dir) = cached(&origin, json!({})).await;
    let c = TestClient::new();
    let addr = host.proxy_addr();
    fetch(&c, addr, get("/r", &[])).await;
    for (range, status, body, content_range) in [
        ("bytes=0-1", 206, "01", "bytes 0-1/10"),
        ("bytes=7-", 206, "789", "bytes 7-9/10"),
        ("bytes=-2", 206, "89", "bytes 8-9/10"),
        ("bytes=20-", 416, "", "bytes */10"),
        ("bytes=0-1,4-5", 200, "0123456789", ""),
    ] {
        let r = fetch(&c, addr, get("/r", &[("range", range)])).await;
        assert_eq!(
            (
                r.status.as_u16(),
                r.text().as_str(),
                r.header("content-range")
            ),
            (status, body, content_range),
            "{range}"
        );
    }
    assert_eq!(origin.count(), 1, "every range came from the store");
    for _ in 0..2 {
        assert_eq!(
            fetch(&c, addr, get("/empty", &[])).await.status.as_u16(),
            204
        );
    }
    assert_eq!(origin.count(), 2, "a 204 is stored");
    for _ in 0..2 {
        fetch(&c, addr, get("/599", &[])).await;
    }
    assert_eq!(
        origin.count(),
        4,
        "must-understand: an unknown status is not stored"
    );
}

#[tokio::test]
async fn an_invalid_age_makes_the_response_stale() {
    for age in ["abc", "-10", "1.5", "0, 0", "5;a=b"] {
        let age_ = age.to_owned();
        let origin = Scripted::start(move |_, _| {
            answer(
                200,
                &[("cache-control", "max-age=3600"), ("age", &age_)],
                "x",
            )
        })
        .await;
        let (host, _dir) = cached(&origin, json!({})).await;
        let c = TestClient::new();
        fetch(&c, host.proxy_addr(), get("/a", &[])).await;
        fetch(&c, host.proxy_addr(), get("/a", &[])).await;
        assert_eq!(origin.count(), 2, "Age: {age}");
    }
}

/// The first address of this machine that is not loopback, if it has one.
fn outside_ip() -> Option<std::net::IpAddr> {
    // Connecting a UDP socket sends nothing: it only picks the route.
    [
        "192.0.2.1:9",
        "10.0.0.1:9",
        "172.16.0.1:9",
        "192.168.0.1:9",
        "8.8.8.8:9",
    ]
    .into_iter()
    .find_map(|to| {
        let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
        s.connect(to).ok()?;
        Some(s.local_addr().ok()?.ip()).filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
    })
}

#[tokio::test]
async fn purge_is_refused_from_other_peers_unless_allowed() {
    let Some(ip) = outside_ip() else {
        panic!("this machine has no non-loopback address to test from");
    };
    let origin =
        Scripted::start(|_, n| answer(200, &[("cache-control", "max-age=100")], &n.to_string()))
            .await;
    for (allow, status) in [(false, 403), (true, 200)] {
        let dir = ConfigDir::new();
        dir.manifest(json!({ "proxychain": [ { "name": "cache", "cache": {} } ] }));
        let mut opts = options(dir.path(), origin.addr);
        opts.admin = SocketAddr::from(([0, 0, 0, 0], 0));
        opts.remote_reload = allow;
        let host = start_host(opts).await;
        let c = TestClient::new();
        fetch(&c, host.proxy_addr(), get("/x", &[])).await;
        let admin = SocketAddr::new(ip, host.admin_addr().port());
        let (got, text) = purge(
            &c,
            admin,
            json!({"url": format!("http://{}/x", host.proxy_addr())}),
        )
        .await;
        assert_eq!(got, status, "allowed: {allow}: {text}");
        // From loopback it is always accepted.
        let local = SocketAddr::from(([127, 0, 0, 1], host.admin_addr().port()));
        assert_eq!(
            purge(&c, local, json!({"surrogate_key": "none"})).await.0,
            200
        );
    }
}

#[tokio::test]
async fn a_body_the_origin_cuts_short_is_not_stored() {
    // A raw origin: promises 100 bytes, sends 50, closes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let task = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            count.fetch_add(1, Ordering::SeqCst);
            let head =
                "HTTP/1.1 200 OK\r\ncache-control: max-age=100\r\ncontent-length: 100\r\n\r\n";
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&[b'x'; 50]).await;
            let _ = s.shutdown().await;
        }
    });
    let dir = ConfigDir::new();
    dir.manifest(json!({ "proxychain": [ { "name": "cache", "cache": {} } ] }));
    let host = start_host(options(dir.path(), addr)).await;
    let c = TestClient::new();
    for _ in 0..2 {
        let cut = c.try_send(host.proxy_addr(), get("/cut", &[])).await;
        assert!(
            cut.is_err() || cut.is_ok_and(|r| r.body.len() < 100),
            "a short body never looks whole"
        );
    }
    assert_eq!(
        served.load(Ordering::SeqCst),
        2,
        "the truncated copy was not stored"
    );
    task.abort();
}

#[tokio::test]
async fn the_byte_budget_holds_and_evictions_are_counted() {
    let body = "y".repeat(300 * 1024);
    let origin =
        Scripted::start(move |_, _| answer(200, &[("cache-control", "max-age=100")], &body)).await;
    let (host, _dir) = cached(&origin, json!({"max_size_mb": 1, "max_object_mb": 1})).await;
    let c = TestClient::new();
    for i in 0..12 {
        fetch(&c, host.proxy_addr(), get(&format!("/o{i}"), &[])).await;
    }
    let admin = host.admin_addr();
    let (bytes, _) = wait_for("the store to settle within its budget", || async {
        let bytes = metric(&c, admin, "edgechain_cache_stored_bytes").await?;
        (bytes <= (1024.0 * 1024.0)).then_some(bytes)
    })
    .await;
    assert!(bytes > 0.0);
    let evicted = metric(&c, admin, "edgechain_cache_evictions_total")
        .await
        .unwrap_or(0.0);
    let objects = metric(&c, admin, "edgechain_cache_objects")
        .await
        .unwrap_or(0.0);
    assert!(
        evicted >= 1.0 && objects <= 3.0,
        "evicted {evicted}, holding {objects}"
    );
}
