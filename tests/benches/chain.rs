//! In-process cost of the chain, without the network: one link call with a
//! fresh instance and with a warm one, and whole chains of 3 and 5 links, with
//! a small request and a browser-like one (header copying is most of a call).
//!
//! Run: `cargo bench -p edgechain-tests --bench chain`. Compare rows of the same
//! run (ratios); absolute times move with the machine's load. Every case
//! compiles its plugins on an engine of its own; to load only some, set
//! `EDGECHAIN_BENCH_CASES` to a substring of their names (criterion's own
//! filter then picks among those loaded).

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use edgechain::chain::ChainSnapshot;
use edgechain::chain::load::ChainLoader;
use edgechain::chain::walk::RequestOutcome;
use edgechain::engine::{EngineSettings, Runtime};
use edgechain::kv::KvStore;
use edgechain::telemetry::access::WalkLog;
use edgechain_tests::ConfigDir;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn link(name: &str, plugin: &str, instance: &str) -> Value {
    let config = match plugin {
        "add-headers" => {
            json!({ "request": { "x-edge": "1" }, "response": { "x-served-by": "edgechain" } })
        }
        "block-paths" => json!({ "prefixes": ["/admin"] }),
        _ => Value::Null,
    };
    configured(name, plugin, instance, config)
}

fn configured(name: &str, plugin: &str, instance: &str, config: Value) -> Value {
    json!({ "name": name, "module": format!("{plugin}.wasm"), "config": config, "instance": instance })
}

/// `redirect` with `n` regex rules, none of which matches the bench's path.
fn redirect_rules(n: usize) -> Value {
    let rules: Vec<Value> = (0..n)
        .map(|i| {
            json!({ "match": "regex", "from": format!("^/item{i}/(\\d+)/([a-z]+)$"),
                    "to": format!("/items{i}/$1/$2"), "status": 301 })
        })
        .collect();
    json!({ "rules": rules })
}

/// `bot-block` denying `n` /24 networks, none of which holds the client.
fn bot_networks(n: usize) -> Value {
    let nets: Vec<String> = (0..n)
        .map(|i| format!("10.{}.{}.0/24", (i >> 8) & 255, i & 255))
        .collect();
    json!({ "deny_ips": nets })
}

async fn load(links: Vec<Value>, limits: bool, preinit: bool) -> (ConfigDir, ChainSnapshot) {
    let dir = ConfigDir::new();
    for p in [
        "passthrough",
        "add-headers",
        "block-paths",
        "redirect",
        "bot-block",
    ] {
        dir.add_plugin(p);
    }
    dir.manifest(json!({ "proxychain": links }));
    let settings = EngineSettings {
        max_instances: 256,
        limits,
        preinit,
        ..EngineSettings::default()
    };
    let runtime = Runtime::new(settings).expect("engine");
    let metrics = edgechain::telemetry::metrics::Metrics::new();
    let chain = ChainLoader::new(runtime, KvStore::default(), metrics.plugins.clone())
        .load(dir.path())
        .await
        .expect("chain loads");
    (dir, chain)
}

/// A small API-client request: 4 headers.
fn request() -> http::Request<Full<Bytes>> {
    http::Request::get("/products/42?color=red")
        .header("host", "shop.example")
        .header("user-agent", "bench/1.0")
        .header("accept", "*/*")
        .header("x-forwarded-for", "198.51.100.7")
        .body(Full::default())
        .expect("request")
}

/// A browser-like request: 16 headers, about 1 KiB, as a CDN edge sees them.
fn browser_request() -> http::Request<Full<Bytes>> {
    http::Request::get("/products/42?color=red")
        .header("host", "shop.example")
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36")
        .header("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8")
        .header("accept-language", "en-GB,en;q=0.9,de;q=0.8")
        .header("accept-encoding", "gzip, deflate, br, zstd")
        .header("cookie", "session=3f2a9c1e7b5d4a8f9e0c1b2a3d4e5f60; theme=dark; consent=1")
        .header("referer", "https://shop.example/products?page=2")
        .header("sec-ch-ua", "\"Chromium\";v=\"130\", \"Not?A_Brand\";v=\"99\"")
        .header("sec-ch-ua-mobile", "?0")
        .header("sec-ch-ua-platform", "\"Linux\"")
        .header("sec-fetch-dest", "document")
        .header("sec-fetch-mode", "navigate")
        .header("sec-fetch-site", "same-origin")
        .header("upgrade-insecure-requests", "1")
        .header("x-forwarded-for", "198.51.100.7")
        .header("section-io-id", "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6")
        .body(Full::default())
        .expect("request")
}

fn response() -> http::Response<Full<Bytes>> {
    http::Response::builder()
        .header("content-type", "text/html")
        .header("content-length", "5")
        .body(Full::new(Bytes::from_static(b"hello")))
        .expect("response")
}

/// One full pass: request walk, then response walk, as the proxy does it.
async fn pass(chain: &ChainSnapshot, browser: bool) {
    let mut log = WalkLog::default();
    let req = if browser {
        browser_request()
    } else {
        request()
    };
    match chain.run_request(req, Some(CLIENT), &mut log).await {
        RequestOutcome::Forward(req, walk) => {
            black_box(req);
            let resp = walk.run(response(), &mut log).await;
            black_box(resp.into_body().collect().await.ok());
        }
        _ => panic!("bench request must be forwarded"),
    }
}

