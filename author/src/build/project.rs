//! What kind of plugin project a directory is, and the names its component
//! goes by.
//!
//! A project is a cargo crate (`Cargo.toml`), a JavaScript/TypeScript project
//! (`package.json`) or a Python project (`pyproject.toml`), checked in that
//! order. Cargo crates are described by cargo itself ([`super::cargo`]); this
//! module reads the other two.

use super::BuildError;
use std::path::{Path, PathBuf};

/// The language a plugin project is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lang {
    /// A cargo crate, built with `cargo build --target wasm32-wasip2`.
    Rust,
    /// JavaScript or TypeScript, built with the SDK in `guest-sdk/js`.
    Js,
    /// Python, built with the SDK in `guest-sdk/python`.
    Python,
}

impl Lang {
    /// The language of the project in `dir`, from the manifest file it holds
    /// (`Cargo.toml`, then `package.json`, then `pyproject.toml`).
    pub fn of_dir(dir: &Path) -> Option<Lang> {
        [
            ("Cargo.toml", Lang::Rust),
            ("package.json", Lang::Js),
            ("pyproject.toml", Lang::Python),
        ]
        .into_iter()
        .find(|(file, _)| dir.join(file).is_file())
        .map(|(_, lang)| lang)
    }

    /// A name for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Js => "JavaScript/TypeScript",
            Lang::Python => "Python",
        }
    }

    /// The SDK's directory name under `guest-sdk/` (none for Rust: the crate
    /// is `guest-sdk/` itself).
    pub fn sdk_subdir(self) -> &'static str {
        match self {
            Lang::Rust => "",
            Lang::Js => "js",
            Lang::Python => "python",
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// A JavaScript/TypeScript or Python plugin project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptProject {
    /// Its language ([`Lang::Js`] or [`Lang::Python`]).
    pub lang: Lang,
    /// The project directory (absolute).
    pub dir: PathBuf,
    /// Its name for messages: the npm package name (without a scope), or the
    /// directory name for Python.
    pub name: String,
    /// The file stem its component is written under when nothing else says:
    /// the name with `-` read as `_`, in every language (as cargo names a
    /// crate's artifact).
    pub stem: String,
    /// Names a manifest `module` file stem may use for this project's
    /// component (compared with `-` and `_` alike).
    pub aliases: Vec<String>,
    /// The SDK directory the project itself names (the `file:` dependency on
    /// `@edgechain/sdk`, or `[tool.edgechain] sdk`), if any.
    pub sdk_hint: Option<PathBuf>,
    /// The JS engine the project asks for (`package.json` `edgechain.engine`;
    /// `starlingmonkey` for an edge app, which only that engine builds).
    pub engine: Option<String>,
    /// Whether it is an edge app (`package.json` `"edgechain": {"app": true}`):
    /// a standard `wasi:http` component for the last link of a chain.
    pub app: bool,
}

impl ScriptProject {
    /// Read the JS/TS or Python project in `dir`.
    pub fn read(dir: &Path) -> Result<ScriptProject, BuildError> {
        let dir = dir.canonicalize().map_err(|e| BuildError::Io {
            what: format!("resolving {}", dir.display()),
            source: e,
        })?;
        let dir_name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".to_owned());
        match Lang::of_dir(&dir) {
            Some(Lang::Js) => Self::read_js(dir, dir_name),
            Some(Lang::Python) => Self::read_python(dir, dir_name),
            Some(Lang::Rust) => Err(BuildError::NotAProject(format!(
                "{} is a cargo crate, not a JavaScript/TypeScript or Python project",
                dir.display()
            ))),
            None => Err(not_a_project(&dir)),
        }
    }

    fn read_js(dir: PathBuf, dir_name: String) -> Result<ScriptProject, BuildError> {
        let file = dir.join("package.json");
        let text = read(&file)?;
        let pkg: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| BuildError::NotAProject(format!("{}: {e}", file.display())))?;
        let name = pkg
            .get("name")
            .and_then(|n| n.as_str())
            .map(|n| n.rsplit('/').next().unwrap_or(n).to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| dir_name.clone());
        let sdk_hint = ["dependencies", "devDependencies"]
            .iter()
            .filter_map(|section| pkg.get(section)?.get("@edgechain/sdk")?.as_str())
            .find_map(|spec| spec.strip_prefix("file:"))
            .map(|rel| dir.join(rel));
        let app = pkg
            .get("edgechain")
            .and_then(|e| e.get("app"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false);
        let engine = pkg
            .get("edgechain")
            .and_then(|e| e.get("engine"))
            .and_then(|e| e.as_str())
            .map(str::to_owned)
            .or_else(|| app.then(|| "starlingmonkey".to_owned()));
        let mut aliases = vec![name.clone(), dir_name];
        aliases.dedup();
        Ok(ScriptProject {
            lang: Lang::Js,
            stem: name.replace('-', "_"),
            name,
            aliases,
            sdk_hint,
            engine,
            app,
            dir,
        })
    }

