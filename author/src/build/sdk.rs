//! Finding the JavaScript/TypeScript and Python SDKs, and installing their
//! pinned toolchains the first time they are needed.
//!
//! The SDKs live in an edgechain checkout (`guest-sdk/js`, `guest-sdk/python`).
//! Where to look, first hit wins: `--sdk DIR` (the `guest-sdk/` directory, the
//! language's own SDK directory, or the checkout), `$EDGECHAIN_SDK` (the
//! same), the SDK the project names itself (its `file:` dependency on
//! `@edgechain/sdk`, or `[tool.edgechain] sdk`), the checkout above the
//! project, and the checkout above the running `edgechain` binary.
//!
//! Toolchains are installed exactly as the SDK READMEs tell users to: `npm ci`
//! in `guest-sdk/js` (from `package-lock.json`), `bash install.sh` in
//! `guest-sdk/python` (hash-pinned wheels, kept for offline reinstalls). Two
//! `edgechain` processes needing the same install take turns (a file lock).

use super::BuildError;
use super::project::Lang;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The environment variable naming the SDK directory.
pub const SDK_ENV: &str = "EDGECHAIN_SDK";

/// Whether `dir` is the SDK for `lang` (for Rust: the `edgechain-sdk` crate).
pub fn is_sdk(lang: Lang, dir: &Path) -> bool {
    match lang {
        Lang::Rust => std::fs::read_to_string(dir.join("Cargo.toml"))
            .is_ok_and(|t| t.contains("name = \"edgechain-sdk\"")),
        Lang::Js => {
            dir.join("bin/edgechain-build.mjs").is_file()
                && std::fs::read_to_string(dir.join("package.json"))
                    .ok()
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .is_some_and(|p| p["name"] == "@edgechain/sdk")
        }
        Lang::Python => {
            dir.join("install.sh").is_file() && dir.join("src/edgechain_sdk/build.py").is_file()
        }
    }
}

/// The SDK for `lang` at or inside `dir`: `dir` itself, `dir/<lang>` (the
/// `guest-sdk/` directory) or `dir/guest-sdk/<lang>` (a checkout).
fn sdk_in(lang: Lang, dir: &Path) -> Option<PathBuf> {
    let sub = lang.sdk_subdir();
    [
        dir.to_path_buf(),
        dir.join(sub),
        dir.join("guest-sdk").join(sub),
    ]
    .into_iter()
    .find(|d| is_sdk(lang, d))
    .and_then(|d| d.canonicalize().ok())
}

/// The nearest edgechain checkout at or above `start`.
pub fn checkout_above(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| is_sdk(Lang::Rust, &dir.join("guest-sdk")))
        .map(Path::to_path_buf)
}

/// Find the SDK for `lang` (see the module docs for the order).
pub fn locate(
    lang: Lang,
    project_dir: &Path,
    explicit: Option<&Path>,
    hint: Option<&Path>,
) -> Result<PathBuf, BuildError> {
    if let Some(dir) = explicit {
        return sdk_in(lang, dir).ok_or_else(|| {
            BuildError::NoSdk(format!(
                "{} holds no {lang} SDK (expected guest-sdk/{} of an edgechain checkout)",
                dir.display(),
                lang.sdk_subdir()
            ))
        });
    }
    if let Some(dir) = std::env::var_os(SDK_ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return sdk_in(lang, &dir).ok_or_else(|| {
            BuildError::NoSdk(format!(
                "${SDK_ENV}={} holds no {lang} SDK (expected guest-sdk/{} of an edgechain checkout)",
                dir.display(),
                lang.sdk_subdir()
            ))
        });
    }
    let project = project_dir
        .canonicalize()
        .unwrap_or_else(|_| project_dir.to_path_buf());
    let exe = std::env::current_exe().ok();
    let found = hint
        .and_then(|h| sdk_in(lang, h))
        .or_else(|| checkout_above(&project).and_then(|root| sdk_in(lang, &root)))
        .or_else(|| {
            exe.as_deref()
                .and_then(Path::parent)
                .and_then(checkout_above)
                .and_then(|root| sdk_in(lang, &root))
        });
    found.ok_or_else(|| {
        BuildError::NoSdk(format!(
            "cannot find the {lang} SDK (guest-sdk/{} of an edgechain checkout) above {}: \
             pass --sdk PATH/TO/guest-sdk or set ${SDK_ENV}",
            lang.sdk_subdir(),
            project.display()
        ))
    })
}

