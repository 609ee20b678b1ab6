//! `vectors.json`, the wire rules' verdicts shared with the host's tests and
//! the JavaScript and Python SDKs' suites: this crate must give every one.

use edgechain_wire::decision::{self, Refusal};
use edgechain_wire::managed::{HOP_BY_HOP, OWNED, is_managed, is_managed_name};
use edgechain_wire::path::{self, PathError};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("../vectors.json"))
        .unwrap_or_else(|e| panic!("vectors.json: {e}"))
}

/// The entries of `section` (a path such as `/decision/target`).
fn entries(v: &Value, section: &str) -> Vec<Value> {
    match v.pointer(section) {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        _ => panic!("vectors.json has no entries at {section}"),
    }
}

fn text<'a>(entry: &'a Value, key: &str) -> &'a str {
    entry[key]
        .as_str()
        .unwrap_or_else(|| panic!("{entry}: no text `{key}`"))
}

fn code(e: PathError) -> &'static str {
    match e {
        PathError::NotAbsolute => "not-absolute",
        PathError::BadEscape => "bad-escape",
        PathError::Nul => "nul",
        PathError::Backslash => "backslash",
        PathError::AboveRoot => "above-root",
        PathError::EncodedSlash => "encoded-slash",
    }
}

/// The verdict of `checked`, as `vectors.json` spells it; a refusal must name
/// the `input` it refuses (the name, for a field).
fn verdict(checked: Result<(), Refusal<'_>>, input: &[u8]) -> String {
    let Err(refusal) = checked else {
        return "ok".into();
    };
    let named = match &refusal {
        Refusal::Method(s)
        | Refusal::NotForwarded(s)
        | Refusal::Target(s)
        | Refusal::Path(s, _)
        | Refusal::Authority(s) => s.as_bytes(),
        Refusal::HeaderName(n) | Refusal::HeaderValue(n) | Refusal::Managed(n) => n,
        Refusal::Status(_) => input,
    };
    assert_eq!(named, input, "{refusal:?} names its input");
    match refusal {
        Refusal::Method(_) => "method".into(),
        Refusal::NotForwarded(_) => "not-forwarded".into(),
        Refusal::Target(_) => "target".into(),
        Refusal::Path(_, e) => format!("path:{}", code(e)),
        Refusal::Authority(_) => "authority".into(),
        Refusal::HeaderName(_) => "header-name".into(),
        Refusal::HeaderValue(_) => "header-value".into(),
        Refusal::Managed(_) => "managed".into(),
        Refusal::Status(_) => "status".into(),
    }
}

#[test]
fn path_errors_read_as_the_vectors_say() {
    let v = vectors();
    let all = [
        PathError::NotAbsolute,
        PathError::BadEscape,
        PathError::Nul,
        PathError::Backslash,
        PathError::AboveRoot,
        PathError::EncodedSlash,
    ];
    let listed = v["path_errors"].as_object().map_or(0, |m| m.len());
    assert_eq!(listed, all.len(), "one message per PathError");
    for e in all {
        assert_eq!(v["path_errors"][code(e)], e.to_string(), "{e:?}");
    }
}

#[test]
fn paths_normalise_as_the_vectors_say() {
    let v = vectors();
    for entry in entries(&v, "/path/normalize") {
        let input = text(&entry, "path");
        let got = path::normalize(input);
        let got = got.as_deref().map_err(|&e| code(e));
        let want = match entry.get("normalized") {
            Some(_) => Ok(text(&entry, "normalized")),
            None => Err(text(&entry, "error")),
        };
        assert_eq!(got, want, "normalize {input:?}");
        assert_eq!(
            path::check(input).map_err(code),
            want.map(|_| ()),
            "check {input:?}"
        );
    }
    for entry in entries(&v, "/path/escaped_slash") {
        let target = text(&entry, "target");
        assert_eq!(
            Some(path::has_escaped_slash(target)),
            entry["has"].as_bool(),
            "{target}"
        );
        assert_eq!(
            path::decode_escaped_slashes(target),
            text(&entry, "decoded"),
            "{target}"
        );
    }
    for entry in entries(&v, "/path/path_of") {
        let target = text(&entry, "target");
        assert_eq!(path::path_of(target), text(&entry, "path"), "{target}");
    }
}

