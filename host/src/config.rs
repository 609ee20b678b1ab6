//! The chain manifest, `DIR/proxychain.json`, and everything that can be wrong
//! with it before any wasm is touched.
//!
//! Parsing is strict: unknown fields are errors (a typo must not silently fall
//! back to a default), and every error names the entry and the field.

use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// The manifest's file name inside the config directory.
pub const MANIFEST_FILE: &str = "proxychain.json";

/// Default per-call budget of a link's own time.
pub const DEFAULT_TIMEOUT_MS: u64 = 50;
/// Default own-time budget of `init` (config parsing, tables, regexes).
pub const DEFAULT_INIT_TIMEOUT_MS: u64 = 1000;
/// Largest accepted `max_warm` (the engine's `--max-instances` bounds all
/// instances together anyway).
pub const MAX_WARM: usize = 1024;

/// Largest accepted `timeout_ms` and `init_timeout_ms`.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Default memory cap of one plugin instance.
pub const DEFAULT_MEMORY_LIMIT_MB: u64 = 64;
/// Largest accepted `memory_limit_mb` (the engine reserves this per slot).
pub const MAX_MEMORY_LIMIT_MB: u64 = 1024;
/// Default largest body a link that asked for bodies is given.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;

/// Why a manifest was rejected. Every variant says where.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The manifest is not JSON of the expected top-level shape.
    #[error("{path}: {source}")]
    Syntax {
        /// The manifest path.
        path: PathBuf,
        /// The JSON error, with line and column.
        source: serde_json::Error,
    },
    /// One chain entry is malformed.
    #[error("{path}: proxychain[{index}]{name}: {reason}", name = display_name(name))]
    Entry {
        /// The manifest path.
        path: PathBuf,
        /// Position of the entry in the `proxychain` list.
        index: usize,
        /// The entry's name, if it had a readable one.
        name: Option<String>,
        /// What is wrong.
        reason: String,
    },
}

fn display_name(name: &Option<String>) -> String {
    name.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
}

/// What happens to a request when a link fails (trap, timeout, memory cap,
/// invalid decision).
#[derive(Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Answer the client with a 5xx at once.
    #[default]
    FailClosed,
    /// Skip the link, as if it had said `next`.
    FailOpen,
}

impl OnError {
    /// The manifest's spelling (`fail-closed`, `fail-open`).
    pub fn as_str(self) -> &'static str {
        match self {
            OnError::FailClosed => "fail-closed",
            OnError::FailOpen => "fail-open",
        }
    }
}

/// The manifest's spelling, so that a log line printing the policy (with
/// `?` or `%`) says what the operator wrote, not the Rust variant's name.
impl std::fmt::Debug for OnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for OnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a link gets its component instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceMode {
    /// A fresh instance per request: no state survives a request.
    #[default]
    PerRequest,
    /// A pool of warm instances, each serving one request at a time; state in
    /// the plugin survives between requests. Never reused after a failure.
    Reuse,
}

/// A plugin's configuration as written in the manifest.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigSource {
    /// No `config` field: the plugin gets `null`.
    None,
    /// Inline JSON (anything but a string), serialised back to text.
    Inline(String),
    /// A file, relative to the config directory, holding JSON text.
    File(PathBuf),
}

/// What a link's sandbox may reach beyond its own memory. Nothing by default.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Grants {
    /// A subdirectory of the config directory the plugin may read, mapped
    /// read-only at [`GUEST_CONFIG_DIR`] in the guest.
    pub config_dir: Option<PathBuf>,
    /// Host environment variables the plugin may read (values taken at load).
    pub env: Vec<String>,
    /// Authorities (`host:port`) the plugin may send HTTP requests to.
    pub http: Vec<String>,
}

/// Where a granted `config_dir` appears inside the guest.
pub const GUEST_CONFIG_DIR: &str = "/config";

