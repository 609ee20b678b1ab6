//! Reading `Cache-Control`-shaped fields (RFC 9111 §5.2, and the same list
//! syntax in `CDN-Cache-Control`, the targeted field and `Surrogate-Control`,
//! RFC 9213 §2.1) into one struct of the directives a shared cache acts on.
//!
//! Parsing is lenient where the RFC asks for it: unknown directives are
//! ignored, a quoted argument is accepted, and an invalid delta-seconds makes
//! its directive count as absent except for the ones where absent would be
//! less safe (`max-age` invalid means "stale", RFC 9111 §4.2.1).

use http::HeaderMap;
use http::header::HeaderName;

/// The directives of one field (or several lines of one field) that a shared
/// cache reads. Durations are seconds, saturated at `u32::MAX`-ish values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `max-age=N` (an invalid argument reads as 0: stale).
    pub max_age: Option<u64>,
    /// `s-maxage=N`.
    pub s_maxage: Option<u64>,
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache` (with or without field names: both mean "validate").
    pub no_cache: bool,
    /// `private` (with or without field names: a shared cache stores neither).
    pub private: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `must-understand`.
    pub must_understand: bool,
    /// `stale-while-revalidate=N` (RFC 5861).
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error=N` (RFC 5861).
    pub stale_if_error: Option<u64>,
    /// Request `max-stale` (`Some(None)`: any staleness).
    pub max_stale: Option<Option<u64>>,
    /// Request `min-fresh=N`.
    pub min_fresh: Option<u64>,
    /// Request `only-if-cached`.
    pub only_if_cached: bool,
}

impl Directives {
    /// Parse every line of field `name` in `headers`; `None` when the field
    /// is absent (RFC 9213: an absent targeted field defers to the next one).
    pub fn from_field(headers: &HeaderMap, name: &HeaderName) -> Option<Directives> {
        let mut lines = headers.get_all(name).iter().peekable();
        lines.peek()?;
        let mut d = Directives::default();
        for line in lines {
            // Non-ASCII bytes cannot be part of a directive; skip the line.
            if let Ok(text) = line.to_str() {
                d.add(text);
            }
        }
        Some(d)
    }

    /// Parse `Surrogate-Control` (Edge Architecture 1.0): like
    /// `Cache-Control`, but a directive may end in `;target`, naming the
    /// surrogate it is for; edgechain takes every directive as its own.
    pub fn from_surrogate_control(headers: &HeaderMap, name: &HeaderName) -> Option<Directives> {
        let mut lines = headers.get_all(name).iter().peekable();
        lines.peek()?;
        let mut d = Directives::default();
        for line in lines {
            if let Ok(text) = line.to_str() {
                let untargeted: Vec<&str> = split_list(text)
                    .map(|item| item.split_once(';').map_or(item, |(d, _)| d))
                    .collect();
                d.add(&untargeted.join(","));
            }
        }
        Some(d)
    }

    /// Parse one field value.
    pub fn parse(text: &str) -> Directives {
        let mut d = Directives::default();
        d.add(text);
        d
    }

    fn add(&mut self, text: &str) {
        for item in split_list(text) {
            let (name, arg) = match item.split_once('=') {
                Some((n, a)) => (n.trim(), Some(unquote(a.trim()))),
                None => (item.trim(), None),
            };
            let secs = || arg.and_then(delta_seconds);
            match name.to_ascii_lowercase().as_str() {
                // Invalid or missing max-age: treat as stale (RFC 9111 §4.2.1).
                "max-age" => self.max_age = Some(secs().unwrap_or(0)),
                "s-maxage" => self.s_maxage = Some(secs().unwrap_or(0)),
                "no-store" => self.no_store = true,
                "no-cache" => self.no_cache = true,
                "private" => self.private = true,
                "public" => self.public = true,
                "must-revalidate" => self.must_revalidate = true,
                "proxy-revalidate" => self.proxy_revalidate = true,
                "must-understand" => self.must_understand = true,
                "stale-while-revalidate" => {
                    if let Some(s) = secs() {
                        self.stale_while_revalidate = Some(s);
                    }
                }
                "stale-if-error" => {
                    if let Some(s) = secs() {
                        self.stale_if_error = Some(s);
                    }
                }
                "max-stale" => self.max_stale = Some(secs()),
                "min-fresh" => {
                    if let Some(s) = secs() {
                        self.min_fresh = Some(s);
                    }
                }
                "only-if-cached" => self.only_if_cached = true,
                _ => {}
            }
        }
    }
}

