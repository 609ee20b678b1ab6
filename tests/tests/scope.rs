//! `when` and `unless` on manifest entries, end to end: the real binary with
//! its defaults (access log on), real plugins, a real origin. Each condition
//! kind is tried with the spellings normalisation folds, and a link out of
//! scope is shown to get no instance and no call in either phase.

use bytes::Bytes;
use edgechain_tests::*;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_edgechain-cli");

/// A `trace` link tagged `tag` that runs where `rule` (`when`, `unless`) says.
fn traced(tag: &str, rule: Value) -> Value {
    let mut entry = json!({ "name": tag, "module": "trace.wasm", "config": { "tag": tag } });
    for (k, v) in rule.as_object().expect("rule object") {
        entry[k] = v.clone();
    }
    entry
}

fn scoped_chain() -> ConfigDir {
    let dir = ConfigDir::new();
    dir.add_plugin("trace");
    dir.manifest(json!({ "proxychain": [
        traced("host", json!({ "when": { "host": ["API.example.com.", "*.shop.example"] } })),
        traced("prefix", json!({ "when": { "path": { "prefix": "/admin" } } })),
        traced("exact", json!({ "when": { "path": { "exact": "/login" } } })),
        traced("glob", json!({ "when": { "path": { "glob": "/static/**/*.css" } } })),
        traced("method", json!({ "when": { "method": ["POST", "PUT"] } })),
        traced("present", json!({ "when": { "header": { "X-Debug": true } } })),
        traced("equal", json!({ "when": { "header": { "x-env": ["staging", "dev"] } } })),
        traced("unless", json!({ "unless": { "path": { "prefix": "/health" } } })),
        traced("all", json!({ "when": {
            "host": "api.example.com", "path": { "prefix": "/v1" }, "method": "GET"
        } })),
    ]}));
    dir
}

struct Case {
    method: &'static str,
    host: &'static str,
    target: &'static str,
    headers: &'static [(&'static str, &'static str)],
    /// The tags of the links that ran, in chain order.
    ran: &'static str,
}

const fn get(host: &'static str, target: &'static str, ran: &'static str) -> Case {
    Case {
        method: "GET",
        host,
        target,
        headers: &[],
        ran,
    }
}

const CASES: &[Case] = &[
    // host: case, a trailing dot and a port are folded; `*.` by labels.
    get("api.example.com", "/x", "host,unless"),
    get("API.Example.COM", "/x", "host,unless"),
    get("api.example.com.", "/x", "host,unless"),
    get("api.example.com:8080", "/x", "host,unless"),
    get("API.EXAMPLE.COM.:8080", "/x", "host,unless"),
    get("a.b.shop.example", "/x", "host,unless"),
    get("A.Shop.Example.:81", "/x", "host,unless"),
    get("shop.example", "/x", "unless"),
    get("badshop.example", "/x", "unless"),
    get("api.example.com.evil", "/x", "unless"),
    // prefix by segment, on the normalised path.
    get("o", "/admin", "prefix,unless"),
    get("o", "/admin/users?x=1", "prefix,unless"),
    get("o", "/%61dmin/users", "prefix,unless"),
    get("o", "/%61%64%6D%69%6E", "prefix,unless"),
    get("o", "/x/../admin", "prefix,unless"),
    get("o", "/./admin/", "prefix,unless"),
    get("o", "//admin", "prefix,unless"),
    get("o", "/static/../admin/x", "prefix,unless"),
    get("o", "/adminx", "unless"),
    get("o", "/ADMIN", "unless"),
    get("o", "/admin%20", "unless"),
    // exact.
    get("o", "/login", "exact,unless"),
    get("o", "/login?next=/admin", "exact,unless"),
    get("o", "/%6Cogin", "exact,unless"),
    get("o", "/a/b/../../login", "exact,unless"),
    get("o", "/login/", "unless"),
    get("o", "/login/x", "unless"),
    // glob.
    get("o", "/static/site.css", "glob,unless"),
    get("o", "/static/a/b/site.css", "glob,unless"),
    get("o", "/static/%61/site.%63ss", "glob,unless"),
    get("o", "/static//a/./site.css", "glob,unless"),
    get("o", "/static/a/site.js", "unless"),
    get("o", "/staticx/site.css", "unless"),
    // method: exact, case-sensitive.
    Case {
        method: "POST",
        host: "o",
        target: "/x",
        headers: &[],
        ran: "method,unless",
    },
    Case {
        method: "PUT",
        host: "o",
        target: "/x",
        headers: &[],
        ran: "method,unless",
    },
    Case {
        method: "post",
        host: "o",
        target: "/x",
        headers: &[],
        ran: "unless",
    },
    // header present (any value, even empty), equal (any field of a
    // repeated header, compared whole).
    Case {
        method: "GET",
        host: "o",
        target: "/x",
        headers: &[("x-debug", "")],
        ran: "present,unless",
    },
    Case {
        method: "GET",
        host: "o",
        target: "/x",
        headers: &[("X-DEBUG", "1"), ("x-debug", "2")],
        ran: "present,unless",
    },
    Case {
        method: "GET",
        host: "o",
        target: "/x",
        headers: &[("x-env", "dev")],
        ran: "equal,unless",
    },
    Case {
        method: "GET",
        host: "o",
        target: "/x",
        headers: &[("x-env", "prod"), ("X-Env", "staging")],
        ran: "equal,unless",
    },
    Case {
        method: "GET",
        host: "o",
        target: "/x",
        headers: &[("x-env", "prod")],
        ran: "unless",
    },
    Case {
        method: "GET",
        host: "o",
        target: "/x",
        headers: &[("x-env", "Dev")],
        ran: "unless",
    },
    Case {
        method: "GET",
        host: "o",
        target: "/x",
        headers: &[("x-env", "dev, prod")],
        ran: "unless",
    },
    // unless.
    get("o", "/health", ""),
    get("o", "/health/live", ""),
    get("o", "/%68ealth", ""),
    get("o", "/x/../health/", ""),
    get("o", "/healthz", "unless"),
    // all of several conditions.
    get("Api.Example.Com:443", "/v1/items", "host,unless,all"),
    Case {
        method: "POST",
        host: "api.example.com",
        target: "/v1/items",
        headers: &[],
        ran: "host,method,unless",
    },
    get("api.example.com", "/v2/items", "host,unless"),
    // several kinds at once.
    Case {
        method: "PUT",
        host: "x.shop.example",
        target: "/admin/%2e%2e/static/a/b.css",
        headers: &[("x-debug", "on"), ("x-env", "staging")],
        ran: "host,glob,method,present,equal,unless",
    },
];

