//! `when` and `unless` read from manifest JSON, every refusal naming the
//! field (`when.path.glob[1]`) and the reason.

use super::{ConditionsBuilder, PathKind, Scope, ScopeError, error};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde_json::Value;

/// The scope of a manifest entry's `when` and `unless` values (either may be
/// absent); `None` when both are.
pub fn from_json(
    when: Option<&Value>,
    unless: Option<&Value>,
) -> Result<Option<Scope<String>>, ScopeError> {
    let when = when.map(|v| conditions(v, "when")).transpose()?;
    let unless = unless.map(|v| conditions(v, "unless")).transpose()?;
    Ok(Scope::new(when.flatten(), unless.flatten()))
}

fn conditions(value: &Value, at: &str) -> Result<Option<super::Conditions<String>>, ScopeError> {
    let Value::Object(map) = value else {
        return Err(error(
            at,
            "must be an object of conditions (host, path, method, header)",
        ));
    };
    if map.is_empty() {
        return Err(error(
            at,
            "has no conditions; leave it out to run the link on every request",
        ));
    }
    let mut b = ConditionsBuilder::default();
    for (key, value) in map {
        let here = format!("{at}.{key}");
        match key.as_str() {
            "host" => {
                for (i, v) in strings(value, &here)?.iter().enumerate() {
                    b.host(v, &indexed(&here, i, value))?;
                }
            }
            "method" => {
                for (i, v) in strings(value, &here)?.iter().enumerate() {
                    b.method(v, &indexed(&here, i, value))?;
                }
            }
            "path" => {
                let Value::Object(kinds) = value else {
                    return Err(error(
                        &here,
                        "must be an object with `exact`, `prefix` or `glob`",
                    ));
                };
                if kinds.is_empty() {
                    return Err(error(&here, "is empty: give `exact`, `prefix` or `glob`"));
                }
                for (kind, values) in kinds {
                    let at_kind = format!("{here}.{kind}");
                    let kind = match kind.as_str() {
                        "exact" => PathKind::Exact,
                        "prefix" => PathKind::Prefix,
                        "glob" => PathKind::Glob,
                        other => {
                            return Err(error(
                                &here,
                                format!("unknown key `{other}`; expected exact, prefix or glob"),
                            ));
                        }
                    };
                    for (i, v) in strings(values, &at_kind)?.iter().enumerate() {
                        b.path(kind, v, &indexed(&at_kind, i, values))?;
                    }
                }
            }
            "header" => {
                let Value::Object(fields) = value else {
                    return Err(error(
                        &here,
                        "must be an object of header names, each `true` (present) or values",
                    ));
                };
                if fields.is_empty() {
                    return Err(error(&here, "is empty: name at least one header"));
                }
                for (name, want) in fields {
                    let at_name = format!("{here}.{name}");
                    match want {
                        Value::Bool(true) => b.header(name, None, &at_name)?,
                        Value::Bool(false) => {
                            return Err(error(
                                &at_name,
                                "`false` is not a condition; put the header under `unless` to skip requests that carry it",
                            ));
                        }
                        other => {
                            let values = strings(other, &at_name).map_err(|_| {
                                error(
                                    &at_name,
                                    "must be `true` (present), a value or a list of values",
                                )
                            })?;
                            for (i, v) in values.iter().enumerate() {
                                super::header_value(v, &indexed(&at_name, i, other))?;
                            }
                            let values: Vec<&str> = values.iter().map(String::as_str).collect();
                            b.header(name, Some(&values), &at_name)?;
                        }
                    }
                }
            }
            other => {
                return Err(error(
                    at,
                    format!("unknown key `{other}`; expected host, path, method or header"),
                ));
            }
        }
    }
    Ok(b.finish())
}

/// `at[i]` when `value` is a list, `at` for a single value.
fn indexed(at: &str, i: usize, value: &Value) -> String {
    if value.is_array() {
        format!("{at}[{i}]")
    } else {
        String::from(at)
    }
}

/// A string or a non-empty list of strings.
fn strings(value: &Value, at: &str) -> Result<Vec<String>, ScopeError> {
    match value {
        Value::String(s) => Ok(alloc::vec![s.clone()]),
        Value::Array(items) if items.is_empty() => Err(error(
            at,
            "is an empty list, which nothing matches; leave the condition out instead",
        )),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(error(&format!("{at}[{i}]"), "must be a string")),
            })
            .collect(),
        _ => Err(error(at, "must be a string or a list of strings")),
    }
}
