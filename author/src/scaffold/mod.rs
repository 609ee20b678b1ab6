//! `edgechain new <name> [--lang rust|js|ts|python]`: a plugin project that
//! builds, loads and passes its own tests as it is, so an author starts from
//! something working. Every project has a `proxy_config/` holding a chain of
//! just itself and a README (develop, test, build, deploy).
//!
//! - Rust: inside an edgechain checkout's `plugins/` directory the crate is
//!   written as a workspace member; anywhere else it is a crate of its own
//!   with a path dependency on the SDK.
//! - TypeScript: the JS SDK's own template (`guest-sdk/js/template`);
//!   JavaScript: the same plugin in plain JS. Both depend on the SDK by path.
//! - Python: a module, its pytest tests and a `pyproject.toml` naming the SDK.
//! - An edge app (`--app`, JavaScript): a standard `wasi:http` component for
//!   the last link of a chain, built with StarlingMonkey.
//!
//! The component is named after the plugin with `-` read as `_` in every
//! language (`geo-tag` → `geo_tag.wasm`), as cargo names a crate's artifact
//! and Python a module. A standalone Rust crate gets the SDK checkout's
//! `Cargo.lock`, so it builds with the versions the SDK is tested with (cargo
//! drops the entries it does not use on the first build); JS/TS and Python
//! projects need no lock file of their own (see `docs/plugins.md`).

use crate::build::{BuildError, Lang, sdk};
use std::path::{Component, Path, PathBuf};

/// Why the crate could not be created.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    /// The name is not usable as a crate, link and file name.
    #[error(
        "`{0}` is not a valid plugin name: use lower-case letters, digits and `-`, starting with a letter"
    )]
    InvalidName(String),
    /// The target directory already exists.
    #[error("{0} already exists; choose another name or --path")]
    Exists(PathBuf),
    /// The SDK crate was not found.
    #[error(
        "cannot find the edgechain-sdk crate (looked for guest-sdk/ above {0}); pass --sdk PATH"
    )]
    NoSdk(PathBuf),
    /// `--sdk` names a directory that is not the SDK crate.
    #[error(
        "{0} is not the edgechain-sdk crate (its Cargo.toml does not name `edgechain-sdk`); pass guest-sdk/ of an edgechain checkout"
    )]
    NotSdk(PathBuf),
    /// The JavaScript/TypeScript or Python SDK was not found.
    #[error(transparent)]
    Sdk(#[from] BuildError),
    /// The SDK's template is missing or unreadable.
    #[error("{0}")]
    Template(String),
    /// A JS/TS or Python project cannot go where it was asked to.
    #[error("{0}")]
    Place(String),
    /// A file could not be written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NewLang {
    /// A Rust crate.
    #[default]
    Rust,
    /// JavaScript.
    Js,
    /// TypeScript.
    Ts,
    /// Python.
    Python,
}

impl NewLang {
    /// The names `--lang` accepts.
    pub const NAMES: [&'static str; 4] = ["rust", "js", "ts", "python"];

    /// Parse a `--lang` value.
    pub fn parse(s: &str) -> Option<NewLang> {
        match s {
            "rust" | "rs" => Some(NewLang::Rust),
            "js" | "javascript" => Some(NewLang::Js),
            "ts" | "typescript" => Some(NewLang::Ts),
            "python" | "py" => Some(NewLang::Python),
            _ => None,
        }
    }

    /// The SDK language it builds with.
    pub fn build_lang(self) -> Lang {
        match self {
            NewLang::Rust => Lang::Rust,
            NewLang::Js | NewLang::Ts => Lang::Js,
            NewLang::Python => Lang::Python,
        }
    }

    /// A name for messages.
    pub fn describe(self) -> &'static str {
        match self {
            NewLang::Rust => "Rust",
            NewLang::Js => "JavaScript",
            NewLang::Ts => "TypeScript",
            NewLang::Python => "Python",
        }
    }
}

