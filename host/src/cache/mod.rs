//! The HTTP cache in the chain: a shared cache (RFC 9111) with RFC 5861's
//! stale extensions, RFC 9213's targeted fields and RFC 9211's
//! `Cache-Status`, configured as a `cache` entry of `proxychain.json`.
//!
//! The pure rules live in [`policy`] (freshness, age, storing, serving),
//! [`directives_parse`] and [`key`]; [`store`] holds responses within a byte
//! budget; [`collapse`] makes concurrent misses one fetch; [`tee`] stores a
//! body while it streams to the first client; [`purge`] reads admin purges.
//! This room joins them into the decisions the proxy asks for (see
//! docs/caching.md for the lifecycle in the chain).

pub mod collapse;
pub mod directives_parse;
pub mod key;
pub mod policy;
pub mod purge;
pub mod store;
pub mod tee;

use crate::cache_directives::CacheDirectives;
use crate::config::CacheSpec;
use crate::telemetry::metrics::CacheMetrics;
use bytes::Bytes;
use directives_parse::Directives;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use store::{Entry, Store};

/// `Surrogate-Key`: space-separated tags an origin puts on a response.
pub const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");
/// `Cache-Tag`: comma-separated tags (the other common spelling).
pub const CACHE_TAG: HeaderName = HeaderName::from_static("cache-tag");
/// `Cache-Status` (RFC 9211).
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");
/// This cache's name in `Cache-Status`.
pub const CACHE_NAME: &str = "edgechain";

/// One chain's HTTP cache. It outlives the snapshot that made it while its
/// settings stay the same (see `chain::load`).
pub struct Cache {
    spec: CacheSpec,
    targeted: HeaderName,
    store: Arc<Store>,
    flights: collapse::Flights,
    passes: moka::sync::Cache<Arc<str>, ()>,
    metrics: Arc<CacheMetrics>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("spec", &self.spec).finish()
    }
}

/// What the cache knows of a request before it looks up.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// `scheme://host/path?query`, normalised.
    pub url: String,
    /// The primary key (URL plus link key parts).
    pub primary: String,
    /// The request's cache directives.
    pub directives: Directives,
}

/// How a stored response is served, for `Cache-Status` and the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// Fresh.
    Hit,
    /// Fresh, after waiting for another request's fetch.
    Collapsed,
    /// Stale, accepted by the request's `max-stale`.
    StaleAccepted,
    /// Stale, revalidating in the background.
    WhileRevalidate,
    /// Validated with the next hop (`304`).
    Revalidated,
    /// Stale, because the next hop failed with this status (or none).
    OnError(Option<u16>),
}

impl Cache {
    /// An empty cache with `spec`'s settings.
    pub fn new(spec: CacheSpec, metrics: Arc<CacheMetrics>) -> Cache {
        let targeted = HeaderName::from_bytes(spec.targeted_field.as_bytes()).unwrap_or(
            HeaderName::from_static(crate::config::DEFAULT_CACHE_TARGETED_FIELD),
        );
        let store = Store::new(
            spec.max_size_mb * 1024 * 1024,
            Duration::from_secs(spec.keep_stale_s),
            metrics.clone(),
        );
        let passes = moka::sync::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(Duration::from_secs(spec.hit_for_pass_s.max(1)))
            .build();
        Cache {
            spec,
            targeted,
            store: Arc::new(store),
            flights: collapse::Flights::default(),
            passes,
            metrics,
        }
    }

    /// Its settings.
    pub fn spec(&self) -> &CacheSpec {
        &self.spec
    }

