//! Hot reload with real files, real sockets and real wasm: every way a config
//! directory changes in practice, bad input, and reloads under load.

use edgechain::reload::watch::WatchSettings;
use edgechain_tests::*;
use http::StatusCode;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// `add-headers` as `filter.wasm`, with its config in `headers.json` saying
/// `version` on the request and on the response.
fn versioned_dir() -> ConfigDir {
    let dir = ConfigDir::new();
    dir.write(
        "filter.wasm",
        std::fs::read(plugin_wasm("add-headers")).expect("wasm"),
    );
    dir.manifest(json!({ "proxychain": [
        { "name": "version", "module": "filter.wasm", "config": "headers.json" }
    ]}));
    write_version(dir.path(), "headers.json", "v1");
    dir
}

fn version_config(version: &str) -> String {
    json!({ "request": { "x-version": version }, "response": { "x-version": version } }).to_string()
}

fn write_version(dir: &Path, rel: &str, version: &str) {
    std::fs::write(dir.join(rel), version_config(version)).expect("write config");
}

fn watching(debounce_ms: u64) -> WatchSettings {
    WatchSettings {
        debounce: Duration::from_millis(debounce_ms),
        poll_interval: None,
        events: true,
    }
}

/// An origin, a versioned config directory and a host watching it.
struct Rig {
    _origin: Origin,
    dir: ConfigDir,
    host: edgechain::server::Server,
    client: TestClient,
}

async fn rig(watch: WatchSettings) -> Rig {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = versioned_dir();
    let mut opts = options(dir.path(), origin.addr);
    opts.watch = watch;
    let host = start_host(opts).await;
    Rig {
        _origin: origin,
        dir,
        host,
        client: TestClient::new(),
    }
}

async fn served_version(client: &TestClient, addr: std::net::SocketAddr) -> String {
    let reply = client.get(addr, "/v").await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.text());
    reply.header("x-version").to_owned()
}

async fn wait_for_version(client: &TestClient, addr: std::net::SocketAddr, want: &str) -> Duration {
    let (_, took) = wait_for(&format!("version `{want}` to be served"), || async {
        (served_version(client, addr).await == want).then_some(())
    })
    .await;
    took
}

