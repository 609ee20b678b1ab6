//! Plugins in JavaScript/TypeScript and Python beside Rust, as their authors
//! use them, with the real `edgechain` binary as a child process:
//! `edgechain new --lang ts|python` in a directory outside the checkout, the
//! project's own tests under plain Node / CPython, `edgechain build`,
//! `edgechain validate`; `edgechain dev --plugin .` serving one and swapping
//! in a saved edit; one chain of a Rust, a JavaScript and a Python link in
//! `edgechain serve` in front of a real origin; and `edgechain build`
//! refusing what the host would refuse.
//!
//! The SDK toolchains are installed the way users install them (`npm ci` in
//! `guest-sdk/js`, `bash guest-sdk/python/install.sh`) when they are missing;
//! CI installs them before the tests. Every wait is bounded.

use edgechain_tests::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_edgechain-cli");

/// Bound for installing a toolchain, or a cold cargo build of a scaffold.
const INSTALL: Duration = Duration::from_secs(600);
/// Bound for one plugin build (componentize-py takes up to ~25 s on a busy
/// 2-core machine; QuickJS a few seconds), or a project's own test run.
const BUILD: Duration = Duration::from_secs(300);
/// Bound for `dev` to serve: the first builds plus the host's compile (a
/// Python component takes ~10 s of CPU to compile).
const DEV_START: Duration = Duration::from_secs(600);
/// Bound from a saved edit to the new behaviour.
const REBUILD: Duration = Duration::from_secs(300);

fn guest_sdk() -> PathBuf {
    workspace_root().join("guest-sdk")
}

/// Where scaffolded Rust crates build (shared with `tests/tests/dev.rs`).
fn shared_target() -> PathBuf {
    workspace_root().join("target").join("scaffold")
}

/// Run `cmd` to completion within `within` (killed and failed after it);
/// its output.
fn run_within(mut cmd: Command, what: &str, within: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let read = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Run `cmd`, failing the test with its output unless it succeeds; the output.
fn run_ok(cmd: Command, what: &str, within: Duration) -> String {
    let out = run_within(cmd, what, within);
    let all = text(&out);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{all}",
        out.status
    );
    all
}

fn edgechain(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("EDGECHAIN_SDK")
        .env("CARGO_TARGET_DIR", shared_target());
    cmd
}

/// The pinned JS toolchain, installed as its README says (`npm ci` in
/// `guest-sdk/js`) if it is missing; once per test run.
fn js_toolchain() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let sdk = guest_sdk().join("js");
        let installed = ["componentize-qjs", "esbuild"].iter().all(|p| {
            sdk.join("node_modules")
                .join(p)
                .join("package.json")
                .is_file()
        });
        if !installed {
            let mut npm = Command::new("npm");
            npm.args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&sdk);
            run_ok(npm, "npm ci in guest-sdk/js", INSTALL);
        }
    });
}

/// A JS/TS project's README test commands: `npm install` (links the SDK, no
/// registry) then `npm test`; the test output.
fn npm_install_and_test(dir: &Path) -> String {
    let mut install = Command::new("npm");
    install
        .args(["install", "--no-audit", "--no-fund"])
        .current_dir(dir);
    run_ok(install, &format!("npm install in {}", dir.display()), BUILD);
    let mut test = Command::new("npm");
    test.arg("test")
        .current_dir(dir)
        .env_remove("NODE_TEST_CONTEXT");
    run_ok(test, &format!("npm test in {}", dir.display()), BUILD)
}

/// The pinned Python toolchain, installed as its README says (`bash
/// install.sh`, offline from its wheel cache when that is filled) if it is
/// missing; once per test run. The virtualenv's python.
fn python_toolchain() -> PathBuf {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    DONE.get_or_init(|| {
        let sdk = guest_sdk().join("python");
        let python = sdk.join(".venv/bin/python");
        if !sdk.join(".venv/bin/componentize-py").is_file() {
            let wheels = std::fs::read_dir(sdk.join(".wheelhouse"))
                .map(|d| {
                    d.flatten()
                        .any(|e| e.path().extension().is_some_and(|x| x == "whl"))
                })
                .unwrap_or(false);
            let mut install = Command::new("bash");
            install.arg("install.sh").current_dir(&sdk);
            if wheels {
                install.env("OFFLINE", "1");
            }
            run_ok(install, "bash guest-sdk/python/install.sh", INSTALL);
        }
        python
    })
    .clone()
}