/// One link of the chain, as validated from the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkSpec {
    /// Unique name, `[a-z0-9-]+`; also the plugin's key-value namespace.
    pub name: String,
    /// Component file, relative to the config directory.
    pub module: PathBuf,
    /// Where the plugin's configuration comes from.
    pub config: ConfigSource,
    /// Own-time budget for one hook call.
    pub timeout_ms: u64,
    /// Own-time budget for instantiating and running `init` at load.
    pub init_timeout_ms: u64,
    /// Cap on one instance's memories and tables together.
    pub memory_limit_mb: u64,
    /// Failure policy.
    pub on_error: OnError,
    /// Instance mode.
    pub instance: InstanceMode,
    /// Largest body handed to this link when it asked for bodies.
    pub max_body_bytes: u64,
    /// Most idle instances a `reuse` link keeps warm; `None`: the host's
    /// default for the link's measured memory (see `plugin::default_max_warm`).
    pub max_warm: Option<usize>,
    /// Access granted beyond the default sandbox.
    pub grants: Grants,
}

/// The parsed manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The links in request order.
    pub links: Vec<LinkSpec>,
    /// The HTTP cache entry, if the chain has one, and how many links come
    /// before it (they run on every request; the ones after it on misses).
    pub cache: Option<(usize, CacheSpec)>,
}

/// Default byte budget of the cache store.
pub const DEFAULT_CACHE_MAX_SIZE_MB: u64 = 256;
/// Default largest object the cache stores.
pub const DEFAULT_CACHE_MAX_OBJECT_MB: u64 = 8;
/// Default targeted cache-control field (RFC 9213) for edgechain.
pub const DEFAULT_CACHE_TARGETED_FIELD: &str = "edgechain-cache-control";
/// Default share of the time since `Last-Modified` given as heuristic freshness.
pub const DEFAULT_CACHE_HEURISTIC_PERCENT: u32 = 10;
/// Default time a key whose response was not storable skips collapsing.
pub const DEFAULT_CACHE_HIT_FOR_PASS_S: u64 = 10;
/// Default time a stale response with validators is kept for revalidation.
pub const DEFAULT_CACHE_KEEP_STALE_S: u64 = 3600;

