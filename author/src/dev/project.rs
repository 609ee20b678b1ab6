//! The plugin projects `edgechain dev` builds: cargo crates (found by cargo
//! metadata) and JavaScript/TypeScript or Python projects (given with
//! `--plugin DIR`, or the current directory), each built the way
//! `edgechain build` builds it.

use crate::build::cargo::PluginCrate;
use crate::build::sdk::Toolchain;
use crate::build::{Lang, ScriptProject};
use std::path::{Path, PathBuf};

/// One plugin project.
#[derive(Debug, Clone)]
pub enum Project {
    /// A cargo crate with a `cdylib` library.
    Crate(PluginCrate),
    /// A JS/TS or Python project and the toolchain that builds it.
    Script {
        /// The project.
        project: ScriptProject,
        /// Its SDK and interpreter.
        toolchain: Toolchain,
    },
}

impl Project {
    /// The project's language.
    pub fn lang(&self) -> Lang {
        match self {
            Project::Crate(_) => Lang::Rust,
            Project::Script { project, .. } => project.lang,
        }
    }

    /// Its name in messages (the package name).
    pub fn name(&self) -> &str {
        match self {
            Project::Crate(c) => &c.package,
            Project::Script { project, .. } => &project.name,
        }
    }

    /// The file stem of its staged component.
    pub fn stem(&self) -> &str {
        match self {
            Project::Crate(c) => &c.lib_name,
            Project::Script { project, .. } => &project.stem,
        }
    }

    /// The project directory.
    pub fn dir(&self) -> &Path {
        match self {
            Project::Crate(c) => c.dir(),
            Project::Script { project, .. } => &project.dir,
        }
    }

    /// Whether a manifest `module` names this project's component (by file
    /// stem, `-` and `_` alike).
    pub fn builds_module(&self, module: &str) -> bool {
        match self {
            Project::Crate(c) => c.builds_module(module),
            Project::Script { project, .. } => project.builds_module(module),
        }
    }

    /// The directories whose edits change the component: the project's own,
    /// plus its local dependencies (a crate's path dependencies such as the
    /// Rust SDK; the JS or Python SDK's sources).
    pub fn source_dirs(&self) -> Vec<PathBuf> {
        match self {
            Project::Crate(c) => std::iter::once(c.dir().to_path_buf())
                .chain(c.path_deps.iter().cloned())
                .collect(),
            Project::Script { project, toolchain } => {
                let sdk_sources = match project.lang {
                    Lang::Python => toolchain.sdk.join("src/edgechain_sdk"),
                    _ => toolchain.sdk.join("src"),
                };
                let mut dirs = vec![project.dir.clone()];
                if sdk_sources.is_dir() && !sdk_sources.starts_with(&project.dir) {
                    dirs.push(sdk_sources);
                }
                dirs
            }
        }
    }

    /// Local dependency directories, for the "watching" lines.
    pub fn dependency_dirs(&self) -> Vec<PathBuf> {
        self.source_dirs().into_iter().skip(1).collect()
    }
}