/// Split a comma list, keeping commas inside quoted strings.
fn split_list(text: &str) -> impl Iterator<Item = &str> {
    let mut items = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&text[start..]);
    items.into_iter().map(str::trim).filter(|s| !s.is_empty())
}

fn unquote(arg: &str) -> &str {
    arg.strip_prefix('"')
        .and_then(|a| a.strip_suffix('"'))
        .unwrap_or(arg)
}

/// `delta-seconds` (RFC 9111 §1.2.2): digits only; too large saturates at
/// 2^31 (the RFC's suggested "infinity").
pub fn delta_seconds(arg: &str) -> Option<u64> {
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(arg.parse::<u64>().map_or(1 << 31, |n| n.min(1 << 31)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn reads_every_directive_a_shared_cache_uses() {
        let d = Directives::parse(
            "Public, max-age=60, S-MAXAGE=\"120\", no-cache=\"set-cookie, x\", private=\"a\", must-revalidate, proxy-revalidate, no-store, stale-while-revalidate=5, stale-if-error=7, min-fresh=3, only-if-cached, max-stale",
        );
        assert_eq!(
            d,
            Directives {
                max_age: Some(60),
                s_maxage: Some(120),
                no_store: true,
                no_cache: true,
                private: true,
                public: true,
                must_revalidate: true,
                proxy_revalidate: true,
                must_understand: false,
                stale_while_revalidate: Some(5),
                stale_if_error: Some(7),
                max_stale: Some(None),
                min_fresh: Some(3),
                only_if_cached: true,
            }
        );
        assert_eq!(Directives::parse("max-stale=9").max_stale, Some(Some(9)));
    }

    #[test]
    fn invalid_max_age_is_stale_and_unknowns_are_ignored() {
        for bad in [
            "max-age=-1",
            "max-age=1.5",
            "max-age=",
            "max-age",
            "max-age=a",
        ] {
            assert_eq!(Directives::parse(bad).max_age, Some(0), "{bad}");
        }
        assert_eq!(Directives::parse("foo=bar, , ,baz"), Directives::default());
        assert_eq!(
            Directives::parse("max-age=99999999999999999999").max_age,
            Some(1 << 31)
        );
        assert_eq!(Directives::parse("stale-if-error=x").stale_if_error, None);
    }

    #[test]
    fn surrogate_control_targets_are_dropped() {
        let mut h = HeaderMap::new();
        let name = HeaderName::from_static("surrogate-control");
        h.insert(
            &name,
            HeaderValue::from_static("max-age=100;edge, no-store;other"),
        );
        let d = Directives::from_surrogate_control(&h, &name).unwrap_or_default();
        assert_eq!((d.max_age, d.no_store), (Some(100), true));
    }

    #[test]
    fn every_line_of_a_field_counts_and_absence_is_none() {
        let mut h = HeaderMap::new();
        let name = http::header::CACHE_CONTROL;
        assert_eq!(Directives::from_field(&h, &name), None);
        h.append(&name, HeaderValue::from_static("max-age=5"));
        h.append(&name, HeaderValue::from_static("private"));
        let d = Directives::from_field(&h, &name).unwrap_or_default();
        assert_eq!((d.max_age, d.private), (Some(5), true));
    }
}