/// The cache entry's settings (`{"name": "cache", "cache": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheSpec {
    /// The entry's name (for logs and errors).
    pub name: String,
    /// Byte budget of the store, MiB.
    pub max_size_mb: u64,
    /// Largest object stored, MiB; larger responses pass through uncached.
    pub max_object_mb: u64,
    /// Whether responses with `Set-Cookie` are stored (the cookie is not).
    pub store_set_cookie: bool,
    /// The targeted field for edgechain (lower case).
    pub targeted_field: String,
    /// Heuristic freshness: this percent of the time since `Last-Modified`.
    pub heuristic_percent: u32,
    /// Seconds a key whose response was not storable skips collapsing.
    pub hit_for_pass_s: u64,
    /// Seconds a stale response with validators is kept for revalidation.
    pub keep_stale_s: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCacheEntry {
    name: String,
    cache: RawCache,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCache {
    #[serde(default)]
    max_size_mb: Option<u64>,
    #[serde(default)]
    max_object_mb: Option<u64>,
    #[serde(default)]
    store_set_cookie: bool,
    #[serde(default)]
    targeted_field: Option<String>,
    #[serde(default)]
    heuristic_percent: Option<u32>,
    #[serde(default)]
    hit_for_pass_s: Option<u64>,
    #[serde(default)]
    keep_stale_s: Option<u64>,
}

fn validate_cache(raw: RawCacheEntry) -> Result<CacheSpec, String> {
    validate_name(&raw.name)?;
    let c = raw.cache;
    let max_size_mb = c.max_size_mb.unwrap_or(DEFAULT_CACHE_MAX_SIZE_MB);
    if !(1..=1024 * 1024).contains(&max_size_mb) {
        return Err(format!(
            "cache.max_size_mb: {max_size_mb} is not in 1..=1048576"
        ));
    }
    let max_object_mb = c
        .max_object_mb
        .unwrap_or(DEFAULT_CACHE_MAX_OBJECT_MB.min(max_size_mb));
    if !(1..=max_size_mb).contains(&max_object_mb) {
        return Err(format!(
            "cache.max_object_mb: {max_object_mb} is not in 1..=max_size_mb ({max_size_mb})"
        ));
    }
    let targeted = c
        .targeted_field
        .unwrap_or_else(|| DEFAULT_CACHE_TARGETED_FIELD.into());
    let lower = targeted.to_ascii_lowercase();
    if http::HeaderName::from_bytes(lower.as_bytes()).is_err()
        || ["cache-control", "cdn-cache-control", "surrogate-control"].contains(&lower.as_str())
    {
        return Err(format!(
            "cache.targeted_field: `{targeted}` must be a field name other than Cache-Control, CDN-Cache-Control and Surrogate-Control"
        ));
    }
    let heuristic_percent = c
        .heuristic_percent
        .unwrap_or(DEFAULT_CACHE_HEURISTIC_PERCENT);
    if heuristic_percent > 100 {
        return Err(format!(
            "cache.heuristic_percent: {heuristic_percent} is not in 0..=100"
        ));
    }
    let hit_for_pass_s = c.hit_for_pass_s.unwrap_or(DEFAULT_CACHE_HIT_FOR_PASS_S);
    let keep_stale_s = c.keep_stale_s.unwrap_or(DEFAULT_CACHE_KEEP_STALE_S);
    for (field, v) in [
        ("hit_for_pass_s", hit_for_pass_s),
        ("keep_stale_s", keep_stale_s),
    ] {
        if v > 7 * 24 * 3600 {
            return Err(format!("cache.{field}: {v} is not in 0..=604800"));
        }
    }
    Ok(CacheSpec {
        name: raw.name,
        max_size_mb,
        max_object_mb,
        store_set_cookie: c.store_set_cookie,
        targeted_field: lower,
        heuristic_percent,
        hit_for_pass_s,
        keep_stale_s,
    })
}

fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "name `{name}`: must be non-empty and use only a-z, 0-9 and -"
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    proxychain: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    name: String,
    module: String,
    #[serde(default)]
    config: Option<serde_json::Value>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    init_timeout_ms: Option<u64>,
    #[serde(default)]
    memory_limit_mb: Option<u64>,
    #[serde(default)]
    on_error: OnError,
    #[serde(default)]
    instance: InstanceMode,
    #[serde(default)]
    max_body_bytes: Option<u64>,
    #[serde(default)]
    max_warm: Option<usize>,
    #[serde(default)]
    grants: RawGrants,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGrants {
    #[serde(default)]
    config_dir: Option<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    http: Vec<String>,
}

impl Manifest {
    /// Read and validate `dir/proxychain.json`. Files it names are not opened
    /// here; the chain loader does that. Modules may be named by absolute path
    /// only inside one of `module_dirs` (the operator's `--module-dir`).
    pub fn load(dir: &Path, module_dirs: &[PathBuf]) -> Result<(Manifest, Vec<u8>), ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&path).map_err(|source| ManifestError::Read {
            path: path.clone(),
            source,
        })?;
        let manifest = Manifest::parse(&path, &bytes, module_dirs)?;
        Ok((manifest, bytes))
    }

    /// Validate manifest text; `path` is only used in error messages.
    pub fn parse(
        path: &Path,
        bytes: &[u8],
        module_dirs: &[PathBuf],
    ) -> Result<Manifest, ManifestError> {
        // Editors on some systems start UTF-8 files with a byte order mark.
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let syntax = |source| ManifestError::Syntax {
            path: path.to_owned(),
            source,
        };
        // A repeated key would silently lose all but its last value.
        serde_json::from_slice::<UniqueKeys>(bytes).map_err(syntax)?;
        let raw: RawManifest = serde_json::from_slice(bytes).map_err(syntax)?;
        let mut seen = HashSet::new();
        let mut links = Vec::with_capacity(raw.proxychain.len());
        let mut cache: Option<(usize, CacheSpec)> = None;
        for (index, value) in raw.proxychain.into_iter().enumerate() {
            let name = value
                .get("name")
                .and_then(|n| n.as_str())
                .map(str::to_owned);
            let entry_error = |reason: String| ManifestError::Entry {
                path: path.to_owned(),
                index,
                name: name.clone(),
                reason,
            };
            let field_error = |e: serde_path_to_error::Error<serde_json::Error>| {
                let why = e.inner().to_string();
                match e.path().to_string() {
                    field if field == "." || why.starts_with("unknown field") => why,
                    field => format!("{field}: {why}"),
                }
            };
            if value.get("cache").is_some() {
                if value.get("module").is_some() {
                    return Err(entry_error(
                        "an entry has either `module` (a link) or `cache` (the HTTP cache), not both".into(),
                    ));
                }
                if !value["cache"].is_object() {
                    return Err(entry_error(
                        "cache: must be an object of settings (`{}` for the defaults)".into(),
                    ));
                }
                let raw: RawCacheEntry = serde_path_to_error::deserialize(value)
                    .map_err(|e| entry_error(field_error(e)))?;
                let spec = validate_cache(raw).map_err(entry_error)?;
                if cache.is_some() {
                    return Err(entry_error("a chain has at most one cache entry".into()));
                }
                if !seen.insert(spec.name.clone()) {
                    return Err(entry_error(format!(
                        "name `{}` is used by an earlier entry; names must be unique",
                        spec.name
                    )));
                }
                cache = Some((links.len(), spec));
                continue;
            }
            // The field a wrongly typed value sits in is named (`max_warm:
            // invalid value: integer `-1`...`), not only the value.
            let raw: RawLink =
                serde_path_to_error::deserialize(value).map_err(|e| entry_error(field_error(e)))?;
            let link = validate_link(raw, module_dirs).map_err(entry_error)?;
            if !seen.insert(link.name.clone()) {
                return Err(entry_error(format!(
                    "name `{}` is used by an earlier entry; names must be unique",
                    link.name
                )));
            }
            links.push(link);
        }
        Ok(Manifest { links, cache })
    }
}