/// `edgechain new NAME --lang LANG` in `parent` (outside the checkout).
fn new_project(parent: &Path, name: &str, lang: &str) -> PathBuf {
    let mut cmd = edgechain(parent, &["new", name, "--lang", lang, "--sdk"]);
    cmd.arg(guest_sdk());
    run_ok(cmd, &format!("edgechain new {name} --lang {lang}"), BUILD);
    parent.join(name)
}

/// `edgechain build` in `dir`; its output.
fn build(dir: &Path) -> String {
    run_ok(edgechain(dir, &["build"]), "edgechain build", INSTALL)
}

/// `edgechain validate DIR` accepts the chain, saying nothing.
fn validate(dir: &Path) {
    let mut cmd = Command::new(BIN);
    cmd.arg("validate").arg(dir);
    let out = run_within(cmd, "edgechain validate", BUILD);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "the chain in {} does not load:\n{}",
        dir.display(),
        text(&out)
    );
}

/// Replace `from` with `to` in `path`, saving it by writing a temporary file
/// and renaming it over the original, as many editors do.
fn edit(path: &Path, from: &str, to: &str) {
    let source = std::fs::read_to_string(path).expect("read source");
    let edited = source.replace(from, to);
    assert_ne!(edited, source, "{} has `{from}` to edit", path.display());
    let tmp = path.with_extension("swp-edgechain-test");
    std::fs::write(&tmp, edited).expect("write temporary file");
    std::fs::rename(&tmp, path).expect("rename over the source");
}

#[test]
fn typescript_scaffold_passes_its_tests_builds_and_its_chain_validates() {
    js_toolchain();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = new_project(tmp.path(), "hello-ts", "ts");
    for f in [
        "src/index.ts",
        "test/plugin.test.ts",
        "tsconfig.json",
        "README.md",
    ] {
        assert!(dir.join(f).is_file(), "the scaffold has {f}");
    }
    // The README's test commands: link the SDK (no registry), run the tests.
    let output = npm_install_and_test(&dir);
    assert!(output.contains("# pass 3"), "{output}");
    assert!(output.contains("# fail 0"), "{output}");

    let said = build(&dir);
    assert!(said.contains("proxy_config/hello_ts.wasm"), "{said}");
    validate(&dir.join("proxy_config"));
}

#[test]
fn javascript_scaffold_passes_its_tests_and_builds() {
    js_toolchain();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = new_project(tmp.path(), "hello-js", "js");
    assert!(dir.join("src/index.js").is_file());
    let output = npm_install_and_test(&dir);
    assert!(
        output.contains("# pass 3") && output.contains("# fail 0"),
        "{output}"
    );
    let said = build(&dir);
    assert!(said.contains("proxy_config/hello_js.wasm"), "{said}");
    validate(&dir.join("proxy_config"));
    per_request_is_warned_about(&dir.join("proxy_config"), "hello-js", "JavaScript");
}

/// Without `"instance"` in its manifest entry, the project's JS or Python
/// link still validates (exit 0), with one warning naming the link and the fix.
fn per_request_is_warned_about(config: &Path, link: &str, lang: &str) {
    let manifest = config.join("proxychain.json");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let entry = json["proxychain"][0]
        .as_object_mut()
        .expect("the project's link");
    assert_eq!(entry.remove("instance"), Some("reuse".into()));
    std::fs::write(&manifest, json.to_string()).expect("write manifest");
    let mut cmd = Command::new(BIN);
    cmd.arg("validate").arg(config);
    let out = run_within(cmd, "edgechain validate (per-request)", BUILD);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a warning is no failure: {stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert_eq!(lines[0]["level"], "WARN");
    assert_eq!(lines[0]["link"], link);
    let message = lines[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "a {lang} plugin without \"instance\" runs per-request"
        )) && message.contains("\"instance\": \"reuse\""),
        "{message}"
    );
    std::fs::write(&manifest, text).expect("restore manifest");
}