/// What runs a build once the toolchain is in place.
#[derive(Debug, Clone)]
pub struct Toolchain {
    /// The SDK directory.
    pub sdk: PathBuf,
    /// The interpreter: `node`, or the Python SDK's virtualenv python.
    pub program: PathBuf,
}

/// Make sure the pinned toolchain for `lang` (and, for JS, `engine`) is
/// installed in `sdk`, installing it if not; `say` gets one line per step.
pub async fn ensure(
    lang: Lang,
    sdk: &Path,
    engine: Option<&str>,
    say: &(dyn Fn(&str) + Sync),
) -> Result<Toolchain, BuildError> {
    match lang {
        Lang::Js => {
            check_node().await?;
            let starling = engine == Some("starlingmonkey");
            if !js_installed(sdk, starling) {
                let _lock = InstallLock::acquire(sdk).await?;
                if !js_installed(sdk, false) {
                    say(&format!(
                        "installing the pinned JavaScript toolchain (npm ci in {}; once, a few seconds)…",
                        sdk.display()
                    ));
                    let mut cmd = tokio::process::Command::new("npm");
                    cmd.args(["ci", "--no-audit", "--no-fund"]).current_dir(sdk);
                    install(cmd, "npm ci", sdk).await?;
                }
                if starling && !js_installed(sdk, true) {
                    let dir = sdk.join("engines/starlingmonkey");
                    say(&format!(
                        "installing the StarlingMonkey engine (npm ci in {}; once, ~390 MB)…",
                        dir.display()
                    ));
                    let mut cmd = tokio::process::Command::new("npm");
                    cmd.args(["ci", "--no-audit", "--no-fund"])
                        .current_dir(&dir);
                    install(cmd, "npm ci", &dir).await?;
                }
                if !js_installed(sdk, starling) {
                    return Err(BuildError::Install(format!(
                        "npm ci in {} finished but the toolchain is still missing (node_modules/componentize-qjs, node_modules/esbuild)",
                        sdk.display()
                    )));
                }
            }
            Ok(Toolchain {
                sdk: sdk.to_path_buf(),
                program: PathBuf::from("node"),
            })
        }
        Lang::Python => {
            let python = sdk.join(".venv/bin/python");
            if !python_installed(sdk) {
                let _lock = InstallLock::acquire(sdk).await?;
                if !python_installed(sdk) {
                    install_python(sdk, say).await?;
                }
            }
            Ok(Toolchain {
                sdk: sdk.to_path_buf(),
                program: python,
            })
        }
        Lang::Rust => Err(BuildError::Install(
            "Rust plugins are built with cargo; there is no SDK toolchain to install".into(),
        )),
    }
}

fn js_installed(sdk: &Path, starlingmonkey: bool) -> bool {
    let base = ["componentize-qjs", "esbuild"].iter().all(|p| {
        sdk.join("node_modules")
            .join(p)
            .join("package.json")
            .is_file()
    });
    base && (!starlingmonkey
        || sdk
            .join("engines/starlingmonkey/node_modules/@bytecodealliance/componentize-js/package.json")
            .is_file())
}

fn python_installed(sdk: &Path) -> bool {
    sdk.join(".venv/bin/python").is_file() && sdk.join(".venv/bin/componentize-py").is_file()
}

/// `install.sh`, from the wheel cache when it holds wheels (no network), else
/// (or if that fails) downloading them.
async fn install_python(sdk: &Path, say: &(dyn Fn(&str) + Sync)) -> Result<(), BuildError> {
    let has_wheels = std::fs::read_dir(sdk.join(".wheelhouse")).is_ok_and(|entries| {
        entries
            .flatten()
            .any(|e| e.path().extension().is_some_and(|x| x == "whl"))
    });
    say(&format!(
        "installing the pinned Python toolchain (bash install.sh in {}: a virtualenv with componentize-py and pytest; once, ~10 s)…",
        sdk.display()
    ));
    if has_wheels {
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg("install.sh").env("OFFLINE", "1").current_dir(sdk);
        if install(cmd, "OFFLINE=1 bash install.sh", sdk).await.is_ok() && python_installed(sdk) {
            return Ok(());
        }
        say("the offline install from .wheelhouse/ was incomplete; downloading the pinned wheels");
    }
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg("install.sh").env_remove("OFFLINE").current_dir(sdk);
    install(cmd, "bash install.sh", sdk).await?;
    if python_installed(sdk) {
        Ok(())
    } else {
        Err(BuildError::Install(format!(
            "install.sh in {} finished but .venv/bin/componentize-py is missing",
            sdk.display()
        )))
    }
}