    fn read_python(dir: PathBuf, dir_name: String) -> Result<ScriptProject, BuildError> {
        let text = read(&dir.join("pyproject.toml"))?;
        let module = toml_string(&text, "tool.edgechain", "module");
        let project_name = toml_string(&text, "project", "name");
        let sdk_hint = toml_string(&text, "tool.edgechain", "sdk").map(|rel| dir.join(rel));
        let stem = module
            .clone()
            .filter(|m| m != "plugin")
            .unwrap_or_else(|| dir_name.replace('-', "_"));
        let mut aliases = vec![dir_name.clone()];
        aliases.extend(project_name);
        aliases.extend(module);
        aliases.dedup();
        Ok(ScriptProject {
            lang: Lang::Python,
            name: dir_name,
            stem,
            aliases,
            sdk_hint,
            engine: None,
            app: false,
            dir,
        })
    }

    /// Whether a manifest `module` path names this project's component: its
    /// file stem is one of the project's names (`-` and `_` alike).
    pub fn builds_module(&self, module: &str) -> bool {
        let stem = module_stem(module);
        !stem.is_empty() && self.aliases.iter().any(|a| a.replace('-', "_") == stem)
    }
}

/// The file stem of a manifest `module` path, with `-` read as `_`.
pub fn module_stem(module: &str) -> String {
    Path::new(module)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("")
        .replace('-', "_")
}

/// The error for a directory that is no plugin project.
pub fn not_a_project(dir: &Path) -> BuildError {
    BuildError::NotAProject(format!(
        "{} is not a plugin project: it has no Cargo.toml (Rust), package.json \
         (JavaScript/TypeScript) or pyproject.toml (Python)",
        dir.display()
    ))
}

fn read(file: &Path) -> Result<String, BuildError> {
    std::fs::read_to_string(file).map_err(|e| BuildError::Io {
        what: format!("reading {}", file.display()),
        source: e,
    })
}

/// The string value of `key` in TOML table `table` (a plain `key = "value"`
/// line). Enough for the few settings read here without a TOML parser: the
/// Python build itself reads the file properly.
pub fn toml_string(text: &str, table: &str, key: &str) -> Option<String> {
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            current = header
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_owned();
            continue;
        }
        if current != table {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim().trim_matches('"') != key {
            continue;
        }
        let v = v.trim();
        let quote = v.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let rest = &v[1..];
        return rest.find(quote).map(|end| rest[..end].to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_strings_are_read_from_their_table() {
        let text = r#"
[project]
name = "edgechain-example-header-policy"
dependencies = ["edgechain-sdk==0.3.0"]

[tool.edgechain]
module = 'header_policy'   # comment
sdk = "../../guest-sdk/python"
"#;
        assert_eq!(
            toml_string(text, "project", "name").as_deref(),
            Some("edgechain-example-header-policy")
        );
        assert_eq!(
            toml_string(text, "tool.edgechain", "module").as_deref(),
            Some("header_policy")
        );
        assert_eq!(toml_string(text, "project", "module"), None);
        assert_eq!(toml_string(text, "tool.edgechain", "missing"), None);
    }

    #[test]
    fn projects_are_read_and_match_modules_by_any_of_their_names() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let py = tmp.path().join("header-policy");
        std::fs::create_dir_all(&py).expect("dir");
        std::fs::write(
            py.join("pyproject.toml"),
            "[project]\nname = \"example-policy\"\n[tool.edgechain]\nmodule = \"header_policy\"\nsdk = \"../sdk\"\n",
        )
        .expect("write");
        let p = ScriptProject::read(&py).expect("python project");
        assert_eq!(p.lang, Lang::Python);
        assert_eq!(p.stem, "header_policy");
        assert!(p.builds_module("header_policy.wasm"));
        assert!(p.builds_module("x/header-policy.wasm"));
        assert!(p.builds_module("example-policy.wasm"));
        assert!(!p.builds_module("policy.wasm"));
        assert!(p.sdk_hint.as_ref().is_some_and(|h| h.ends_with("sdk")));

        let js = tmp.path().join("router");
        std::fs::create_dir_all(&js).expect("dir");
        std::fs::write(
            js.join("package.json"),
            r#"{"name": "@acme/ab-router", "dependencies": {"@edgechain/sdk": "file:../sdk/js"}}"#,
        )
        .expect("write");
        let p = ScriptProject::read(&js).expect("js project");
        assert_eq!((p.lang, p.name.as_str()), (Lang::Js, "ab-router"));
        assert_eq!(p.stem, "ab_router", "named as in every language");
        assert!(!p.app && p.engine.is_none());
        assert!(p.builds_module("ab_router.wasm") && p.builds_module("router.wasm"));
        assert_eq!(
            p.sdk_hint,
            Some(js.canonicalize().expect("c").join("../sdk/js"))
        );

        let none = tmp.path().join("empty");
        std::fs::create_dir_all(&none).expect("dir");
        assert!(matches!(
            ScriptProject::read(&none),
            Err(BuildError::NotAProject(_))
        ));
        assert_eq!(Lang::of_dir(&none), None);
    }
}
