//! `edgechain validate DIR`, run as the real command line: silent success on a
//! good directory, and a useful message for every kind of broken one.

use edgechain_tests::{ConfigDir, plugin_wasm};
use serde_json::json;
use std::process::{Command, Output};

fn validate(dir: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edgechain-cli"))
        .arg("validate")
        .arg(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("run edgechain validate")
}

fn good_dir() -> ConfigDir {
    let dir = ConfigDir::new();
    dir.add_plugin("block-paths").add_plugin("add-headers").manifest(json!({
        "proxychain": [
            { "name": "block", "module": "block-paths.wasm", "config": { "prefixes": ["/admin"] } },
            { "name": "headers", "module": "add-headers.wasm", "config": "headers/config.json" }
        ]
    }));
    dir.write("headers/config.json", r#"{"request": {"x-a": "1"}}"#);
    dir
}

#[test]
fn a_good_directory_is_silent_and_exits_zero() {
    let dir = good_dir();
    let out = validate(dir.path());
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Each case breaks a good directory one way; the message must say what and where.
#[test]
fn every_broken_directory_fails_with_a_useful_message() {
    type Break = fn(&ConfigDir);
    fn manifest(dir: &ConfigDir, entry: serde_json::Value) {
        dir.manifest(json!({ "proxychain": [entry] }));
    }
    fn half_wasm(dir: &ConfigDir) {
        let bytes = std::fs::read(plugin_wasm("add-headers")).expect("read wasm");
        dir.write("add-headers.wasm", &bytes[..bytes.len() / 2]);
    }
    let cases: Vec<(&str, Break, &[&str])> = vec![
        (
            "no manifest",
            |d| {
                std::fs::remove_file(d.path().join("proxychain.json")).expect("rm");
            },
            &["proxychain.json", "cannot read"],
        ),
        (
            "not JSON",
            |d| {
                d.write("proxychain.json", "{ proxychain: [");
            },
            &["proxychain.json", "line 1"],
        ),
        (
            "unknown top-level field",
            |d| {
                d.manifest(json!({ "proxychain": [], "chain": [] }));
            },
            &["unknown field `chain`"],
        ),
        (
            "unknown link field",
            |d| {
                manifest(
                    d,
                    json!({
                        "name": "block", "module": "block-paths.wasm", "timeout": 5
                    }),
                )
            },
            &["proxychain[0] (block)", "unknown field `timeout`"],
        ),
        (
            "bad name",
            |d| {
                manifest(
                    d,
                    json!({
                        "name": "Block_1", "module": "block-paths.wasm"
                    }),
                )
            },
            &["name `Block_1`"],
        ),
        (
            "duplicate name",
            |d| {
                d.manifest(json!({ "proxychain": [
                    { "name": "x", "module": "block-paths.wasm", "config": { "prefixes": [] } },
                    { "name": "x", "module": "add-headers.wasm" }
                ]}));
            },
            &["proxychain[1] (x)", "unique"],
        ),
        (
            "path escapes the directory",
            |d| {
                manifest(
                    d,
                    json!({
                        "name": "block", "module": "../block-paths.wasm"
                    }),
                )
            },
            &["must stay inside"],
        ),
        (
            "missing module",
            |d| {
                manifest(
                    d,
                    json!({
                        "name": "block", "module": "nope.wasm"
                    }),
                )
            },
            &["nope.wasm", "link `block`", "cannot read module"],
        ),
        (
            "not wasm at all",
            |d| {
                d.write("block-paths.wasm", "this is not wasm");
            },
            &["block-paths.wasm", "not a WebAssembly file"],
        ),
        (
            "a core module, not a component",
            |d| {
                d.write("block-paths.wasm", b"\0asm\x01\0\0\0");
            },
            &[
                "block-paths.wasm",
                "a core WebAssembly module, not a component",
            ],
        ),
        (
            "a component of another world",
            |d| {
                // An empty component: valid, but exports no edgechain:plugin/filter.
                d.write("block-paths.wasm", b"\0asm\x0d\0\x01\0");
            },
            &[
                "block-paths.wasm",
                "does not match the edgechain:plugin world",
            ],
        ),
        (
            "half-written wasm",
            half_wasm,
            &["add-headers.wasm", "not a valid WebAssembly component"],
        ),
        (
            "config rejected by init",
            |d| {
                manifest(
                    d,
                    json!({
                        "name": "block", "module": "block-paths.wasm", "config": { "prefixes": ["/a"], "status": 200 }
                    }),
                )
            },
            &["link `block`", "init rejected the config", "status 200"],
        ),
        (
            "config of the wrong shape",
            |d| {
                manifest(
                    d,
                    json!({
                        "name": "block", "module": "block-paths.wasm", "config": { "prefixes": "/admin" }
                    }),
                )
            },
            &["init rejected the config", "invalid config"],
        ),
        (
            "config file is not JSON",
            |d| {
                d.write("headers/config.json", "{ request: ");
            },
            &["headers/config.json", "not valid JSON"],
        ),
        (
            "config file missing",
            |d| {
                std::fs::remove_file(d.path().join("headers/config.json")).expect("rm");
            },
            &["headers/config.json", "cannot read config"],
        ),
        (
            "bad policy",
            |d| {
                manifest(
                    d,
                    json!({
                        "name": "block", "module": "block-paths.wasm", "on_error": "retry"
                    }),
                )
            },
            &["unknown variant `retry`"],
        ),
    ];
    for (what, break_it, expected) in cases {
        let dir = good_dir();
        break_it(&dir);
        let out = validate(dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{what}: exit status; stderr: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{what}: stdout must stay empty");
        for line in stderr.lines() {
            let parsed: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{what}: stderr line is not JSON ({e}): {line}"));
            assert_eq!(parsed["level"], "ERROR", "{what}: {line}");
        }
        for needle in expected {
            assert!(
                stderr.contains(needle),
                "{what}: stderr lacks `{needle}`:\n{stderr}"
            );
        }
    }
}

#[test]
fn every_broken_link_is_reported_not_just_the_first() {
    let dir = ConfigDir::new();
    dir.manifest(json!({ "proxychain": [
        { "name": "one", "module": "missing-1.wasm" },
        { "name": "two", "module": "missing-2.wasm" }
    ]}));
    let out = validate(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(stderr.contains("missing-1.wasm") && stderr.contains("missing-2.wasm"));
}

#[test]
fn modules_may_come_from_an_allowed_module_dir_only() {
    let modules = ConfigDir::new();
    modules.add_plugin("passthrough");
    let dir = ConfigDir::new();
    dir.manifest(json!({ "proxychain": [
        { "name": "p", "module": modules.path().join("passthrough.wasm") }
    ]}));
    let allowed = Command::new(env!("CARGO_BIN_EXE_edgechain-cli"))
        .arg("validate")
        .arg(dir.path())
        .arg("--module-dir")
        .arg(modules.path())
        .output()
        .expect("run validate");
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    assert!(allowed.stderr.is_empty());

    let refused = validate(dir.path());
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--module-dir"));
}

/// A library plugin's config that would fail every request (a header the host
/// owns, a value with CR LF, an empty match) is refused at load, one link each.
#[test]
fn library_configs_that_would_fail_every_request_are_refused_at_load() {
    let cases = [
        (
            "add-headers",
            json!({ "request": { "host": "evil" } }),
            "request: header `host`",
        ),
        (
            "add-headers",
            json!({ "response": { "x-a": "a\r\nb: c" } }),
            "invalid value",
        ),
        (
            "basic-auth",
            json!({ "users": { "a": "b" }, "user_header": "content-length" }),
            "user_header",
        ),
        (
            "basic-auth",
            json!({ "users": { "a": "b" }, "realm": "a\nb" }),
            "realm",
        ),
        (
            "enrich",
            json!({ "request_id_header": "connection" }),
            "request_id_header",
        ),
        (
            "enrich",
            json!({ "geo_prefix": "bad prefix " }),
            "geo_prefix",
        ),
        (
            "maintenance",
            json!({ "enabled": true, "content_type": "text/html\r\nx: y" }),
            "content_type",
        ),
        (
            "cors",
            json!({ "allow_origins": ["https://a.example"], "allow_methods": ["GET\r\nX: y"] }),
            "allow_methods",
        ),
        (
            "redirect",
            json!({ "rules": [{ "match": "exact", "from": "/a", "to": "/b\r\nx: y" }] }),
            "rules[0]: to",
        ),
        (
            "redirect",
            json!({ "rules": [{ "match": "exact", "from": "/a", "to": "" }] }),
            "must not be empty",
        ),
        (
            "bot-block",
            json!({ "deny_user_agents": [""] }),
            "deny_user_agents",
        ),
    ];
    let dir = ConfigDir::new();
    let mut links = Vec::new();
    for (i, (plugin, config, _)) in cases.iter().enumerate() {
        dir.add_plugin(plugin);
        links.push(json!({ "name": format!("l{i}"), "module": format!("{plugin}.wasm"), "config": config }));
    }
    dir.manifest(json!({ "proxychain": links }));
    let out = validate(dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for (i, (plugin, _, why)) in cases.iter().enumerate() {
        let link = format!("link `l{i}`");
        assert!(
            stderr.lines().any(|l| l.contains(&link) && l.contains(why)),
            "{plugin} (l{i}) should be refused with `{why}`:\n{stderr}"
        );
    }
}

/// The compiled files in a compile cache directory (wasmtime's, under
/// `modules/`), by name: what compiling put there.
fn cached_modules(dir: &std::path::Path) -> std::collections::BTreeSet<String> {
    fn walk(dir: &std::path::Path, out: &mut std::collections::BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_none()
                && !path
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                out.insert(path.display().to_string());
            }
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(dir, &mut out);
    out
}

/// `validate` compiles into the on-disk cache `serve` reads: a second
/// validation and a server started afterwards find every component there
/// (nothing new is compiled), and `--compile-cache off` writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn validate_shares_the_compile_cache_with_serve() {
    let dir = good_dir();
    let cache = tempfile::tempdir().expect("tempdir");
    let run = |cache: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_edgechain-cli"))
            .arg("validate")
            .arg(dir.path())
            .arg("--compile-cache")
            .arg(cache)
            .env_remove("RUST_LOG")
            .output()
            .expect("run edgechain validate")
    };
    let out = run(cache.path());
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    let compiled = cached_modules(cache.path());
    assert!(
        compiled.len() >= 4,
        "each link's copy instrumented for pre-initialisation and its snapshot are in the cache: {compiled:?}"
    );
    let out = run(cache.path());
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        cached_modules(cache.path()),
        compiled,
        "a second validation compiles nothing new"
    );

    let origin = edgechain_tests::Origin::start(edgechain_tests::Behaviour::Echo).await;
    let cache_arg = cache.path().display().to_string();
    let host = edgechain_tests::HostProcess::spawn(
        env!("CARGO_BIN_EXE_edgechain-cli"),
        dir.path(),
        origin.addr,
        &["--compile-cache", &cache_arg],
        &[],
    );
    assert!(host.terminate().success());
    assert_eq!(
        cached_modules(cache.path()),
        compiled,
        "serve loads what validate compiled"
    );

    let off = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_edgechain-cli"))
        .arg("validate")
        .arg(dir.path())
        .env("EDGECHAIN_COMPILE_CACHE", "off")
        .env("XDG_CACHE_HOME", off.path())
        .output()
        .expect("run edgechain validate");
    assert!(out.status.success(), "{out:?}");
    assert!(
        cached_modules(off.path()).is_empty(),
        "`off` writes nothing"
    );
}

/// The authoring commands do not list serving flags (`--worker-threads`),
/// and the serving commands do.
#[test]
fn only_serving_commands_list_serving_flags() {
    let help = |cmd: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_edgechain-cli"))
            .args([cmd, "--help"])
            .output()
            .expect("run edgechain --help");
        assert!(out.status.success(), "{cmd} --help: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for cmd in ["new", "build", "validate"] {
        let text = help(cmd);
        assert!(
            !text.contains("--worker-threads"),
            "`edgechain {cmd} --help` lists a serving flag:\n{text}"
        );
    }
    for cmd in ["serve", "demo", "dev"] {
        assert!(help(cmd).contains("--worker-threads"), "{cmd}");
    }
    assert!(help("new").contains("--app"));
    assert!(help("validate").contains("--compile-cache"));
}

/// Every bad cache setting fails `validate` naming the entry and the field;
/// a cache with defaults passes.
#[test]
fn bad_cache_settings_fail_with_the_entry_and_field() {
    let dir = ConfigDir::new();
    dir.manifest(json!({ "proxychain": [ { "name": "cache", "cache": {} } ] }));
    let out = validate(dir.path());
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cases: Vec<(serde_json::Value, &[&str])> = vec![
        (
            json!({ "name": "c", "cache": { "max_size_mb": 0 } }),
            &["proxychain[0] (c)", "cache.max_size_mb: 0"],
        ),
        (
            json!({ "name": "c", "cache": { "max_size_mb": "big" } }),
            &["proxychain[0] (c)", "cache.max_size_mb", "invalid type"],
        ),
        (
            json!({ "name": "c", "cache": { "max_size_mb": 4, "max_object_mb": 8 } }),
            &["cache.max_object_mb: 8", "max_size_mb (4)"],
        ),
        (
            json!({ "name": "c", "cache": { "max_object_mb": 0 } }),
            &["cache.max_object_mb: 0"],
        ),
        (
            json!({ "name": "c", "cache": { "targeted_field": "bad field" } }),
            &["cache.targeted_field", "bad field"],
        ),
        (
            json!({ "name": "c", "cache": { "targeted_field": "Cache-Control" } }),
            &["cache.targeted_field"],
        ),
        (
            json!({ "name": "c", "cache": { "heuristic_percent": 101 } }),
            &["cache.heuristic_percent: 101"],
        ),
        (
            json!({ "name": "c", "cache": { "hit_for_pass_s": 9999999 } }),
            &["cache.hit_for_pass_s"],
        ),
        (
            json!({ "name": "c", "cache": { "store_set_cookie": "yes" } }),
            &["cache.store_set_cookie", "invalid type"],
        ),
        (
            json!({ "name": "c", "cache": { "max_sise_mb": 1 } }),
            &["proxychain[0] (c)", "unknown field `max_sise_mb`"],
        ),
        (
            json!({ "name": "c", "cache": [] }),
            &["proxychain[0] (c)", "cache"],
        ),
        (json!({ "name": "C!", "cache": {} }), &["name `C!`"]),
        (
            json!({ "name": "c", "cache": {}, "module": "x.wasm" }),
            &["proxychain[0] (c)", "not both"],
        ),
    ];
    for (entry, wanted) in cases {
        dir.manifest(json!({ "proxychain": [entry] }));
        let out = validate(dir.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{entry} passed");
        for w in wanted {
            assert!(stderr.contains(w), "{entry}: `{w}` missing from: {stderr}");
        }
    }
    dir.manifest(
        json!({ "proxychain": [ { "name": "a", "cache": {} }, { "name": "b", "cache": {} } ] }),
    );
    let stderr = String::from_utf8_lossy(&validate(dir.path()).stderr).into_owned();
    assert!(
        stderr.contains("proxychain[1] (b)") && stderr.contains("at most one cache"),
        "{stderr}"
    );
}