/// Run an install command, quietly unless it fails.
async fn install(
    mut cmd: tokio::process::Command,
    what: &str,
    dir: &Path,
) -> Result<(), BuildError> {
    cmd.stdin(Stdio::null());
    let out = crate::process::run_captured(&mut cmd).await.map_err(|e| {
        BuildError::Install(format!("cannot run `{what}` in {}: {e}", dir.display()))
    })?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Err(BuildError::Install(format!(
        "`{what}` in {} failed ({}):\n{}",
        dir.display(),
        out.status,
        text.trim_end()
    )))
}

/// Node.js must exist and be >= 20.6 (the SDK's `engines`).
async fn check_node() -> Result<(), BuildError> {
    let missing = || {
        BuildError::MissingTool(
            "JavaScript/TypeScript plugins need Node.js >= 20.6 with npm on PATH (`node` was not found)"
                .into(),
        )
    };
    let out = tokio::process::Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|_| missing())?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let mut parts = version
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if !out.status.success() || (major, minor) < (20, 6) {
        return Err(BuildError::MissingTool(format!(
            "JavaScript/TypeScript plugins need Node.js >= 20.6; `node --version` says {version:?}"
        )));
    }
    Ok(())
}

/// An exclusive lock on installing into one SDK directory, held until dropped.
struct InstallLock {
    _file: std::fs::File,
}

impl InstallLock {
    async fn acquire(sdk: &Path) -> Result<InstallLock, BuildError> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        sdk.hash(&mut h);
        let path =
            std::env::temp_dir().join(format!("edgechain-sdk-install-{:016x}.lock", h.finish()));
        let io = |e: std::io::Error| BuildError::Io {
            what: format!("locking {}", path.display()),
            source: e,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let file = tokio::task::spawn_blocking(move || lock(file))
            .await
            .map_err(|e| io(std::io::Error::other(e)))?
            .map_err(io)?;
        Ok(InstallLock { _file: file })
    }
}

#[cfg(unix)]
fn lock(file: std::fs::File) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock only takes the descriptor, which `file` keeps open; the
    // lock goes with it when the file is closed.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    if rc == 0 {
        Ok(file)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn lock(file: std::fs::File) -> std::io::Result<std::fs::File> {
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdks_are_found_from_the_checkout_the_guest_sdk_dir_or_themselves() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path();
        let gs = root.join("guest-sdk");
        std::fs::create_dir_all(gs.join("js/bin")).expect("dirs");
        std::fs::create_dir_all(gs.join("python/src/edgechain_sdk")).expect("dirs");
        std::fs::write(
            gs.join("Cargo.toml"),
            "[package]\nname = \"edgechain-sdk\"\n",
        )
        .expect("w");
        std::fs::write(gs.join("js/package.json"), r#"{"name": "@edgechain/sdk"}"#).expect("w");
        std::fs::write(gs.join("js/bin/edgechain-build.mjs"), "").expect("w");
        std::fs::write(gs.join("python/install.sh"), "").expect("w");
        std::fs::write(gs.join("python/src/edgechain_sdk/build.py"), "").expect("w");
        let js = gs.join("js").canonicalize().expect("c");
        for dir in [root.to_path_buf(), gs.clone(), gs.join("js")] {
            assert_eq!(
                sdk_in(Lang::Js, &dir).as_ref(),
                Some(&js),
                "{}",
                dir.display()
            );
        }
        assert_eq!(sdk_in(Lang::Python, &gs.join("js")), None);
        let project = root.join("plugins/my-plugin");
        std::fs::create_dir_all(&project).expect("dirs");
        assert_eq!(checkout_above(&project).as_deref(), Some(root));
        let py = locate(Lang::Python, &project, Some(&gs), None).expect("python sdk");
        assert!(py.ends_with("guest-sdk/python"));
        assert!(matches!(
            locate(Lang::Python, &project, Some(&project), None),
            Err(BuildError::NoSdk(_))
        ));
    }
}