#[tokio::test(flavor = "multi_thread")]
async fn each_condition_kind_matches_every_spelling_normalisation_folds() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = scoped_chain();
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let client = TestClient::new();
    for case in CASES {
        let mut req = Request::builder()
            .method(Method::from_bytes(case.method.as_bytes()).expect("method"))
            .uri(case.target)
            .header("host", case.host);
        for (n, v) in case.headers {
            req = req.header(*n, *v);
        }
        let before = origin.seen().len();
        let reply = client
            .send(host.proxy, req.body(Full::default()).expect("request"))
            .await;
        let what = format!(
            "{} {} (host {}, {:?})",
            case.method, case.target, case.host, case.headers
        );
        assert_eq!(reply.status, StatusCode::OK, "{what}");
        let seen = origin.seen();
        assert_eq!(seen.len(), before + 1, "{what}");
        let trace = seen[before]
            .headers
            .get("x-trace")
            .map(|v| v.to_str().expect("ascii").to_owned())
            .unwrap_or_default();
        assert_eq!(trace, case.ran, "{what}: links that ran on the request");
        // The response phase runs on the same links, in reverse.
        let mut back: Vec<&str> = case.ran.split(',').filter(|t| !t.is_empty()).collect();
        back.reverse();
        assert_eq!(
            reply.header("x-trace"),
            back.join(","),
            "{what}: response phase"
        );
    }
    // Skips are counted per link: `unless` ran on all but the four /health
    // requests.
    let skipped = metric(
        &client,
        host.admin,
        "edgechain_plugin_skipped_total{plugin=\"unless\"}",
    )
    .await;
    assert_eq!(skipped, Some(4.0));
    let calls = metric(
        &client,
        host.admin,
        "edgechain_plugin_calls_total{plugin=\"unless\"}",
    )
    .await;
    let ran = CASES.iter().filter(|c| c.ran.contains("unless")).count();
    assert_eq!(
        calls,
        Some(2.0 * ran as f64),
        "both phases of every request it ran for"
    );
}

/// Under the default `--escaped-slashes reject`, an encoded `/` never
/// reaches a rule: the front door answers 400 and no link runs. Under
/// `decode` the rule sees the decoded path; under `keep` `%2F` is data in
/// the segment, exactly as plugins see it.
#[tokio::test(flavor = "multi_thread")]
async fn an_encoded_slash_is_matched_as_the_escaped_slashes_policy_reads_it() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("trace");
    dir.manifest(json!({ "proxychain": [
        traced("prefix", json!({ "when": { "path": { "prefix": "/admin/users" } } })),
    ]}));
    for (policy, status, ran) in [
        (None, StatusCode::BAD_REQUEST, None),
        (Some("decode"), StatusCode::OK, Some("prefix")),
        (Some("keep"), StatusCode::OK, Some("")),
    ] {
        let flags: Vec<&str> = policy
            .map(|p| vec!["--escaped-slashes", p])
            .unwrap_or_default();
        let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &flags, &[]);
        let client = TestClient::new();
        for target in ["/admin%2Fusers", "/admin%2fusers/x"] {
            let before = origin.seen().len();
            let reply = client.get(host.proxy, target).await;
            assert_eq!(reply.status, status, "{policy:?} {target}");
            let seen = origin.seen();
            match ran {
                None => assert_eq!(seen.len(), before, "{policy:?} {target}: nothing forwarded"),
                Some(tags) => {
                    let trace = seen[before]
                        .headers
                        .get("x-trace")
                        .map(|v| v.to_str().expect("ascii").to_owned())
                        .unwrap_or_default();
                    assert_eq!(trace, tags, "{policy:?} {target}");
                }
            }
        }
        let calls = metric(
            &client,
            host.admin,
            "edgechain_plugin_calls_total{plugin=\"prefix\"}",
        )
        .await;
        let want = if policy == Some("decode") { 4.0 } else { 0.0 };
        assert_eq!(calls.unwrap_or(0.0), want, "{policy:?}");
    }
}

