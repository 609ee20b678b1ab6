//! Loading a manifest into a [`ChainSnapshot`]: every file read and hashed
//! in one blocking task, every component compiled (or pre-initialised) and
//! type-checked, every `init` called, before anyone can see the chain.

use super::granted::{GrantedFiles, GrantedTree};
use super::{ChainSnapshot, hex};
use crate::cache::Cache;
use crate::config::{CacheSpec, ConfigSource, LinkSpec, Manifest, ManifestError};
use crate::engine::Runtime;
use crate::kv::KvStore;
use crate::limits::HeadLimits;
use crate::plugin::preinit::{self, PreinitError};
use crate::plugin::{LinkError, Loaded};
use crate::telemetry::metrics::CacheMetrics;
use crate::telemetry::metrics::PluginMetrics;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

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
    /// The HTTP cache the last chain built with one uses: handed to the next
    /// chain whose cache settings are the same, so the store survives reloads.
    cache: Arc<std::sync::Mutex<Option<Arc<Cache>>>>,
    cache_metrics: Arc<CacheMetrics>,
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
            cache: Arc::default(),
            cache_metrics: Arc::default(),
        }
    }

    /// Count the HTTP cache's work in `metrics` (the process's registry).
    pub fn with_cache_metrics(mut self, metrics: Arc<CacheMetrics>) -> ChainLoader {
        self.cache_metrics = metrics;
        self
    }

    /// The cache for `spec`: the one in use when its settings are the same,
    /// else a new, empty one.
    fn cache_for(&self, spec: &CacheSpec) -> Arc<Cache> {
        let mut held = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        match &*held {
            Some(c) if c.spec() == spec => c.clone(),
            _ => {
                let c = Arc::new(Cache::new(spec.clone(), self.cache_metrics.clone()));
                *held = Some(c.clone());
                c
            }
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
        let cache_entry = manifest.cache.clone();
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
        if let Some((at, spec)) = &cache_entry
            && *at > filters.len()
        {
            errors.push(LinkLoadError {
                link: spec.name.clone(),
                file: dir.join(crate::config::MANIFEST_FILE),
                reason: "the cache must come before a wasi:http handler (a handler answers instead of the next hop, so it is what the cache stores)".into(),
            });
        }
        if !errors.is_empty() {
            return Err(LoadError::Links(errors));
        }
        let cache = cache_entry.map(|(at, spec)| (at, self.cache_for(&spec)));
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
            cache,
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
