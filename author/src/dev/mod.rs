//! `edgechain dev`: the plugin author's loop. Edit, save, and the rebuilt
//! plugin serves within seconds, without restarting the server.
//!
//! ```text
//! source edit ─► debounce ─► build (the author's own build, output shown)
//!     ├─ fails: errors on the terminal; the previous build keeps serving
//!     └─ builds: component written into the staged config dir
//!                   ─► Reloader::reload (the same path as a production hot reload)
//!                   ─► one line: what changed, edit-to-live time
//! ```
//!
//! Rust crates build with `cargo build --target wasm32-wasip2` (crates of one
//! workspace in one cargo run); JavaScript/TypeScript and Python projects
//! build with their SDK's build contract, exactly as `edgechain build` runs
//! it ([`crate::build`]).
//!
//! The server is the real one (`serve`'s code, in front of the demo origin or
//! `--next-hop`); only its own filesystem triggers are off, because this loop
//! decides when the staged directory is complete.

pub mod project;
pub mod sources;
pub mod stage;

use crate::build::cargo::{self, CargoError, PluginCrate};
use crate::build::{BuildError, Lang, ScriptProject, sdk};
use edgechain::reload::{ReloadReport, Trigger};
use edgechain::server::{ServeOptions, Server};
use project::Project;
use sources::{Change, Sources};
use stage::{BuiltLink, Stage};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Why `edgechain dev` could not run.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// Cargo could not be run or said something unexpected, or a `--plugin`
    /// crate has no plugin library.
    #[error(transparent)]
    Cargo(#[from] CargoError),
    /// The manifest could not be read as JSON.
    #[error("invalid manifest: {0}")]
    Manifest(String),
    /// A file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A directory could not be watched.
    #[error("{0}")]
    Watch(String),
    /// No link of the chain is built from a known project.
    #[error("{0}")]
    NothingToWatch(String),
    /// A JS/TS or Python project could not be set up (its SDK is missing, or
    /// its toolchain did not install).
    #[error(transparent)]
    Project(#[from] BuildError),
    /// The server did not start.
    #[error("cannot start: {0}")]
    Start(#[from] edgechain::server::StartError),
}

/// What `edgechain dev` is told.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// How to serve; `config_dir` is the user's directory (it is staged).
    pub serve: ServeOptions,
    /// Project directories given with `--plugin`: cargo crates, or
    /// JavaScript/TypeScript (`package.json`) or Python (`pyproject.toml`)
    /// projects.
    pub plugin_dirs: Vec<PathBuf>,
    /// Whether to also look for plugin crates in the cargo workspace around
    /// the current directory (and, without `--plugin`, take the current
    /// directory if it is a JS/TS or Python project).
    pub workspace: bool,
    /// The SDK directory for JS/TS and Python projects (default: found as
    /// `edgechain build` finds it).
    pub sdk: Option<PathBuf>,
    /// Cargo profile to build with.
    pub profile: String,
    /// Quiet time after the last source event before building.
    pub debounce: Duration,
    /// Where to stage the served directory.
    pub stage_dir: PathBuf,
}

/// Print one line for the author, on stdout (cargo's output is on stderr),
/// through the writer shared with the access log: queuing never blocks.
fn say(line: impl AsRef<str>) {
    edgechain::telemetry::stdout::say(format!("[dev] {}", line.as_ref()));
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// The plugin projects to consider: `--plugin` projects first, then the
/// workspace's crates.
async fn find_projects(opts: &DevOptions) -> Result<Vec<Project>, DevError> {
    let mut projects: Vec<Project> = Vec::new();
    let mut dirs = opts.plugin_dirs.clone();
    if dirs.is_empty() && opts.workspace {
        // Run inside a JS/TS or Python project: that is the plugin.
        if let Ok(here) = std::env::current_dir()
            && matches!(Lang::of_dir(&here), Some(Lang::Js | Lang::Python))
        {
            dirs.push(here);
        }
    }
    for dir in &dirs {
        match Lang::of_dir(dir) {
            Some(Lang::Rust) => {
                for c in crates_in(dir).await? {
                    projects.push(Project::Crate(c));
                }
            }
            Some(lang) => {
                let project = ScriptProject::read(dir)?;
                let sdk_dir = sdk::locate(
                    lang,
                    &project.dir,
                    opts.sdk.as_deref(),
                    project.sdk_hint.as_deref(),
                )?;
                let engine = project.engine.clone();
                let toolchain =
                    sdk::ensure(lang, &sdk_dir, engine.as_deref(), &|l: &str| say(l)).await?;
                projects.push(Project::Script { project, toolchain });
            }
            None => return Err(crate::build::project::not_a_project(dir).into()),
        }
    }
    if opts.workspace {
        // Outside a cargo workspace there is simply nothing more to find.
        if let Ok(found) = cargo::discover(None).await {
            for c in found {
                let known = projects
                    .iter()
                    .any(|p| matches!(p, Project::Crate(k) if k.manifest == c.manifest));
                if !known {
                    projects.push(Project::Crate(c));
                }
            }
        }
    }
    Ok(projects)
}

/// The plugin crate in `dir`.
async fn crates_in(dir: &Path) -> Result<Vec<PluginCrate>, DevError> {
    let manifest = dir.join("Cargo.toml");
    let dir = canonical(dir)?;
    let found = cargo::discover(Some(&manifest)).await?;
    let mine: Vec<_> = found.into_iter().filter(|c| c.dir() == dir).collect();
    if mine.is_empty() {
        return Err(CargoError(format!(
            "{} is not a plugin crate (no `cdylib` library)",
            dir.display()
        ))
        .into());
    }
    Ok(mine)
}

fn canonical(path: &std::path::Path) -> Result<PathBuf, DevError> {
    path.canonicalize().map_err(|e| DevError::Io {
        what: format!("resolving {}", path.display()),
        source: e,
    })
}

/// The projects the chain uses and what each builds.
struct Plan {
    projects: Vec<Project>,
    built: Vec<BuiltLink>,
}

impl Plan {
    fn links_of(&self, project: usize) -> Vec<&str> {
        self.built
            .iter()
            .filter(|b| b.project == project)
            .map(|b| b.link.as_str())
            .collect()
    }

    fn used(&self) -> BTreeSet<usize> {
        self.built.iter().map(|b| b.project).collect()
    }
}

/// What one round of builds did.
#[derive(Default)]
struct Round {
    /// The projects that built (and were staged).
    built: BTreeSet<usize>,
    /// Wall time spent building.
    elapsed: Duration,
    /// Source files the builds reported, per project (JS: the bundle's).
    inputs: Vec<(usize, Vec<PathBuf>)>,
}

/// Build the projects at `indices` (one cargo run per workspace for crates,
/// one SDK build per JS/TS or Python project) and stage each component that
/// built.
async fn build_and_stage(
    plan: &Plan,
    indices: &BTreeSet<usize>,
    stage: &Stage,
    profile: &str,
) -> Result<Round, DevError> {
    let mut by_workspace: BTreeMap<&std::path::Path, Vec<usize>> = BTreeMap::new();
    let mut scripts = Vec::new();
    for &k in indices {
        match &plan.projects[k] {
            Project::Crate(c) => by_workspace
                .entry(c.workspace_root.as_path())
                .or_default()
                .push(k),
            Project::Script { .. } => scripts.push(k),
        }
    }
    let mut round = Round::default();
    for group in by_workspace.into_values() {
        let crates: Vec<&PluginCrate> = group
            .iter()
            .filter_map(|&k| match &plan.projects[k] {
                Project::Crate(c) => Some(c),
                Project::Script { .. } => None,
            })
            .collect();
        let names: Vec<&str> = crates.iter().map(|c| c.package.as_str()).collect();
        say(format!("{}: compiling…", names.join(", ")));
        let outcome = cargo::build(&crates, profile).await?;
        round.elapsed += outcome.elapsed;
        for ((k, krate), artifact) in group.iter().zip(&crates).zip(outcome.artifacts) {
            match artifact {
                Some(artifact) => {
                    stage.put_component(&krate.lib_name, &artifact)?;
                    say(format!(
                        "{}: built in {}",
                        krate.package,
                        secs(outcome.elapsed)
                    ));
                    round.built.insert(*k);
                }
                None => say(format!(
                    "{}: build failed after {} (compiler output above); the previous version keeps serving",
                    krate.package,
                    secs(outcome.elapsed)
                )),
            }
        }
    }
    for k in scripts {
        let Project::Script { project, toolchain } = &plan.projects[k] else {
            continue;
        };
        say(format!(
            "{}: building ({})…",
            project.name,
            match project.lang {
                Lang::Python => "Python, componentize-py",
                _ => "JavaScript/TypeScript",
            }
        ));
        let started = Instant::now();
        let out = stage.component_path(&project.stem);
        let result = match project.lang {
            Lang::Python => crate::build::python::build(toolchain, &project.dir, &out).await,
            _ => crate::build::js::build(toolchain, &project.dir, &out, None).await,
        };
        let took = started.elapsed();
        round.elapsed += took;
        match result {
            Ok(built) => {
                say(format!(
                    "{}: built in {} ({})",
                    project.name,
                    secs(took),
                    built.detail
                ));
                round.built.insert(k);
                round.inputs.push((k, built.inputs));
            }
            Err(BuildError::Failed(message)) => {
                for line in message.lines() {
                    eprintln!("{}: {line}", project.name);
                }
                say(format!(
                    "{}: build failed after {} (errors above); the previous version keeps serving",
                    project.name,
                    secs(took)
                ));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(round)
}

/// Everything prepared before serving: the plan, the watches and the staged
/// directory (removed when this is dropped, however `dev` stops).
struct Session {
    plan: Plan,
    stage: Stage,
    changes: mpsc::UnboundedReceiver<Change>,
    sources: Sources,
}

/// Run the dev loop until `shutdown` completes. Shutdown is honoured in every
/// phase: while finding crates, during a build (cargo and its compilers are
/// killed) and while serving (in-flight requests drain).
pub async fn run(opts: DevOptions, shutdown: impl Future<Output = ()>) -> Result<(), DevError> {
    tokio::pin!(shutdown);
    let mut session = tokio::select! {
        session = prepare(&opts) => session?,
        () = &mut shutdown => return Ok(()),
    };
    let mut serve = opts.serve.clone();
    serve.config_dir = session.stage.dir().to_owned();
    serve.watch.events = false;
    serve.watch.poll_interval = None;
    let server = Server::start(serve).await?;
    say(format!(
        "serving http://{} (admin http://{}, next hop {})",
        server.proxy_addr(),
        server.admin_addr(),
        opts.serve.next_hop
    ));
    say(
        "edit a plugin's source and save: it is rebuilt and swapped in while the server keeps running",
    );
    let result = loop {
        let batch = tokio::select! {
            () = &mut shutdown => break Ok(()),
            batch = next_batch(&mut session.changes, opts.debounce) => batch,
        };
        let (first_event, changes) = batch.into_parts();
        let applied = apply(
            &session.plan,
            &session.stage,
            &mut session.sources,
            &server,
            &opts.profile,
            first_event,
            &changes,
        );
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            applied = applied => if let Err(e) = applied { break Err(e) },
        }
    };
    server.shutdown().await;
    result
}

/// Find the projects, watch them, stage the config directory and build every
/// plugin once (waiting for fixes while a first build fails).
async fn prepare(opts: &DevOptions) -> Result<Session, DevError> {
    let config_dir = canonical(&opts.serve.config_dir)?;
    let projects = find_projects(opts).await?;
    let (built, as_is) = stage::links_with_sources(&config_dir, &projects)?;
    if built.is_empty() {
        let known: Vec<_> = projects.iter().map(Project::stem).collect();
        return Err(DevError::NothingToWatch(format!(
            "no link in {} names a module built by a known project (module file stems must match a crate or project: {known:?}); pass --plugin DIR",
            config_dir.display()
        )));
    }
    let plan = Plan { projects, built };
    for k in plan.used() {
        let p = &plan.projects[k];
        say(format!(
            "watching {} ({}, {}) for link {}",
            p.name(),
            p.lang(),
            p.dir().display(),
            plan.links_of(k).join(", ")
        ));
    }
    let shared: BTreeSet<PathBuf> = plan
        .used()
        .into_iter()
        .flat_map(|k| plan.projects[k].dependency_dirs())
        .collect();
    for dir in shared {
        say(format!("watching {} (a local dependency)", dir.display()));
    }
    for link in &as_is {
        say(format!(
            "link {link}: no source project found; its module is served as it is"
        ));
    }

    let (tx, mut changes) = mpsc::unbounded_channel();
    let dirs = sources::source_dirs(
        plan.used()
            .into_iter()
            .map(|k| (k, plan.projects[k].source_dirs())),
    );
    let mut sources = Sources::watch(dirs, config_dir.clone(), tx)?;
    let stage = Stage::new(config_dir, opts.stage_dir.clone());
    stage.refresh(&plan.projects, &plan.built)?;

    // First builds: the server starts once every component exists.
    let mut pending: BTreeSet<usize> = plan.used();
    loop {
        let round = build_and_stage(&plan, &pending, &stage, &opts.profile).await?;
        for (k, inputs) in &round.inputs {
            sources.cover(*k, inputs)?;
        }
        pending.retain(|k| !round.built.contains(k));
        if pending.is_empty() {
            break;
        }
        say("fix the errors above and save; edgechain dev starts serving once every plugin builds");
        let batch = next_batch(&mut changes, opts.debounce).await;
        if batch.contains(&Change::Config) {
            stage.refresh(&plan.projects, &plan.built)?;
        }
    }
    Ok(Session {
        plan,
        stage,
        changes,
        sources,
    })
}

/// Rebuild what `changes` touch, then swap the result in with one reload.
async fn apply(
    plan: &Plan,
    stage: &Stage,
    sources: &mut Sources,
    server: &Server,
    profile: &str,
    first_event: Instant,
    changes: &BTreeSet<Change>,
) -> Result<(), DevError> {
    let mut swapped = Vec::new();
    if changes.contains(&Change::Config) {
        stage.refresh(&plan.projects, &plan.built)?;
        swapped.push("config".to_owned());
    }
    let used = plan.used();
    let rebuild: BTreeSet<usize> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Project(k) if used.contains(k) => Some(*k),
            _ => None,
        })
        .collect();
    let round = build_and_stage(plan, &rebuild, stage, profile).await?;
    for (k, inputs) in &round.inputs {
        sources.cover(*k, inputs)?;
    }
    for k in round.built {
        let links = plan.links_of(k).join(", ");
        swapped.push(format!("{} (link {links})", plan.projects[k].name()));
    }
    if !swapped.is_empty() {
        let report = server.reloader().reload(Trigger::Dev).await;
        report_reload(
            &report,
            stage,
            &swapped,
            first_event.elapsed(),
            round.elapsed,
        );
    }
    Ok(())
}

fn report_reload(
    report: &ReloadReport,
    stage: &Stage,
    swapped: &[String],
    edit_to_live: Duration,
    build: Duration,
) {
    let load = Duration::from_secs_f64(report.elapsed_ms / 1e3);
    if !report.errors.is_empty() {
        say("the new chain did not load; the previous one keeps serving:");
        for e in &report.errors {
            say(format!("  {}", stage.in_user_terms(e)));
        }
    } else if report.changed {
        say(format!(
            "live in {} after the edit (build {}, load {}): {}",
            secs(edit_to_live),
            secs(build),
            secs(load),
            swapped.join(", ")
        ));
    } else {
        say("rebuilt; the components are unchanged, nothing to swap");
    }
}

/// Changes gathered until `debounce` passes without a new one.
struct Batch {
    first_event: Instant,
    changes: BTreeSet<Change>,
}

impl Batch {
    fn contains(&self, change: &Change) -> bool {
        self.changes.contains(change)
    }

    fn into_parts(self) -> (Instant, BTreeSet<Change>) {
        (self.first_event, self.changes)
    }
}

async fn next_batch(rx: &mut mpsc::UnboundedReceiver<Change>, debounce: Duration) -> Batch {
    let first = rx.recv().await;
    let first_event = Instant::now();
    let mut changes: BTreeSet<Change> = first.into_iter().collect();
    if changes.is_empty() {
        // The watcher is gone; nothing will ever arrive.
        std::future::pending::<()>().await;
    }
    while let Ok(Some(c)) = tokio::time::timeout(debounce, rx.recv()).await {
        changes.insert(c);
    }
    Batch {
        first_event,
        changes,
    }
}
