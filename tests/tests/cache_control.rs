//! Plugin control of the HTTP cache (the WIT `cache` import): what links ask
//! is checked and collected per request by the walk, in call order, with the
//! limits shared by all links and a failed hook's calls undone; a plugin
//! built for the 0.3.0 world still loads beside plugins that use it.
//!
//! The walk is driven in-process (as the proxy drives it) to read the
//! collected `CacheDirectives`, which nothing else shows without a cache;
//! what a plugin sees of its calls goes through the real server.

use bytes::Bytes;
use edgechain::cache_directives::CacheDirectives;
use edgechain::chain::ChainSnapshot;
use edgechain::chain::load::ChainLoader;
use edgechain::chain::walk::RequestOutcome;
use edgechain::engine::{EngineSettings, Runtime};
use edgechain::kv::KvStore;
use edgechain::telemetry::access::WalkLog;
use edgechain_tests::*;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::time::Duration;

const PLUGINS: [&str; 4] = ["cache-rules", "trace", "hostile", "legacy-world"];

async fn load(links: Value) -> (ConfigDir, ChainSnapshot) {
    let dir = ConfigDir::new();
    for p in PLUGINS {
        dir.add_plugin(p);
    }
    dir.manifest(json!({ "proxychain": links }));
    let runtime = Runtime::new(EngineSettings::default()).expect("engine");
    let metrics = edgechain::telemetry::metrics::Metrics::new();
    let chain = ChainLoader::new(runtime, KvStore::default(), metrics.plugins.clone())
        .load(dir.path())
        .await
        .unwrap_or_else(|e| panic!("chain loads: {e:#}"));
    (dir, chain)
}

/// What the links asked after the request phase and after the response
/// phase (the next hop answering `status`), and the response's headers.
struct Walked {
    request: CacheDirectives,
    both: CacheDirectives,
    headers: http::HeaderMap,
}

async fn walk(chain: &ChainSnapshot, req: http::Request<Full<Bytes>>, status: u16) -> Walked {
    let mut log = WalkLog::default();
    let client = Some(std::net::IpAddr::from([127, 0, 0, 1]));
    let RequestOutcome::Forward(_, walk) = chain.run_request(req, client, &mut log).await else {
        panic!("the request was not forwarded");
    };
    let request = log.cache_directives.clone();
    let resp = http::Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(b"hello")))
        .expect("response");
    let resp = walk.run(resp, &mut log).await;
    let both = log.cache_directives.clone();
    let headers = resp.headers().clone();
    let _ = resp.into_body().collect().await;
    Walked {
        request,
        both,
        headers,
    }
}

fn get(path: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(path)
        .header("host", "shop.example")
        .body(Full::default())
        .expect("request")
}

