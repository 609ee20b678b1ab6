//! Deciding which links run for one request (`when`/`unless`): 100 links with
//! mixed rules (paths by prefix, exact and glob; hosts exact and wildcard;
//! methods; headers present and equal; several conditions; `unless`),
//! compiled as a chain load compiles them, decided per request as the walk
//! does. Goal (issue 27): ≤ 1 µs per request.
//!
//! Run: `cargo bench -p edgechain --bench matcher`.

use criterion::{Criterion, criterion_group, criterion_main};
use edgechain::matcher::Matcher;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use std::hint::black_box;

/// The rule of link `i`: twenty kinds, five of each, none shared.
fn rule(i: usize) -> Value {
    let n = i / 20;
    match i % 20 {
        0 => json!({ "when": { "path": { "prefix": format!("/area{n}") } } }),
        1 => {
            json!({ "when": { "path": { "prefix": [format!("/a{n}"), format!("/b{n}"), "/products"] } } })
        }
        2 => json!({ "when": { "path": { "exact": format!("/login{n}") } } }),
        3 => json!({ "when": { "path": { "glob": format!("/static{n}/**/*.css") } } }),
        4 => json!({ "when": { "path": { "glob": format!("/v?/items{n}/*") } } }),
        5 => json!({ "when": { "host": format!("api{n}.example.com") } }),
        6 => json!({ "when": { "host": ["*.example", format!("*.site{n}.example.org")] } }),
        7 => json!({ "when": { "method": ["POST", "PUT", "PATCH"] } }),
        8 => json!({ "when": { "method": "GET" } }),
        9 => json!({ "when": { "header": { format!("x-debug-{n}"): true } } }),
        10 => json!({ "when": { "header": { "x-env": ["staging", "dev", format!("e{n}")] } } }),
        11 => json!({ "when": { "header": { "accept": "*/*" } } }),
        12 => {
            json!({ "when": { "host": "shop.example", "path": { "prefix": "/products" }, "method": "GET" } })
        }
        13 => {
            json!({ "when": { "path": { "prefix": "/api" }, "header": { "authorization": true } } })
        }
        14 => json!({ "unless": { "path": { "prefix": format!("/health{n}") } } }),
        15 => {
            json!({ "when": { "path": { "prefix": "/products" } }, "unless": { "header": { "x-internal": true } } })
        }
        16 => {
            json!({ "when": { "path": { "glob": "/products/*" }, "host": ["shop.example", "www.shop.example"] } })
        }
        17 => {
            json!({ "when": { "method": ["GET", "HEAD"] }, "unless": { "host": format!("*.internal{n}") } })
        }
        18 => json!({ "when": { "path": { "glob": format!("/**/img{n}/*.png") } } }),
        _ => {
            json!({ "when": { "header": { "cookie": true }, "path": { "exact": ["/", format!("/home{n}")] } } })
        }
    }
}

fn matcher(links: usize) -> Matcher {
    Matcher::new((0..links).map(|i| {
        let r = rule(i);
        edgechain_wire::scope::from_json(r.get("when"), r.get("unless"))
            .unwrap_or_else(|e| panic!("link {i}: {e}"))
            .map(|s| s.try_map_names(|n| HeaderName::from_bytes(n.as_bytes())))
            .transpose()
            .unwrap_or_else(|e| panic!("link {i}: {e}"))
    }))
}

fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in fields {
        h.append(*n, HeaderValue::from_static(v));
    }
    h
}

fn decide(c: &mut Criterion) {
    let m = matcher(100);
    let small = headers(&[
        ("host", "shop.example"),
        ("user-agent", "bench/1.0"),
        ("accept", "*/*"),
        ("x-forwarded-for", "198.51.100.7"),
    ]);
    let browser = headers(&[
        ("host", "shop.example"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
        ),
        ("accept-language", "en-GB,en;q=0.9,de;q=0.8"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        (
            "cookie",
            "session=3f2a9c1e7b5d4a8f9e0c1b2a3d4e5f60; theme=dark; consent=1",
        ),
        ("referer", "https://shop.example/products?page=2"),
        (
            "sec-ch-ua",
            "\"Chromium\";v=\"130\", \"Not?A_Brand\";v=\"99\"",
        ),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", "\"Linux\""),
        ("sec-fetch-dest", "document"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-site", "same-origin"),
        ("upgrade-insecure-requests", "1"),
        ("x-forwarded-for", "198.51.100.7"),
        ("section-io-id", "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6"),
    ]);
    let in_scope =
        |set: &edgechain::matcher::LinkSet| (0..100).filter(|&i| set.contains(i)).count();
    let mut group = c.benchmark_group("matcher");
    for (name, method, authority, path, fields) in [
        (
            "100 links, small request",
            "GET",
            "shop.example",
            "/products/42",
            &small,
        ),
        (
            "100 links, browser request",
            "GET",
            "Shop.Example:8080",
            "/products/42",
            &browser,
        ),
        (
            "100 links, deep path",
            "POST",
            "api3.example.com",
            "/static3/a/b/c/d/e/f/site.css",
            &small,
        ),
    ] {
        let set = m.decide(method, authority, path, fields);
        println!("{name}: {} of 100 links in scope", in_scope(&set));
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(m.decide(
                    black_box(method),
                    black_box(authority),
                    black_box(path),
                    black_box(fields),
                ))
            })
        });
    }
    let unscoped = Matcher::new((0..100).map(|_| None));
    group.bench_function("100 links, none scoped", |b| {
        b.iter(|| black_box(unscoped.decide("GET", "shop.example", "/products/42", &small)))
    });
    group.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