    /// Its counters.
    pub fn metrics(&self) -> &CacheMetrics {
        &self.metrics
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The fetches in flight.
    pub fn flights(&self) -> &collapse::Flights {
        &self.flights
    }

    /// Whether `primary` recently got a response that could not be stored:
    /// such keys skip collapsing (hit-for-pass), so an uncacheable URL is
    /// never serialised behind one request at a time.
    pub fn is_pass(&self, primary: &str) -> bool {
        self.passes.contains_key(primary)
    }

    /// Remember `primary` as not storable for `hit_for_pass_s`.
    pub fn mark_pass(&self, primary: &str) {
        if self.spec.hit_for_pass_s > 0 {
            self.passes.insert(Arc::from(primary), ());
        }
    }

    /// Apply an admin purge; how many objects it matched.
    pub fn purge(&self, p: &purge::Purge) -> usize {
        match &p.target {
            purge::PurgeTarget::Url(url) => self.store.purge(p.soft, |e| &e.url == url),
            purge::PurgeTarget::SurrogateKey(k) => self
                .store
                .purge(p.soft, |e| e.surrogate_keys.iter().any(|s| s == k)),
        }
    }

    /// The key and directives of a request (its head as the links before
    /// the cache passed it on).
    pub fn lookup(&self, parts: &http::request::Parts, asked: &CacheDirectives) -> Lookup {
        let url = request_url(parts);
        let primary = key::primary(&url, &asked.key_parts);
        Lookup {
            url,
            primary,
            directives: policy::request_directives(&parts.headers),
        }
    }

    /// The response for a request served from `entry`: its head, `Age`,
    /// `Cache-Status`, and its body unless `head_only`; a `304` when the
    /// client's own conditionals match.
    pub fn serve(
        &self,
        entry: &Entry,
        request: &HeaderMap,
        head_only: bool,
        how: Served,
    ) -> Response<Full<Bytes>> {
        let f = entry.freshness();
        let mut headers = entry.headers.clone();
        let age = f.age.as_secs();
        headers.insert(header::AGE, HeaderValue::from(age));
        let ttl = f.lifetime.as_secs() as i64 - age as i64;
        let status = match how {
            Served::Hit => format!("{CACHE_NAME}; hit; ttl={ttl}"),
            Served::Collapsed => format!("{CACHE_NAME}; hit; ttl={ttl}; collapsed"),
            Served::StaleAccepted => format!("{CACHE_NAME}; hit; ttl={ttl}; detail=max-stale"),
            Served::WhileRevalidate => {
                format!("{CACHE_NAME}; hit; ttl={ttl}; detail=stale-while-revalidate")
            }
            Served::Revalidated => format!("{CACHE_NAME}; fwd=stale; fwd-status=304; ttl={ttl}"),
            Served::OnError(Some(s)) => {
                format!("{CACHE_NAME}; fwd=stale; fwd-status={s}; ttl={ttl}; detail=stale-if-error")
            }
            Served::OnError(None) => {
                format!("{CACHE_NAME}; fwd=stale; ttl={ttl}; detail=stale-if-error")
            }
        };
        if let Ok(v) = HeaderValue::from_str(&status) {
            headers.insert(CACHE_STATUS, v);
        }
        let conditional = entry.status == StatusCode::OK && policy::not_modified(request, &headers);
        let range = (entry.status == StatusCode::OK && !request.contains_key(header::IF_RANGE))
            .then(|| request.get(header::RANGE))
            .flatten()
            .and_then(|r| r.to_str().ok())
            .and_then(|r| byte_range(r, entry.body.len() as u64));
        let (status, body) = if conditional {
            headers.remove(header::CONTENT_LENGTH);
            (StatusCode::NOT_MODIFIED, Bytes::new())
        } else if let Some(range) = range {
            headers.remove(header::CONTENT_LENGTH);
            let total = entry.body.len();
            match range {
                Some((first, last)) => {
                    let value = format!("bytes {first}-{last}/{total}");
                    if let Ok(v) = HeaderValue::from_str(&value) {
                        headers.insert(header::CONTENT_RANGE, v);
                    }
                    let body = if head_only {
                        Bytes::new()
                    } else {
                        entry.body.slice(first as usize..=last as usize)
                    };
                    (StatusCode::PARTIAL_CONTENT, body)
                }
                None => {
                    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{total}")) {
                        headers.insert(header::CONTENT_RANGE, v);
                    }
                    (StatusCode::RANGE_NOT_SATISFIABLE, Bytes::new())
                }
            }
        } else if head_only {
            (entry.status, Bytes::new())
        } else {
            (entry.status, entry.body.clone())
        };
        let mut resp = Response::new(Full::new(body));
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        resp
    }

