//! Generated inputs for what crosses the plugin boundary: any bytes a plugin
//! hands back and any path a client sends decode or normalise cleanly or
//! fail cleanly, never panic, and the properties the host relies on hold.

use edgechain_wire::decision::{check_target, check_target_with};
use edgechain_wire::managed::{is_managed, is_managed_name};
use edgechain_wire::path::{
    EscapedSlashes, check, check_decoding_slashes, decode_escaped_slashes, normalize, path_of,
};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_block_decodes_or_fails_once(block in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut failed = 0;
        for field in edgechain_wire::fields(&block) {
            match field {
                Ok((name, value)) => {
                    prop_assert!(failed == 0, "no field after a failure");
                    prop_assert!(name.len() + value.len() <= block.len());
                }
                Err(_) => failed += 1,
            }
        }
        prop_assert!(failed <= 1);
    }

    #[test]
    fn encoded_fields_round_trip(
        fields in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..40), proptest::collection::vec(any::<u8>(), 0..80)),
            0..20,
        )
    ) {
        let block = edgechain_wire::encode(fields.iter().map(|(n, v)| (n.as_slice(), v.as_slice())));
        let decoded: Result<Vec<_>, _> = edgechain_wire::fields(&block)
            .map(|f| f.map(|(n, v)| (n.to_vec(), v.to_vec())))
            .collect();
        prop_assert_eq!(decoded, Ok(fields));
    }

    #[test]
    fn any_path_normalises_to_a_canonical_path_or_is_refused(
        path in "(/|%|[a-zA-Z0-9._~-]|%2[eEfF]|%5[cC]|%00|\\.\\.|//|[ -~]|\\PC){0,40}"
    ) {
        prop_assert_eq!(check(&path).is_ok(), normalize(&path).is_ok(), "check agrees with normalize");
        if let Ok(out) = normalize(&path) {
            prop_assert!(out.starts_with('/'), "{out}");
            prop_assert!(out.is_ascii(), "{out}");
            prop_assert!(!out.contains("//"), "{out}");
            prop_assert!(!out.split('/').any(|s| s == "." || s == ".."), "{out}");
            prop_assert!(!out.contains('\\'), "{out}");
            // Canonical: normalising again changes nothing.
            prop_assert_eq!(normalize(&out), Ok(out.clone()));
        }
    }

    #[test]
    fn spellings_of_one_path_agree(segments in proptest::collection::vec("[a-z]{1,6}", 1..5)) {
        let plain = format!("/{}", segments.join("/"));
        let encoded: String = plain
            .bytes()
            .map(|b| if b == b'/' { "/".to_owned() } else { format!("%{b:02x}") })
            .collect();
        let dotted = format!("/x/..{}", plain.replace('/', "//./"));
        prop_assert_eq!(normalize(&plain), Ok(plain.clone()));
        prop_assert_eq!(normalize(&encoded), Ok(plain.clone()));
        prop_assert_eq!(normalize(&dotted), Ok(plain.clone()));
    }

    #[test]
    fn the_query_never_changes_the_path(path in "/[a-z/]{0,20}", query in "[ -~]{0,20}") {
        let target = format!("{path}?{query}");
        prop_assert_eq!(path_of(&target), path.as_str());
    }

    /// Of a path that starts with `/` (a leading `%2F` is not one).
    #[test]
    fn checking_while_decoding_is_checking_the_decoded_path(
        path in "/(/|%|[a-z.]|%2[eEfF]|%5[cC]|%00|%2|\\.\\.|//){0,24}"
    ) {
        prop_assert_eq!(
            check_decoding_slashes(&path),
            check(&decode_escaped_slashes(&path)),
            "{}", path
        );
    }

    /// A host set to decode `%2F` forwards the decoded target: checking
    /// with the policy is checking what is forwarded.
    #[test]
    fn a_decoding_host_checks_the_target_it_forwards(
        target in "/(%2[fF]|%|[a-z.]|/|\\.\\.){0,16}(\\?[a-z%2F]{0,5})?"
    ) {
        let decoded = decode_escaped_slashes(&target);
        prop_assert_eq!(
            check_target_with(&target, EscapedSlashes::Decode).is_ok(),
            check_target(&decoded).is_ok(),
            "{} as {}", target, decoded
        );
    }

    #[test]
    fn managed_names_match_in_any_case(
        name in "(?i:host|content-length|expect|te|connection|proxy-authorization)|[a-zA-Z-]{0,12}"
    ) {
        prop_assert_eq!(is_managed_name(name.as_bytes()), is_managed(&name.to_ascii_lowercase()));
    }
}

