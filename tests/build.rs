//! Build every plugin (`plugins/*` and `tests/plugins/*`) to a wasm component
//! before the tests compile, and tell them where the files are.

fn main() {
    let root = xtask::workspace_root();
    // The Rust SDK only: guest-sdk/js and guest-sdk/python hold installed
    // toolchains (node_modules, .venv) and test caches that are no input of
    // the plugins, and would cost a scan of thousands of files and spurious
    // rebuilds of every test.
    for dir in [
        "plugins",
        "tests/plugins",
        "guest-sdk/src",
        "guest-sdk/Cargo.toml",
        "wire",
        "wit",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let target_dir = xtask::wasm_target_dir(&root);
    let plugins = match xtask::workspace_plugins(&root, true) {
        Ok(p) => p,
        Err(e) => panic!("cannot list plugins: {e:#}"),
    };
    if let Err(e) = xtask::build(&root, &plugins, &target_dir) {
        panic!("cannot build plugins for the tests: {e:#}");
    }
    let dir = target_dir.join(xtask::TARGET).join(xtask::PROFILE);
    println!(
        "cargo:rustc-env=EDGECHAIN_TEST_PLUGIN_DIR={}",
        dir.display()
    );
    // Standard wasi:http components from crates.io, built as published.
    let scratch = root.join("target").join("wasi-http");
    let out = scratch.join("components");
    if let Err(e) = xtask::wasi_http::build(&scratch, &out) {
        panic!("cannot build the wasi:http example components: {e:#}");
    }
    println!(
        "cargo:rustc-env=EDGECHAIN_TEST_WASI_HTTP_DIR={}",
        out.display()
    );
}