/// What `edgechain new` is told.
#[derive(Debug, Clone)]
pub struct NewOptions {
    /// Plugin (and package) name, e.g. `geo-tag`.
    pub name: String,
    /// Directory to create (default: `./<name>`).
    pub path: Option<PathBuf>,
    /// The SDK: for Rust the `edgechain-sdk` crate directory, for the other
    /// languages `guest-sdk/` or the language's own SDK directory (default:
    /// found above the target).
    pub sdk: Option<PathBuf>,
    /// The language.
    pub lang: NewLang,
    /// An edge app (a standard `wasi:http` component, the last link of a
    /// chain) instead of a plugin; JavaScript only.
    pub app: bool,
}

/// What was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The project directory.
    pub dir: PathBuf,
    /// Whether it joined an edgechain workspace as a member (Rust only).
    pub workspace_member: bool,
    /// The language.
    pub lang: NewLang,
    /// The SDK directory a JS/TS or Python project uses.
    pub sdk: Option<PathBuf>,
}

const CARGO_TOML: &str = include_str!("template/Cargo.toml.in");
const STANDALONE: &str = include_str!("template/standalone.in");
const LIB_RS: &str = include_str!("template/lib.rs.in");
const README: &str = include_str!("template/README.md.in");
const MANIFEST: &str = include_str!("template/proxychain.json.in");
const GITIGNORE: &str = include_str!("template/gitignore.in");

const JS_INDEX: &str = include_str!("template/js/index.js.in");
const JS_TEST: &str = include_str!("template/js/plugin.test.js.in");
const JS_PACKAGE: &str = include_str!("template/js/package.json.in");
const JS_MANIFEST: &str = include_str!("template/js/proxychain.json.in");
const JS_README: &str = include_str!("template/js/README.md.in");
const PY_PLUGIN: &str = include_str!("template/python/plugin.py.in");
const PY_TEST: &str = include_str!("template/python/test_plugin.py.in");
const PY_PYPROJECT: &str = include_str!("template/python/pyproject.toml.in");
const PY_MANIFEST: &str = include_str!("template/python/proxychain.json.in");
const PY_GITIGNORE: &str = include_str!("template/python/gitignore.in");
const PY_README: &str = include_str!("template/python/README.md.in");
const APP_PACKAGE: &str = include_str!("template/js-app/package.json.in");
const APP_INDEX: &str = include_str!("template/js-app/index.js.in");
const APP_APP: &str = include_str!("template/js-app/app.js.in");
const APP_TEST: &str = include_str!("template/js-app/app.test.js.in");
const APP_MANIFEST: &str = include_str!("template/js-app/proxychain.json.in");
const APP_README: &str = include_str!("template/js-app/README.md.in");

/// Write the plugin project.
pub fn create(opts: &NewOptions) -> Result<Created, ScaffoldError> {
    if !valid_name(&opts.name) {
        return Err(ScaffoldError::InvalidName(opts.name.clone()));
    }
    let dir = opts
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&opts.name));
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir));
    }
    if opts.app && opts.lang != NewLang::Js {
        return Err(ScaffoldError::Place(format!(
            "--app makes a JavaScript edge app (--lang js); for one in {} build a standard \
             wasi:http component with its own tools (docs/plugins.md, \"Edge apps\")",
            opts.lang.describe()
        )));
    }
    let parent = absolute(dir.parent().unwrap_or(Path::new("")))?;
    if opts.lang != NewLang::Rust {
        return create_script(opts, dir, &parent);
    }
    let workspace = edgechain_workspace_above(&parent);
    let workspace_member = workspace
        .as_ref()
        .is_some_and(|root| parent == root.join("plugins") && covers_plugins(root));
    let sdk_dependency = if workspace_member {
        "edgechain-sdk.workspace = true".to_owned()
    } else {
        let sdk = match &opts.sdk {
            Some(sdk) => {
                let sdk = absolute(sdk)?;
                // A wrong path would only fail at the first build.
                let names_sdk = std::fs::read_to_string(sdk.join("Cargo.toml")).is_ok_and(|t| {
                    t.lines().any(|l| {
                        l.split_whitespace().collect::<String>() == "name=\"edgechain-sdk\""
                    })
                });
                if !names_sdk {
                    return Err(ScaffoldError::NotSdk(sdk));
                }
                sdk
            }
            None => workspace
                .as_ref()
                .map(|root| root.join("guest-sdk"))
                .ok_or_else(|| ScaffoldError::NoSdk(parent.clone()))?,
        };
        let crate_dir = parent.join(dir.file_name().unwrap_or_default());
        let rel = relative(&sdk, &crate_dir);
        format!(
            "edgechain-sdk = {{ path = {:?} }}",
            rel.to_string_lossy().replace('\\', "/")
        )
    };
    let fill = |template: &str| {
        template
            .replace("{{name}}", &opts.name)
            .replace("{{lib_name}}", &opts.name.replace('-', "_"))
            .replace("{{type_name}}", &type_name(&opts.name))
            .replace("{{sdk_dependency}}", &sdk_dependency)
            .replace(
                "{{standalone}}",
                if workspace_member { "" } else { STANDALONE },
            )
    };
    let mut files = vec![
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(LIB_RS)),
        ("README.md", fill(README)),
        ("proxy_config/proxychain.json", fill(MANIFEST)),
        (".gitignore", fill(GITIGNORE)),
    ];
    if !workspace_member {
        // The versions the SDK is built and tested with, rather than
        // whatever is newest on the first build.
        if let Some(lock) = sdk_lock_file(&opts.sdk, workspace.as_deref()) {
            files.push(("Cargo.lock", lock));
        }
    }
    write_files(&dir, files)?;
    Ok(Created {
        dir,
        workspace_member,
        lang: NewLang::Rust,
        sdk: None,
    })
}