#[test]
fn python_scaffold_passes_its_tests_builds_and_its_chain_validates() {
    let python = python_toolchain();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = new_project(tmp.path(), "hello-py", "python");
    for f in [
        "hello_py.py",
        "tests/test_hello_py.py",
        "pyproject.toml",
        "README.md",
    ] {
        assert!(dir.join(f).is_file(), "the scaffold has {f}");
    }
    let mut test = Command::new(&python);
    test.args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .current_dir(&dir);
    let output = run_ok(test, "pytest in the scaffold", BUILD);
    assert!(output.contains("4 passed"), "{output}");

    let said = build(&dir);
    assert!(said.contains("proxy_config/hello_py.wasm"), "{said}");
    validate(&dir.join("proxy_config"));
    per_request_is_warned_about(&dir.join("proxy_config"), "hello-py", "Python");
}

/// `edgechain new --lang js --app`: a JavaScript edge app (a standard
/// wasi:http component) whose handler tests pass under Node, which
/// `edgechain build` builds with StarlingMonkey, whose chain validates
/// silently, and which `edgechain serve` runs as the last link behind a
/// plugin, answering in place of the next hop.
#[tokio::test(flavor = "multi_thread")]
async fn javascript_edge_app_scaffold_passes_its_tests_builds_and_serves_as_the_last_link() {
    js_toolchain();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cmd = edgechain(
        tmp.path(),
        &["new", "hello-app", "--lang", "js", "--app", "--sdk"],
    );
    cmd.arg(guest_sdk());
    let said = run_ok(cmd, "edgechain new hello-app --app", BUILD);
    assert!(said.contains("edge app"), "{said}");
    let dir = tmp.path().join("hello-app");
    let output = npm_install_and_test(&dir);
    assert!(
        output.contains("# pass 3") && output.contains("# fail 0"),
        "{output}"
    );
    let said = build(&dir);
    assert!(said.contains("proxy_config/hello_app.wasm"), "{said}");
    assert!(said.contains("wasi:http edge app"), "{said}");
    validate(&dir.join("proxy_config"));

    // Behind a plugin, as the last link: a response header from the plugin's
    // response phase shows the app's answer went back through the chain.
    let config = ConfigDir::new();
    config.add_plugin("add-headers");
    std::fs::copy(
        dir.join("proxy_config/hello_app.wasm"),
        config.path().join("hello_app.wasm"),
    )
    .expect("built app");
    config.manifest(serde_json::json!({ "proxychain": [
        { "name": "headers", "module": "add-headers.wasm",
          "config": { "request": { "x-from-chain": "1" }, "response": { "x-via": "edgechain" } } },
        { "name": "app", "module": "hello_app.wasm", "timeout_ms": 5000 }
    ]}));
    validate(config.path());
    let origin = Origin::start(Behaviour::Echo).await;
    let host = spawn_serve(config.path(), origin.addr);
    let client = TestClient::new();
    let hello = client.get(host.proxy, "/hello").await;
    assert_eq!(hello.status, 200);
    assert_eq!(hello.text(), "hello from hello-app\n");
    assert_eq!(hello.header("x-via"), "edgechain");
    let other = client.get(host.proxy, "/a/b?x=1").await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("x-served-by"), "hello-app");
    let answer: serde_json::Value = serde_json::from_slice(&other.body).expect("JSON answer");
    assert_eq!(answer["path"], "/a/b");
    assert_eq!(answer["query"], "?x=1");
    assert!(
        origin.seen().is_empty(),
        "the app answers in place of the next hop"
    );
    assert!(host.terminate().success());
}

/// The header `name` the built-in echo origin of `dev` saw for `path`.
async fn echoed_header(
    client: &TestClient,
    proxy: std::net::SocketAddr,
    path: &str,
    name: &str,
) -> Option<String> {
    let reply = client.get(proxy, path).await;
    let echo: serde_json::Value = serde_json::from_slice(&reply.body).ok()?;
    echo["headers"][name].as_str().map(str::to_owned)
}

/// `dev`'s "live in" lines so far.
fn live_lines(dev: &HostProcess) -> Vec<String> {
    dev.stdout()
        .into_iter()
        .filter(|l| l.starts_with("[dev] live in"))
        .collect()
}

