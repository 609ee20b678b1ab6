//! The plugin author's loop, as an author runs it: `edgechain new` writes a
//! crate that passes its own tests and builds a component that loads;
//! `edgechain dev` (the real binary, a child process, with its defaults: the
//! access log on) serves it, rebuilds it when its source is saved and swaps
//! it in without restarting, keeps the previous build serving through a
//! compile error, and stops promptly on SIGTERM.
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

/// How an editor saves a file.
#[derive(Debug, Clone, Copy)]
enum Save {
    /// Write the file in place.
    InPlace,
    /// Write a temporary file and rename it over the original (`sed -i`, vim,
    /// many IDEs).
    RenameOver,
}

fn save(path: &Path, text: &str, how: Save) {
    match how {
        Save::InPlace => std::fs::write(path, text).expect("save in place"),
        Save::RenameOver => {
            let tmp = path.with_extension("rs.swp-edgechain-test");
            std::fs::write(&tmp, text).expect("write temporary file");
            std::fs::rename(&tmp, path).expect("rename over the source");
        }
    }
}

/// Replace `from` with `to` in the file at `path` and save it `how`.
fn edit(path: &Path, from: &str, to: &str, how: Save) -> String {
    let source = std::fs::read_to_string(path).expect("read source");
    let edited = source.replace(from, to);
    assert_ne!(edited, source, "the source has `{from}` to edit");
    save(path, &edited, how);
    edited
}

/// `dev`'s "live in" lines so far.
fn live_lines(dev: &HostProcess) -> Vec<String> {
    dev.stdout()
        .into_iter()
        .filter(|l| l.starts_with("[dev] live in"))
        .collect()
}

/// Wait for the `n`th "live in" line (counting from 1); returns it.
async fn nth_live(dev: &HostProcess, n: usize) -> String {
    wait_until(&format!("live line #{n}"), REBUILD, async || {
        live_lines(dev).len() >= n
    })
    .await;
    live_lines(dev)[n - 1].clone()
}

/// The header `name` the built-in echo origin saw for `path`, read from its
/// JSON answer.
async fn echoed_header(
    client: &TestClient,
    dev: &HostProcess,
    path: &str,
    name: &str,
) -> Option<String> {
    let reply = client.get(dev.proxy, path).await;
    let echo: serde_json::Value = serde_json::from_slice(&reply.body).ok()?;
    echo["headers"][name].as_str().map(str::to_owned)
}