    /// Decide whether a next hop's response to a `GET` may be stored, and
    /// take from its head what the client must not see (the targeted field,
    /// `Surrogate-Control`, `Surrogate-Key`, `Cache-Tag`). `Ok` carries the
    /// entry to fill with the body; `Err` why it is not stored.
    pub fn admit(
        &self,
        look: &Lookup,
        method: &Method,
        request: &HeaderMap,
        response: &mut http::response::Parts,
        asked: &CacheDirectives,
        request_time: SystemTime,
    ) -> Result<Entry, &'static str> {
        let response_time = SystemTime::now();
        let governing = policy::governing(&response.headers, &self.targeted);
        let mut surrogate_keys = surrogate_keys_of(&response.headers);
        surrogate_keys.extend(asked.surrogate_keys.iter().cloned());
        for name in [
            &self.targeted,
            &policy::SURROGATE_CONTROL,
            &SURROGATE_KEY,
            &CACHE_TAG,
        ] {
            if response.headers.contains_key(name) {
                response.headers.remove(name);
            }
        }
        policy::storable(&policy::StoreCheck {
            method,
            request,
            request_directives: &look.directives,
            status: response.status,
            response: &response.headers,
            governing: &governing,
            store_set_cookie: self.spec.store_set_cookie,
            ttl_override: asked.ttl.is_some(),
        })?;
        let vary = key::vary_names(&response.headers).ok_or("vary")?;
        if let Some(_name) = key::unkeyed_input(request, &vary) {
            return Err("unkeyed-input");
        }
        let limit = self.spec.max_object_mb * 1024 * 1024;
        let declared = response
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err("too-large");
        }
        let lifetime = policy::freshness_lifetime(
            response.status,
            &response.headers,
            &governing,
            asked.ttl,
            self.spec.heuristic_percent,
            response_time,
        );
        let initial_age = policy::initial_age(&response.headers, request_time, response_time);
        let mut headers = response.headers.clone();
        crate::convert::strip_hop_by_hop(&mut headers);
        headers.remove(header::AGE);
        headers.remove(header::SET_COOKIE);
        headers.remove(CACHE_STATUS);
        Ok(Entry {
            status: response.status,
            headers: detached(headers),
            body: Bytes::new(),
            url: look.url.clone(),
            surrogate_keys,
            governing,
            lifetime,
            initial_age,
            stored_at: Instant::now(),
            vary,
            marked_stale: Default::default(),
        })
    }

    /// `old` updated by a `304` the next hop sent to validate it (RFC 9111
    /// §4.3.4): its fields merged in, its age and lifetime computed anew.
    pub fn refreshed(
        &self,
        old: &Entry,
        not_modified: &http::response::Parts,
        asked: &CacheDirectives,
        request_time: SystemTime,
    ) -> Entry {
        let response_time = SystemTime::now();
        let mut headers = old.headers.clone();
        policy::merge_not_modified(&mut headers, &not_modified.headers);
        let governing = policy::governing(&headers, &self.targeted);
        let mut surrogate_keys = old.surrogate_keys.clone();
        for k in surrogate_keys_of(&not_modified.headers) {
            if !surrogate_keys.contains(&k) {
                surrogate_keys.push(k);
            }
        }
        let lifetime = policy::freshness_lifetime(
            old.status,
            &headers,
            &governing,
            asked.ttl,
            self.spec.heuristic_percent,
            response_time,
        );
        let initial_age = policy::initial_age(&not_modified.headers, request_time, response_time);
        crate::convert::strip_hop_by_hop(&mut headers);
        for name in [
            &header::AGE,
            &header::SET_COOKIE,
            &CACHE_STATUS,
            &self.targeted,
            &policy::SURROGATE_CONTROL,
            &SURROGATE_KEY,
            &CACHE_TAG,
        ] {
            headers.remove(name);
        }
        Entry {
            status: old.status,
            headers: detached(headers),
            body: old.body.clone(),
            url: old.url.clone(),
            surrogate_keys,
            governing,
            lifetime,
            initial_age,
            stored_at: Instant::now(),
            vary: old.vary.clone(),
            marked_stale: Default::default(),
        }
    }

    /// Forget what an unsafe request changed (RFC 9111 §4.4): its target,
    /// and the `Location`/`Content-Location` of a non-error response when
    /// they name the same host.
    pub fn invalidate(
        &self,
        look: &Lookup,
        asked: &CacheDirectives,
        host: &str,
        scheme: &str,
        response: &HeaderMap,
    ) {
        self.store.invalidate(&look.primary);
        for name in [header::LOCATION, header::CONTENT_LOCATION] {
            let Some(target) = response.get(&name).and_then(|v| v.to_str().ok()) else {
                continue;
            };
            let Ok(uri) = target.parse::<http::Uri>() else {
                continue;
            };
            let same_host = match uri.authority() {
                None => true,
                Some(a) => key::normal_host(a.as_str(), scheme) == key::normal_host(host, scheme),
            };
            if !same_host || !uri.path().starts_with('/') {
                continue;
            }
            let pq = uri.path_and_query().map_or("/", |p| p.as_str());
            let url = key::url(scheme, host, pq);
            self.store.invalidate(&key::primary(&url, &asked.key_parts));
        }
    }
}