fn chains(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let example = |mode: &str| {
        vec![
            link("block", "block-paths", mode),
            link("headers", "add-headers", mode),
            link("baseline", "passthrough", mode),
        ]
    };
    let five = |mode: &str| {
        (0..5)
            .map(|i| match i % 2 {
                0 => link(&format!("p{i}"), "passthrough", mode),
                _ => link(&format!("h{i}"), "add-headers", mode),
            })
            .collect::<Vec<_>>()
    };
    // The call path per phase, warm (`reuse`) and fresh (`per-request`):
    // `add-headers` with only a request header asks for no response phase,
    // so "both phases" minus "request phase" is what the response call costs.
    let request_only = |mode: &str| {
        vec![configured(
            "h",
            "add-headers",
            mode,
            json!({ "request": { "x-edge": "1" } }),
        )]
    };
    // `when`: ten per-request links of which the request is in scope of two
    // (the same two as the two-link chain), the others scoped elsewhere by
    // path, host, method or header.
    let two = || {
        vec![
            link("p", "passthrough", "per-request"),
            link("h", "add-headers", "per-request"),
        ]
    };
    let ten_scoped = || {
        let mut links = two();
        links[0]["when"] = json!({ "path": { "prefix": "/products" } });
        links[1]["when"] = json!({ "method": ["GET", "HEAD"], "host": "*.example" });
        let elsewhere = [
            json!({ "path": { "prefix": "/admin" } }),
            json!({ "path": { "glob": "/static/**/*.css" } }),
            json!({ "path": { "exact": "/login" } }),
            json!({ "host": "api.example.com" }),
            json!({ "method": "POST" }),
            json!({ "header": { "x-debug": true } }),
            json!({ "header": { "authorization": true }, "path": { "prefix": "/api" } }),
            json!({ "host": ["*.internal", "localhost"] }),
        ];
        for (i, when) in elsewhere.into_iter().enumerate() {
            let mut l = link(
                &format!("s{i}"),
                ["passthrough", "add-headers"][i % 2],
                "per-request",
            );
            l["when"] = when;
            links.push(l);
        }
        links
    };
    let limited = [
        ("scope: 2 links, per-request", two()),
        ("scope: 10 links, 2 in scope, per-request", ten_scoped()),
        ("scope: browser request, 2 links, per-request", two()),
        (
            "scope: browser request, 10 links, 2 in scope, per-request",
            ten_scoped(),
        ),
        ("empty chain", vec![]),
        ("1 add-headers, request phase, reuse", request_only("reuse")),
        (
            "1 add-headers, request phase, per-request",
            request_only("per-request"),
        ),
        (
            "1 add-headers, both phases, reuse",
            vec![link("h", "add-headers", "reuse")],
        ),
        (
            "1 add-headers, both phases, per-request",
            vec![link("h", "add-headers", "per-request")],
        ),
        (
            "1 passthrough, per-request",
            vec![link("p", "passthrough", "per-request")],
        ),
        (
            "1 passthrough, reuse",
            vec![link("p", "passthrough", "reuse")],
        ),
        ("example chain (3), per-request", example("per-request")),
        ("example chain (3), reuse", example("reuse")),
        ("5 links, per-request", five("per-request")),
        ("5 links, reuse", five("reuse")),
        ("browser request, empty chain", vec![]),
        (
            "browser request, 1 passthrough, reuse",
            vec![link("p", "passthrough", "reuse")],
        ),
        ("browser request, 5 links, reuse", five("reuse")),
        ("browser request, 5 links, per-request", five("per-request")),
    ];
    // What the deadline (epoch checks) and the memory limiter cost.
    let unlimited = [
        ("5 links, per-request, no limits", five("per-request")),
        ("5 links, reuse, no limits", five("reuse")),
    ];
    // Heavy configs, fresh instances: pre-initialised (the default) and not.
    let heavy = |name: &str, plugin: &str, config: Value| {
        vec![configured(name, plugin, "per-request", config)]
    };
    let heavy_cases = [
        (
            "redirect, 1 regex rule, per-request",
            heavy("r", "redirect", redirect_rules(1)),
        ),
        (
            "redirect, 200 regex rules, per-request",
            heavy("r", "redirect", redirect_rules(200)),
        ),
        (
            "bot-block, 1 network, per-request",
            heavy("b", "bot-block", bot_networks(1)),
        ),
        (
            "bot-block, 10000 networks, per-request",
            heavy("b", "bot-block", bot_networks(10_000)),
        ),
    ];
    let without_preinit = [
        (
            "1 passthrough, per-request, no preinit",
            vec![link("p", "passthrough", "per-request")],
        ),
        (
            "redirect, 1 regex rule, per-request, no preinit",
            heavy("r", "redirect", redirect_rules(1)),
        ),
        (
            "redirect, 200 regex rules, per-request, no preinit",
            heavy("r", "redirect", redirect_rules(200)),
        ),
        (
            "bot-block, 10000 networks, per-request, no preinit",
            heavy("b", "bot-block", bot_networks(10_000)),
        ),
    ];
    let cases = limited
        .into_iter()
        .chain(heavy_cases)
        .map(|(name, links)| (name, links, true, true))
        .chain(
            unlimited
                .into_iter()
                .map(|(name, links)| (name, links, false, true)),
        )
        .chain(
            without_preinit
                .into_iter()
                .map(|(name, links)| (name, links, true, false)),
        );
    let only = std::env::var("EDGECHAIN_BENCH_CASES").ok();
    let mut group = c.benchmark_group("chain");
    for (name, links, limits, preinit) in cases {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let (_dir, chain) = rt.block_on(load(links, limits, preinit));
        let browser = name.contains("browser");
        group.bench_function(name, |b| b.to_async(&rt).iter(|| pass(&chain, browser)));
    }
    group.finish();
}

criterion_group!(benches, chains);
criterion_main!(benches);