/// The README's "A plugin in five minutes" for a crate outside the checkout,
/// verbatim: `edgechain new greeter --sdk …`, `cd greeter`,
/// `edgechain dev --plugin . --config proxy_config` (only the ports are
/// chosen by the OS). Three edits in a row, saved both ways, with a broken
/// one in between; then SIGTERM.
#[tokio::test(flavor = "multi_thread")]
async fn readme_flow_outside_the_checkout_rebuilds_every_save_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = Command::new(BIN)
        .args(["new", "greeter", "--sdk"])
        .arg(workspace_root().join("guest-sdk"))
        .current_dir(tmp.path())
        .output()
        .expect("run edgechain new");
    assert!(
        out.status.success(),
        "edgechain new failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tmp.path().join("greeter");
    // Resolve the same dependency versions as the workspace, offline.
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock")).expect("lock file");
    let target = shared_target().to_string_lossy().into_owned();
    let args: Vec<std::ffi::OsString> = ["dev", "--plugin", ".", "--config", "proxy_config"]
        .map(Into::into)
        .to_vec();
    let dev = HostProcess::spawn_command(
        BIN,
        "dev",
        &args,
        Launch {
            env: &[("CARGO_TARGET_DIR", target.as_str())],
            cwd: Some(&dir),
            start_within: COLD_BUILD,
            ..Launch::default()
        },
    );
    let client = TestClient::new();
    assert_eq!(
        client.get(dev.proxy, "/hello").await.text(),
        "hello from greeter\n"
    );
    assert_eq!(
        echoed_header(&client, &dev, "/first", "x-greeting")
            .await
            .as_deref(),
        Some("hello from greeter")
    );

    let lib = dir.join("src/lib.rs");
    let mut times = Vec::new();
    // 1: saved in place, and after a request has been logged (the case that
    // used to hang: the access log held stdout).
    edit(&lib, r#""x-greeting""#, r#""x-greeting-1""#, Save::InPlace);
    times.push(nth_live(&dev, 1).await);
    assert_eq!(
        echoed_header(&client, &dev, "/one", "x-greeting-1")
            .await
            .as_deref(),
        Some("hello from greeter")
    );
    // 2: saved by renaming over the file.
    edit(
        &lib,
        r#""x-greeting-1""#,
        r#""x-greeting-2""#,
        Save::RenameOver,
    );
    times.push(nth_live(&dev, 2).await);
    assert!(
        echoed_header(&client, &dev, "/two", "x-greeting-2")
            .await
            .is_some()
    );
    // A broken save: cargo's error is shown, the last build keeps serving.
    let good = std::fs::read_to_string(&lib).expect("source");
    save(&lib, &format!("{good}\nfn broken( {{\n"), Save::InPlace);
    wait_until("dev to report the failed build", REBUILD, async || {
        dev.stdout().iter().any(|l| l.contains("build failed"))
    })
    .await;
    assert!(
        dev.logs().join("\n").contains("unclosed delimiter"),
        "the compiler's error reaches the terminal"
    );
    assert!(
        echoed_header(&client, &dev, "/still", "x-greeting-2")
            .await
            .is_some()
    );
    // 3: the fix, renamed over, with a further change.
    save(
        &lib,
        &good.replace(r#""x-greeting-2""#, r#""x-greeting-3""#),
        Save::RenameOver,
    );
    times.push(nth_live(&dev, 3).await);
    assert!(
        echoed_header(&client, &dev, "/three", "x-greeting-3")
            .await
            .is_some()
    );
    for (i, line) in times.iter().enumerate() {
        println!("edit {}: {line}", i + 1);
    }

    // The access log is on and written beside dev's lines (through a pipe:
    // wait for it, bounded).
    wait_until("the access log line of /three", REBUILD, async || {
        dev.stdout()
            .iter()
            .any(|l| l.starts_with('{') && l.contains("GET /three"))
    })
    .await;
    let staged = std::env::temp_dir().join(format!("edgechain-dev-{}", dev.pid()));
    assert!(staged.is_dir(), "dev serves a staged copy");
    let (status, took) = dev.terminate_within(Duration::from_secs(5));
    println!("SIGTERM to exit: {took:?}");
    assert!(status.success(), "dev exits 0 on SIGTERM: {status:?}");
    assert!(!staged.exists(), "the staged copy is removed on exit");
}

/// A scaffold given by absolute paths: the server keeps one process through
/// edits, a broken edit, and a config edit.
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
    ];
    let target_env = target.to_string_lossy().into_owned();
    let mut dev = HostProcess::spawn_command(
        BIN,
        "dev",
        &args,
        Launch {
            next_hop: Some(origin.addr),
            env: &[("CARGO_TARGET_DIR", target_env.as_str())],
            start_within: COLD_BUILD,
            ..Launch::default()
        },
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
    let edited = edit(
        &lib,
        r#"req.set_header("x-greeting", &self.greeting);"#,
        r#"req.set_header("x-edited", &self.greeting);"#,
        Save::InPlace,
    );
    wait_until("the edited plugin to serve", REBUILD, async || {
        client.get(dev.proxy, "/second").await;
        origin_saw(&origin, "/second", "x-edited").await.is_some()
    })
    .await;
    let live = nth_live(&dev, 1).await;
    println!("edit to live: {live}");
    assert!(live.contains("live-edit (link live-edit)"), "{live}");

    // A broken edit: the compiler's error is shown, the last build serves on.
    save(&lib, &format!("{edited}\nfn broken( {{\n"), Save::InPlace);
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
    save(
        &manifest,
        &text.replace("hello from live-edit", "edited config"),
        Save::RenameOver,
    );
    wait_until("the edited config to serve", REBUILD, async || {
        client.get(dev.proxy, "/hello").await.text() == "edited config\n"
    })
    .await;

    // A config that does not load: dev's line and the server's JSON
    // diagnostics on stderr name the user's manifest, never the staged copy.
    let good = std::fs::read_to_string(&manifest).expect("manifest");
    save(
        &manifest,
        &good.replace("\"name\"", "\"timeout_ms\": 0, \"name\""),
        Save::RenameOver,
    );
    wait_until("dev to report the failed load", REBUILD, async || {
        dev.stdout().iter().any(|l| l.contains("did not load"))
    })
    .await;
    let staged = std::env::temp_dir().join(format!("edgechain-dev-{}", dev.pid()));
    let staged_name = staged.display().to_string();
    let user_manifest = manifest
        .canonicalize()
        .expect("manifest path")
        .display()
        .to_string();
    wait_until(
        "the server's JSON line about the failed load",
        WAIT,
        async || dev.logs().iter().any(|l| l.contains("reload failed")),
    )
    .await;
    for line in dev.logs().iter().chain(dev.stdout().iter()) {
        assert!(
            !line.contains(&staged_name),
            "a message names the staged copy: {line}"
        );
    }
    let failed = dev
        .logs()
        .into_iter()
        .find(|l| l.contains("reload failed"))
        .unwrap_or_default();
    let failed: serde_json::Value = serde_json::from_str(&failed).expect("a JSON line");
    assert!(
        failed["error"]
            .as_str()
            .is_some_and(|e| e.contains(&user_manifest)),
        "the error names the user's manifest ({user_manifest}): {failed}"
    );
    save(&manifest, &good, Save::RenameOver);
    assert!(dev.is_running(), "dev kept one process throughout");
    assert!(
        staged.is_dir(),
        "dev serves a staged copy at {}",
        staged.display()
    );
    assert!(dev.terminate().success());
    assert!(!staged.exists(), "the staged copy is removed on exit");
}

/// SIGTERM during the first build stops `dev` (and the build) at once.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_build_stops_dev_and_its_compilers() {
    let (_tmp, dir) = scaffold("stop-me");
    // A build that cannot finish soon: a proc-macro-free crate would be too
    // fast, so make the source wait on a build script that sleeps.
    std::fs::write(
        dir.join("build.rs"),
        "fn main() { std::thread::sleep(std::time::Duration::from_secs(600)); }\n",
    )
    .expect("build script");
    let target = shared_target().to_string_lossy().into_owned();
    let mut child = Command::new(BIN)
        .args(["dev", "--plugin", ".", "--config", "proxy_config"])
        .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn dev");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let compiling =
        std::iter::from_fn(|| rx.recv_timeout(COLD_BUILD).ok()).find(|l| l.contains("compiling"));
    assert!(compiling.is_some(), "dev started a build");
    // Wait until the build script runs (its process exists), then stop dev.
    let started = std::time::Instant::now();
    while !build_script_running(&target) {
        assert!(started.elapsed() < COLD_BUILD, "the build script never ran");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let stopping = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "dev exits 0 on SIGTERM: {status:?}");
            break;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(5),
            "dev did not stop within 5 s of SIGTERM during a build"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let staged = std::env::temp_dir().join(format!("edgechain-dev-{}", child.id()));
    assert!(!staged.exists(), "the staged copy is removed");
    let gone = std::time::Instant::now();
    while build_script_running(&target) {
        assert!(
            gone.elapsed() < Duration::from_secs(5),
            "the build (cargo's build script) was left running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether a process runs a build script of the `stop-me` crate under `target`.
fn build_script_running(target: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(Result::ok).any(|e| {
        std::fs::read(e.path().join("cmdline")).is_ok_and(|cmd| {
            let cmd = String::from_utf8_lossy(&cmd);
            cmd.contains(target) && cmd.contains("stop-me-") && cmd.contains("build-script-build")
        })
    })
}

/// The README's flow inside a checkout: `edgechain new hello --path
/// plugins/hello` makes a workspace member, and `edgechain dev --config
/// plugins/hello/proxy_config` from the workspace root finds and rebuilds it.
#[tokio::test(flavor = "multi_thread")]
async fn readme_flow_inside_a_checkout_rebuilds_a_workspace_member() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("edgechain");
    copy_checkout(&workspace_root(), &root);
    let out = Command::new(BIN)
        .args(["new", "hello", "--path", "plugins/hello"])
        .current_dir(&root)
        .output()
        .expect("run edgechain new");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "edgechain new failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("a member of this workspace"), "{said}");
    let target = shared_target().to_string_lossy().into_owned();
    let args: Vec<std::ffi::OsString> = ["dev", "--config", "plugins/hello/proxy_config"]
        .map(Into::into)
        .to_vec();
    let dev = HostProcess::spawn_command(
        BIN,
        "dev",
        &args,
        Launch {
            env: &[("CARGO_TARGET_DIR", target.as_str())],
            cwd: Some(&root),
            start_within: COLD_BUILD,
            ..Launch::default()
        },
    );
    let client = TestClient::new();
    assert_eq!(
        client.get(dev.proxy, "/hello").await.text(),
        "hello from hello\n"
    );
    edit(
        &root.join("plugins/hello/src/lib.rs"),
        r#""x-greeting""#,
        r#""x-member""#,
        Save::RenameOver,
    );
    println!("edit to live: {}", nth_live(&dev, 1).await);
    assert!(
        echoed_header(&client, &dev, "/x", "x-member")
            .await
            .is_some()
    );
    let (status, _) = dev.terminate_within(Duration::from_secs(5));
    assert!(status.success());
}
