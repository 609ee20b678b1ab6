//! A whole chain: loading every link of a manifest into an immutable
//! [`ChainSnapshot`], and walking requests through it (see [`walk`]).
//!
//! A snapshot is built completely (files read, components compiled and
//! type-checked, every `init` called) before anyone can see it, so publishing
//! it is one pointer swap and requests never observe a half-loaded chain.

pub mod walk;

use crate::config::{ConfigSource, LinkSpec, Manifest, ManifestError};
use crate::engine::Runtime;
use crate::kv::KvStore;
use crate::limits::HeadLimits;
use crate::plugin::preinit::{self, PreinitError};
use crate::plugin::{Filter, Handler, Link, LinkError, Loaded};
use crate::telemetry::metrics::PluginMetrics;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// An immutable, fully loaded chain.
#[derive(Debug)]
pub struct ChainSnapshot {
    filters: Vec<Filter>,
    terminal: Option<Handler>,
    limits: HeadLimits,
    /// The largest `max_body_bytes` of the links that read the request body.
    request_body_limit: Option<u64>,
    hash: String,
    files: Vec<(PathBuf, String)>,
    cache_keys: Vec<[u8; 32]>,
    loaded_at: SystemTime,
    dir: PathBuf,
}

impl ChainSnapshot {
    /// A chain with no links: requests go straight to the next hop.
    pub fn empty() -> ChainSnapshot {
        ChainSnapshot {
            filters: Vec::new(),
            terminal: None,
            limits: HeadLimits::default(),
            request_body_limit: None,
            hash: hex(&Sha256::digest(b"")),
            files: Vec::new(),
            cache_keys: Vec::new(),
            loaded_at: SystemTime::now(),
            dir: PathBuf::new(),
        }
    }

    /// The links in request order.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        let filters = self.filters.iter().map(|f| &**f);
        filters.chain(self.terminal.iter().map(|h| &**h))
    }

    /// How many links the chain has.
    pub fn link_count(&self) -> usize {
        self.filters.len() + usize::from(self.terminal.is_some())
    }

    /// The links that filter: all but a terminal `wasi:http` handler.
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    /// The `wasi:http` handler that answers instead of the next hop, if the
    /// chain ends in one.
    pub fn terminal(&self) -> Option<&Handler> {
        self.terminal.as_ref()
    }

    /// The head limits a link's decision must keep.
    pub fn head_limits(&self) -> &HeadLimits {
        &self.limits
    }

    /// How much request body to read before the walk: the largest
    /// `max_body_bytes` among links that need the body, computed at load.
    pub fn request_body_limit(&self) -> Option<u64> {
        self.request_body_limit
    }

    /// SHA-256 over the manifest, every file it names and every file of a
    /// granted `config_dir`, hex: equal hashes mean the same chain.
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Every file the chain was built from (relative to its directory), with
    /// its content hash.
    pub fn files(&self) -> &[(PathBuf, String)] {
        &self.files
    }

    /// The compile-cache and snapshot-cache keys of the components in use
    /// (to trim those caches when this chain goes live).
    pub fn cache_keys(&self) -> &[[u8; 32]] {
        &self.cache_keys
    }

    /// When this snapshot finished loading.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// The directory it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Files that differ between `self` (old) and `new`, as `changed x`,
    /// `added x` or `removed x`, for reload logs.
    pub fn changes_to(&self, new: &ChainSnapshot) -> Vec<String> {
        use std::collections::HashMap;
        // A granted directory may list thousands of files.
        let old: HashMap<_, _> = self.files.iter().map(|(p, h)| (p, h)).collect();
        let kept: HashMap<_, _> = new.files.iter().map(|(p, h)| (p, h)).collect();
        let mut out = Vec::new();
        for (path, hash) in &new.files {
            match old.get(path) {
                Some(&old) if old == hash => {}
                Some(_) => out.push(format!("changed {}", path.display())),
                None => out.push(format!("added {}", path.display())),
            }
        }
        for (path, _) in &self.files {
            if !kept.contains_key(path) {
                out.push(format!("removed {}", path.display()));
            }
        }
        out
    }
}

/// The content of a config directory, read and hashed but not yet compiled:
/// enough to decide whether anything changed.
pub struct ChainSource {
    dir: PathBuf,
    manifest: Manifest,
    hash: String,
    files: Vec<(PathBuf, String)>,
    links: Vec<Result<LinkFiles, LinkLoadError>>,
}