/// A single `bytes` range of a `len`-byte body (RFC 9110 §14.1.2):
/// `Some(Some((first, last)))` to serve, `Some(None)` when unsatisfiable,
/// `None` to ignore the field and serve the whole body (several ranges, or
/// a unit or syntax this cache does not serve).
pub fn byte_range(field: &str, len: u64) -> Option<Option<(u64, u64)>> {
    let spec = field.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let num = |s: &str| -> Option<Option<u64>> {
        let s = s.trim();
        if s.is_empty() {
            return Some(None);
        }
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
            .map(Some)
    };
    let range = match (num(first)?, num(last)?) {
        (Some(f), Some(l)) if f <= l => (f < len).then(|| (f, l.min(len - 1))),
        (Some(_), Some(_)) => return None,
        (Some(f), None) => (f < len).then(|| (f, len - 1)),
        (None, Some(n)) if n > 0 && len > 0 => Some((len.saturating_sub(n), len - 1)),
        (None, Some(_)) => None,
        (None, None) => return None,
    };
    Some(range)
}

/// The normalised URL of a request head.
pub fn request_url(parts: &http::request::Parts) -> String {
    let scheme = key::scheme(&parts.uri, &parts.headers);
    let host = crate::convert::request_authority(parts);
    let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    key::url(scheme, host, pq)
}

/// `headers` with every value copied into its own allocation. A value parsed
/// by hyper shares the buffer its whole head was read into; kept in the store
/// it would pin that buffer (kilobytes per object, outside the byte budget).
fn detached(headers: HeaderMap) -> HeaderMap {
    let mut own = HeaderMap::with_capacity(headers.len());
    let mut name = None;
    for (n, v) in headers {
        if let Some(n) = n {
            name = Some(n);
        }
        let Some(n) = &name else { continue };
        let sensitive = v.is_sensitive();
        let mut copy = HeaderValue::from_bytes(v.as_bytes()).unwrap_or(v);
        copy.set_sensitive(sensitive);
        own.append(n.clone(), copy);
    }
    own
}