/// The `Cargo.lock` of the checkout the SDK crate is in (`guest-sdk/..`), if
/// it has one.
fn sdk_lock_file(sdk: &Option<PathBuf>, workspace: Option<&Path>) -> Option<String> {
    let root = match sdk {
        Some(sdk) => absolute(sdk).ok()?.parent()?.to_path_buf(),
        None => workspace?.to_path_buf(),
    };
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).ok()?;
    lock.starts_with("# This file is automatically @generated by Cargo.")
        .then_some(lock)
}

fn write_files(
    dir: &Path,
    files: impl IntoIterator<Item = (impl AsRef<Path>, String)>,
) -> Result<(), ScaffoldError> {
    for (rel, text) in files {
        let path = dir.join(rel);
        if let Some(p) = path.parent() {
            std::fs::create_dir_all(p).map_err(|e| ScaffoldError::Io {
                what: format!("creating {}", p.display()),
                source: e,
            })?;
        }
        std::fs::write(&path, text.trim_end().to_owned() + "\n").map_err(|e| {
            ScaffoldError::Io {
                what: format!("writing {}", path.display()),
                source: e,
            }
        })?;
    }
    Ok(())
}

/// A JavaScript, TypeScript or Python project in `dir` (whose parent is the
/// absolute `parent`).
fn create_script(opts: &NewOptions, dir: PathBuf, parent: &Path) -> Result<Created, ScaffoldError> {
    let lang = opts.lang.build_lang();
    if let Some(root) = edgechain_workspace_above(parent)
        && parent == root.join("plugins")
        && covers_plugins(&root)
    {
        return Err(ScaffoldError::Place(format!(
            "{} holds the cargo workspace's Rust crates (each directory there must be one); \
             put a {} project elsewhere, e.g. --path scratch/{}",
            parent.display(),
            opts.lang.describe(),
            opts.name
        )));
    }
    let sdk_dir = sdk::locate(lang, parent, opts.sdk.as_deref(), None)?;
    let project_dir = parent.join(dir.file_name().unwrap_or_default());
    let rel = relative(&sdk_dir, &project_dir)
        .to_string_lossy()
        .replace('\\', "/");
    let fill = |template: &str| {
        template
            .replace("{{name}}", &opts.name)
            .replace("{{lib_name}}", &opts.name.replace('-', "_"))
            .replace("{{type_name}}", &type_name(&opts.name))
            .replace("{{sdk}}", &rel)
            .replace("{{language}}", opts.lang.describe())
    };
    let lib = opts.name.replace('-', "_");
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    match opts.lang {
        NewLang::Ts => {
            // The SDK's own template, as `edgechain-new.mjs` writes it.
            let template = sdk_dir.join("template");
            read_template(&template, Path::new(""), &mut files)?;
            for (path, text) in &mut files {
                *text = fill(text);
                let renamed = match path.to_str() {
                    Some("gitignore") => Some(".gitignore"),
                    Some("npmrc") => Some(".npmrc"),
                    _ => None,
                };
                if let Some(r) = renamed {
                    *path = PathBuf::from(r);
                }
            }
            files.retain(|(p, _)| {
                p != Path::new("README.md") && p != Path::new("proxy_config/proxychain.json")
            });
            files.push(("README.md".into(), fill(JS_README)));
            files.push(("proxy_config/proxychain.json".into(), fill(JS_MANIFEST)));
        }
        NewLang::Js if opts.app => {
            let template = sdk_dir.join("template");
            for (from, to) in [("gitignore", ".gitignore"), ("npmrc", ".npmrc")] {
                let text = std::fs::read_to_string(template.join(from)).unwrap_or_default();
                files.push((to.into(), fill(&text)));
            }
            files.push(("package.json".into(), fill(APP_PACKAGE)));
            files.push(("src/index.js".into(), fill(APP_INDEX)));
            files.push(("src/app.js".into(), fill(APP_APP)));
            files.push(("test/app.test.js".into(), fill(APP_TEST)));
            files.push(("README.md".into(), fill(APP_README)));
            files.push(("proxy_config/proxychain.json".into(), fill(APP_MANIFEST)));
        }
        NewLang::Js => {
            let template = sdk_dir.join("template");
            for (from, to) in [("gitignore", ".gitignore"), ("npmrc", ".npmrc")] {
                let text = std::fs::read_to_string(template.join(from)).unwrap_or_default();
                files.push((to.into(), fill(&text)));
            }
            files.push(("package.json".into(), fill(JS_PACKAGE)));
            files.push(("src/index.js".into(), fill(JS_INDEX)));
            files.push(("test/plugin.test.js".into(), fill(JS_TEST)));
            files.push(("README.md".into(), fill(JS_README)));
            files.push(("proxy_config/proxychain.json".into(), fill(JS_MANIFEST)));
        }
        NewLang::Python => {
            files.push(("pyproject.toml".into(), fill(PY_PYPROJECT)));
            files.push((format!("{lib}.py").into(), fill(PY_PLUGIN)));
            files.push((format!("tests/test_{lib}.py").into(), fill(PY_TEST)));
            files.push(("README.md".into(), fill(PY_README)));
            files.push(("proxy_config/proxychain.json".into(), fill(PY_MANIFEST)));
            files.push((".gitignore".into(), fill(PY_GITIGNORE)));
        }
        NewLang::Rust => {}
    }
    write_files(&dir, files)?;
    Ok(Created {
        dir,
        workspace_member: false,
        lang: opts.lang,
        sdk: Some(sdk_dir),
    })
}

