//! The directory `edgechain dev` actually serves: a copy of the user's config
//! directory whose manifest points the links that have a source project at
//! the freshly built components.
//!
//! Serving a copy keeps the user's config directory untouched (no build output
//! written into it) and lets a component be swapped by writing one file here,
//! while every other file (configs, prebuilt modules) stays the user's.

use super::DevError;
use super::project::Project;
use edgechain::config::MANIFEST_FILE;
use std::path::{Path, PathBuf};

/// Where built components go inside the staged directory.
const BUILT_DIR: &str = "edgechain-dev-build";

/// A link whose module is built from a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltLink {
    /// The link's name in the manifest.
    pub link: String,
    /// Index of the project in the list given to [`links_with_sources`].
    pub project: usize,
}

/// The links of the manifest in `config_dir` whose `module` one of
/// `projects` builds, and the links that keep their module file as it is.
pub fn links_with_sources(
    config_dir: &Path,
    projects: &[Project],
) -> Result<(Vec<BuiltLink>, Vec<String>), DevError> {
    let manifest = read_manifest(config_dir)?;
    let mut built = Vec::new();
    let mut as_is = Vec::new();
    for link in links(&manifest) {
        let name = link
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or("?")
            .to_owned();
        let module = link.get("module").and_then(|m| m.as_str()).unwrap_or("");
        match projects.iter().position(|p| p.builds_module(module)) {
            Some(project) => built.push(BuiltLink {
                link: name,
                project,
            }),
            None => as_is.push(name),
        }
    }
    Ok((built, as_is))
}

fn read_manifest(config_dir: &Path) -> Result<serde_json::Value, DevError> {
    let path = config_dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| DevError::Io {
        what: format!("reading {}", path.display()),
        source: e,
    })?;
    serde_json::from_str(&text).map_err(|e| DevError::Manifest(format!("{}: {e}", path.display())))
}

fn links(manifest: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    manifest
        .get("proxychain")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
}

/// Text about the staged copy of `source` at `stage`, said in the user's
/// terms: the copy's paths become the user's directory, and components
/// `dev` built are named as such. For `dev`'s own lines and for the
/// server's JSON diagnostics alike ([`UserTerms::writer`]).
#[derive(Debug, Clone)]
pub struct UserTerms {
    source: PathBuf,
    stage: PathBuf,
}

impl UserTerms {
    /// Terms for the copy at `stage` of the user's directory `source`.
    pub fn new(source: PathBuf, stage: PathBuf) -> UserTerms {
        UserTerms { source, stage }
    }

    /// `text` with the copy's paths replaced.
    pub fn plain(&self, text: &str) -> String {
        self.replace(text, |p| p.to_owned())
    }

    /// `line` (JSON) with the copy's paths replaced by JSON-escaped ones.
    pub fn json(&self, line: &str) -> String {
        self.replace(line, |p| {
            let quoted = serde_json::Value::from(p).to_string();
            quoted[1..quoted.len() - 1].to_owned()
        })
    }

    fn replace(&self, text: &str, escape: impl Fn(&str) -> String) -> String {
        let stage = self.stage.display().to_string();
        if stage.is_empty() || !text.contains(&stage) {
            return text.to_owned();
        }
        let built = format!("{stage}/{BUILT_DIR}/");
        text.replace(&built, "(the component edgechain dev built) ")
            .replace(&stage, &escape(&self.source.display().to_string()))
    }

    /// A writer of JSON diagnostic lines to `inner`, each line in the user's
    /// terms (it expects one line per `write`, as the log subscriber writes).
    pub fn writer<W: std::io::Write>(&self, inner: W) -> UserTermsWriter<W> {
        UserTermsWriter {
            terms: self.clone(),
            inner,
        }
    }
}

/// See [`UserTerms::writer`].
#[derive(Debug)]
pub struct UserTermsWriter<W> {
    terms: UserTerms,
    inner: W,
}

impl<W: std::io::Write> std::io::Write for UserTermsWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.inner.write_all(self.terms.json(text).as_bytes())?,
            Err(_) => self.inner.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The staged copy of one config directory.
#[derive(Debug)]
pub struct Stage {
    source: PathBuf,
    dir: PathBuf,
}