impl ChainSource {
    /// The content hash the chain built from this source will have. It also
    /// covers files that could not be read, so fixing one changes the hash.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

/// Directories to watch for a config directory: the directory itself, every
/// directory its manifest names files in, and every granted `config_dir`
/// with the directories inside it (what `init` may read). Works without a
/// valid manifest.
pub fn watch_dirs(dir: &Path, module_dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = vec![dir.to_owned()];
    let add = |path: &Path, dirs: &mut Vec<PathBuf>| {
        if !dirs.iter().any(|d| d == path) {
            dirs.push(path.to_owned());
        }
    };
    if let Ok((manifest, _)) = Manifest::load(dir, module_dirs) {
        for link in &manifest.links {
            let mut paths = vec![link.module.clone()];
            if let ConfigSource::File(p) = &link.config {
                paths.push(p.clone());
            }
            for p in paths {
                if let Some(parent) = dir.join(p).parent() {
                    add(parent, &mut dirs);
                }
            }
            if let Some(granted) = &link.grants.config_dir {
                let root = dir.join(granted);
                add(&root, &mut dirs);
                if let Ok(tree) = GrantedTree::walk(&root) {
                    for sub in &tree.dirs {
                        add(&root.join(sub), &mut dirs);
                    }
                }
            }
        }
    }
    dirs
}

/// Most entries (files and directories) of a granted `config_dir` read to
/// hash it; a larger tree fails the link's load rather than being hashed in
/// part (a change in the part left out would never reload).
pub const MAX_GRANTED_ENTRIES: usize = 10_000;

/// Deepest directory level of a granted `config_dir` that is read.
pub const MAX_GRANTED_DEPTH: usize = 16;

/// What a granted `config_dir` holds, as `init` can see it: every regular
/// file reachable inside it, by path relative to it, and every directory.
/// Entries named `..*` (the kubelet's `..data` and its timestamped
/// directories) are not walked themselves; the visible names linking into
/// them are, so a ConfigMap update shows as the files that changed. Links
/// resolving outside the directory are left out, as the guest cannot follow
/// them either.
struct GrantedTree {
    /// Files in path order, with their SHA-256 (or the read error's text).
    files: Vec<(PathBuf, [u8; 32])>,
    /// Directories below the root.
    dirs: Vec<PathBuf>,
}

impl GrantedTree {
    fn walk(root: &Path) -> Result<GrantedTree, String> {
        let canonical_root = std::fs::canonicalize(root).map_err(|e| e.to_string())?;
        if !canonical_root.is_dir() {
            return Err("not a directory".into());
        }
        let mut tree = GrantedTree {
            files: Vec::new(),
            dirs: Vec::new(),
        };
        let mut entries = 0;
        tree.visit(&canonical_root, Path::new(""), 0, &mut entries)?;
        Ok(tree)
    }

    fn visit(
        &mut self,
        root: &Path,
        rel: &Path,
        depth: usize,
        entries: &mut usize,
    ) -> Result<(), String> {
        let here = root.join(rel);
        let listing = std::fs::read_dir(&here).map_err(|e| format!("{}: {e}", here.display()))?;
        let mut names: Vec<_> = listing
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        names.sort();
        for name in names {
            if name.as_encoded_bytes().starts_with(b"..") {
                continue;
            }
            *entries += 1;
            if *entries > MAX_GRANTED_ENTRIES {
                return Err(format!(
                    "holds more than {MAX_GRANTED_ENTRIES} entries; grant a smaller directory"
                ));
            }
            let path = here.join(&name);
            let inside = std::fs::canonicalize(&path).is_ok_and(|p| p.starts_with(root));
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !inside {
                continue;
            }
            let rel = rel.join(&name);
            if meta.is_dir() {
                if depth + 1 >= MAX_GRANTED_DEPTH {
                    return Err(format!(
                        "{}: deeper than {MAX_GRANTED_DEPTH} levels",
                        rel.display()
                    ));
                }
                self.dirs.push(rel.clone());
                self.visit(root, &rel, depth + 1, entries)?;
            } else if meta.is_file() {
                // Only regular files: reading a FIFO would block the load.
                let digest = match std::fs::read(&path) {
                    Ok(bytes) => Sha256::digest(&bytes).into(),
                    Err(e) => Sha256::digest(e.to_string().as_bytes()).into(),
                };
                self.files.push((rel, digest));
            }
        }
        Ok(())
    }

