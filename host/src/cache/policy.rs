//! RFC 9111 as a shared cache reads it, as pure functions over heads and
//! times: which field list governs (RFC 9213), whether a response may be
//! stored, its freshness lifetime and age, whether a stored response may
//! serve a request, and what a `304` changes.

use super::directives_parse::Directives;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use std::time::{Duration, SystemTime};

/// Statuses a cache may store with heuristic freshness (RFC 9110 §15.1).
pub const HEURISTIC_STATUSES: &[u16] =
    &[200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

/// Longest heuristic freshness lifetime given, however old `Last-Modified`.
pub const HEURISTIC_CAP: Duration = Duration::from_secs(24 * 3600);

/// `Surrogate-Control`, honoured like the targeted field.
pub const SURROGATE_CONTROL: HeaderName = HeaderName::from_static("surrogate-control");
/// `CDN-Cache-Control` (RFC 9213 §3.1).
pub const CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");

/// The response directives that govern a shared cache, and whether they came
/// from `Cache-Control` itself (only then does `Expires` count: a targeted
/// field replaces the whole `Cache-Control`/`Expires` policy, RFC 9213 §2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Governing {
    /// The directives.
    pub directives: Directives,
    /// Whether they came from `Cache-Control` (or no field at all).
    pub from_cache_control: bool,
}

/// The first of the targeted field, `Surrogate-Control`, `CDN-Cache-Control`
/// and `Cache-Control` that the response carries.
pub fn governing(headers: &HeaderMap, targeted: &HeaderName) -> Governing {
    let targeted_lists = [
        Directives::from_field(headers, targeted),
        Directives::from_surrogate_control(headers, &SURROGATE_CONTROL),
        Directives::from_field(headers, &CDN_CACHE_CONTROL),
    ];
    if let Some(directives) = targeted_lists.into_iter().flatten().next() {
        return Governing {
            directives,
            from_cache_control: false,
        };
    }
    Governing {
        directives: Directives::from_field(headers, &header::CACHE_CONTROL).unwrap_or_default(),
        from_cache_control: true,
    }
}

/// A request's directives; `Pragma: no-cache` counts as `no-cache` when
/// there is no `Cache-Control` (RFC 9111 §5.4).
pub fn request_directives(headers: &HeaderMap) -> Directives {
    match Directives::from_field(headers, &header::CACHE_CONTROL) {
        Some(d) => d,
        None => Directives {
            no_cache: headers.get_all(header::PRAGMA).iter().any(|v| {
                v.to_str()
                    .is_ok_and(|s| s.to_ascii_lowercase().contains("no-cache"))
            }),
            ..Directives::default()
        },
    }
}

/// What a request and its response say about storing (RFC 9111 §3).
pub struct StoreCheck<'a> {
    /// The request's method.
    pub method: &'a Method,
    /// The request's head, as forwarded.
    pub request: &'a HeaderMap,
    /// The request's directives.
    pub request_directives: &'a Directives,
    /// The response status.
    pub status: StatusCode,
    /// The response head.
    pub response: &'a HeaderMap,
    /// The governing response directives.
    pub governing: &'a Governing,
    /// Whether `Set-Cookie` responses may be stored (without the cookie).
    pub store_set_cookie: bool,
    /// Whether a link set a TTL.
    pub ttl_override: bool,
}