/// Every file under `root` (relative paths, text).
fn read_template(
    root: &Path,
    rel: &Path,
    files: &mut Vec<(PathBuf, String)>,
) -> Result<(), ScaffoldError> {
    let dir = root.join(rel);
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        ScaffoldError::Template(format!(
            "cannot read the SDK template {}: {e}",
            dir.display()
        ))
    })?;
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let rel = rel.join(entry.file_name());
        if entry.path().is_dir() {
            read_template(root, &rel, files)?;
        } else {
            let text = std::fs::read_to_string(entry.path()).map_err(|e| {
                ScaffoldError::Template(format!("cannot read {}: {e}", entry.path().display()))
            })?;
            files.push((rel, text));
        }
    }
    Ok(())
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name.len() <= 64
}

/// `geo-tag` → `GeoTag`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

fn absolute(path: &Path) -> Result<PathBuf, ScaffoldError> {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    std::fs::create_dir_all(path)
        .and_then(|()| path.canonicalize())
        .map_err(|e| ScaffoldError::Io {
            what: format!("resolving {}", path.display()),
            source: e,
        })
}

/// The nearest directory at or above `start` that is an edgechain checkout.
fn edgechain_workspace_above(start: &Path) -> Option<PathBuf> {
    sdk::checkout_above(start)
}