fn validate_link(raw: RawLink, module_dirs: &[PathBuf]) -> Result<LinkSpec, String> {
    validate_name(&raw.name)?;
    let module = module_path(&raw.module, module_dirs).map_err(|e| format!("module: {e}"))?;
    let config = match raw.config {
        None | Some(serde_json::Value::Null) => ConfigSource::None,
        Some(serde_json::Value::String(p)) => {
            ConfigSource::File(relative_path(&p).map_err(|e| format!("config: {e}"))?)
        }
        Some(inline) => ConfigSource::Inline(inline.to_string()),
    };
    let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(format!(
            "timeout_ms: {timeout_ms} is not in 1..={MAX_TIMEOUT_MS}"
        ));
    }
    let init_timeout_ms = raw.init_timeout_ms.unwrap_or(DEFAULT_INIT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&init_timeout_ms) {
        return Err(format!(
            "init_timeout_ms: {init_timeout_ms} is not in 1..={MAX_TIMEOUT_MS}"
        ));
    }
    let memory_limit_mb = raw.memory_limit_mb.unwrap_or(DEFAULT_MEMORY_LIMIT_MB);
    if !(1..=MAX_MEMORY_LIMIT_MB).contains(&memory_limit_mb) {
        return Err(format!(
            "memory_limit_mb: {memory_limit_mb} is not in 1..={MAX_MEMORY_LIMIT_MB}"
        ));
    }
    let max_body_bytes = raw.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
    if max_body_bytes > memory_limit_mb * 1024 * 1024 {
        return Err(format!(
            "max_body_bytes: {max_body_bytes} exceeds memory_limit_mb ({memory_limit_mb} MiB)"
        ));
    }
    if let Some(n) = raw.max_warm {
        if raw.instance != InstanceMode::Reuse {
            return Err(
                "max_warm: only a link with \"instance\": \"reuse\" keeps instances warm".into(),
            );
        }
        if !(1..=MAX_WARM).contains(&n) {
            return Err(format!("max_warm: {n} is not in 1..={MAX_WARM}"));
        }
    }
    let config_dir = match raw.grants.config_dir {
        None => None,
        Some(d) => {
            let path = relative_path(&d).map_err(|e| format!("grants.config_dir: {e}"))?;
            if path.components().all(|c| matches!(c, Component::CurDir)) {
                return Err(
                    "grants.config_dir: must name a subdirectory, not the config directory itself"
                        .into(),
                );
            }
            Some(path)
        }
    };
    if let Some(bad) = raw.grants.env.iter().find(|v| !env_name(v)) {
        return Err(format!(
            "grants.env: `{bad}` is not a variable name (ASCII letters, digits, `_`, `-` and `.`, not starting with a digit)"
        ));
    }
    let mut http = Vec::with_capacity(raw.grants.http.len());
    for authority in raw.grants.http {
        http.push(granted_authority(&authority).map_err(|e| format!("grants.http: {e}"))?);
    }
    Ok(LinkSpec {
        grants: Grants {
            config_dir,
            env: raw.grants.env,
            http,
        },
        name: raw.name,
        module,
        config,
        timeout_ms,
        init_timeout_ms,
        memory_limit_mb,
        on_error: raw.on_error,
        instance: raw.instance,
        max_body_bytes,
        max_warm: raw.max_warm,
    })
}