/// Why a response is not stored, or `Ok` when it may be.
pub fn storable(c: &StoreCheck<'_>) -> Result<(), &'static str> {
    let d = &c.governing.directives;
    if *c.method != Method::GET {
        return Err("method");
    }
    if c.status.is_informational() || matches!(c.status.as_u16(), 206 | 304) {
        return Err("status");
    }
    // `must-understand`: store only a status this cache knows (RFC 9111
    // §5.2.2.3).
    if d.must_understand && c.status.canonical_reason().is_none() {
        return Err("status");
    }
    if c.request_directives.no_store {
        return Err("request-no-store");
    }
    if d.no_store {
        return Err("no-store");
    }
    if d.private {
        return Err("private");
    }
    if c.request.contains_key(header::AUTHORIZATION)
        && !(d.public || d.s_maxage.is_some() || d.must_revalidate)
    {
        return Err("authorization");
    }
    if c.response.contains_key(header::SET_COOKIE) && !c.store_set_cookie {
        return Err("set-cookie");
    }
    if super::key::vary_names(c.response).is_none() {
        return Err("vary");
    }
    let explicit = d.max_age.is_some()
        || d.s_maxage.is_some()
        || (c.governing.from_cache_control && c.response.contains_key(header::EXPIRES));
    let heuristic = (HEURISTIC_STATUSES.contains(&c.status.as_u16()) || d.public)
        && c.response.contains_key(header::LAST_MODIFIED);
    if explicit || c.ttl_override || heuristic || d.no_cache {
        Ok(())
    } else {
        Err("no-freshness")
    }
}

/// A date field's value.
pub fn date_of(headers: &HeaderMap, name: &HeaderName) -> Option<SystemTime> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| httpdate::parse_http_date(s.trim()).ok())
}

/// The freshness lifetime (RFC 9111 §4.2.1): a link's TTL, `s-maxage`,
/// `max-age`, `Expires - Date`, or `heuristic_percent` of the time since
/// `Last-Modified` (capped at [`HEURISTIC_CAP`]); zero when none applies.
pub fn freshness_lifetime(
    status: StatusCode,
    headers: &HeaderMap,
    governing: &Governing,
    ttl: Option<Duration>,
    heuristic_percent: u32,
    response_time: SystemTime,
) -> Duration {
    let d = &governing.directives;
    if let Some(ttl) = ttl {
        return ttl;
    }
    if let Some(s) = d.s_maxage.or(d.max_age) {
        return Duration::from_secs(s);
    }
    let date = date_of(headers, &header::DATE).unwrap_or(response_time);
    if governing.from_cache_control && headers.contains_key(header::EXPIRES) {
        // An invalid Expires (e.g. "0") means already expired.
        return date_of(headers, &header::EXPIRES)
            .and_then(|e| e.duration_since(date).ok())
            .unwrap_or_default();
    }
    if (HEURISTIC_STATUSES.contains(&status.as_u16()) || d.public)
        && let Some(lm) = date_of(headers, &header::LAST_MODIFIED)
        && let Ok(since) = date.duration_since(lm)
    {
        return (since * heuristic_percent / 100).min(HEURISTIC_CAP);
    }
    Duration::ZERO
}

/// The age a response had when it was received (RFC 9111 §4.2.3,
/// `corrected_initial_age`).
pub fn initial_age(
    headers: &HeaderMap,
    request_time: SystemTime,
    response_time: SystemTime,
) -> Duration {
    let date = date_of(headers, &header::DATE).unwrap_or(response_time);
    let apparent = response_time.duration_since(date).unwrap_or_default();
    let age_value = age_value(headers);
    let delay = response_time
        .duration_since(request_time)
        .unwrap_or_default();
    apparent.max(age_value + delay)
}

/// The `Age` a response carries: one line of delta-seconds. Anything else
/// (a list, several lines, a sign, a fraction, parameters) makes the
/// response stale (RFC 9111 §5.1 asks to treat an invalid `Age` so).
pub fn age_value(headers: &HeaderMap) -> Duration {
    let mut lines = headers.get_all(header::AGE).iter();
    let (Some(first), None) = (lines.next(), lines.next()) else {
        return if headers.contains_key(header::AGE) {
            STALE_AGE
        } else {
            Duration::ZERO
        };
    };
    first
        .to_str()
        .ok()
        .and_then(|s| super::directives_parse::delta_seconds(s.trim()))
        .map_or(STALE_AGE, Duration::from_secs)
}

/// The age given to a response with an invalid `Age`: the RFC's "infinity".
const STALE_AGE: Duration = Duration::from_secs(1 << 31);

/// How a stored response may serve a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usable {
    /// Fresh, and the request accepts it.
    Fresh,
    /// Stale, but the request's `max-stale` accepts it.
    StaleAccepted,
    /// Stale within `stale-while-revalidate`: serve, and revalidate behind.
    WhileRevalidate,
    /// Must be validated with the next hop first.
    Validate,
}

