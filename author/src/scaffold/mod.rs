//! `edgechain new <name>`: a plugin crate that builds, loads and passes its own
//! tests as it is, so an author starts from something working.
//!
//! Inside an edgechain checkout's `plugins/` directory the crate is written as
//! a workspace member; anywhere else it is a crate of its own with a path
//! dependency on the SDK.

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
    /// A file could not be written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// What `edgechain new` is told.
#[derive(Debug, Clone)]
pub struct NewOptions {
    /// Plugin (and package) name, e.g. `geo-tag`.
    pub name: String,
    /// Directory to create (default: `./<name>`).
    pub path: Option<PathBuf>,
    /// The `edgechain-sdk` crate directory (default: found above the target).
    pub sdk: Option<PathBuf>,
}

/// What was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The crate directory.
    pub dir: PathBuf,
    /// Whether it joined an edgechain workspace as a member.
    pub workspace_member: bool,
}

const CARGO_TOML: &str = include_str!("template/Cargo.toml.in");
const STANDALONE: &str = include_str!("template/standalone.in");
const LIB_RS: &str = include_str!("template/lib.rs.in");
const README: &str = include_str!("template/README.md.in");
const MANIFEST: &str = include_str!("template/proxychain.json.in");
const GITIGNORE: &str = include_str!("template/gitignore.in");

/// Write the plugin crate.
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
    let parent = absolute(dir.parent().unwrap_or(Path::new("")))?;
    let workspace = edgechain_workspace_above(&parent);
    let workspace_member = workspace
        .as_ref()
        .is_some_and(|root| parent == root.join("plugins") && covers_plugins(root));
    let sdk_dependency = if workspace_member {
        "edgechain-sdk.workspace = true".to_owned()
    } else {
        let sdk = match &opts.sdk {
            Some(sdk) => absolute(sdk)?,
            None => workspace
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
    let files = [
        ("Cargo.toml", fill(CARGO_TOML)),
        ("src/lib.rs", fill(LIB_RS)),
        ("README.md", fill(README)),
        ("proxy_config/proxychain.json", fill(MANIFEST)),
        (".gitignore", fill(GITIGNORE)),
    ];
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
    Ok(Created {
        dir,
        workspace_member,
    })
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
    start
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("guest-sdk/Cargo.toml"))
                .is_ok_and(|t| t.contains("name = \"edgechain-sdk\""))
        })
        .map(Path::to_path_buf)
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
        let opts = NewOptions {
            name: "geo-tag".into(),
            path: Some(tmp.path().join("work/geo-tag")),
            sdk: Some(sdk),
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
        assert!(matches!(create(&opts), Err(ScaffoldError::Exists(_))));
    }
}