/// Whether `name` can name an environment variable a pod is given: ASCII
/// letters, digits, `_`, `-` and `.` (Kubernetes' rule), not starting with a
/// digit (no shell or `env` could set it, so a grant of it is a typo).
fn env_name(name: &str) -> bool {
    name.bytes().next().is_some_and(|b| !b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// An authority a link may call: `host:port` (the port is required, so the
/// grant names exactly one service), lower-cased, no userinfo, no scheme, no
/// wildcard: the host is a DNS name (`_` allowed, as in Compose service
/// names) or an IP address, the port 1..=65535.
fn granted_authority(text: &str) -> Result<String, String> {
    let bad = || format!("`{text}` is not host:port (for example `auth.internal:8080`)");
    let authority: http::uri::Authority = text.parse().map_err(|_| bad())?;
    let host = authority.host();
    let host_ok = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !host.is_empty()
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    };
    if authority.as_str().contains('@')
        || !host_ok
        || authority.port_u16().is_none_or(|p| p == 0)
        || !crate::limits::valid_port(&authority)
    {
        return Err(bad());
    }
    Ok(authority.as_str().to_ascii_lowercase())
}

/// Any JSON value whose objects, at every depth, name each key once.
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<UniqueKeys>()?;
            if !seen.insert(key.clone()) {
                return Err(serde::de::Error::custom(format_args!(
                    "key `{key}` appears twice in one object"
                )));
            }
        }
        Ok(UniqueKeys)
    }
}

/// A module path: relative to the config directory, or absolute inside one of
/// the directories the operator allowed (for wasm delivered by an image or a
/// volume, too large for a ConfigMap).
fn module_path(p: &str, module_dirs: &[PathBuf]) -> Result<PathBuf, String> {
    let path = Path::new(p);
    if !path.is_absolute() {
        return relative_path(p);
    }
    let normal = path.components().all(|c| {
        matches!(
            c,
            Component::RootDir | Component::Normal(_) | Component::CurDir
        )
    });
    if normal && module_dirs.iter().any(|d| path.starts_with(d) && path != d) {
        Ok(path.to_owned())
    } else if module_dirs.is_empty() {
        Err(format!(
            "`{p}` must be relative to the config directory (or allowed with --module-dir)"
        ))
    } else {
        Err(format!("`{p}` is not inside a --module-dir"))
    }
}