/// A condition object (`when` or `unless`) from small alphabets, so rules
/// share values and requests often match them.
fn conditions() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::{Map, Value, json};
    let hosts = proptest::sample::subsequence(
        vec![
            "a.example",
            "*.example",
            "A.b.example",
            "b.example.",
            "*.b.example",
            "[::1]",
        ],
        1..3,
    );
    let paths = (
        proptest::sample::select(vec!["exact", "prefix", "glob"]),
        proptest::sample::subsequence(
            vec!["/", "/a", "/a/", "/a/b", "/ab", "/products", "/a/b/c.css"],
            1..3,
        ),
        proptest::sample::subsequence(
            vec![
                "/a/**",
                "/**/b",
                "/a/*",
                "/?b",
                "/**",
                "/**/*.css",
                "/a/**/c*",
            ],
            1..3,
        ),
    );
    let methods = proptest::sample::subsequence(vec!["GET", "POST", "HEAD", "PURGE"], 1..3);
    let headers = proptest::collection::btree_map(
        proptest::sample::select(vec!["x-a", "X-B", "cookie"]),
        prop_oneof![
            Just(json!(true)),
            proptest::sample::subsequence(vec!["1", "2", "a, b"], 1..3).prop_map(|v| json!(v)),
        ],
        1..3,
    );
    (
        proptest::option::of(hosts),
        proptest::option::of(paths),
        proptest::option::of(methods),
        proptest::option::of(headers),
    )
        .prop_filter("some condition", |(h, p, m, x)| {
            h.is_some() || p.is_some() || m.is_some() || x.is_some()
        })
        .prop_map(|(h, p, m, x)| {
            let mut c = Map::new();
            if let Some(h) = h {
                c.insert("host".into(), json!(h));
            }
            if let Some((kind, plain, globs)) = p {
                let values = if kind == "glob" { globs } else { plain };
                c.insert("path".into(), json!({ kind: values }));
            }
            if let Some(m) = m {
                c.insert("method".into(), json!(m));
            }
            if let Some(x) = x {
                let x: Map<String, Value> = x.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                c.insert("header".into(), Value::Object(x));
            }
            Value::Object(c)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Links compiled together into a `ScopeSet` (sharing atoms) run for
    /// exactly the requests each link's own scope applies to.
    #[test]
    fn a_scope_set_decides_as_each_scope_alone(
        rules in proptest::collection::vec(
            (proptest::option::of(conditions()), proptest::option::of(conditions())),
            1..12,
        ),
        requests in proptest::collection::vec(
            (
                proptest::sample::select(vec!["GET", "POST", "HEAD", "PURGE", "get"]),
                proptest::sample::select(vec![
                    "a.example", "A.EXAMPLE:80", "c.b.example.", "b.example", "example", "[::1]:8",
                ]),
                proptest::sample::select(vec![
                    "/", "/a", "/a/", "/a/b", "/ab", "/b", "/c/b", "/a/b/c.css", "/products/42",
                ]),
                proptest::collection::vec(
                    (
                        proptest::sample::select(vec!["x-a", "X-b", "cookie", "accept"]),
                        proptest::sample::select(vec!["1", "2", "a, b", "3"]),
                    ),
                    0..4,
                ),
            ),
            1..8,
        ),
    ) {
        use edgechain_wire::scope::{self, Facts, PackedHeaders, ScopeSet};
        let scopes: Vec<_> = rules
            .iter()
            .map(|(w, u)| scope::from_json(w.as_ref(), u.as_ref()).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        let set = ScopeSet::new(scopes.clone());
        for (method, authority, path, fields) in &requests {
            let block = edgechain_wire::encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
            let headers = PackedHeaders(&block);
            let facts = Facts::new(method, authority, path);
            let mut runs = Vec::new();
            set.decide(&facts, &headers, |k, w| {
                runs.extend((0..64).filter(|j| w & (1 << j) != 0).map(|j| 64 * k + j));
            });
            let alone: Vec<usize> = (0..scopes.len())
                .filter(|&i| scopes[i].as_ref().is_none_or(|s| s.applies(&facts, &headers)))
                .collect();
            prop_assert_eq!(runs, alone, "{:?} on {} {} {} {:?}", rules, method, authority, path, fields);
        }
    }
}