/// What [`usable`] weighs about a stored response.
#[derive(Debug, Clone, Copy)]
pub struct Freshness<'a> {
    /// Its current age.
    pub age: Duration,
    /// Its freshness lifetime.
    pub lifetime: Duration,
    /// Its governing directives.
    pub directives: &'a Directives,
    /// Whether a soft purge or an invalidation marked it stale.
    pub marked_stale: bool,
}

impl Freshness<'_> {
    /// Whether it is fresh.
    pub fn fresh(&self) -> bool {
        !self.marked_stale && self.lifetime > self.age
    }

    /// How long it has been stale (zero when fresh).
    pub fn staleness(&self) -> Duration {
        if self.marked_stale {
            return self
                .age
                .saturating_sub(self.lifetime.min(self.age))
                .max(Duration::from_secs(1));
        }
        self.age.saturating_sub(self.lifetime)
    }

    /// Whether a shared cache may ever serve it stale without validation
    /// (RFC 9111 §4.2.4, §5.2.2.2, §5.2.2.8, §5.2.2.10).
    pub fn may_serve_stale(&self) -> bool {
        let d = self.directives;
        !(d.must_revalidate || d.proxy_revalidate || d.s_maxage.is_some() || d.no_cache)
    }
}

/// Whether the stored response `f` may answer a request with `req`
/// directives, per RFC 9111 §4.2 and RFC 5861 §3.
pub fn usable(f: &Freshness<'_>, req: &Directives) -> Usable {
    if f.directives.no_cache || req.no_cache {
        return Usable::Validate;
    }
    if req.max_age.is_some_and(|m| f.age > Duration::from_secs(m)) {
        return Usable::Validate;
    }
    if f.fresh() {
        let left = f.lifetime - f.age;
        if req.min_fresh.is_some_and(|m| left < Duration::from_secs(m)) {
            return Usable::Validate;
        }
        return Usable::Fresh;
    }
    if !f.may_serve_stale() {
        return Usable::Validate;
    }
    let stale = f.staleness();
    match req.max_stale {
        Some(None) => return Usable::StaleAccepted,
        Some(Some(n)) if stale <= Duration::from_secs(n) => return Usable::StaleAccepted,
        _ => {}
    }
    match f.directives.stale_while_revalidate {
        Some(n) if stale <= Duration::from_secs(n) => Usable::WhileRevalidate,
        _ => Usable::Validate,
    }
}

/// Whether a stale response may stand in for a next-hop error (RFC 5861 §4):
/// the response's or the request's `stale-if-error` window covers it.
pub fn stale_if_error(f: &Freshness<'_>, req: &Directives) -> bool {
    if !f.may_serve_stale() {
        return false;
    }
    let window = f.directives.stale_if_error.max(req.stale_if_error);
    window.is_some_and(|n| f.staleness() <= Duration::from_secs(n))
}

/// Fields a `304` must not change in the stored head (RFC 9111 §3.2).
const KEPT_ON_304: &[&str] = &[
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "content-range",
    "etag",
    "content-md5",
];

/// Update a stored head with a `304`'s fields (RFC 9111 §4.3.4).
pub fn merge_not_modified(stored: &mut HeaderMap, not_modified: &HeaderMap) {
    let mut replaced: Vec<&HeaderName> = Vec::new();
    for (name, value) in not_modified {
        if KEPT_ON_304.contains(&name.as_str()) {
            continue;
        }
        if !replaced.contains(&name) {
            stored.remove(name);
            replaced.push(name);
        }
        stored.append(name.clone(), value.clone());
    }
}