fn covers_plugins(root: &Path) -> bool {
    std::fs::read_to_string(root.join("Cargo.toml")).is_ok_and(|t| t.contains("\"plugins/*\""))
}

/// `to` relative to `from` (both absolute).
fn relative(to: &Path, from: &Path) -> PathBuf {
    let to: Vec<Component> = to.components().collect();
    let from: Vec<Component> = from.components().collect();
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..from.len() {
        rel.push("..");
    }
    for c in &to[common..] {
        rel.push(c.as_os_str());
    }
    rel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_turned_into_types() {
        assert!(valid_name("geo-tag2"));
        for bad in ["", "Geo", "2x", "a_b", "a-", "a--b", "a b"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert_eq!(type_name("geo-tag"), "GeoTag");
        assert_eq!(type_name("x"), "X");
    }

    #[test]
    fn relative_paths_climb_to_the_common_ancestor() {
        assert_eq!(
            relative(Path::new("/w/guest-sdk"), Path::new("/tmp/p")),
            PathBuf::from("../../w/guest-sdk")
        );
        assert_eq!(
            relative(Path::new("/w/guest-sdk"), Path::new("/w/plugins/x")),
            PathBuf::from("../../guest-sdk")
        );
    }

    #[test]
    fn a_standalone_crate_points_at_the_sdk_and_keeps_the_target_free() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let sdk = tmp.path().join("sdk");
        std::fs::create_dir_all(&sdk).expect("sdk dir");
        let not_sdk = NewOptions {
            name: "geo-tag".into(),
            path: Some(tmp.path().join("work/geo-tag")),
            sdk: Some(sdk.clone()),
            lang: NewLang::Rust,
            app: false,
        };
        assert!(matches!(create(&not_sdk), Err(ScaffoldError::NotSdk(_))));
        assert!(!tmp.path().join("work/geo-tag").exists(), "nothing written");
        std::fs::write(
            sdk.join("Cargo.toml"),
            "[package]\nname = \"edgechain-sdk\"\n",
        )
        .expect("sdk manifest");
        let opts = NewOptions {
            name: "geo-tag".into(),
            path: Some(tmp.path().join("work/geo-tag")),
            sdk: Some(sdk),
            lang: NewLang::Rust,
            app: false,
        };
        let created = create(&opts).expect("created");
        assert!(!created.workspace_member);
        let toml = std::fs::read_to_string(created.dir.join("Cargo.toml")).expect("toml");
        assert!(
            toml.contains(r#"edgechain-sdk = { path = "../../sdk" }"#),
            "{toml}"
        );
        assert!(toml.contains("[workspace]"), "{toml}");
        let lib = std::fs::read_to_string(created.dir.join("src/lib.rs")).expect("lib");
        assert!(lib.contains("export_plugin!(GeoTag);"));
        assert!(!lib.contains("{{"), "every placeholder is filled");
        let manifest =
            std::fs::read_to_string(created.dir.join("proxy_config/proxychain.json")).expect("m");
        assert!(manifest.contains("\"geo_tag.wasm\""));
        assert!(
            !created.dir.join("Cargo.lock").exists(),
            "no lock file where the SDK has none"
        );
        assert!(matches!(create(&opts), Err(ScaffoldError::Exists(_))));
    }

    #[test]
    fn a_standalone_crate_starts_from_the_sdk_checkouts_lock_file() {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let tmp = tempfile::tempdir().expect("tempdir");
        let created = create(&NewOptions {
            name: "geo-tag".into(),
            path: Some(tmp.path().join("geo-tag")),
            sdk: Some(checkout.join("guest-sdk")),
            lang: NewLang::Rust,
            app: false,
        })
        .expect("created");
        let lock = std::fs::read_to_string(created.dir.join("Cargo.lock")).expect("Cargo.lock");
        let ours = std::fs::read_to_string(checkout.join("Cargo.lock")).expect("checkout lock");
        assert_eq!(lock, ours);
        assert!(lock.contains("name = \"serde\""));
    }

    #[test]
    fn script_projects_come_from_the_sdks_with_every_placeholder_filled() {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let tmp = tempfile::tempdir().expect("tempdir");
        for (lang, files, module) in [
            (
                NewLang::Ts,
                &[
                    "src/index.ts",
                    "test/plugin.test.ts",
                    "tsconfig.json",
                    ".npmrc",
                    ".gitignore",
                    "package.json",
                ][..],
                "geo_tag.wasm",
            ),
            (
                NewLang::Js,
                &[
                    "src/index.js",
                    "test/plugin.test.js",
                    ".npmrc",
                    "package.json",
                ][..],
                "geo_tag.wasm",
            ),
            (
                NewLang::Python,
                &[
                    "geo_tag.py",
                    "tests/test_geo_tag.py",
                    "pyproject.toml",
                    ".gitignore",
                ][..],
                "geo_tag.wasm",
            ),
        ] {
            let opts = NewOptions {
                name: "geo-tag".into(),
                path: Some(tmp.path().join(format!("{lang:?}/geo-tag"))),
                sdk: Some(checkout.join("guest-sdk")),
                lang,
                app: false,
            };
            let created = create(&opts).expect("created");
            assert!(created.sdk.is_some());
            for f in files
                .iter()
                .chain(&["README.md", "proxy_config/proxychain.json"])
            {
                let text = std::fs::read_to_string(created.dir.join(f))
                    .unwrap_or_else(|e| panic!("{lang:?}: {f}: {e}"));
                assert!(
                    !text.contains("{{"),
                    "{lang:?}: {f} has a placeholder left:\n{text}"
                );
            }
            let manifest: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(created.dir.join("proxy_config/proxychain.json"))
                    .expect("m"),
            )
            .expect("manifest is JSON");
            assert_eq!(manifest["proxychain"][0]["module"], module, "{lang:?}");
            for script in ["package.json", "pyproject.toml"] {
                if let Ok(text) = std::fs::read_to_string(created.dir.join(script)) {
                    assert!(
                        !text.contains("geo-tag.wasm"),
                        "{lang:?}: {script} names the module as the chain does:\n{text}"
                    );
                }
            }
            assert_eq!(manifest["proxychain"][0]["instance"], "reuse", "{lang:?}");
            let project = crate::build::ScriptProject::read(&created.dir).expect("a project");
            assert!(project.builds_module(module), "{lang:?}: {project:?}");
            assert!(
                project
                    .sdk_hint
                    .as_deref()
                    .and_then(|h| h.canonicalize().ok())
                    == created.sdk,
                "{lang:?}: the project names its SDK: {project:?}"
            );
        }
    }

    #[test]
    fn an_edge_app_is_javascript_with_its_handler_tests_and_a_last_link() {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let tmp = tempfile::tempdir().expect("tempdir");
        let opts = |lang| NewOptions {
            name: "edge-app".into(),
            path: Some(tmp.path().join(format!("{lang:?}/edge-app"))),
            sdk: Some(checkout.join("guest-sdk")),
            lang,
            app: true,
        };
        assert!(matches!(
            create(&opts(NewLang::Python)),
            Err(ScaffoldError::Place(_))
        ));
        let created = create(&opts(NewLang::Js)).expect("created");
        for f in [
            "package.json",
            "src/index.js",
            "src/app.js",
            "test/app.test.js",
            "README.md",
            "proxy_config/proxychain.json",
            ".npmrc",
        ] {
            let text =
                std::fs::read_to_string(created.dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(!text.contains("{{"), "{f} has a placeholder left:\n{text}");
        }
        let pkg: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(created.dir.join("package.json")).expect("package.json"),
        )
        .expect("JSON");
        assert_eq!(pkg["edgechain"]["app"], true);
        let manifest: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(created.dir.join("proxy_config/proxychain.json"))
                .expect("manifest"),
        )
        .expect("JSON");
        let link = &manifest["proxychain"][0];
        assert_eq!(link["module"], "edge_app.wasm");
        assert!(link.get("instance").is_none() && link.get("config").is_none());
        let project = crate::build::ScriptProject::read(&created.dir).expect("a project");
        assert!(project.builds_module("edge_app.wasm"));
        assert_eq!(project.engine.as_deref(), Some("starlingmonkey"));
    }
}
