//! The plugin author's loop, as an author runs it: `edgechain new` writes a
//! crate that passes its own tests and builds a component that loads;
//! `edgechain dev` (the real binary, a child process) serves it, rebuilds it
//! when its source is saved and swaps it in without restarting, and keeps the
//! previous build serving through a compile error.
//!
//! The scaffolded crates build with the real cargo into one shared target
//! directory (`target/scaffold`), so dependencies compile once per machine.

use edgechain_tests::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_edgechain-cli");

/// Bound for one cargo build of a scaffold, cold (its dependencies included).
const COLD_BUILD: Duration = Duration::from_secs(600);
/// Bound for a rebuild after an edit, from the save to the new behaviour.
const REBUILD: Duration = Duration::from_secs(120);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn shared_target() -> PathBuf {
    workspace_root().join("target").join("scaffold")
}

/// `edgechain new NAME` in a temporary directory, with the workspace's lock
/// file so the build resolves the same dependency versions without the network.
fn scaffold(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join(name);
    let out = Command::new(BIN)
        .args(["new", name, "--path"])
        .arg(&dir)
        .arg("--sdk")
        .arg(workspace_root().join("guest-sdk"))
        .output()
        .expect("run edgechain new");
    assert!(
        out.status.success(),
        "edgechain new failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
    (tmp, dir)
}

fn cargo(dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target())
        .stdin(std::process::Stdio::null());
    cmd
}

fn run_ok(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    text
}

#[test]
fn the_scaffold_passes_its_own_tests_and_builds_a_component_that_loads() {
    let (_tmp, dir) = scaffold("hello-edge");
    let mut test = cargo(&dir);
    test.arg("test");
    let output = run_ok(test, "cargo test in the scaffold");
    assert!(output.contains("3 passed"), "{output}");

    let mut build = cargo(&dir);
    build.args(["build", "--release", "--target", "wasm32-wasip2"]);
    run_ok(build, "cargo build of the scaffold");
    let wasm = shared_target().join("wasm32-wasip2/release/hello_edge.wasm");
    let config = dir.join("proxy_config");
    std::fs::copy(&wasm, config.join("hello_edge.wasm")).expect("component built");
    let out = Command::new(BIN)
        .arg("validate")
        .arg(&config)
        .output()
        .expect("run validate");
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "the scaffold's own chain does not load: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn new_refuses_bad_names_and_existing_directories() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (args, expected) in [
        (vec!["new", "Bad_Name"], "not a valid plugin name"),
        (vec!["new", "ok", "--path", "."], "already exists"),
    ] {
        let out = Command::new(BIN)
            .args(&args)
            .current_dir(tmp.path())
            .output()
            .expect("run edgechain new");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

async fn origin_saw(origin: &Origin, path: &str, header: &str) -> Option<String> {
    origin
        .seen()
        .iter()
        .rev()
        .find(|s| s.path == path)
        .and_then(|s| s.headers.get(header))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Poll until `done` holds, failing with `what` after `within`.
async fn wait_until(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < within,
            "timed out after {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_swaps_in_each_saved_edit_and_survives_a_broken_one() {
    let origin = Origin::start(Behaviour::Echo).await;
    let (_tmp, dir) = scaffold("live-edit");
    let target = shared_target();
    let args: Vec<std::ffi::OsString> = vec![
        "dev".into(),
        "--plugin".into(),
        dir.clone().into(),
        "--config".into(),
        dir.join("proxy_config").into(),
        "--access-log".into(),
        "off".into(),
    ];
    let target_env = target.to_string_lossy().into_owned();
    let mut dev = HostProcess::spawn_command(
        BIN,
        "dev",
        &args,
        origin.addr,
        &[("CARGO_TARGET_DIR", target_env.as_str())],
        COLD_BUILD,
    );
    let client = TestClient::new();

    // The scaffold as written.
    let hello = client.get(dev.proxy, "/hello").await;
    assert_eq!(hello.text(), "hello from live-edit\n");
    client.get(dev.proxy, "/first").await;
    assert_eq!(
        origin_saw(&origin, "/first", "x-greeting").await.as_deref(),
        Some("hello from live-edit")
    );

    // Edit the source: the request header is renamed.
    let lib = dir.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).expect("lib.rs");
    let edited = source.replace(
        r#"req.set_header("x-greeting", &self.greeting);"#,
        r#"req.set_header("x-edited", &self.greeting);"#,
    );
    assert_ne!(edited, source, "the scaffold has the line this test edits");
    std::fs::write(&lib, &edited).expect("save edit");
    wait_until("the edited plugin to serve", REBUILD, async || {
        client.get(dev.proxy, "/second").await;
        origin_saw(&origin, "/second", "x-edited").await.is_some()
    })
    .await;
    let live = dev
        .stdout()
        .into_iter()
        .find(|l| l.contains("live in"))
        .expect("a line saying the edit is live");
    println!("edit to live: {live}");
    assert!(live.contains("live-edit (link live-edit)"), "{live}");

    // A broken edit: the compiler's error is shown, the last build serves on.
    std::fs::write(&lib, format!("{edited}\nfn broken( {{\n")).expect("save broken edit");
    wait_until("dev to report the failed build", REBUILD, async || {
        dev.stdout().iter().any(|l| l.contains("build failed"))
    })
    .await;
    let stderr = dev.logs().join("\n");
    assert!(
        stderr.contains("unclosed delimiter"),
        "the compiler's error reaches the terminal: {stderr}"
    );
    client.get(dev.proxy, "/third").await;
    assert!(
        origin_saw(&origin, "/third", "x-edited").await.is_some(),
        "the previous build keeps serving"
    );

    // A config edit is staged and swapped in too.
    let manifest = dir.join("proxy_config/proxychain.json");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        text.replace("hello from live-edit", "edited config"),
    )
    .expect("save config");
    wait_until("the edited config to serve", REBUILD, async || {
        client.get(dev.proxy, "/hello").await.text() == "edited config\n"
    })
    .await;
    assert!(dev.is_running(), "dev kept one process throughout");
    let staged = std::env::temp_dir().join(format!("edgechain-dev-{}", dev.pid()));
    assert!(
        staged.is_dir(),
        "dev serves a staged copy at {}",
        staged.display()
    );
    assert!(dev.terminate().success());
    assert!(!staged.exists(), "the staged copy is removed on exit");
}