    /// One hash over every path and content, so a rename changes it too.
    fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for (path, digest) in &self.files {
            let path = path.as_os_str().as_encoded_bytes();
            h.update((path.len() as u64).to_le_bytes());
            h.update(path);
            h.update(digest);
        }
        h.finalize().into()
    }
}

/// One link that could not be loaded.
#[derive(Debug)]
pub struct LinkLoadError {
    /// The link's name.
    pub link: String,
    /// The file at fault (module or config).
    pub file: PathBuf,
    /// What is wrong, for the operator.
    pub reason: String,
}

impl fmt::Display for LinkLoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: link `{}`: {}",
            self.file.display(),
            self.link,
            self.reason
        )
    }
}

/// Why a chain could not be loaded. Nothing is published on error.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The manifest itself is unreadable or invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// One or more links failed; every failure is listed, not just the first.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Links(Vec<LinkLoadError>),
    /// The chain loaded, but the instance bound (`--max-instances`) is
    /// smaller than what one request through it holds: served, it would
    /// answer every request 503.
    #[error(
        "{manifest}: one request through this chain holds an instance of each of its {links} links, but --max-instances is {bound}: every request would be answered 503; raise --max-instances to at least {links}",
        manifest = .manifest.display()
    )]
    TooFewInstances {
        /// The manifest.
        manifest: PathBuf,
        /// Links in the chain.
        links: usize,
        /// The bound.
        bound: u32,
    },
}

impl LoadError {
    /// Each problem as its own line, for `validate` and logs.
    pub fn messages(&self) -> Vec<String> {
        match self {
            LoadError::Manifest(e) => vec![e.to_string()],
            LoadError::Links(errors) => errors.iter().map(ToString::to_string).collect(),
            LoadError::TooFewInstances { .. } => vec![self.to_string()],
        }
    }
}

/// Builds snapshots. Holds what outlives one chain: the engine (and its
/// compile cache) and the key-value store.
#[derive(Clone)]
pub struct ChainLoader {
    runtime: Runtime,
    kv: KvStore,
    outbound: Arc<crate::outbound::Outbound>,
    metrics: Arc<PluginMetrics>,
    module_dirs: Arc<[PathBuf]>,
    load_timeout: Duration,
    limits: HeadLimits,
    /// `--max-instances`, when the chains built are to be served.
    instance_bound: Option<u32>,
}

/// Default bound on building one chain (compiling and initialising every
/// link); a load that takes longer is rejected.
pub const DEFAULT_LOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// One link's files, read and hashed.
struct LinkFiles {
    module: Vec<u8>,
    module_hash: [u8; 32],
    config: Arc<str>,
    config_hash: [u8; 32],
    /// The granted `config_dir`'s files and one hash over them all, if the
    /// link has one.
    granted: Option<(GrantedFiles, [u8; 32])>,
}

/// Files of a granted `config_dir`, by path relative to the config
/// directory, with their SHA-256.
type GrantedFiles = Vec<(PathBuf, [u8; 32])>;

impl ChainLoader {
    /// A loader using `runtime` and `kv`; plugins it loads count their
    /// failures in `metrics`.
    pub fn new(runtime: Runtime, kv: KvStore, metrics: Arc<PluginMetrics>) -> ChainLoader {
        ChainLoader {
            runtime,
            kv,
            outbound: crate::outbound::Outbound::new(metrics.clone()),
            metrics,
            module_dirs: Arc::from([]),
            load_timeout: DEFAULT_LOAD_TIMEOUT,
            limits: HeadLimits::default(),
            instance_bound: None,
        }
    }

    /// Refuse a chain that `max_instances` instances at once cannot serve a
    /// single request through (the server's `--max-instances`): it would
    /// start, report ready, and answer every request 503.
    pub fn with_instance_bound(mut self, max_instances: u32) -> ChainLoader {
        self.instance_bound = Some(max_instances);
        self
    }

    /// Reject a chain whose links take longer than `timeout` to compile and
    /// initialise altogether (each `init` also has its own budget).
    pub fn with_load_timeout(mut self, timeout: Duration) -> ChainLoader {
        self.load_timeout = timeout;
        self
    }

    /// The head limits the chains it builds enforce on plugin decisions.
    pub fn with_head_limits(mut self, limits: HeadLimits) -> ChainLoader {
        self.limits = limits;
        self
    }