/// A link out of scope gets no instance and no call in either phase, in
/// both instance modes: `hostile` links that panic (request phase) or trap
/// (response phase) on their trigger path never fail a request they are out
/// of scope for, their calls stay at zero (a call is counted before its
/// instance is taken), and a `trace` link's per-link key-value counter and
/// a reused instance's served count move only on the requests in scope. The
/// access log lists only the links that ran.
#[tokio::test(flavor = "multi_thread")]
async fn a_link_out_of_scope_is_never_instantiated_nor_called() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    dir.add_plugin("trace").add_plugin("hostile");
    dir.manifest(json!({ "proxychain": [
        { "name": "fresh", "module": "hostile.wasm", "config": { "mode": "panic" },
          "when": { "path": { "prefix": "/evil/fresh" }, "method": "DELETE" } },
        { "name": "warm", "module": "hostile.wasm", "config": { "mode": "trap-response" },
          "instance": "reuse", "when": { "header": { "x-run": "warm" } } },
        { "name": "counted", "module": "trace.wasm", "config": { "tag": "c" },
          "instance": "reuse", "when": { "method": "POST" } },
    ]}));
    let host = HostProcess::spawn(BIN, dir.path(), origin.addr, &[], &[]);
    let client = TestClient::new();
    for target in ["/evil/fresh", "/evil/warm", "/evil/fresh?again"] {
        let reply = client.get(host.proxy, target).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{target}: no out-of-scope link ran"
        );
        assert_eq!(reply.header("x-trace"), "", "{target}");
    }
    for name in ["fresh", "warm", "counted"] {
        let series = |m: &str| format!("{m}{{plugin=\"{name}\"}}");
        assert_eq!(
            metric(&client, host.admin, &series("edgechain_plugin_calls_total"))
                .await
                .unwrap_or(0.0),
            0.0,
            "{name}: no call, no instance taken"
        );
        assert_eq!(
            metric(
                &client,
                host.admin,
                &series("edgechain_plugin_skipped_total")
            )
            .await,
            Some(3.0),
            "{name}"
        );
        assert_eq!(
            metric(
                &client,
                host.admin,
                &series("edgechain_plugin_instances_in_use")
            )
            .await
            .unwrap_or(0.0),
            0.0,
            "{name}"
        );
    }
    // In scope, each link runs: the counter and the reused instance saw
    // only this request, in both phases.
    let post = Request::post("/evil/fresh")
        .body(Full::new(Bytes::from_static(b"x")))
        .expect("request");
    let reply = client.send(host.proxy, post).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-trace"), "c");
    assert_eq!(
        reply.header("x-served-c"),
        "1",
        "one reused instance, one request"
    );
    let up = origin.seen().pop().expect("forwarded");
    assert_eq!(
        up.headers.get("x-kv-c").map(|v| v.as_bytes()),
        Some(&b"1"[..]),
        "one call"
    );
    let delete = Request::delete("/evil/fresh")
        .body(Full::default())
        .expect("request");
    let reply = client.send(host.proxy, delete).await;
    assert!(
        reply.status.is_server_error(),
        "the panicking link ran: {}",
        reply.status
    );
    let armed = Request::get("/evil/warm")
        .header("x-run", "warm")
        .body(Full::default())
        .expect("request");
    let reply = client.send(host.proxy, armed).await;
    assert!(
        reply.status.is_server_error(),
        "the trapping link ran: {}",
        reply.status
    );

    let lines: Vec<Value> = wait_for("6 access log lines", || async {
        let lines: Vec<Value> = host
            .stdout()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (lines.len() >= 6).then_some(lines)
    })
    .await
    .0;
    for line in &lines[..3] {
        assert_eq!(line["links"], json!([]), "{line}");
    }
    assert_eq!(
        lines[3]["links"],
        json!([
            { "link": "counted", "phase": "request", "outcome": "next" },
            { "link": "counted", "phase": "response", "outcome": "ok" },
        ]),
        "{}",
        lines[3]
    );
    let names = |line: &Value| -> Vec<String> {
        line["links"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["link"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names(&lines[4]), ["fresh"], "{}", lines[4]);
    assert_eq!(names(&lines[5]), ["warm", "warm"], "{}", lines[5]);
}