impl Stage {
    /// A stage for `source` at `dir` (created, emptied if it exists).
    pub fn new(source: PathBuf, dir: PathBuf) -> Stage {
        Stage { source, dir }
    }

    /// The directory to serve.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `message` (a load error about the served copy) in the user's terms:
    /// paths in the copy become the user's directory, built components are
    /// named as such.
    pub fn in_user_terms(&self, message: &str) -> String {
        UserTerms::new(self.source.clone(), self.dir.clone()).plain(message)
    }

    /// Copy the user's directory again and point the manifest's `module` of
    /// every link in `built` at its project's component
    /// ([`Stage::component_path`]). A manifest that is not JSON is copied as
    /// it is, so the loader reports it the way `serve` would.
    pub fn refresh(&self, projects: &[Project], built: &[BuiltLink]) -> Result<(), DevError> {
        let keep = self.dir.join(BUILT_DIR);
        clear_except(&self.dir, &keep)?;
        copy_tree(&self.source, &self.dir)?;
        let Ok(mut manifest) = read_manifest(&self.source) else {
            return Ok(());
        };
        if let Some(list) = manifest
            .get_mut("proxychain")
            .and_then(|l| l.as_array_mut())
        {
            for link in list {
                let name = link.get("name").and_then(|n| n.as_str()).unwrap_or("");
                if let Some(b) = built.iter().find(|b| b.link == name) {
                    link["module"] =
                        format!("{BUILT_DIR}/{}.wasm", projects[b.project].stem()).into();
                }
            }
        }
        let text = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| DevError::Manifest(format!("re-encoding the manifest: {e}")))?;
        write_atomically(&self.dir.join(MANIFEST_FILE), &text)
    }

    /// Where the component with file stem `stem` is served from. Builds that
    /// write atomically themselves (the JS and Python SDKs) write here.
    pub fn component_path(&self, stem: &str) -> PathBuf {
        self.dir.join(BUILT_DIR).join(format!("{stem}.wasm"))
    }

    /// Put a freshly built component with file stem `stem` in place
    /// (atomically, so a reload never reads half a file).
    pub fn put_component(&self, stem: &str, artifact: &Path) -> Result<(), DevError> {
        let bytes = std::fs::read(artifact).map_err(|e| DevError::Io {
            what: format!("reading {}", artifact.display()),
            source: e,
        })?;
        let dir = self.dir.join(BUILT_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| DevError::Io {
            what: format!("creating {}", dir.display()),
            source: e,
        })?;
        write_atomically(&self.component_path(stem), &bytes)
    }
}

/// The staged directory is scratch space: it goes when `dev` stops, however
/// it stops (best effort).
impl Drop for Stage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> DevError {
    move |source| DevError::Io { what, source }
}