    /// Also accept absolute module paths inside `dirs` (`--module-dir`).
    pub fn with_module_dirs(mut self, dirs: Vec<PathBuf>) -> ChainLoader {
        self.module_dirs = dirs.into();
        self
    }

    /// Directories absolute module paths may point into.
    pub fn module_dirs(&self) -> &[PathBuf] {
        &self.module_dirs
    }

    /// The engine.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Load `dir/proxychain.json` and everything it names into a snapshot.
    pub async fn load(&self, dir: &Path) -> Result<ChainSnapshot, LoadError> {
        let source = self.read(dir).await?;
        self.build(source).await
    }

    /// Read and hash the manifest and every file it names (in a blocking task).
    pub async fn read(&self, dir: &Path) -> Result<ChainSource, LoadError> {
        let dir = dir.to_owned();
        let module_dirs = self.module_dirs.clone();
        tokio::task::spawn_blocking(move || read_all(&dir, &module_dirs))
            .await
            .map_err(|e| join_error(&e))?
    }

    /// Compile, type-check and `init` every link of `source`.
    pub async fn build(&self, source: ChainSource) -> Result<ChainSnapshot, LoadError> {
        let started = Instant::now();
        let ChainSource {
            dir,
            manifest,
            hash,
            files,
            links: link_files,
        } = source;
        let mut links: Vec<Loaded> = Vec::with_capacity(manifest.links.len());
        let mut errors = Vec::new();
        let mut cache_keys = Vec::new();
        for (spec, read) in manifest.links.into_iter().zip(link_files) {
            let read = match read {
                Ok(f) => f,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let (name, module) = (spec.name.clone(), dir.join(&spec.module));
            let left = self.load_timeout.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, self.load_link(&dir, spec, read)).await {
                Ok(Ok((link, keys))) => {
                    links.push(link);
                    cache_keys.extend(keys);
                }
                Ok(Err(e)) => errors.push(e),
                Err(_) => {
                    errors.push(LinkLoadError {
                        link: name,
                        file: module,
                        reason: format!(
                            "the chain did not load within its load timeout ({:?}); this link was still loading and later links were not tried",
                            self.load_timeout
                        ),
                    });
                    break;
                }
            }
        }
        // A handler answers the request: nothing can come after it.
        let count = links.len();
        let mut filters = Vec::with_capacity(count);
        let mut terminal = None;
        for (i, loaded) in links.into_iter().enumerate() {
            match loaded {
                Loaded::Filter(f) => filters.push(*f),
                Loaded::Handler(h) if i + 1 == count => terminal = Some(*h),
                Loaded::Handler(h) => errors.push(LinkLoadError {
                    link: h.name().to_owned(),
                    file: dir.join(&h.spec().module),
                    reason: "a wasi:http handler answers the request, so it must be the last link of the chain".into(),
                }),
            }
        }
        if !errors.is_empty() {
            return Err(LoadError::Links(errors));
        }
        // Each link holds an instance from its `on-request` until the
        // response is done (a `reuse` link's then waits idle in its pool,
        // still holding its slot), so one request needs one per link.
        if let Some(bound) = self.instance_bound
            && count > bound as usize
        {
            return Err(LoadError::TooFewInstances {
                manifest: dir.join(crate::config::MANIFEST_FILE),
                links: count,
                bound,
            });
        }
        let request_body_limit = filters
            .iter()
            .filter(|l| l.needs().request_body)
            .map(|l| l.spec().max_body_bytes)
            .max();
        let snapshot = ChainSnapshot {
            request_body_limit,
            limits: self.limits,
            filters,
            terminal,
            hash,
            files,
            cache_keys,
            loaded_at: SystemTime::now(),
            dir,
        };
        tracing::debug!(
            dir = %snapshot.dir.display(),
            links = snapshot.link_count(),
            hash = %snapshot.hash,
            elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
            "chain built"
        );
        Ok(snapshot)
    }