#[test]
fn the_managed_headers_are_the_vectors_list() {
    let v = vectors();
    let names = entries(&v, "/managed/managed");
    let listed: Vec<&str> = names
        .iter()
        .map(|n| n.as_str().unwrap_or_default())
        .collect();
    let mut ours: Vec<&str> = HOP_BY_HOP.iter().chain(&OWNED).copied().collect();
    let mut theirs = listed.clone();
    ours.sort_unstable();
    theirs.sort_unstable();
    assert_eq!(ours, theirs);
    for name in &listed {
        assert!(is_managed(name), "{name}");
        assert!(
            is_managed_name(name.to_ascii_uppercase().as_bytes()),
            "{name}"
        );
    }
    for entry in entries(&v, "/managed/not_managed") {
        let name = entry.as_str().unwrap_or_default();
        assert!(
            !is_managed(name) && !is_managed_name(name.as_bytes()),
            "{name}"
        );
    }
}

#[test]
fn decisions_get_the_vectors_verdicts() {
    let v = vectors();
    for entry in entries(&v, "/decision/method") {
        let m = text(&entry, "method");
        assert_eq!(
            verdict(decision::check_method(m), m.as_bytes()),
            entry["verdict"],
            "method {m:?}"
        );
    }
    for entry in entries(&v, "/decision/target") {
        let t = text(&entry, "target");
        assert_eq!(
            verdict(decision::check_target(t), t.as_bytes()),
            entry["verdict"],
            "target {t:?}"
        );
    }
    for entry in entries(&v, "/decision/authority") {
        let a = text(&entry, "authority");
        assert_eq!(
            verdict(decision::check_authority(a), a.as_bytes()),
            entry["verdict"],
            "authority {a:?}"
        );
    }
    for entry in entries(&v, "/decision/field") {
        let (n, val) = (text(&entry, "name"), text(&entry, "value"));
        assert_eq!(
            verdict(
                decision::check_field(n.as_bytes(), val.as_bytes()),
                n.as_bytes()
            ),
            entry["verdict"],
            "field {n:?}: {val:?}"
        );
    }
    for entry in entries(&v, "/decision/status") {
        let s = entry["status"].as_u64().and_then(|s| u16::try_from(s).ok());
        let s = s.unwrap_or_else(|| panic!("{entry}: no status"));
        assert_eq!(
            verdict(decision::check_status(s), &[]),
            entry["verdict"],
            "status {s}"
        );
    }
}

/// A request of `/scope/matches`, as every implementation reads it.
struct VectorRequest {
    method: String,
    authority: String,
    path: String,
    headers: Vec<u8>,
}

fn vector_request(entry: &Value) -> VectorRequest {
    let target = text(entry, "target");
    let path = path::normalize(path::path_of(target))
        .unwrap_or_else(|e| panic!("{entry}: target does not normalise: {e}"));
    let mut headers = Vec::new();
    for field in entry["headers"].as_array().into_iter().flatten() {
        let (Some(n), Some(v)) = (field[0].as_str(), field[1].as_str()) else {
            panic!("{entry}: a header is a [name, value] pair");
        };
        edgechain_wire::push(&mut headers, n.as_bytes(), v.as_bytes());
    }
    VectorRequest {
        method: text(entry, "method").to_owned(),
        authority: text(entry, "authority").to_owned(),
        path,
        headers,
    }
}

#[test]
fn scopes_decide_as_the_vectors_say() {
    use edgechain_wire::scope::{self, Facts, PackedHeaders};
    let v = vectors();
    for case in entries(&v, "/scope/matches") {
        let rule = &case["rule"];
        let scope = scope::from_json(rule.get("when"), rule.get("unless"))
            .unwrap_or_else(|e| panic!("{rule}: {e}"))
            .unwrap_or_else(|| panic!("{rule}: no rule"));
        for entry in entries(&case, "/requests") {
            let r = vector_request(&entry);
            let facts = Facts::new(&r.method, &r.authority, &r.path);
            assert_eq!(
                Some(scope.applies(&facts, &PackedHeaders(&r.headers))),
                entry["runs"].as_bool(),
                "{rule} on {entry}"
            );
        }
    }
    for case in entries(&v, "/scope/refused") {
        let rule = &case["rule"];
        match scope::from_json(rule.get("when"), rule.get("unless")) {
            Ok(_) => panic!("{rule} was accepted"),
            Err(e) => assert_eq!(e.at, text(&case, "at"), "{rule}: {e}"),
        }
    }
}