fn clear_except(dir: &Path, keep: &Path) -> Result<(), DevError> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    for entry in std::fs::read_dir(dir).map_err(io(format!("reading {}", dir.display())))? {
        let path = entry
            .map_err(io(format!("reading {}", dir.display())))?
            .path();
        if path == keep {
            continue;
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(io(format!("removing {}", path.display())))?;
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), DevError> {
    std::fs::create_dir_all(to).map_err(io(format!("creating {}", to.display())))?;
    for entry in std::fs::read_dir(from).map_err(io(format!("reading {}", from.display())))? {
        let entry = entry.map_err(io(format!("reading {}", from.display())))?;
        let (src, dest) = (entry.path(), to.join(entry.file_name()));
        // `metadata` follows symlinks, as Kubernetes' `..data` layout needs.
        let meta = std::fs::metadata(&src).map_err(io(format!("reading {}", src.display())))?;
        if meta.is_dir() {
            copy_tree(&src, &dest)?;
        } else {
            std::fs::copy(&src, &dest).map_err(io(format!("copying {}", src.display())))?;
        }
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), DevError> {
    let tmp = path.with_extension("tmp-edgechain-dev");
    std::fs::write(&tmp, bytes).map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io(format!("replacing {}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_errors_name_the_users_files() {
        let stage = Stage::new(
            "/home/me/proxy_config".into(),
            "/tmp/edgechain-dev-7".into(),
        );
        assert_eq!(
            stage.in_user_terms("/tmp/edgechain-dev-7/proxychain.json: trailing comma at line 3"),
            "/home/me/proxy_config/proxychain.json: trailing comma at line 3"
        );
        assert_eq!(
            stage.in_user_terms(
                "/tmp/edgechain-dev-7/edgechain-dev-build/hello.wasm: link `hello`: trap"
            ),
            "(the component edgechain dev built) hello.wasm: link `hello`: trap"
        );
    }

    #[test]
    fn diagnostics_name_the_users_files_as_json() {
        use std::io::Write;
        let terms = UserTerms::new(
            "/home/me/my \"config\"".into(),
            "/tmp/edgechain-dev-7".into(),
        );
        let mut out = Vec::new();
        let mut w = terms.writer(&mut out);
        let line = r#"{"level":"ERROR","dir":"/tmp/edgechain-dev-7","error":"/tmp/edgechain-dev-7/edgechain-dev-build/x.wasm: trap"}"#;
        w.write_all(format!("{line}\n").as_bytes()).expect("write");
        let said = String::from_utf8(out).expect("utf-8");
        let json: serde_json::Value = serde_json::from_str(&said).expect("still JSON");
        assert_eq!(json["dir"], "/home/me/my \"config\"");
        assert_eq!(
            json["error"],
            "(the component edgechain dev built) x.wasm: trap"
        );
        assert!(said.ends_with('\n'));
        assert_eq!(terms.plain("nothing staged"), "nothing staged");
    }

    use crate::build::cargo::PluginCrate;

    fn krate(name: &str) -> Project {
        Project::Crate(PluginCrate {
            package: name.into(),
            lib_name: name.replace('-', "_"),
            manifest: PathBuf::from(format!("/w/{name}/Cargo.toml")),
            path_deps: Vec::new(),
            workspace_root: PathBuf::from("/w"),
        })
    }

    #[test]
    fn built_links_point_at_staged_components_and_the_rest_is_copied() {
        let src = tempfile::tempdir().expect("tempdir");
        let stage_dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            src.path().join(MANIFEST_FILE),
            r#"{"proxychain":[
                {"name":"a","module":"x/add-headers.wasm","config":"a.json",
                 "when":{"path":{"prefix":"/api"}},"unless":{"method":"OPTIONS"}},
                {"name":"b","module":"prebuilt.wasm"}]}"#,
        )
        .expect("write");
        std::fs::write(src.path().join("a.json"), "{}").expect("write");
        let crates = [krate("passthrough"), krate("add-headers")];
        let (built, as_is) = links_with_sources(src.path(), &crates).expect("links");
        assert_eq!(
            built,
            [BuiltLink {
                link: "a".into(),
                project: 1
            }]
        );
        assert_eq!(as_is, ["b"]);

        let stage = Stage::new(src.path().to_owned(), stage_dir.path().join("s"));
        stage.refresh(&crates, &built).expect("refresh");
        let artifact = src.path().join("built.wasm");
        std::fs::write(&artifact, b"wasm").expect("write");
        stage
            .put_component(crates[1].stem(), &artifact)
            .expect("put");
        let staged: serde_json::Value = serde_json::from_slice(
            &std::fs::read(stage.dir().join(MANIFEST_FILE)).expect("staged manifest"),
        )
        .expect("json");
        assert_eq!(
            staged["proxychain"][0]["module"],
            "edgechain-dev-build/add_headers.wasm"
        );
        assert_eq!(staged["proxychain"][1]["module"], "prebuilt.wasm");
        // `edgechain dev` serves the link where the manifest scopes it.
        assert_eq!(
            staged["proxychain"][0]["when"],
            serde_json::json!({"path": {"prefix": "/api"}})
        );
        assert_eq!(
            staged["proxychain"][0]["unless"],
            serde_json::json!({"method": "OPTIONS"})
        );
        assert!(stage.dir().join("a.json").is_file());

        // A refresh keeps built components and drops files the user removed.
        std::fs::remove_file(src.path().join("a.json")).expect("rm");
        stage.refresh(&crates, &built).expect("refresh again");
        assert!(!stage.dir().join("a.json").exists());
        assert!(
            stage
                .dir()
                .join("edgechain-dev-build/add_headers.wasm")
                .is_file()
        );
    }
}