/// The tags in `Surrogate-Key` (space-separated) and `Cache-Tag`
/// (comma-separated).
pub fn surrogate_keys_of(headers: &HeaderMap) -> Vec<String> {
    let mut keys = Vec::new();
    for v in headers.get_all(SURROGATE_KEY) {
        if let Ok(t) = v.to_str() {
            keys.extend(t.split_ascii_whitespace().map(str::to_owned));
        }
    }
    for v in headers.get_all(CACHE_TAG) {
        if let Ok(t) = v.to_str() {
            keys.extend(
                t.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            );
        }
    }
    keys
}

/// `Cache-Status` for a response the cache forwarded: why (`fwd`), the next
/// hop's status, whether it was stored, and why not.
pub fn forwarded_status(fwd: &str, status: Option<u16>, stored: Result<(), &str>) -> HeaderValue {
    let mut s = format!("{CACHE_NAME}; fwd={fwd}");
    if let Some(code) = status {
        s.push_str(&format!("; fwd-status={code}"));
    }
    match stored {
        Ok(()) => s.push_str("; stored"),
        Err(why) if !why.is_empty() => s.push_str(&format!("; detail={why}")),
        Err(_) => {}
    }
    HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(CACHE_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_do_not_pin_the_buffer_they_were_parsed_from() {
        let head = Bytes::from(vec![b'x'; 8192]);
        let within = |v: &HeaderValue| {
            let p = v.as_bytes().as_ptr() as usize;
            let start = head.as_ptr() as usize;
            (start..start + head.len()).contains(&p)
        };
        let mut h = HeaderMap::new();
        let shared = HeaderValue::from_maybe_shared(head.slice(10..20)).expect("value");
        assert!(within(&shared), "the test's value shares the buffer");
        h.append(header::ETAG, shared.clone());
        let mut secret = shared;
        secret.set_sensitive(true);
        h.append(header::ETAG, secret);
        let own = detached(h);
        let values: Vec<_> = own.get_all(header::ETAG).iter().collect();
        assert_eq!(values.len(), 2);
        assert!(
            values
                .iter()
                .all(|v| !within(v) && v.as_bytes() == b"xxxxxxxxxx")
        );
        assert!(!values[0].is_sensitive() && values[1].is_sensitive());
    }

    #[test]
    fn surrogate_keys_from_both_spellings() {
        let mut h = HeaderMap::new();
        h.insert(SURROGATE_KEY, HeaderValue::from_static("a  b"));
        h.insert(CACHE_TAG, HeaderValue::from_static("c, d,"));
        assert_eq!(surrogate_keys_of(&h), ["a", "b", "c", "d"]);
    }

    #[test]
    fn single_byte_ranges_are_served_and_the_rest_ignored() {
        assert_eq!(byte_range("bytes=0-1", 10), Some(Some((0, 1))));
        assert_eq!(byte_range("bytes=5-", 10), Some(Some((5, 9))));
        assert_eq!(byte_range("bytes=-3", 10), Some(Some((7, 9))));
        assert_eq!(byte_range("bytes=-30", 10), Some(Some((0, 9))));
        assert_eq!(byte_range("bytes=8-20", 10), Some(Some((8, 9))));
        assert_eq!(byte_range("bytes=10-", 10), Some(None));
        assert_eq!(byte_range("bytes=-0", 10), Some(None));
        for ignored in [
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=2-1",
            "bytes=a-b",
            "bytes=-",
            "bytes=+1-2",
        ] {
            assert_eq!(byte_range(ignored, 10), None, "{ignored}");
        }
    }

    #[test]
    fn forwarded_status_is_rfc_9211_shaped() {
        assert_eq!(
            forwarded_status("uri-miss", Some(200), Ok(())),
            "edgechain; fwd=uri-miss; fwd-status=200; stored"
        );
        assert_eq!(
            forwarded_status("bypass", None, Err("private")),
            "edgechain; fwd=bypass; detail=private"
        );
    }
}
