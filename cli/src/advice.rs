//! Advice `edgechain validate` gives on a chain that loads: settings that are
//! valid but almost certainly not what the author meant.
//!
//! Today one: a JavaScript or Python plugin without `"instance"` in the
//! manifest runs `per-request` (the default, right for Rust), where a fresh
//! interpreter instance per request costs it several times the CPU of
//! `reuse` (445 against 20 800 requests a second for a Python link). The
//! component's language is read from its `producers` custom sections (the
//! tools that built it), so a hand-written manifest gets the advice too.

use edgechain::config::{MANIFEST_FILE, Manifest};
use std::path::{Path, PathBuf};

/// An interpreter a component carries, as named in its `producers` sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interpreter {
    /// QuickJS (`componentize-qjs`) or StarlingMonkey (`componentize-js`).
    JavaScript,
    /// CPython (`componentize-py`).
    Python,
}

impl Interpreter {
    fn describe(self) -> &'static str {
        match self {
            Interpreter::JavaScript => "JavaScript",
            Interpreter::Python => "Python",
        }
    }
}

/// One JSON line per plugin link of the chain in `dir` that carries an
/// interpreter and has no `"instance"` in its manifest entry. The chain is
/// expected to have loaded already; whatever cannot be read is skipped.
pub fn instance_mode_warnings(dir: &Path, module_dirs: &[PathBuf]) -> Vec<String> {
    let Ok((manifest, bytes)) = Manifest::load(dir, module_dirs) else {
        return Vec::new();
    };
    let Ok(raw) = serde_json::from_slice::<serde_json::Value>(
        bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes),
    ) else {
        return Vec::new();
    };
    let entries = raw["proxychain"].as_array().cloned().unwrap_or_default();
    let file = dir.join(MANIFEST_FILE);
    let mut out = Vec::new();
    // The cache entry is no link: pair links with their own entries.
    let link_entries = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.get("cache").is_none());
    for (link, (index, entry)) in manifest.links.iter().zip(link_entries) {
        if entry.get("instance").is_some() {
            continue;
        }
        let Ok(module) = std::fs::read(dir.join(&link.module)) else {
            continue;
        };
        if !is_plugin(&module) {
            continue; // a wasi:http app always gets a fresh instance
        }
        let Some(interpreter) = interpreter_of(&module) else {
            continue;
        };
        let lang = interpreter.describe();
        let message = format!(
            "{}: proxychain[{index}] ({}): a {lang} plugin without \"instance\" runs per-request: \
             a fresh {lang} interpreter for every request costs several times the CPU of \"reuse\" \
             (docs/plugins.md); add \"instance\": \"reuse\" to the link (or \"instance\": \
             \"per-request\" to keep isolation and silence this)",
            file.display(),
            link.name
        );
        let line = serde_json::json!({
            "level": "WARN",
            "message": message,
            "link": link.name,
            "file": file.display().to_string(),
        });
        out.push(line.to_string());
    }
    out
}

/// Whether the component exports the plugin interface (`edgechain:plugin/filter`).
fn is_plugin(bytes: &[u8]) -> bool {
    contains(bytes, b"edgechain:plugin/filter@")
}

/// The interpreter a component carries: from the languages and tools its
/// `producers` sections name (in the component or any module inside it;
/// StarlingMonkey's say `JavaScript` and `ComponentizeJS`), else from the
/// runtime library componentize-qjs or componentize-py links in by name
/// (their producers name only the Rust and C tools).
pub fn interpreter_of(bytes: &[u8]) -> Option<Interpreter> {
    let mut tools = Vec::new();
    producers(bytes, &mut tools, 0);
    let named = tools.iter().find_map(|tool| match tool.as_str() {
        "JavaScript" | "ComponentizeJS" | "componentize-js" | "componentize-qjs" => {
            Some(Interpreter::JavaScript)
        }
        "Python" | "componentize-py" => Some(Interpreter::Python),
        _ => None,
    });
    named
        .or_else(|| contains(bytes, QUICKJS_RUNTIME).then_some(Interpreter::JavaScript))
        .or_else(|| contains(bytes, PYTHON_RUNTIME).then_some(Interpreter::Python))
}