/// Poll until `done` holds, failing with `what` after `within`; how long it took.
async fn wait_until(what: &str, within: Duration, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done().await {
        assert!(
            started.elapsed() < within,
            "timed out after {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// `edgechain serve --config config` in front of `next_hop`, allowed the time
/// an interpreter's first load takes.
fn spawn_serve(config: &Path, next_hop: std::net::SocketAddr) -> HostProcess {
    let args: Vec<std::ffi::OsString> = vec!["serve".into(), "--config".into(), config.into()];
    HostProcess::spawn_command(
        BIN,
        "serve",
        &args,
        Launch {
            next_hop: Some(next_hop),
            start_within: DEV_START,
            ..Launch::default()
        },
    )
}

/// `edgechain dev --plugin . --config proxy_config` in `dir`, serving.
fn spawn_dev(dir: &Path) -> HostProcess {
    let args: Vec<std::ffi::OsString> = ["dev", "--plugin", ".", "--config", "proxy_config"]
        .map(Into::into)
        .to_vec();
    HostProcess::spawn_command(
        BIN,
        "dev",
        &args,
        Launch {
            cwd: Some(dir),
            start_within: DEV_START,
            ..Launch::default()
        },
    )
}

/// Make the `n`th saved change (`save`), after which requests carry header
/// `x-greeting-N`; wait until they do. Prints `dev`'s edit-to-live line and
/// the time the test saw.
async fn goes_live(dev: &HostProcess, lang: &str, n: usize, save: impl FnOnce()) {
    let client = TestClient::new();
    let saved = Instant::now();
    save();
    let header = format!("x-greeting-{n}");
    wait_until(&format!("{lang}: edit {n} to serve"), REBUILD, async || {
        echoed_header(&client, dev.proxy, "/edited", &header)
            .await
            .is_some()
    })
    .await;
    let seen = saved.elapsed();
    wait_until("dev's live line", REBUILD, async || {
        live_lines(dev).len() >= n
    })
    .await;
    println!(
        "{lang} edit {n}: {} (the test saw the new behaviour {:.2} s after the save)",
        live_lines(dev)[n - 1],
        seen.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_serves_a_typescript_plugin_and_swaps_in_each_saved_edit() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = new_project(tmp.path(), "live-ts", "ts");
    let dev = spawn_dev(&dir);
    let client = TestClient::new();
    assert_eq!(client.get(dev.proxy, "/healthz").await.text(), "ok\n");
    assert_eq!(
        echoed_header(&client, dev.proxy, "/x", "x-greeting")
            .await
            .as_deref(),
        Some("hello from live-ts")
    );
    let source = dir.join("src/index.ts");
    goes_live(&dev, "TypeScript", 1, || {
        edit(&source, r#""x-greeting""#, r#""x-greeting-1""#)
    })
    .await;

    // A broken save: the bundler's error reaches the terminal with its
    // file and line, and the last build keeps serving.
    let good = std::fs::read_to_string(&source).expect("source");
    std::fs::write(&source, format!("{good}\nexport const broken = ;\n")).expect("save");
    wait_until("dev to report the failed build", REBUILD, async || {
        dev.stdout().iter().any(|l| l.contains("build failed"))
    })
    .await;
    let stderr = dev.logs().join("\n");
    assert!(
        stderr.contains("index.ts"),
        "the error names the file: {stderr}"
    );
    assert!(
        echoed_header(&client, dev.proxy, "/still", "x-greeting-1")
            .await
            .is_some(),
        "the previous build keeps serving"
    );
    // The fix, with a further change.
    goes_live(&dev, "TypeScript", 2, || {
        std::fs::write(&source, good.replace("x-greeting-1", "x-greeting-2")).expect("save")
    })
    .await;
    let (status, _) = dev.terminate_within(Duration::from_secs(10));
    assert!(status.success(), "dev exits 0 on SIGTERM: {status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_serves_a_python_plugin_and_swaps_in_a_saved_edit() {
    python_toolchain();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = new_project(tmp.path(), "live-py", "python");
    let dev = spawn_dev(&dir);
    let client = TestClient::new();
    assert_eq!(
        client.get(dev.proxy, "/hello").await.text(),
        "hello from live-py\n"
    );
    let reply = client.get(dev.proxy, "/x").await;
    assert_eq!(reply.header("x-served-by"), "live-py");
    let module = dir.join("live_py.py");
    goes_live(&dev, "Python", 1, || {
        edit(&module, r#""x-greeting""#, r#""x-greeting-1""#)
    })
    .await;
    let (status, _) = dev.terminate_within(Duration::from_secs(10));
    assert!(status.success(), "dev exits 0 on SIGTERM: {status:?}");
}

/// The README's TypeScript flow, verbatim, in a fresh copy of the checkout
/// (no JS toolchain installed): `edgechain new hello-ts --lang ts --path
/// scratch/hello-ts`, then `edgechain dev --plugin scratch/hello-ts --config
/// scratch/hello-ts/proxy_config` from the root installs the SDK's pinned
/// toolchain (`npm ci`), builds and serves; then the project's own tests.
#[tokio::test(flavor = "multi_thread")]
async fn readme_flow_for_typescript_in_a_fresh_checkout() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("edgechain");
    copy_checkout(&workspace_root(), &root);
    assert!(!root.join("guest-sdk/js/node_modules").exists());
    run_ok(
        edgechain(
            &root,
            &[
                "new",
                "hello-ts",
                "--lang",
                "ts",
                "--path",
                "scratch/hello-ts",
            ],
        ),
        "edgechain new hello-ts",
        BUILD,
    );
    let args: Vec<std::ffi::OsString> = [
        "dev",
        "--plugin",
        "scratch/hello-ts",
        "--config",
        "scratch/hello-ts/proxy_config",
    ]
    .map(Into::into)
    .to_vec();
    let dev = HostProcess::spawn_command(
        BIN,
        "dev",
        &args,
        Launch {
            cwd: Some(&root),
            start_within: DEV_START,
            ..Launch::default()
        },
    );
    wait_until(
        "dev's line about installing the toolchain",
        WAIT,
        async || {
            dev.stdout()
                .iter()
                .any(|l| l.contains("installing the pinned JavaScript toolchain"))
        },
    )
    .await;
    let client = TestClient::new();
    assert_eq!(client.get(dev.proxy, "/healthz").await.text(), "ok\n");
    assert_eq!(
        echoed_header(&client, dev.proxy, "/x", "x-greeting")
            .await
            .as_deref(),
        Some("hello from hello-ts")
    );
    let (status, _) = dev.terminate_within(Duration::from_secs(10));
    assert!(status.success());
    let project = root.join("scratch/hello-ts");
    let output = npm_install_and_test(&project);
    assert!(output.contains("# fail 0"), "{output}");
}

/// A Rust, a JavaScript and a Python link in one chain in `edgechain serve`,
/// in front of a real origin: each adds its own request header (the origin
/// sees all three), the two script links mark the response, and the first
/// link answers `/hello` at the edge.
#[tokio::test(flavor = "multi_thread")]
async fn a_rust_a_javascript_and_a_python_link_serve_one_chain() {
    js_toolchain();
    python_toolchain();
    let tmp = tempfile::tempdir().expect("tempdir");

    let mut new_rust = edgechain(tmp.path(), &["new", "mix-rs", "--sdk"]);
    new_rust.arg(guest_sdk());
    run_ok(new_rust, "edgechain new mix-rs", BUILD);
    let rs = tmp.path().join("mix-rs");
    assert!(
        rs.join("Cargo.lock").is_file(),
        "a standalone crate starts from the SDK's lock file"
    );
    edit(
        &rs.join("src/lib.rs"),
        r#""x-greeting""#,
        r#""x-from-rust""#,
    );

    let js = new_project(tmp.path(), "mix-js", "js");
    edit(
        &js.join("src/index.js"),
        r#""x-greeting""#,
        r#""x-from-js""#,
    );

    let py = new_project(tmp.path(), "mix-py", "python");
    let module = py.join("mix_py.py");
    edit(&module, r#""x-greeting""#, r#""x-from-python""#);
    edit(&module, r#""x-served-by""#, r#""x-python-served""#);

    for dir in [&rs, &js, &py] {
        build(dir);
    }
    let config = ConfigDir::new();
    for (dir, file) in [
        (&rs, "mix_rs.wasm"),
        (&js, "mix_js.wasm"),
        (&py, "mix_py.wasm"),
    ] {
        std::fs::copy(
            dir.join("proxy_config").join(file),
            config.path().join(file),
        )
        .expect("built component");
    }
    config.manifest(serde_json::json!({ "proxychain": [
        { "name": "rust", "module": "mix_rs.wasm", "config": { "greeting": "rs" } },
        { "name": "js", "module": "mix_js.wasm", "instance": "reuse", "config": { "greeting": "js" } },
        { "name": "python", "module": "mix_py.wasm", "instance": "reuse", "timeout_ms": 500,
          "config": { "greeting": "py" } }
    ]}));
    validate(config.path());

    let origin = Origin::start(Behaviour::Echo).await;
    let host = spawn_serve(config.path(), origin.addr);
    let client = TestClient::new();
    let reply = client.get(host.proxy, "/through").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "hello from origin\n");
    assert_eq!(
        reply.header("x-served-by"),
        "mix-js",
        "the JS link's response phase"
    );
    assert_eq!(
        reply.header("x-python-served"),
        "mix-py",
        "the Python link's response phase"
    );
    let seen = origin.seen();
    let at_origin = seen
        .iter()
        .find(|s| s.path == "/through")
        .expect("the request reached the origin");
    for (header, value) in [
        ("x-from-rust", "rs"),
        ("x-from-js", "js"),
        ("x-from-python", "py"),
    ] {
        assert_eq!(
            at_origin.headers.get(header).and_then(|v| v.to_str().ok()),
            Some(value),
            "{header}: {:?}",
            at_origin.headers
        );
    }
    let hello = client.get(host.proxy, "/hello").await;
    assert_eq!(hello.text(), "rs\n", "the first link answers at the edge");
    assert!(
        !origin.seen().iter().any(|s| s.path == "/hello"),
        "an answered request never reaches the origin"
    );
    assert!(host.terminate().success());
}

/// `edgechain build` refuses a Rust component that imports `wasi:http` (the
/// host links no such thing) with a message naming it, and writes nothing;
/// an SDK build's refusal comes through as readably; a directory that is no
/// project is named as such.
#[test]
fn build_refuses_what_the_host_would_refuse_with_a_readable_reason() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut new = edgechain(tmp.path(), &["new", "outbound", "--sdk"]);
    new.arg(guest_sdk());
    run_ok(new, "edgechain new outbound", BUILD);
    let dir = tmp.path().join("outbound");
    edit(
        &dir.join("Cargo.toml"),
        "serde = { version = \"1\", features = [\"derive\"] }",
        "serde = { version = \"1\", features = [\"derive\"] }\n\
         wit-bindgen = { version = \"0.61\", default-features = false, features = [\"macros\", \"realloc\"] }",
    );
    let lib = dir.join("src/lib.rs");
    edit(
        &lib,
        "        req.set_header(\"x-greeting\", &self.greeting);",
        "        if req.path() == \"/outbound\" {\n            \
         outbound::wasi::http::handler::handle(\"http://example.com/\");\n        }\n        \
         req.set_header(\"x-greeting\", &self.greeting);",
    );
    let mut source = std::fs::read_to_string(&lib).expect("lib.rs");
    source.push_str(
        r#"
/// An import the host does not provide: a wasi:http handler (a 0.3
/// version, so it does not merge with the wasi:http 0.2 WIT that Rust's
/// wasip2 standard library carries).
mod outbound {
    wit_bindgen::generate!({
        inline: "
            package wasi:http@0.3.0;
            interface handler {
                handle: func(url: string) -> u32;
            }
            world fixture {
                import handler;
            }
        ",
        world: "fixture",
    });
}
"#,
    );
    std::fs::write(&lib, source).expect("write lib.rs");
    let out = run_within(
        edgechain(&dir, &["build"]),
        "edgechain build (wasi:http)",
        INSTALL,
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("edgechain build: error:"), "{said}");
    assert!(said.contains("wasi:http/handler@0.3.0"), "{said}");
    assert!(said.contains("does not provide"), "{said}");
    println!("edgechain build refused the wasi:http fixture:\n{said}");
    assert!(
        !dir.join("proxy_config/outbound.wasm").exists(),
        "nothing is written"
    );

    // The JS SDK's own refusal (a host call at module top level), passed on.
    js_toolchain();
    let js = new_project(tmp.path(), "top-level", "ts");
    let index = js.join("src/index.ts");
    let code = std::fs::read_to_string(&index).expect("index.ts");
    std::fs::write(&index, format!("{code}\nlog.info(\"at load\");\n")).expect("save");
    let out = run_within(
        edgechain(&js, &["build"]),
        "edgechain build (top level)",
        BUILD,
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("outside a hook"), "{said}");
    assert!(!js.join("proxy_config/top_level.wasm").exists());

    let out = run_within(
        edgechain(tmp.path(), &["build"]),
        "edgechain build (no project)",
        BUILD,
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("is not a plugin project"), "{said}");
}
