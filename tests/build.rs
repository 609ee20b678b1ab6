//! Build every plugin (`plugins/*` and `tests/plugins/*`) to a wasm component
//! before the tests compile, and tell them where the files are.

fn main() {
    let root = xtask::workspace_root();
    for dir in ["plugins", "tests/plugins", "guest-sdk", "wit"] {
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
}
