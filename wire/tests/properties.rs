//! Generated inputs for what crosses the plugin boundary: any bytes a plugin
//! hands back and any path a client sends decode or normalise cleanly or
//! fail cleanly, never panic, and the properties the host relies on hold.

use edgechain_wire::path::{check, normalize, path_of};
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
}