/// Paths in the manifest stay inside the config directory: relative, no `..`.
fn relative_path(p: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(p);
    if p.is_empty() {
        return Err("path is empty".into());
    }
    if path.is_absolute() {
        return Err(format!("`{p}` must be relative to the config directory"));
    }
    if path
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "`{p}` must stay inside the config directory (no `..`)"
        ));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Manifest, String> {
        Manifest::parse(
            Path::new("m.json"),
            json.as_bytes(),
            &[PathBuf::from("/mods")],
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn full_entry_with_defaults() {
        let m = parse(
            r#"{"proxychain":[
                {"name":"block","module":"block/b.wasm","config":{"prefixes":["/admin"]}},
                {"name":"h-2","module":"h.wasm","config":"h/config.json","timeout_ms":10,
                 "memory_limit_mb":32,"on_error":"fail-open","instance":"reuse","max_body_bytes":5,
                 "max_warm":8}
            ]}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let [a, b] = m.links.as_slice() else {
            panic!("two links")
        };
        assert_eq!(
            a.config,
            ConfigSource::Inline(r#"{"prefixes":["/admin"]}"#.into())
        );
        assert_eq!(a.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(a.on_error, OnError::FailClosed);
        assert_eq!(a.instance, InstanceMode::PerRequest);
        assert_eq!(b.config, ConfigSource::File("h/config.json".into()));
        assert_eq!(
            (b.on_error, b.instance),
            (OnError::FailOpen, InstanceMode::Reuse)
        );
        assert_eq!((a.max_warm, b.max_warm), (None, Some(8)));
    }

    #[test]
    fn variable_names_a_pod_can_be_given_are_granted() {
        for good in ["HOME", "_X", "app.mode", "APP-MODE", "x1"] {
            let json = format!(
                r#"{{"proxychain":[{{"name":"a","module":"a.wasm","grants":{{"env":["{good}"]}}}}]}}"#
            );
            assert!(parse(&json).is_ok(), "{good}");
        }
    }

    #[test]
    fn policies_print_as_the_manifest_spells_them() {
        assert_eq!(format!("{:?}", OnError::FailClosed), "fail-closed");
        assert_eq!(OnError::FailOpen.to_string(), "fail-open");
    }

    #[test]
    fn absolute_modules_only_inside_module_dirs() {
        let m = parse(r#"{"proxychain":[{"name":"a","module":"/mods/a/x.wasm"}]}"#);
        assert_eq!(
            m.map(|m| m.links[0].module.clone()),
            Ok(PathBuf::from("/mods/a/x.wasm"))
        );
        let none = Manifest::parse(
            Path::new("m"),
            br#"{"proxychain":[{"name":"a","module":"/m/x.wasm"}]}"#,
            &[],
        );
        assert!(none.is_err_and(|e| e.to_string().contains("--module-dir")));
    }

    #[test]
    fn empty_chain_is_valid() {
        assert_eq!(parse(r#"{"proxychain":[]}"#).map(|m| m.links.len()), Ok(0));
    }

    #[test]
    fn errors_name_entry_and_field() {
        let cases = [
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","colour":1}]}"#,
                "proxychain[0] (a): unknown field `colour`",
            ),
            (r#"{"proxychain":[],"extra":1}"#, "unknown field `extra`"),
            (
                r#"{"proxychain":[{"name":"A b","module":"a.wasm"}]}"#,
                "name `A b`",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"../x.wasm"}]}"#,
                "module: `../x.wasm` must stay inside",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"/x.wasm"}]}"#,
                "not inside a --module-dir",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"/mods/../x.wasm"}]}"#,
                "not inside a --module-dir",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm"},{"name":"a","module":"b.wasm"}]}"#,
                "proxychain[1] (a): name `a` is used",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","on_error":"ignore"}]}"#,
                "unknown variant `ignore`",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","timeout_ms":0}]}"#,
                "timeout_ms",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","memory_limit_mb":100000}]}"#,
                "memory_limit_mb",
            ),
            (r#"{"proxychain":[{"name":"a"}]}"#, "missing field `module`"),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","max_warm":4}]}"#,
                "max_warm: only a link with \"instance\": \"reuse\"",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","instance":"reuse","max_warm":0}]}"#,
                "max_warm: 0 is not in 1..=1024",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","instance":"reuse","max_warm":5000}]}"#,
                "max_warm: 5000",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","instance":"reuse","max_warm":-1}]}"#,
                "max_warm",
            ),
            (r#"{"proxychain":"#, "m.json: EOF"),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","grants":{"config_dir":"."}}]}"#,
                "must name a subdirectory",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","grants":{"config_dir":"../x"}}]}"#,
                "grants.config_dir",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","grants":{"env":["A=B"]}}]}"#,
                "grants.env",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","grants":{"env":["1X"]}}]}"#,
                "grants.env: `1X` is not a variable name",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","grants":{"env":["A B"]}}]}"#,
                "grants.env: `A B`",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","grants":{"env":[""]}}]}"#,
                "grants.env",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","grants":{"net":true}}]}"#,
                "unknown field `net`",
            ),
            (
                r#"{"proxychain":[{"name":"a","name":"b","module":"a.wasm"}]}"#,
                "key `name` appears twice in one object at line 1",
            ),
            (
                r#"{"proxychain":[{"name":"a","module":"a.wasm","config":{"k":1,"k":2}}]}"#,
                "key `k` appears twice",
            ),
        ];
        for bad in [
            "*:80", "x:0", "x:99999", "x:+80", "a..b:80", "[zz]:80", "x", "u@x:80",
        ] {
            let json = format!(
                r#"{{"proxychain":[{{"name":"a","module":"a.wasm","grants":{{"http":["{bad}"]}}}}]}}"#
            );
            let err = parse(&json)
                .err()
                .unwrap_or_else(|| panic!("granted {bad}"));
            assert!(err.contains("grants.http"), "{bad}: {err}");
        }
        for good in [
            "auth.internal:8080",
            "10.0.0.1:80",
            "[::1]:9000",
            "Auth-1.example:443",
            "auth_svc:8080",
        ] {
            let json = format!(
                r#"{{"proxychain":[{{"name":"a","module":"a.wasm","grants":{{"http":["{good}"]}}}}]}}"#
            );
            assert!(parse(&json).is_ok(), "{good}");
        }
        let bom = [b"\xEF\xBB\xBF".as_slice(), br#"{"proxychain":[]}"#].concat();
        assert!(
            Manifest::parse(Path::new("m.json"), &bom, &[]).is_ok(),
            "a BOM is skipped"
        );
        for (json, want) in cases {
            let err = parse(json)
                .err()
                .unwrap_or_else(|| panic!("accepted {json}"));
            assert!(err.contains(want), "{json}: got `{err}`, want `{want}`");
        }
    }

    mod generated {
        use super::*;
        use proptest::prelude::*;

        /// JSON values shaped roughly like manifests, with wrong types and
        /// odd strings mixed in.
        fn json_value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>().prop_map(serde_json::Value::from),
                "(\\.\\./|/|[a-z0-9._-]|\\PC){0,12}".prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4)
                        .prop_map(serde_json::Value::from),
                    proptest::collection::btree_map(
                        prop_oneof![
                            Just("proxychain".to_owned()),
                            Just("name".to_owned()),
                            Just("module".to_owned()),
                            Just("config".to_owned()),
                            Just("timeout_ms".to_owned()),
                            Just("init_timeout_ms".to_owned()),
                            Just("memory_limit_mb".to_owned()),
                            Just("max_body_bytes".to_owned()),
                            Just("on_error".to_owned()),
                            Just("instance".to_owned()),
                            Just("grants".to_owned()),
                            Just("env".to_owned()),
                            Just("config_dir".to_owned()),
                            "[a-z_]{1,8}",
                        ],
                        inner,
                        0..6,
                    )
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1000))]

            #[test]
            fn any_bytes_parse_or_fail_with_a_message(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
                if let Err(e) = Manifest::parse(Path::new("m.json"), &bytes, &[]) {
                    prop_assert!(!e.to_string().is_empty());
                }
            }

            #[test]
            fn any_json_parses_or_fails_with_a_message(
                links in proptest::collection::vec(json_value(), 0..4),
                module_dir in prop_oneof![Just(None), Just(Some(PathBuf::from("/opt/m")))],
            ) {
                let doc = serde_json::json!({ "proxychain": links });
                let dirs: Vec<PathBuf> = module_dir.into_iter().collect();
                match Manifest::parse(Path::new("m.json"), doc.to_string().as_bytes(), &dirs) {
                    Ok(m) => {
                        for link in &m.links {
                            prop_assert!(!link.name.is_empty());
                            prop_assert!(link.module.is_relative() || dirs.iter().any(|d| link.module.starts_with(d)));
                            prop_assert!(!link.module.components().any(|c| matches!(c, Component::ParentDir)));
                        }
                    }
                    Err(e) => prop_assert!(!e.to_string().is_empty()),
                }
            }
        }
    }

    #[test]
    fn a_cache_entry_splits_the_chain_and_has_defaults() {
        let m = Manifest::parse(
            Path::new("m.json"),
            br#"{"proxychain":[{"name":"a","module":"a.wasm"},{"name":"cache","cache":{}},{"name":"b","module":"b.wasm"}]}"#,
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.links.len(), 2);
        let (at, spec) = m.cache.unwrap_or_else(|| panic!("cache entry"));
        assert_eq!(at, 1);
        assert_eq!(
            spec,
            CacheSpec {
                name: "cache".into(),
                max_size_mb: DEFAULT_CACHE_MAX_SIZE_MB,
                max_object_mb: DEFAULT_CACHE_MAX_OBJECT_MB,
                store_set_cookie: false,
                targeted_field: DEFAULT_CACHE_TARGETED_FIELD.into(),
                heuristic_percent: DEFAULT_CACHE_HEURISTIC_PERCENT,
                hit_for_pass_s: DEFAULT_CACHE_HIT_FOR_PASS_S,
                keep_stale_s: DEFAULT_CACHE_KEEP_STALE_S,
            }
        );
    }
}
