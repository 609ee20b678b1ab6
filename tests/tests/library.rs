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
async fn sliding_rate_limit_rejects_without_counting_rejections() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("rate-limit")
        .manifest(json!({ "proxychain": [
            { "name": "limit", "module": "rate-limit.wasm",
              "config": { "limit": 2, "window_secs": 86400, "window": "sliding" } }
        ]}));
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(client.get(host.proxy_addr(), "/").await.status.as_u16());
    }
    // Two fit; the rest do not (a day-long window cannot slide within a test).
    assert_eq!(statuses, [200, 200, 429, 429, 429]);
    assert_eq!(origin.seen().len(), 2);
    let over = client.get(host.proxy_addr(), "/").await;
    let retry: u64 = over.header("retry-after").parse().expect("seconds");
    assert!((1..=2 * 86_400).contains(&retry), "retry-after {retry}");
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

#[tokio::test(flavor = "multi_thread")]
async fn maintenance_page_is_served_except_for_allowed_paths() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("maintenance").manifest(json!({ "proxychain": [
        { "name": "maintenance", "module": "maintenance.wasm", "config": {
            "enabled": true, "retry_after_secs": 600, "content_type": "text/html; charset=utf-8",
            "body": "<h1>Back soon</h1>", "allow_prefixes": ["/healthz"] } }
    ]}));
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    let page = client.get(host.proxy_addr(), "/shop").await;
    assert_eq!(page.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(page.text(), "<h1>Back soon</h1>");
    assert_eq!(page.header("retry-after"), "600");
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(
        client.get(host.proxy_addr(), "/healthz").await.status,
        StatusCode::OK
    );
    assert_eq!(origin.seen().len(), 1);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_preflight_is_answered_and_responses_are_decorated() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("cors").manifest(json!({ "proxychain": [
        { "name": "cors", "module": "cors.wasm", "config": {
            "allow_origins": ["https://app.example"], "allow_methods": ["GET", "POST"],
            "allow_headers": ["content-type"], "expose_headers": ["x-origin"], "max_age_secs": 600 } }
    ]}));
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    let preflight = Request::options("/api")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .body(Full::default())
        .expect("request");
    let reply = client.send(host.proxy_addr(), preflight).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        "https://app.example"
    );
    assert_eq!(reply.header("access-control-allow-methods"), "GET, POST");
    assert_eq!(reply.header("access-control-max-age"), "600");
    assert!(
        origin.seen().is_empty(),
        "the preflight was answered at the edge"
    );

    let simple = client
        .send(
            host.proxy_addr(),
            get_with("/api", &[("origin", "https://app.example")]),
        )
        .await;
    assert_eq!(simple.status, StatusCode::OK);
    assert_eq!(
        simple.header("access-control-allow-origin"),
        "https://app.example"
    );
    assert_eq!(simple.header("access-control-expose-headers"), "x-origin");
    let other = client
        .send(
            host.proxy_addr(),
            get_with("/api", &[("origin", "https://evil.example")]),
        )
        .await;
    assert_eq!(other.status, StatusCode::OK);
    assert_eq!(
        other.header("access-control-allow-origin"),
        "",
        "no CORS headers for others"
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn basic_auth_rejects_at_the_edge_and_passes_the_identity_on() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("basic-auth")
        .manifest(json!({ "proxychain": [
            { "name": "auth", "module": "basic-auth.wasm", "config": {
                "realm": "staff", "users": { "alice": "s3cret" }, "allow_prefixes": ["/public"] } }
        ]}));
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    let none = client.get(host.proxy_addr(), "/private").await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        none.header("www-authenticate"),
        "Basic realm=\"staff\", charset=\"UTF-8\""
    );
    // "alice:wrong" and "alice:s3cret" in base64.
    let wrong = client
        .send(
            host.proxy_addr(),
            get_with("/private", &[("authorization", "Basic YWxpY2U6d3Jvbmc=")]),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(origin.seen().is_empty());
    let ok = client
        .send(
            host.proxy_addr(),
            get_with(
                "/private",
                &[
                    ("authorization", "Basic YWxpY2U6czNjcmV0"),
                    ("x-auth-user", "mallory"),
                ],
            ),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let seen = origin.seen();
    assert_eq!(
        seen[0].headers["x-auth-user"], "alice",
        "a client-sent identity is replaced"
    );
    assert!(
        !seen[0].headers.contains_key("authorization"),
        "credentials stop at the edge"
    );
    assert_eq!(
        client.get(host.proxy_addr(), "/public/x").await.status,
        StatusCode::OK
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bot_block_refuses_listed_agents_and_networks_unless_allowed() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("bot-block").manifest(json!({ "proxychain": [
        { "name": "bots", "module": "bot-block.wasm", "config": {
            "deny_user_agents": ["BadBot"], "deny_ips": ["192.0.2.0/24"],
            "allow_ips": ["192.0.2.7/32"], "use_forwarded_for": true } }
    ]}));
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    let cases: [(&[(&str, &str)], StatusCode); 5] = [
        (
            &[("user-agent", "Mozilla/5.0 badbot/2.1")],
            StatusCode::FORBIDDEN,
        ),
        (
            &[("x-forwarded-for", "192.0.2.8, 10.0.0.1")],
            StatusCode::FORBIDDEN,
        ),
        (
            &[("x-forwarded-for", "192.0.2.7"), ("user-agent", "badbot")],
            StatusCode::OK,
        ),
        (&[("x-forwarded-for", "198.51.100.1")], StatusCode::OK),
        (&[("user-agent", "curl/8")], StatusCode::OK),
    ];
    for (headers, want) in cases {
        let reply = client.send(host.proxy_addr(), get_with("/", headers)).await;
        assert_eq!(reply.status, want, "{headers:?}");
    }
    assert_eq!(origin.seen().len(), 3);
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn enrich_adds_a_request_id_and_geo_headers() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("enrich")
        .manifest(json!({ "proxychain": [{ "name": "enrich", "module": "enrich.wasm" }] }));
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    let geo = [
        ("section-io-geo-country-code", "NZ"),
        ("section-io-geo-city", "Wellington"),
    ];
    client.send(host.proxy_addr(), get_with("/", &geo)).await;
    client
        .send(host.proxy_addr(), get_with("/", &[("x-request-id", "abc")]))
        .await;
    client.send(host.proxy_addr(), get_with("/", &[])).await;
    let seen = origin.seen();
    assert_eq!(seen[0].headers["x-geo-country-code"], "NZ");
    assert_eq!(seen[0].headers["x-geo-city"], "Wellington");
    let id = |i: usize| {
        seen[i].headers["x-request-id"]
            .to_str()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(id(0).len(), 32, "128-bit hex id");
    assert!(id(0).bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(id(1), "abc", "a client's id is kept");
    assert_ne!(id(0), id(2), "ids differ between requests");
    host.shutdown().await;
}

/// The library's examples scoped with `when`/`unless` instead of their own
/// path options: `basic-auth` only under `/admin`, `maintenance` except
/// `/healthz`, `cors` only on `/api` requests that carry an `Origin`.
#[tokio::test(flavor = "multi_thread")]
async fn library_plugins_scoped_with_when_run_only_where_they_apply() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("basic-auth")
        .add_plugin("maintenance")
        .add_plugin("cors")
        .manifest(json!({ "proxychain": [
            { "name": "down", "module": "maintenance.wasm", "config": { "enabled": true },
              "unless": { "path": { "prefix": ["/healthz", "/admin", "/api"] } } },
            { "name": "staff", "module": "basic-auth.wasm",
              "config": { "users": { "alice": "s3cret" } },
              "when": { "path": { "prefix": "/admin" } } },
            { "name": "api-cors", "module": "cors.wasm",
              "config": { "allow_origins": ["https://app.example"] },
              "when": { "path": { "prefix": "/api" }, "header": { "origin": true } } },
        ]}));
    let host = start_host(options(dir.path(), origin.addr)).await;
    let client = TestClient::new();
    let send = |path: &str, headers: &[(&str, &str)]| {
        client.send(host.proxy_addr(), get_with(path, headers))
    };
    assert_eq!(send("/", &[]).await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(send("/healthz/ready", &[]).await.status, StatusCode::OK);
    assert_eq!(
        send("/healthzz", &[]).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        send("/admin/users", &[]).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(send("/%61dmin", &[]).await.status, StatusCode::UNAUTHORIZED);
    // alice:s3cret
    let authed = send("/admin", &[("authorization", "Basic YWxpY2U6czNjcmV0")]).await;
    assert_eq!(authed.status, StatusCode::OK);
    let api = send("/api/x", &[("origin", "https://app.example")]).await;
    assert_eq!(api.status, StatusCode::OK);
    assert_eq!(
        api.header("access-control-allow-origin"),
        "https://app.example"
    );
    let no_origin = send("/api/x", &[]).await;
    assert_eq!(no_origin.status, StatusCode::OK);
    assert_eq!(no_origin.header("access-control-allow-origin"), "");
    host.shutdown().await;
}