/// All the vector rules compiled into one `ScopeSet` (so they share atoms:
/// methods, hosts, paths, header names and values) decide every vector
/// request as each rule does alone.
#[test]
fn a_scope_set_decides_as_each_scope_alone() {
    use edgechain_wire::scope::{self, Facts, PackedHeaders, ScopeSet};
    let v = vectors();
    let cases = entries(&v, "/scope/matches");
    let scopes: Vec<_> = cases
        .iter()
        .map(|case| {
            let rule = &case["rule"];
            scope::from_json(rule.get("when"), rule.get("unless"))
                .unwrap_or_else(|e| panic!("{rule}: {e}"))
        })
        .collect();
    // An unscoped link between the scoped ones, which always runs.
    let mut links = scopes.clone();
    links.insert(1, None);
    let set = ScopeSet::new(links.clone());
    assert_eq!(set.len(), links.len());
    let mut runs_seen = 0;
    for case in &cases {
        for entry in entries(case, "/requests") {
            let r = vector_request(&entry);
            let facts = Facts::new(&r.method, &r.authority, &r.path);
            let headers = PackedHeaders(&r.headers);
            let mut runs = Vec::new();
            set.decide(&facts, &headers, |k, w| {
                runs.extend((0..64).filter(|j| w & (1 << j) != 0).map(|j| 64 * k + j));
            });
            let alone: Vec<usize> = (0..links.len())
                .filter(|&i| {
                    links[i]
                        .as_ref()
                        .is_none_or(|s| s.applies(&facts, &headers))
                })
                .collect();
            assert_eq!(runs, alone, "{entry}");
            runs_seen += runs.len();
        }
    }
    assert!(runs_seen > cases.len(), "{runs_seen}");
}

fn cache_verdict(checked: Result<(), edgechain_wire::cache::CacheRefusal>) -> &'static str {
    checked.err().map_or("ok", |r| r.code())
}

#[test]
fn cache_calls_get_the_vectors_verdicts() {
    use edgechain_wire::cache::{self, Call, Phase};
    let v = vectors();
    for e in entries(&v, "/cache/phase") {
        let call = match text(&e, "call") {
            "add-key" => Call::AddKey,
            "bypass" => Call::Bypass,
            "set-ttl" => Call::SetTtl,
            "add-surrogate-keys" => Call::AddSurrogateKeys,
            other => panic!("unknown call {other}"),
        };
        assert_eq!(call.name(), text(&e, "call"));
        let phase = match text(&e, "phase") {
            "outside" => Phase::Outside,
            "request" => Phase::Request,
            "response" => Phase::Response,
            other => panic!("unknown phase {other}"),
        };
        assert_eq!(
            cache_verdict(call.check_phase(phase)),
            text(&e, "verdict"),
            "{e}"
        );
    }
    for e in entries(&v, "/cache/key_part") {
        let got = cache_verdict(cache::check_key_part(text(&e, "part")));
        assert_eq!(got, text(&e, "verdict"), "{e}");
    }
    for e in entries(&v, "/cache/ttl") {
        let seconds = e["seconds"].as_u64().and_then(|s| u32::try_from(s).ok());
        let seconds = seconds.unwrap_or_else(|| panic!("{e}: seconds"));
        assert_eq!(
            cache_verdict(cache::check_ttl(seconds)),
            text(&e, "verdict"),
            "{e}"
        );
    }
    for e in entries(&v, "/cache/surrogate_key") {
        let got = cache_verdict(cache::check_surrogate_key(text(&e, "key")));
        assert_eq!(got, text(&e, "verdict"), "{e}");
    }
    let limits = &v["cache"]["limits"];
    for (name, value) in [
        ("max_key_parts", cache::MAX_KEY_PARTS as u64),
        ("max_key_part_bytes", cache::MAX_KEY_PART_BYTES as u64),
        ("max_ttl_seconds", u64::from(cache::MAX_TTL_SECONDS)),
        ("max_surrogate_keys", cache::MAX_SURROGATE_KEYS as u64),
        (
            "max_surrogate_key_bytes",
            cache::MAX_SURROGATE_KEY_BYTES as u64,
        ),
    ] {
        assert_eq!(limits[name].as_u64(), Some(value), "cache.limits.{name}");
    }
}
