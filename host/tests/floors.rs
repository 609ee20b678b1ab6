//! The host's rooms import downward only: every module of `host/src` stands
//! on a floor in the table at the top of `src/lib.rs`, and may name only
//! modules on lower floors (or its own children, which stand below it). An
//! upward import, a cycle, or a module missing from the table fails here.
//!
//! Read as text, not compiled: a `crate::a::b` or `super::c` path anywhere in
//! a module's code (tests excepted) is a dependency on the longest module it
//! names.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The floors written in `src/lib.rs`: lines `//! | N | room, room |`.
fn floors(lib: &str) -> BTreeMap<String, u32> {
    let mut floors = BTreeMap::new();
    for line in lib.lines() {
        let Some(row) = line.strip_prefix("//! |") else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Some(floor) = cells.first().and_then(|c| c.parse::<u32>().ok()) else {
            continue;
        };
        for room in cells.get(1).copied().unwrap_or_default().split(',') {
            let room = room.trim().trim_matches('`');
            if !room.is_empty() {
                floors.insert(room.to_owned(), floor);
            }
        }
    }
    floors
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `src/lib.rs` is the crate.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter(|p| p != "mod")
        .collect();
    if parts == ["lib"] {
        String::new()
    } else {
        parts.join("::")
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module paths `code` names (`crate::x::y`, `super::z`), resolved from
/// `module`, before any `#[cfg(test)]`.
fn named_paths(module: &str, code: &str) -> Vec<Vec<String>> {
    let code = code.split("#[cfg(test)]").next().unwrap_or_default();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut paths = Vec::new();
    for (start, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if start > 0 && code[..start].ends_with(|c: char| ident(c) || c == ':') {
            continue;
        }
        let rest = &code[start..];
        let end = rest
            .find(|c: char| !(ident(c) || c == ':'))
            .unwrap_or(rest.len());
        let segments: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
        let mut base: Vec<String> = if module.is_empty() {
            Vec::new()
        } else {
            module.split("::").map(str::to_owned).collect()
        };
        let mut segments = segments.into_iter().peekable();
        match segments.next() {
            Some("crate") => base.clear(),
            Some("super") => {
                base.pop();
                while segments.next_if_eq(&"super").is_some() {
                    base.pop();
                }
            }
            _ => continue,
        }
        base.extend(segments.map(str::to_owned));
        paths.push(base);
    }
    paths
}

/// The longest module among `known` that `path` starts with.
fn target<'k>(path: &[String], known: &'k BTreeMap<String, u32>) -> Option<&'k str> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find_map(|m| known.get_key_value(&m).map(|(k, _)| k.as_str()))
}

/// What is wrong with the floors of the crate whose sources are in `src`.
fn problems(src: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let floors = floors(&lib);
    let mut problems = Vec::new();
    if floors.is_empty() {
        problems.push("no floor table in src/lib.rs".to_owned());
    }
    let mut files = Vec::new();
    rust_files(src, &mut files);
    for file in &files {
        let module = module_of(src, file);
        if module.is_empty() {
            continue;
        }
        let Some(&own) = floors.get(&module) else {
            problems.push(format!(
                "`{module}` stands on no floor: add it to the table in src/lib.rs"
            ));
            continue;
        };
        let code = std::fs::read_to_string(file).expect("source");
        for path in named_paths(&module, &code) {
            let Some(named) = target(&path, &floors) else {
                continue;
            };
            if named != module && floors[named] >= own {
                problems.push(format!(
                    "`{module}` (floor {own}) names `{}`, in `{named}` on floor {}",
                    path.join("::"),
                    floors[named]
                ));
            }
        }
    }
    for room in floors.keys() {
        let file = src.join(room.replace("::", "/"));
        if !file.with_extension("rs").exists() && !file.join("mod.rs").exists() {
            problems.push(format!("the floor table names `{room}`, which has no file"));
        }
    }
    problems.sort();
    problems.dedup();
    problems
}

#[test]
fn every_module_imports_only_rooms_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = problems(&src);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn an_upward_import_a_cycle_and_an_unplaced_module_are_caught() {
    let dir = std::env::temp_dir().join(format!("edgechain-floors-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("high")).expect("dirs");
    let write = |name: &str, text: &str| std::fs::write(src.join(name), text).expect("write");
    write(
        "lib.rs",
        "//! | floor | rooms |\n//! |---|---|\n//! | 0 | `low` |\n//! | 1 | `high::part` |\n//! | 2 | `high` |\n",
    );
    write(
        "low.rs",
        "fn f() { crate::high::g() }\n#[cfg(test)]\nmod t { use crate::high::x; }\n",
    );
    write(
        "high/mod.rs",
        "mod part; use crate::low; pub fn g() { part::h() }\n",
    );
    write("high/part.rs", "use super::g; use super::super::low::x;\n");
    write("stray.rs", "\n");
    let found = problems(&src);
    std::fs::remove_dir_all(&dir).expect("clean up");
    assert_eq!(
        found,
        vec![
            "`high::part` (floor 1) names `high::g`, in `high` on floor 2",
            "`low` (floor 0) names `high::g`, in `high` on floor 2",
            "`stray` stands on no floor: add it to the table in src/lib.rs",
        ]
    );
}