    /// Compile one link (pre-initialised when possible) and load it; the
    /// cache keys it uses.
    async fn load_link(
        &self,
        dir: &Path,
        spec: LinkSpec,
        files: LinkFiles,
    ) -> Result<(Loaded, Vec<[u8; 32]>), LinkLoadError> {
        let module_path = dir.join(&spec.module);
        let config_file = match &spec.config {
            ConfigSource::File(p) => Some(dir.join(p)),
            _ => None,
        };
        let fail = |file: &Path, reason: String| LinkLoadError {
            link: spec.name.clone(),
            file: file.to_owned(),
            reason,
        };
        let plugin_error = |e: LinkError| {
            let file = match (&e, &config_file) {
                (LinkError::InitRejected(_), Some(cfg)) => cfg.clone(),
                _ => module_path.clone(),
            };
            fail(&file, e.to_string())
        };
        let kv = self.kv.namespace(&spec.name);
        let context = crate::plugin::link_context(
            &self.runtime,
            dir,
            &spec,
            files.config,
            kv,
            self.outbound.clone(),
        );
        let bytes: Arc<[u8]> = files.module.into();
        let mut keys = vec![files.module_hash];
        let mut declared = None;
        let mut component = None;
        if self.runtime.preinit() {
            let mut key = preinit::key(&files.module_hash, &context, &spec);
            if let Some((_, granted)) = &files.granted {
                // What `init` read from `/config` is in the snapshot: a
                // change there must not hit the old one.
                key = Sha256::digest([key, *granted].concat()).into();
            }
            let taken = match self.runtime.snapshot(&key) {
                Some(s) => Ok(s),
                None => {
                    let budget = Duration::from_millis(spec.init_timeout_ms);
                    let config = context.config.clone();
                    preinit::snapshot(
                        &self.runtime,
                        bytes.clone(),
                        context.clone(),
                        config,
                        budget,
                    )
                    .await
                }
            };
            match taken {
                Ok(snapshot) => {
                    self.runtime.keep_snapshot(key, snapshot.clone());
                    keys.extend([key, snapshot.content_hash]);
                    declared = Some(snapshot.needs);
                    component = Some(snapshot.component);
                }
                Err(PreinitError::Unsupported(why)) => {
                    tracing::debug!(link = %spec.name, reason = %why, "serving the plugin without a snapshot");
                }
                Err(PreinitError::Rejected(why)) => {
                    return Err(plugin_error(LinkError::InitRejected(why)));
                }
                Err(PreinitError::Init(failure)) => {
                    return Err(plugin_error(LinkError::InitFailed(failure)));
                }
            }
        }
        let component = match component {
            Some(c) => c,
            None => {
                let runtime = self.runtime.clone();
                tokio::task::spawn_blocking(move || runtime.compile(&bytes))
                    .await
                    .map_err(|e| fail(&module_path, format!("compiler task failed: {e}")))?
                    .map_err(|e| fail(&module_path, e.to_string()))?
            }
        };
        let metrics = self.metrics.clone();
        let link = crate::plugin::load(
            &self.runtime,
            spec.clone(),
            context,
            &component,
            declared,
            metrics,
        )
        .await
        .map_err(plugin_error)?;
        Ok((link, keys))
    }
}

/// All filesystem work of a load, done in one blocking task.
fn read_all(dir: &Path, module_dirs: &[PathBuf]) -> Result<ChainSource, LoadError> {
    let (manifest, manifest_bytes) = Manifest::load(dir, module_dirs)?;
    let manifest_hash = Sha256::digest(&manifest_bytes);
    let mut hasher = Sha256::new();
    hasher.update(manifest_hash);
    let mut files = vec![(
        PathBuf::from(crate::config::MANIFEST_FILE),
        hex(&manifest_hash),
    )];
    let links: Vec<_> = manifest.links.iter().map(|l| read_link(dir, l)).collect();
    let mut listed = std::collections::HashSet::new();
    for (spec, link) in manifest.links.iter().zip(&links) {
        match link {
            Ok(f) => {
                hasher.update(f.module_hash);
                hasher.update(f.config_hash);
                files.push((spec.module.clone(), hex(&f.module_hash)));
                if let ConfigSource::File(p) = &spec.config {
                    files.push((p.clone(), hex(&f.config_hash)));
                }
                if let Some((granted, hash)) = &f.granted {
                    hasher.update(hash);
                    // Two links may grant the same directory: list it once.
                    for (path, digest) in granted {
                        if listed.insert(path.clone()) {
                            files.push((path.clone(), hex(digest)));
                        }
                    }
                }
            }
            Err(e) => hasher.update(e.to_string().as_bytes()),
        }
    }
    Ok(ChainSource {
        dir: dir.to_owned(),
        manifest,
        hash: hex(&hasher.finalize()),
        files,
        links,
    })
}

