//! The library plugins through the real host.

use edgechain_tests::*;
use http::{Request, StatusCode};
use http_body_util::Full;
use serde_json::json;

fn get_with(path: &str, headers: &[(&str, &str)]) -> Request<Full<bytes::Bytes>> {
    let mut b = Request::get(path).header("host", "shop.example");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(Full::default()).expect("request")
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_answers_429_with_retry_after_per_client_key() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("rate-limit")
        .manifest(json!({ "proxychain": [
            { "name": "limit", "module": "rate-limit.wasm",
              "config": { "limit": 3, "window_secs": 3600, "key": { "header": "x-api-key" } } }
        ]}));
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    for remaining in ["2", "1", "0"] {
        let reply = client
            .send(host.proxy_addr(), get_with("/", &[("x-api-key", "alice")]))
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let seen = origin.seen();
        let up = seen.last().expect("forwarded");
        assert_eq!(up.headers["x-ratelimit-remaining"], remaining);
        assert_eq!(up.headers["x-ratelimit-limit"], "3");
    }
    let over = client
        .send(host.proxy_addr(), get_with("/", &[("x-api-key", "alice")]))
        .await;
    assert_eq!(over.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = over
        .header("retry-after")
        .parse()
        .expect("retry-after is seconds");
    assert!((3500..=3600).contains(&retry), "retry-after {retry}");
    assert_eq!(
        origin.seen().len(),
        3,
        "the limited request never reached the origin"
    );
    // Another key has its own budget; without the header the client IP counts.
    let bob = client
        .send(host.proxy_addr(), get_with("/", &[("x-api-key", "bob")]))
        .await;
    assert_eq!(bob.status, StatusCode::OK);
    let anon = client.send(host.proxy_addr(), get_with("/", &[])).await;
    assert_eq!(anon.status, StatusCode::OK);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn redirect_rules_and_https_upgrade_are_answered_at_the_edge() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("redirect").manifest(json!({ "proxychain": [
        { "name": "redirect", "module": "redirect.wasm", "config": {
            "https": true,
            "rules": [
                { "match": "exact", "from": "/old", "to": "/new", "status": 301 },
                { "match": "prefix", "from": "/docs/", "to": "/manual/" },
                { "match": "regex", "from": "^/item/(\\d+)$", "to": "/items/$1", "status": 308 }
            ] } }
    ]}));
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    let https = [("x-forwarded-proto", "https")];
    let cases = [
        ("/old?x=1", StatusCode::MOVED_PERMANENTLY, "/new?x=1"),
        ("/docs/a/b", StatusCode::FOUND, "/manual/a/b"),
        ("/item/42", StatusCode::PERMANENT_REDIRECT, "/items/42"),
    ];
    for (path, status, location) in cases {
        let reply = client.send(host.proxy_addr(), get_with(path, &https)).await;
        assert_eq!(reply.status, status, "{path}");
        assert_eq!(reply.header("location"), location, "{path}");
    }
    let upgrade = client
        .send(
            host.proxy_addr(),
            get_with("/cart?id=7", &[("x-forwarded-proto", "http")]),
        )
        .await;
    assert_eq!(upgrade.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(upgrade.header("location"), "https://shop.example/cart?id=7");
    assert!(
        origin.seen().is_empty(),
        "every redirect was answered at the edge"
    );
    let pass = client
        .send(host.proxy_addr(), get_with("/item/x", &https))
        .await;
    assert_eq!(pass.status, StatusCode::OK);
    assert_eq!(origin.seen().len(), 1);
    host.shutdown().await;
}