/// The name of the runtime module in every componentize-qjs component.
const QUICKJS_RUNTIME: &[u8] = b"componentize_qjs_runtime.wasm";
/// The name of the runtime library in every componentize-py component.
const PYTHON_RUNTIME: &[u8] = b"libcomponentize_py_runtime.so";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Collect the names in every `producers` section of the wasm binary (a
/// module or component) in `bytes`, nested modules and components included.
fn producers(bytes: &[u8], tools: &mut Vec<String>, depth: usize) {
    if depth > 8 || bytes.len() < 8 || !bytes.starts_with(b"\0asm") {
        return;
    }
    let mut r = Reader { bytes, at: 8 };
    while r.at < bytes.len() {
        let (Some(id), Some(size)) = (r.byte(), r.leb()) else {
            return;
        };
        let Some(end) = r.at.checked_add(size).filter(|e| *e <= bytes.len()) else {
            return;
        };
        let body = &bytes[r.at..end];
        match id {
            0 => {
                let mut s = Reader { bytes: body, at: 0 };
                if s.name().as_deref() == Some("producers") {
                    read_producers(&mut s, tools);
                }
            }
            // A core module (in a component) or a nested component.
            1 | 4 if bytes[4..8] != [1, 0, 0, 0] => producers(body, tools, depth + 1),
            _ => {}
        }
        r.at = end;
    }
}

/// The `producers` section's fields: each a name and a list of (name, version).
fn read_producers(r: &mut Reader<'_>, tools: &mut Vec<String>) {
    let Some(fields) = r.leb() else { return };
    for _ in 0..fields {
        let Some(_field) = r.name() else { return };
        let Some(values) = r.leb() else { return };
        for _ in 0..values {
            let (Some(name), Some(_version)) = (r.name(), r.name()) else {
                return;
            };
            tools.push(name);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn leb(&mut self) -> Option<usize> {
        let mut value: u64 = 0;
        for shift in (0..35).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return usize::try_from(value).ok();
            }
        }
        None
    }

    fn name(&mut self) -> Option<String> {
        let n = self.leb()?;
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len())?;
        let s = std::str::from_utf8(&self.bytes[self.at..end])
            .ok()?
            .to_owned();
        self.at = end;
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leb(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut n = n;
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn name(s: &str) -> Vec<u8> {
        let mut out = leb(s.len());
        out.extend_from_slice(s.as_bytes());
        out
    }

    fn producers_section(tool: &str) -> Vec<u8> {
        let mut body = name("producers");
        body.extend(leb(1));
        body.extend(name("processed-by"));
        body.extend(leb(1));
        body.extend(name(tool));
        body.extend(name("1.0.0"));
        let mut out = vec![0];
        out.extend(leb(body.len()));
        out.extend(body);
        out
    }

    #[test]
    fn the_interpreter_is_read_from_nested_producers_sections() {
        let mut core = b"\0asm\x01\0\0\0".to_vec();
        core.extend(producers_section("componentize-py"));
        let mut component = b"\0asm\x0d\0\x01\0".to_vec();
        component.push(1);
        component.extend(leb(core.len()));
        component.extend(&core);
        assert_eq!(interpreter_of(&component), Some(Interpreter::Python));

        let mut js = b"\0asm\x0d\0\x01\0".to_vec();
        js.extend(producers_section("ComponentizeJS"));
        assert_eq!(interpreter_of(&js), Some(Interpreter::JavaScript));
        let mut qjs = b"\0asm\x0d\0\x01\0".to_vec();
        qjs.extend(b"\x00\x20\x0cx:componentize_qjs_runtime.wasm:memory");
        assert_eq!(interpreter_of(&qjs), Some(Interpreter::JavaScript));
        let mut py = b"\0asm\x0d\0\x01\0".to_vec();
        py.extend(b"\x00\x20\x0cx:libcomponentize_py_runtime.so:memory");
        assert_eq!(interpreter_of(&py), Some(Interpreter::Python));

        let mut rust = b"\0asm\x0d\0\x01\0".to_vec();
        rust.extend(producers_section("wit-component"));
        assert_eq!(interpreter_of(&rust), None);
        assert_eq!(
            interpreter_of(b"\0asm\x0d\0\x01\0\x00\xff"),
            None,
            "truncated"
        );
        assert_eq!(interpreter_of(b"not wasm"), None);
    }
}