fn read_link(dir: &Path, spec: &LinkSpec) -> Result<LinkFiles, LinkLoadError> {
    let module_path = dir.join(&spec.module);
    let module = std::fs::read(&module_path).map_err(|e| LinkLoadError {
        link: spec.name.clone(),
        file: module_path.clone(),
        reason: format!("cannot read module: {e}"),
    })?;
    let config: String = match &spec.config {
        ConfigSource::None => "null".into(),
        ConfigSource::Inline(json) => json.clone(),
        ConfigSource::File(p) => {
            let path = dir.join(p);
            let fail = |reason: String| LinkLoadError {
                link: spec.name.clone(),
                file: path.clone(),
                reason,
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| fail(format!("cannot read config: {e}")))?;
            serde_json::from_str::<serde::de::IgnoredAny>(&text)
                .map_err(|e| fail(format!("config is not valid JSON: {e}")))?;
            text
        }
    };
    let granted = match &spec.grants.config_dir {
        None => None,
        Some(rel) => {
            let root = dir.join(rel);
            let tree = GrantedTree::walk(&root).map_err(|reason| LinkLoadError {
                link: spec.name.clone(),
                file: root.clone(),
                reason: format!("cannot read granted config_dir: {reason}"),
            })?;
            let hash = tree.hash();
            let files = tree
                .files
                .into_iter()
                .map(|(path, digest)| (rel.join(path), digest))
                .collect();
            Some((files, hash))
        }
    };
    Ok(LinkFiles {
        module_hash: Sha256::digest(&module).into(),
        config_hash: Sha256::digest(config.as_bytes()).into(),
        module,
        config: config.into(),
        granted,
    })
}

fn join_error(e: &tokio::task::JoinError) -> LoadError {
    LoadError::Links(vec![LinkLoadError {
        link: String::new(),
        file: PathBuf::new(),
        reason: format!("loader task failed: {e}"),
    }])
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) -> GrantedTree {
        GrantedTree::walk(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()))
    }

    #[test]
    fn a_granted_directory_hashes_what_the_guest_can_read() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path().join("granted");
        let write = |rel: &str, text: &str| {
            let path = root.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
            }
            std::fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
        };
        write("app.json", "{}");
        write("sub/rules.txt", "a");
        std::fs::write(dir.path().join("outside.txt"), "secret").unwrap_or_else(|e| panic!("{e}"));
        let first = tree(&root);
        let paths: Vec<_> = first.files.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(
            paths,
            [PathBuf::from("app.json"), PathBuf::from("sub/rules.txt")]
        );
        assert_eq!(first.dirs, [PathBuf::from("sub")]);

        write("sub/rules.txt", "b");
        let changed = tree(&root);
        assert_ne!(first.hash(), changed.hash(), "a nested file's content");

        std::fs::rename(root.join("app.json"), root.join("app2.json"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(changed.hash(), tree(&root).hash(), "a rename");

        // The kubelet's own entries are not walked, links out of the
        // directory are not followed; links inside are.
        let settled = tree(&root).hash();
        write("..2026_01_01/app.json", "x");
        std::os::unix::fs::symlink(dir.path().join("outside.txt"), root.join("escape"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settled, tree(&root).hash());
        std::os::unix::fs::symlink("..2026_01_01/app.json", root.join("linked"))
            .unwrap_or_else(|e| panic!("{e}"));
        let linked = tree(&root);
        assert!(
            linked.files.iter().any(|(p, _)| p == Path::new("linked")),
            "{:?}",
            linked.files
        );
    }

    #[test]
    fn granted_directories_are_watched_with_the_directories_inside() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path();
        std::fs::write(
            root.join(crate::config::MANIFEST_FILE),
            r#"{"proxychain":[{"name":"a","module":"m/a.wasm","grants":{"config_dir":"settings"}}]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir_all(root.join("settings/nested/deeper"))
            .unwrap_or_else(|e| panic!("{e}"));
        let dirs = watch_dirs(root, &[]);
        for want in [
            "",
            "m",
            "settings",
            "settings/nested",
            "settings/nested/deeper",
        ] {
            assert!(
                dirs.contains(&root.join(want).components().collect()),
                "{want}: {dirs:?}"
            );
        }
    }

    #[test]
    fn a_missing_granted_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert!(GrantedTree::walk(&dir.path().join("nope")).is_err());
    }
}