/// Whether a client's own conditionals (`If-None-Match`, else
/// `If-Modified-Since`) are satisfied by the stored head: answer `304`.
pub fn not_modified(request: &HeaderMap, stored: &HeaderMap) -> bool {
    if let Some(inm) = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        let Some(etag) = stored.get(header::ETAG).and_then(|v| v.to_str().ok()) else {
            return inm.trim() == "*";
        };
        let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
        return inm
            .split(',')
            .any(|t| t.trim() == "*" || weak(t) == weak(etag));
    }
    let (Some(since), Some(modified)) = (
        date_of(request, &header::IF_MODIFIED_SINCE),
        date_of(stored, &header::LAST_MODIFIED).or_else(|| date_of(stored, &header::DATE)),
    ) else {
        return false;
    };
    modified <= since
}

/// The conditional fields to validate a stored head with the next hop.
pub fn validators(stored: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    if let Some(etag) = stored.get(header::ETAG) {
        out.push((header::IF_NONE_MATCH, etag.clone()));
    }
    if let Some(lm) = stored.get(header::LAST_MODIFIED) {
        out.push((header::IF_MODIFIED_SINCE, lm.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heads(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap_or(header::WARNING),
                HeaderValue::from_str(v).unwrap_or(HeaderValue::from_static("")),
            );
        }
        h
    }

    fn check(
        req: &[(&str, &str)],
        status: u16,
        resp: &[(&str, &str)],
        set_cookie: bool,
    ) -> Result<(), &'static str> {
        let request = heads(req);
        let response = heads(resp);
        let gov = governing(
            &response,
            &HeaderName::from_static("edgechain-cache-control"),
        );
        storable(&StoreCheck {
            method: &Method::GET,
            request: &request,
            request_directives: &request_directives(&request),
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            response: &response,
            governing: &gov,
            store_set_cookie: set_cookie,
            ttl_override: false,
        })
    }

    #[test]
    fn what_a_shared_cache_must_not_store() {
        let fresh = ("cache-control", "max-age=60");
        assert_eq!(check(&[], 200, &[fresh], false), Ok(()));
        assert_eq!(
            check(&[], 200, &[("cache-control", "private, max-age=60")], false),
            Err("private")
        );
        assert_eq!(
            check(
                &[],
                200,
                &[("cache-control", "private=\"x\", max-age=60")],
                false
            ),
            Err("private")
        );
        assert_eq!(
            check(
                &[],
                200,
                &[("cache-control", "no-store, max-age=60")],
                false
            ),
            Err("no-store")
        );
        assert_eq!(
            check(&[("cache-control", "no-store")], 200, &[fresh], false),
            Err("request-no-store")
        );
        assert_eq!(
            check(&[("authorization", "x")], 200, &[fresh], false),
            Err("authorization")
        );
        for ok in [
            "public, max-age=1",
            "s-maxage=1",
            "must-revalidate, max-age=1",
        ] {
            assert_eq!(
                check(
                    &[("authorization", "x")],
                    200,
                    &[("cache-control", ok)],
                    false
                ),
                Ok(()),
                "{ok}"
            );
        }
        assert_eq!(
            check(&[], 200, &[fresh, ("set-cookie", "a=b")], false),
            Err("set-cookie")
        );
        assert_eq!(
            check(&[], 200, &[fresh, ("set-cookie", "a=b")], true),
            Ok(())
        );
        assert_eq!(check(&[], 200, &[fresh, ("vary", "*")], false), Err("vary"));
        assert_eq!(check(&[], 206, &[fresh], false), Err("status"));
        let understood = ("cache-control", "max-age=60, must-understand");
        assert_eq!(check(&[], 599, &[understood], false), Err("status"));
        assert_eq!(check(&[], 200, &[understood], false), Ok(()));
        assert_eq!(check(&[], 200, &[], false), Err("no-freshness"));
        // Heuristics need Last-Modified and a heuristically cacheable status.
        let lm = ("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT");
        assert_eq!(check(&[], 200, &[lm], false), Ok(()));
        assert_eq!(check(&[], 302, &[lm], false), Err("no-freshness"));
        assert_eq!(
            check(&[], 302, &[lm, ("cache-control", "public")], false),
            Ok(())
        );
        assert_eq!(check(&[], 302, &[fresh], false), Ok(()));
        assert_eq!(
            check(
                &[],
                200,
                &[("expires", "Mon, 01 Jan 2024 00:00:00 GMT")],
                false
            ),
            Ok(())
        );
        // A targeted field replaces Cache-Control whole.
        assert_eq!(
            check(
                &[],
                200,
                &[
                    ("cache-control", "private"),
                    ("cdn-cache-control", "max-age=5")
                ],
                false
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &[],
                200,
                &[fresh, ("edgechain-cache-control", "no-store")],
                false
            ),
            Err("no-store")
        );
    }

    #[test]
    fn targeted_beats_surrogate_beats_cdn_beats_cache_control() {
        let t = HeaderName::from_static("edgechain-cache-control");
        let all = [
            ("cache-control", "max-age=1"),
            ("cdn-cache-control", "max-age=2"),
            ("surrogate-control", "max-age=3"),
            ("edgechain-cache-control", "max-age=4"),
        ];
        for n in (1..=4).rev() {
            let g = governing(&heads(&all[..n]), &t);
            assert_eq!(g.directives.max_age, Some(n as u64));
            assert_eq!(g.from_cache_control, n == 1);
        }
    }

    #[test]
    fn lifetime_precedence_and_heuristics() {
        let t = HeaderName::from_static("edgechain-cache-control");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let date = httpdate::fmt_http_date(now);
        let lifetime = |pairs: &[(&str, &str)], status: u16| {
            let h = heads(pairs);
            freshness_lifetime(
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                &h,
                &governing(&h, &t),
                None,
                10,
                now,
            )
        };
        assert_eq!(
            lifetime(&[("cache-control", "max-age=10, s-maxage=20")], 200),
            Duration::from_secs(20)
        );
        assert_eq!(
            lifetime(&[("cache-control", "max-age=10")], 200),
            Duration::from_secs(10)
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            lifetime(&[("date", &date), ("expires", &later)], 200),
            Duration::from_secs(30)
        );
        assert_eq!(
            lifetime(&[("date", &date), ("expires", "0")], 200),
            Duration::ZERO
        );
        assert_eq!(
            lifetime(&[("cache-control", "max-age=10"), ("expires", &later)], 200),
            Duration::from_secs(10)
        );
        let lm = httpdate::fmt_http_date(now - Duration::from_secs(1000));
        assert_eq!(
            lifetime(&[("date", &date), ("last-modified", &lm)], 200),
            Duration::from_secs(100)
        );
        assert_eq!(
            lifetime(&[("date", &date), ("last-modified", &lm)], 302),
            Duration::ZERO
        );
        let ancient = httpdate::fmt_http_date(now - Duration::from_secs(100 * 24 * 3600));
        assert_eq!(
            lifetime(&[("date", &date), ("last-modified", &ancient)], 200),
            HEURISTIC_CAP
        );
    }

    #[test]
    fn initial_age_takes_the_larger_of_apparent_and_corrected() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let t1 = t0 + Duration::from_secs(2);
        let old = httpdate::fmt_http_date(t1 - Duration::from_secs(50));
        assert_eq!(
            initial_age(&heads(&[("date", &old)]), t0, t1),
            Duration::from_secs(50)
        );
        let now = httpdate::fmt_http_date(t1);
        assert_eq!(
            initial_age(&heads(&[("date", &now), ("age", "30")]), t0, t1),
            Duration::from_secs(32)
        );
        for invalid in ["x", "-1", "1.5", "1,0", "0, 0", "1;a=b"] {
            let age = initial_age(&heads(&[("age", invalid)]), t0, t1);
            assert!(age >= STALE_AGE, "{invalid}");
        }
        assert!(initial_age(&heads(&[("age", "0"), ("age", "0")]), t0, t1) >= STALE_AGE);
        assert_eq!(initial_age(&heads(&[]), t0, t1), Duration::from_secs(2));
    }

    #[test]
    fn request_directives_and_staleness_decide_usability() {
        let d = |s: &str| Directives::parse(s);
        fn f(age: u64, life: u64, dirs: &Directives) -> Freshness<'_> {
            Freshness {
                age: Duration::from_secs(age),
                lifetime: Duration::from_secs(life),
                directives: dirs,
                marked_stale: false,
            }
        }
        let plain = d("max-age=10");
        assert_eq!(usable(&f(5, 10, &plain), &d("")), Usable::Fresh);
        assert_eq!(usable(&f(5, 10, &plain), &d("no-cache")), Usable::Validate);
        assert_eq!(usable(&f(5, 10, &plain), &d("max-age=4")), Usable::Validate);
        assert_eq!(usable(&f(5, 10, &plain), &d("max-age=5")), Usable::Fresh);
        assert_eq!(
            usable(&f(5, 10, &plain), &d("min-fresh=6")),
            Usable::Validate
        );
        assert_eq!(usable(&f(15, 10, &plain), &d("")), Usable::Validate);
        assert_eq!(
            usable(&f(15, 10, &plain), &d("max-stale")),
            Usable::StaleAccepted
        );
        assert_eq!(
            usable(&f(15, 10, &plain), &d("max-stale=5")),
            Usable::StaleAccepted
        );
        assert_eq!(
            usable(&f(15, 10, &plain), &d("max-stale=4")),
            Usable::Validate
        );
        for strict in [
            "max-age=10, must-revalidate",
            "max-age=10, proxy-revalidate",
            "s-maxage=10",
            "no-cache",
        ] {
            let s = d(strict);
            assert_eq!(
                usable(&f(15, 10, &s), &d("max-stale")),
                Usable::Validate,
                "{strict}"
            );
            let s = d(&format!("{strict}, stale-if-error=100"));
            assert!(!stale_if_error(&f(15, 10, &s), &d("")), "{strict}");
        }
        assert_eq!(
            usable(&f(5, 10, &d("max-age=10, no-cache")), &d("")),
            Usable::Validate
        );
        let swr = d("max-age=10, stale-while-revalidate=5");
        assert_eq!(usable(&f(14, 10, &swr), &d("")), Usable::WhileRevalidate);
        assert_eq!(usable(&f(16, 10, &swr), &d("")), Usable::Validate);
        let sie = d("max-age=10, stale-if-error=5");
        assert!(stale_if_error(&f(14, 10, &sie), &d("")));
        assert!(!stale_if_error(&f(16, 10, &sie), &d("")));
        assert!(stale_if_error(&f(16, 10, &plain), &d("stale-if-error=10")));
        let marked = Freshness {
            marked_stale: true,
            ..f(1, 10, &plain)
        };
        assert_eq!(usable(&marked, &d("")), Usable::Validate);
    }

    #[test]
    fn not_modified_merges_and_client_conditionals() {
        let mut stored = heads(&[
            ("etag", "\"a\""),
            ("content-length", "5"),
            ("x-old", "1"),
            ("cache-control", "max-age=1"),
        ]);
        merge_not_modified(
            &mut stored,
            &heads(&[
                ("cache-control", "max-age=9"),
                ("content-length", "0"),
                ("x-new", "2"),
            ]),
        );
        assert_eq!(stored["cache-control"], "max-age=9");
        assert_eq!(stored["content-length"], "5");
        assert_eq!(
            (stored["x-old"].as_bytes(), stored["x-new"].as_bytes()),
            (&b"1"[..], &b"2"[..])
        );
        assert!(not_modified(
            &heads(&[("if-none-match", "W/\"a\", \"b\"")]),
            &stored
        ));
        assert!(!not_modified(
            &heads(&[("if-none-match", "\"b\"")]),
            &stored
        ));
        assert!(not_modified(&heads(&[("if-none-match", "*")]), &stored));
        let lm = heads(&[("last-modified", "Mon, 01 Jan 2024 00:00:00 GMT")]);
        assert!(not_modified(
            &heads(&[("if-modified-since", "Mon, 01 Jan 2024 00:00:00 GMT")]),
            &lm
        ));
        assert!(!not_modified(
            &heads(&[("if-modified-since", "Sun, 31 Dec 2023 00:00:00 GMT")]),
            &lm
        ));
        assert_eq!(validators(&stored).len(), 1);
    }
}