#[tokio::test(flavor = "multi_thread")]
async fn config_then_wasm_changes_are_served_soon_after_the_write() {
    let Rig {
        _origin,
        dir,
        host,
        client,
    } = rig(watching(200)).await;
    assert_eq!(served_version(&client, host.proxy_addr()).await, "v1");

    write_version(dir.path(), "headers.json", "v2");
    let took = wait_for_version(&client, host.proxy_addr(), "v2").await;
    println!("config change live after {took:?}");
    assert!(took < Duration::from_secs(3), "config change took {took:?}");

    // Swap the component itself: passthrough ignores the config, so the
    // version header disappears.
    std::fs::write(
        dir.path().join("filter.wasm"),
        std::fs::read(plugin_wasm("passthrough")).expect("wasm"),
    )
    .expect("write wasm");
    let took = wait_for_version(&client, host.proxy_addr(), "").await;
    println!("wasm change live after {took:?}");
    assert!(took < Duration::from_secs(3), "wasm change took {took:?}");
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn post_reload_makes_a_change_live_immediately() {
    let Rig {
        _origin,
        dir,
        host,
        client,
    } = rig(WatchSettings {
        events: false,
        poll_interval: None,
        ..WatchSettings::default()
    })
    .await;

    let unchanged = post_reload(&client, host.admin_addr()).await;
    assert_eq!(
        (
            unchanged["loaded"].as_bool(),
            unchanged["changed"].as_bool()
        ),
        (Some(true), Some(false))
    );

    write_version(dir.path(), "headers.json", "v2");
    assert_eq!(
        served_version(&client, host.proxy_addr()).await,
        "v1",
        "no watcher: nothing changes yet"
    );
    let report = post_reload(&client, host.admin_addr()).await;
    assert_eq!(report["changed"], true, "{report}");
    assert_eq!(report["changes"], json!(["changed headers.json"]));
    assert_eq!(report["trigger"], "admin");
    println!("POST /reload took {} ms", report["elapsed_ms"]);
    assert_eq!(served_version(&client, host.proxy_addr()).await, "v2");
    assert_eq!(report["hash"].as_str(), Some(host.chain().hash()));
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_periodic_poll_catches_changes_without_events() {
    let Rig {
        _origin,
        dir,
        host,
        client,
    } = rig(WatchSettings {
        events: false,
        poll_interval: Some(Duration::from_millis(100)),
        ..WatchSettings::default()
    })
    .await;
    write_version(dir.path(), "headers.json", "v2");
    wait_for_version(&client, host.proxy_addr(), "v2").await;
    host.shutdown().await;
}

/// Build the layout the kubelet uses for a ConfigMap volume: visible names are
/// symlinks into `..data`, itself a symlink to a timestamped directory.
fn kubelet_write(dir: &Path, stamp: &str, files: &[(&str, Vec<u8>)]) {
    let real = dir.join(stamp);
    std::fs::create_dir(&real).expect("timestamped dir");
    for (name, bytes) in files {
        std::fs::write(real.join(name), bytes).expect("write");
    }
    let tmp = dir.join("..data_tmp");
    std::os::unix::fs::symlink(stamp, &tmp).expect("..data_tmp");
    let old = std::fs::read_link(dir.join("..data")).ok();
    std::fs::rename(&tmp, dir.join("..data")).expect("swap ..data");
    for (name, _) in files {
        let visible = dir.join(name);
        if std::fs::symlink_metadata(&visible).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(name), &visible)
                .expect("visible link");
        }
    }
    if let Some(old) = old {
        std::fs::remove_dir_all(dir.join(old)).expect("remove old dir");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubernetes_configmap_update_is_detected() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = ConfigDir::new();
    let wasm = std::fs::read(plugin_wasm("add-headers")).expect("wasm");
    let manifest = json!({ "proxychain": [
        { "name": "version", "module": "filter.wasm", "config": "headers.json" }
    ]})
    .to_string()
    .into_bytes();
    let files = |v: &str| {
        vec![
            ("proxychain.json", manifest.clone()),
            ("filter.wasm", wasm.clone()),
            ("headers.json", version_config(v).into_bytes()),
        ]
    };
    kubelet_write(dir.path(), "..2026_11_27_10_00_00.000000001", &files("v1"));
    let mut opts = options(dir.path(), origin.addr);
    opts.watch = watching(200);
    let host = start_host(opts).await;
    let client = TestClient::new();
    assert_eq!(served_version(&client, host.proxy_addr()).await, "v1");

    kubelet_write(dir.path(), "..2026_11_27_10_01_00.000000002", &files("v2"));
    let took = wait_for_version(&client, host.proxy_addr(), "v2").await;
    println!("..data swap live after {took:?}");
    // And again, now that the first timestamped directory is gone.
    kubelet_write(dir.path(), "..2026_11_27_10_02_00.000000003", &files("v3"));
    wait_for_version(&client, host.proxy_addr(), "v3").await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn editor_saves_by_rename_and_in_place_are_detected() {
    let Rig {
        _origin,
        dir,
        host,
        client,
    } = rig(watching(200)).await;

    // Atomic save: write a temp file, rename it over the target.
    write_version(dir.path(), ".headers.json.swp", "v2");
    std::fs::rename(
        dir.path().join(".headers.json.swp"),
        dir.path().join("headers.json"),
    )
    .expect("rename");
    wait_for_version(&client, host.proxy_addr(), "v2").await;

    // In-place: truncate and write the same inode.
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(dir.path().join("headers.json"))
            .expect("open");
        f.write_all(version_config("v3").as_bytes()).expect("write");
    }
    wait_for_version(&client, host.proxy_addr(), "v3").await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasm_written_in_slow_chunks_is_never_served_half_written() {
    // Pauses between chunks outlast the debounce, so half-written states are seen.
    let Rig {
        _origin,
        dir,
        host,
        client,
    } = rig(watching(30)).await;
    let addr = host.proxy_addr();

    let stop = Arc::new(AtomicBool::new(false));
    let checker = {
        let (client, stop) = (client.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let reply = client.get(addr, "/v").await;
                assert_eq!(
                    reply.status,
                    StatusCode::OK,
                    "a request failed during the write"
                );
                seen.push(reply.header("x-version").to_owned());
            }
            seen
        })
    };
    let new = std::fs::read(plugin_wasm("passthrough")).expect("wasm");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(dir.path().join("filter.wasm")).expect("create");
        for chunk in new.chunks(new.len() / 4 + 1) {
            f.write_all(chunk).expect("write chunk");
            f.flush().expect("flush");
            // A slow writer (this is the scenario, not synchronisation).
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    wait_for_version(&client, addr, "").await;
    stop.store(true, Ordering::SeqCst);
    let seen = checker.await.expect("checker");
    assert!(
        seen.iter().all(|v| v == "v1" || v.is_empty()),
        "unexpected versions: {seen:?}"
    );
    let failures = metric(
        &client,
        host.admin_addr(),
        "edgechain_reload_failures_total",
    )
    .await;
    println!(
        "{} requests during the write; {failures:?} half-written loads rejected",
        seen.len()
    );
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_keeps_the_old_chain_and_a_fix_recovers() {
    let Rig {
        _origin,
        dir,
        host,
        client,
    } = rig(watching(50)).await;
    let (addr, admin) = (host.proxy_addr(), host.admin_addr());
    let good_manifest = std::fs::read(dir.path().join("proxychain.json")).expect("manifest");
    let good_wasm = std::fs::read(plugin_wasm("add-headers")).expect("wasm");

    type Edit<'a> = Box<dyn Fn() + 'a>;
    let breaks: [(&str, Edit, Edit); 3] = [
        (
            "broken manifest",
            Box::new(|| {
                dir.write("proxychain.json", "{ \"proxychain\": [ ");
            }),
            Box::new(|| {
                dir.write("proxychain.json", &good_manifest);
            }),
        ),
        (
            "broken wasm",
            Box::new(|| {
                dir.write("filter.wasm", &good_wasm[..good_wasm.len() / 3]);
            }),
            Box::new(|| {
                dir.write("filter.wasm", &good_wasm);
            }),
        ),
        (
            "config rejected by init",
            Box::new(|| {
                dir.write("headers.json", r#"{"request": {"bad header": "x"}}"#);
            }),
            Box::new(|| {
                dir.write("headers.json", version_config("fixed"));
            }),
        ),
    ];
    let mut expected_failures = 0.0;
    let mut version = "v1".to_owned();
    for (what, break_it, fix_it) in breaks {
        break_it();
        expected_failures += 1.0;
        wait_for(&format!("{what} to be rejected and counted"), || async {
            let failures = metric(&client, admin, "edgechain_reload_failures_total").await;
            (failures >= Some(expected_failures)).then_some(())
        })
        .await;
        assert_eq!(
            metric(&client, admin, "edgechain_reload_last_attempt_success").await,
            Some(0.0)
        );
        assert_eq!(
            served_version(&client, addr).await,
            version,
            "{what}: the old chain keeps serving"
        );
        // POST /reload reports why.
        let report = post_reload(&client, admin).await;
        assert_eq!(report["loaded"], false, "{what}: {report}");
        assert!(
            !report["errors"].as_array().is_none_or(|e| e.is_empty()),
            "{what}: {report}"
        );
        expected_failures += 1.0; // the forced reload retried and failed again
        fix_it();
        if what == "config rejected by init" {
            version = "fixed".into();
        }
        wait_for(&format!("{what}: the fix to be picked up"), || async {
            let ok = metric(&client, admin, "edgechain_reload_last_attempt_success").await;
            (ok == Some(1.0)).then_some(())
        })
        .await;
        assert_eq!(
            served_version(&client, addr).await,
            version,
            "{what}: fixed chain serves"
        );
    }
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_reloads_under_load_drop_nothing_and_never_mix_versions() {
    let Rig {
        _origin,
        dir,
        host,
        client: admin_client,
    } = rig(watching(20)).await;
    let addr = host.proxy_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (stop, served) = (stop.clone(), served.clone());
        clients.push(tokio::spawn(async move {
            // One keep-alive connection per task.
            let client = TestClient::new();
            let mut versions = [0usize; 2];
            while !stop.load(Ordering::SeqCst) {
                let reply = client.get(addr, "/load").await;
                assert_eq!(
                    reply.status,
                    StatusCode::OK,
                    "failed request: {}",
                    reply.text()
                );
                let (down, up) = (
                    reply.header("x-version"),
                    reply.header("x-upstream-version"),
                );
                assert_eq!(
                    down, up,
                    "response mixes versions: upstream saw {up}, client got {down}"
                );
                match down {
                    "v1" => versions[0] += 1,
                    "v2" => versions[1] += 1,
                    other => panic!("unknown version `{other}`"),
                }
                served.fetch_add(1, Ordering::SeqCst);
            }
            versions
        }));
    }
    let mut reloads = 0;
    for i in 0..50 {
        let v = if i % 2 == 0 { "v2" } else { "v1" };
        write_version(dir.path(), "headers.json", v);
        let report = post_reload(&admin_client, host.admin_addr()).await;
        assert_eq!(report["loaded"], true, "{report}");
        reloads += 1;
        // Let some traffic through on this version before the next swap.
        let before = served.load(Ordering::SeqCst);
        wait_for("traffic on the new chain", || async {
            (served.load(Ordering::SeqCst) >= before + 20).then_some(())
        })
        .await;
    }
    stop.store(true, Ordering::SeqCst);
    let mut totals = [0usize; 2];
    for c in clients {
        let v = c.await.expect("client task failed");
        totals[0] += v[0];
        totals[1] += v[1];
    }
    println!(
        "{reloads} reloads; {} requests ({} v1, {} v2); 0 failures",
        totals[0] + totals[1],
        totals[0],
        totals[1]
    );
    assert!(totals[0] > 0 && totals[1] > 0);
    host.shutdown().await;
}

/// `hostile` in `config-init` mode: its `init` reads `/config/value.txt`
/// from the granted `settings/` and answers `/evil/reader` with what it read.
/// A `reuse` link, so no instance ever reads the file again by itself.
fn granted_dir(value: &str) -> ConfigDir {
    let dir = ConfigDir::new();
    dir.add_plugin("hostile").manifest(json!({ "proxychain": [{
        "name": "reader",
        "module": "hostile.wasm",
        "config": { "mode": "config-init" },
        "instance": "reuse",
        "grants": { "config_dir": "settings" }
    }]}));
    dir.write("settings/value.txt", value);
    dir
}

async fn read_in_init(client: &TestClient, addr: std::net::SocketAddr) -> String {
    let reply = client.get(addr, "/evil/reader").await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.text());
    reply.text()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_in_a_granted_config_dir_reloads_the_link() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = granted_dir("v1");
    let mut opts = options(dir.path(), origin.addr);
    opts.watch = watching(50);
    let host = start_host(opts).await;
    let client = TestClient::new();
    assert_eq!(read_in_init(&client, host.proxy_addr()).await, "v1");

    dir.write("settings/value.txt", "v2");
    wait_for("init to have read the new file", || async {
        (read_in_init(&client, host.proxy_addr()).await == "v2").then_some(())
    })
    .await;
    host.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forced_reload_reads_granted_files_again_and_is_counted() {
    let origin = Origin::start(Behaviour::Echo).await;
    let dir = granted_dir("v1");
    let mut opts = options(dir.path(), origin.addr);
    opts.watch = WatchSettings {
        events: false,
        poll_interval: None,
        ..WatchSettings::default()
    };
    let host = start_host(opts).await;
    let client = TestClient::new();
    let admin = host.admin_addr();
    let counted = |name: &'static str| {
        let client = client.clone();
        async move { metric(&client, admin, name).await.unwrap_or(-1.0) }
    };
    assert_eq!(counted("edgechain_reload_attempts_total").await, 1.0);

    dir.write("settings/value.txt", "v2");
    let report = post_reload(&client, admin).await;
    assert_eq!(report["changed"], true, "{report}");
    assert_eq!(report["changes"], json!(["changed settings/value.txt"]));
    assert_eq!(read_in_init(&client, host.proxy_addr()).await, "v2");
    assert_eq!(counted("edgechain_reload_attempts_total").await, 2.0);

    // Nothing changed: nothing is loaded, but the reload that was asked
    // for is counted, as an attempt that found the content serving.
    let unchanged = post_reload(&client, admin).await;
    assert_eq!(
        (&unchanged["loaded"], &unchanged["changed"]),
        (&json!(true), &json!(false)),
        "{unchanged}"
    );
    assert_eq!(counted("edgechain_reload_attempts_total").await, 3.0);
    assert_eq!(counted("edgechain_reload_successes_total").await, 3.0);
    assert_eq!(counted("edgechain_reload_failures_total").await, 0.0);
    host.shutdown().await;
}

/// A `when` change alone (the same module and config) is a new chain: after
/// the reload the link runs where the new rule says, and a rule `validate`
/// would refuse keeps the chain serving as it was.
#[tokio::test(flavor = "multi_thread")]
async fn a_when_change_takes_effect_on_reload_and_a_bad_one_keeps_the_old() {
    let Rig {
        _origin,
        dir,
        host,
        client,
    } = rig(WatchSettings {
        events: false,
        poll_interval: None,
        ..WatchSettings::default()
    })
    .await;
    let scoped_to = |prefix: &str| {
        json!({ "proxychain": [
            { "name": "version", "module": "filter.wasm", "config": "headers.json",
              "when": { "path": { "prefix": prefix } } }
        ]})
    };
    let version_at = |path: &'static str| {
        let client = client.clone();
        let addr = host.proxy_addr();
        async move {
            let reply = client.get(addr, path).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}");
            reply.header("x-version").to_owned()
        }
    };
    dir.manifest(scoped_to("/a"));
    let report = post_reload(&client, host.admin_addr()).await;
    assert_eq!(
        report["changes"],
        json!(["changed proxychain.json"]),
        "{report}"
    );
    assert_eq!(version_at("/a/x").await, "v1");
    assert_eq!(version_at("/b/x").await, "");

    dir.manifest(scoped_to("/b"));
    let report = post_reload(&client, host.admin_addr()).await;
    assert_eq!(report["changed"], true, "{report}");
    assert_eq!(version_at("/a/x").await, "");
    assert_eq!(version_at("/b/x").await, "v1");

    dir.manifest(scoped_to("/b//x"));
    let report = post_reload(&client, host.admin_addr()).await;
    assert_eq!(report["loaded"], false, "{report}");
    let said = report.to_string();
    assert!(
        said.contains("when.path.prefix") && said.contains("can never match"),
        "{report}"
    );
    assert_eq!(version_at("/b/x").await, "v1", "the old chain serves on");
    host.shutdown().await;
}
