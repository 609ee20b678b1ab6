//! Rust projects: `cargo build --target wasm32-wasip2` (the author's own
//! cargo, output on the terminal) and the host's own check that the result
//! loads: compiled by the host's engine and linked against its imports, as
//! `edgechain::plugin::load` does.

use super::BuildError;
use super::cargo::{self, PluginCrate};
use std::path::{Path, PathBuf};

/// Build the crate in `dir` with cargo profile `profile`; the crate and the
/// path of its component.
pub async fn build(dir: &Path, profile: &str) -> Result<(PluginCrate, PathBuf), BuildError> {
    let manifest = dir.join("Cargo.toml");
    let found = cargo::discover(Some(&manifest))
        .await
        .map_err(|e| BuildError::Failed(e.to_string()))?;
    let krate = found
        .into_iter()
        .find(|c| c.dir() == dir)
        .ok_or_else(|| {
            BuildError::NotAProject(format!(
                "{} is not a plugin crate: it has no `cdylib` library (add `crate-type = [\"cdylib\", \"rlib\"]` under [lib])",
                dir.display()
            ))
        })?;
    let outcome = cargo::build(&[&krate], profile)
        .await
        .map_err(|e| BuildError::Failed(e.to_string()))?;
    match outcome.artifacts.into_iter().next().flatten() {
        Some(artifact) => Ok((krate, artifact)),
        None => Err(BuildError::Failed(format!(
            "cargo build of {} failed (its errors are above)",
            krate.package
        ))),
    }
}

/// Check that the host would load `bytes`: it compiles as a component and
/// everything it imports is something the host links, and it exports the
/// `edgechain:plugin` filter. CPU-heavy (a compile); runs off the async threads.
pub async fn check_loads(bytes: Vec<u8>) -> Result<(), BuildError> {
    tokio::task::spawn_blocking(move || check_loads_blocking(&bytes))
        .await
        .map_err(|e| BuildError::Failed(format!("the load check did not finish: {e}")))?
}

/// The WASI and edgechain interfaces the host gives a plugin, for messages.
pub const HOST_PROVIDES: &str = "WASI 0.2 (cli, clocks, filesystem, io, random, sockets) and \
     edgechain:plugin/{types, host, kv, http, cache}";

fn check_loads_blocking(bytes: &[u8]) -> Result<(), BuildError> {
    use edgechain::engine::{EngineSettings, Runtime};
    let settings = EngineSettings {
        max_instances: 1,
        ..EngineSettings::default()
    };
    let runtime = Runtime::new(settings).map_err(|e| BuildError::Failed(e.to_string()))?;
    let component = runtime
        .compile(bytes)
        .map_err(|e| BuildError::Refused(format!("the host cannot load the component: {e}")))?;
    let imports: Vec<String> = component
        .component_type()
        .imports(runtime.engine())
        .map(|(name, _)| name.to_owned())
        .collect();
    let pre = runtime.linker().instantiate_pre(&component).map_err(|e| {
        let unknown: Vec<&String> = imports.iter().filter(|i| !host_may_provide(i)).collect();
        let list = if unknown.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
            format!("\n  imports the host does not provide: {}", names.join(", "))
        };
        BuildError::Refused(format!(
            "the component imports what the edgechain host does not provide, so the host would refuse it at load:\n  {e:#}{list}\n\
             The host links {HOST_PROVIDES}. Outbound HTTP goes through edgechain:plugin/http (the SDK's `http` module), not wasi:http: \
             remove the code or dependency that pulls the import in (`cargo tree` shows where a dependency comes from)."
        ))
    })?;
    edgechain::plugin::bindings::PluginPre::new(pre).map_err(|e| {
        BuildError::Refused(format!(
            "the component is not an edgechain plugin (it must export edgechain:plugin/filter; use `export_plugin!`): {e:#}"
        ))
    })?;
    Ok(())
}

/// Whether `import` is one of the interfaces the host links (by name; the
/// linker has the last word on versions and types).
fn host_may_provide(import: &str) -> bool {
    const WASI: [&str; 6] = ["cli", "clocks", "filesystem", "io", "random", "sockets"];
    const EDGECHAIN: [&str; 5] = ["types", "host", "kv", "http", "cache"];
    if let Some(rest) = import.strip_prefix("wasi:") {
        let package = rest.split('/').next().unwrap_or("");
        return WASI.contains(&package) && rest.contains("@0.2.");
    }
    if let Some(rest) = import.strip_prefix("edgechain:plugin/") {
        let iface = rest.split('@').next().unwrap_or("");
        return EDGECHAIN.contains(&iface);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_http_is_named_as_unprovided() {
        assert!(host_may_provide("wasi:cli/environment@0.2.6"));
        assert!(host_may_provide("edgechain:plugin/kv@0.3.0"));
        assert!(host_may_provide("edgechain:plugin/cache@0.3.1"));
        assert!(!host_may_provide("edgechain:plugin/purge@0.3.1"));
        assert!(!host_may_provide("wasi:http/outgoing-handler@0.2.0"));
        assert!(!host_may_provide("wasi:cli/environment@0.3.0"));
        assert!(!host_may_provide("acme:thing/x"));
    }

    #[tokio::test]
    async fn a_non_component_is_refused_readably() {
        let err = check_loads(b"\0asm\x01\0\0\0".to_vec()).await.err();
        assert!(
            matches!(&err, Some(BuildError::Refused(m)) if m.contains("cannot load")),
            "{err:?}"
        );
    }
}