fn with(path: &str, name: &str, value: &str) -> http::Request<Full<Bytes>> {
    let mut req = get(path);
    req.headers_mut().insert(
        http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
        value.parse().expect("value"),
    );
    req
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

fn rules() -> Value {
    json!({
        "bypass": { "paths": ["/account"], "cookies": ["session"] },
        "key_headers": ["x-device-class"],
        "ttl": [
            { "path": "/static", "seconds": 86400 },
            { "path": "/products", "seconds": 300, "statuses": [200] }
        ],
        "tags": [
            { "path": "/products", "keys": ["products"] },
            { "path": "/products/42", "keys": ["product-42"] }
        ]
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_walk_collects_what_cache_rules_asks_in_each_phase() {
    let (_dir, chain) = load(json!([
        { "name": "rules", "module": "cache-rules.wasm", "config": rules() }
    ]))
    .await;

    let w = walk(
        &chain,
        with("/products/42", "x-device-class", "mobile"),
        200,
    )
    .await;
    let expected = CacheDirectives {
        key_parts: strings(&["x-device-class=mobile"]),
        surrogate_keys: strings(&["products", "product-42"]),
        ..Default::default()
    };
    assert_eq!(w.request, expected, "the TTL waits for the status");
    assert_eq!(
        w.both,
        CacheDirectives {
            ttl: secs(300),
            ..expected
        }
    );
    let not_found = walk(&chain, get("/products/42"), 404).await;
    assert_eq!(not_found.both.ttl, None, "no TTL for a 404");
    assert_eq!(not_found.both.key_parts, strings(&["x-device-class"]));

    let static_file = walk(&chain, get("/static/app.js"), 404).await;
    assert_eq!(static_file.request.ttl, secs(86400), "set in on-request");

    for req in [
        get("/account/orders"),
        get("/%61ccount"),
        with("/static/app.js", "cookie", "theme=dark; session=1"),
    ] {
        let target = req.uri().to_string();
        let w = walk(&chain, req, 200).await;
        let bypass = CacheDirectives {
            bypass: true,
            ..Default::default()
        };
        assert_eq!(w.request, bypass, "{target}");
        assert_eq!(w.both, bypass, "{target}");
    }
    let other = walk(&chain, get("/about"), 200).await;
    assert_eq!(
        other.both,
        CacheDirectives {
            key_parts: strings(&["x-device-class"]),
            ..Default::default()
        },
        "only the key, split by the header's absence"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn links_record_in_call_order_and_share_the_limits() {
    fn keys(tag: &'static str) -> impl Iterator<Item = String> {
        (0..10).map(move |i| format!("req:key={tag}{i}"))
    }
    let steps_a: Vec<String> = keys("a")
        .chain(strings(&["req:ttl=10", "resp:ttl=20", "resp:tags=a"]))
        .collect();
    let steps_b: Vec<String> = keys("b")
        .chain(strings(&["req:ttl=30", "resp:ttl=40", "resp:tags=b a"]))
        .collect();
    let (_dir, chain) = load(json!([
        { "name": "a", "module": "trace.wasm", "config": { "tag": "a", "cache": steps_a } },
        { "name": "b", "module": "trace.wasm", "config": { "tag": "b", "cache": steps_b } }
    ]))
    .await;
    let w = walk(&chain, get("/"), 200).await;
    let parts: Vec<String> = keys("a")
        .chain(keys("b").take(6))
        .map(|s| s["req:key=".len()..].to_owned())
        .collect();
    assert_eq!(w.request.key_parts, parts, "16 in all, in manifest order");
    assert_eq!(w.request.ttl, secs(30), "the later link's");
    // The response phase runs b, then a: a has the last word.
    assert_eq!(w.both.ttl, secs(20));
    assert_eq!(w.both.surrogate_keys, strings(&["b", "a"]), "distinct");
    assert_eq!(w.both.key_parts, parts);
    assert_eq!(w.headers["x-cache-a"], "ok,ok");
    assert_eq!(w.headers["x-cache-b"], "ok,ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_hook_s_cache_calls_are_undone() {
    let hostile = |name: &str, mode: &str| {
        json!({ "name": name, "module": "hostile.wasm", "config": { "mode": mode },
                "on_error": "fail-open" })
    };
    let (_dir, chain) = load(json!([
        { "name": "a", "module": "trace.wasm",
          "config": { "tag": "a", "cache": ["req:key=a", "resp:ttl=20"] } },
        hostile("panic", "cache-panic"),
        hostile("invalid", "cache-invalid"),
        hostile("late", "cache-trap-response")
    ]))
    .await;
    let only_a = CacheDirectives {
        key_parts: strings(&["a"]),
        ttl: secs(20),
        ..Default::default()
    };
    for path in ["/evil/panic", "/evil/invalid", "/evil/late"] {
        let w = walk(&chain, get(path), 200).await;
        assert_eq!(w.both, only_a, "{path}: the failed link's calls are gone");
        assert_eq!(w.headers["x-cache-a"], "ok", "{path}: the chain went on");
    }
    // The same links record when they do not fail.
    let calm = walk(&chain, get("/calm"), 200).await;
    assert_eq!(calm.both, only_a);
}

fn host_options(dir: &ConfigDir, origin: &Origin) -> edgechain::server::ServeOptions {
    options(dir.path(), origin.addr)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_sees_refusals_as_errors_and_the_request_is_served() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("trace").manifest(json!({ "proxychain": [
        { "name": "a", "module": "trace.wasm", "config": { "tag": "a", "cache": [
            // `init` gets wrong-phase, or the chain would not load.
            "init:bypass", "init:ttl=5",
            "req:key=fine", "req:key=bell\u{7}", "req:ttl=31536001", "req:tags=a,b",
            "req:tags=ok", "req:ttl=0",
            "resp:key=late", "resp:bypass", "resp:ttl=60", "resp:tags=t1 t2", "resp:tags= "
        ] } }
    ] }));
    let host = start_host(host_options(&dir, &origin)).await;
    let client = TestClient::new();
    for _ in 0..2 {
        let reply = client.get(host.proxy_addr(), "/page").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.text(), "hello from origin\n");
        assert_eq!(
            reply.header("x-cache-a"),
            "wrong-phase,wrong-phase,ok,ok,invalid"
        );
    }
    let seen = origin.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].headers["x-cache-a"], "ok,invalid,invalid,invalid,ok,ok",
        "the limits and rules of each call, per request"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_built_for_the_0_3_0_world_still_loads_and_runs() {
    // The fixture must really be a 0.3.0 component, or this shows nothing.
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::from_file(&engine, plugin_wasm("legacy-world"))
        .expect("component");
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(&engine).map(|(n, _)| n.to_owned()).collect();
    let exports: Vec<String> = ty.exports(&engine).map(|(n, _)| n.to_owned()).collect();
    assert!(
        imports.iter().any(|n| n == "edgechain:plugin/host@0.3.0")
            && imports
                .iter()
                .all(|n| !n.contains("@0.3.1") && !n.contains("/cache")),
        "{imports:?}"
    );
    assert!(
        exports.iter().any(|n| n == "edgechain:plugin/filter@0.3.0"),
        "{exports:?}"
    );

    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("legacy-world")
        .add_plugin("cache-rules")
        .manifest(json!({ "proxychain": [
            { "name": "old", "module": "legacy-world.wasm" },
            { "name": "rules", "module": "cache-rules.wasm", "config": rules() }
        ] }));
    let host = start_host(host_options(&dir, &origin)).await;
    let client = TestClient::new();
    for n in 1..=2 {
        let reply = client.get(host.proxy_addr(), "/products/42").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("x-legacy-world"), "0.3.0");
        let seen = origin.seen();
        assert_eq!(
            seen[n - 1].headers["x-legacy"],
            format!("old #{n}").as_str()
        );
    }
    host.shutdown().await;

    // And in-process, its link records nothing while the other's calls count.
    let (_dir, chain) = load(json!([
        { "name": "old", "module": "legacy-world.wasm" },
        { "name": "rules", "module": "cache-rules.wasm", "config": rules() }
    ]))
    .await;
    let w = walk(&chain, get("/products/42"), 200).await;
    assert_eq!(w.both.ttl, secs(300));
    assert_eq!(w.headers["x-legacy-world"], "0.3.0");
}
