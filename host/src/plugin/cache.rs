//! The `cache` import: what a link asks of the HTTP cache for the request it
//! serves, checked against the phase it is called in and the limits below,
//! and recorded into that request's [`CacheDirectives`].
//!
//! The walk lends the request's directives to each hook call
//! ([`CacheCalls::begin`], [`CacheCalls::end`]), so the limits hold for all
//! links of a request together and the record stays in call order; a
//! [`CacheMark`] taken before the call undoes a failed hook's calls. Nothing
//! is allocated for a request whose links never call the import.

use crate::cache_directives::CacheDirectives;
use std::time::Duration;

/// Most key parts per request (all links together): each part is a
/// separate cache entry per value, so an unbounded list is a way to fill the
/// cache with one URL.
pub const MAX_KEY_PARTS: usize = 16;

/// Longest key part, in bytes.
pub const MAX_KEY_PART_BYTES: usize = 256;

/// Longest TTL a link may set: 365 days, beyond which "fresh" means
/// "forever" for any cache.
pub const MAX_TTL_SECONDS: u32 = 365 * 24 * 60 * 60;

/// Most distinct surrogate keys per request (all links together), what a
/// purge index holds per object.
pub const MAX_SURROGATE_KEYS: usize = 64;

/// Longest surrogate key, in bytes.
pub const MAX_SURROGATE_KEY_BYTES: usize = 256;

/// The hook a call is made in, which decides what it may ask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Phase {
    /// No request hook runs (`init`, instantiation): there is no request.
    #[default]
    Outside,
    /// `on-request`: before the cache looks the request up.
    Request,
    /// `on-response`: after the lookup, before the response is stored.
    Response,
}

/// Why a call was refused; nothing was recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheCallError {
    /// The call cannot take effect in this hook.
    #[error("`{call}` cannot take effect {phase}")]
    WrongPhase {
        /// The WIT function.
        call: &'static str,
        /// Where it was called, as words.
        phase: &'static str,
    },
    /// The input breaks a rule or a limit.
    #[error("{0}")]
    Invalid(String),
}

impl Phase {
    fn words(self) -> &'static str {
        match self {
            Phase::Outside => "outside a request hook (in `init`)",
            Phase::Request => "in `on-request`",
            Phase::Response => "in `on-response` (the lookup has happened)",
        }
    }
}

/// The cache calls of one instance: the phase its current hook runs in and
/// the request's directives, lent for that hook.
#[derive(Debug, Default)]
pub struct CacheCalls {
    phase: Phase,
    directives: CacheDirectives,
}

impl CacheCalls {
    /// Lend `directives` (the request's, so far) to a hook call in `phase`.
    pub fn begin(&mut self, phase: Phase, directives: &mut CacheDirectives) {
        self.phase = phase;
        self.directives = std::mem::take(directives);
    }

    /// Give the directives back after the call, with what it recorded.
    pub fn end(&mut self, directives: &mut CacheDirectives) {
        self.phase = Phase::Outside;
        *directives = std::mem::take(&mut self.directives);
    }

    fn only_in(&self, call: &'static str, allowed: &[Phase]) -> Result<(), CacheCallError> {
        if allowed.contains(&self.phase) {
            Ok(())
        } else {
            Err(CacheCallError::WrongPhase {
                call,
                phase: self.phase.words(),
            })
        }
    }

    /// `add-key`: append a key part.
    pub fn add_key(&mut self, part: String) -> Result<(), CacheCallError> {
        self.only_in("add-key", &[Phase::Request])?;
        let parts = &mut self.directives.key_parts;
        if parts.len() >= MAX_KEY_PARTS {
            return Err(invalid(format!(
                "a request may have at most {MAX_KEY_PARTS} key parts"
            )));
        }
        if part.len() > MAX_KEY_PART_BYTES {
            return Err(invalid(format!(
                "key part of {} bytes is over the limit of {MAX_KEY_PART_BYTES}",
                part.len()
            )));
        }
        if let Some(at) = part.chars().position(char::is_control) {
            return Err(invalid(format!(
                "key part has a control character (character {at})"
            )));
        }
        parts.push(part);
        Ok(())
    }

    /// `bypass`: keep the request away from the cache.
    pub fn bypass(&mut self) -> Result<(), CacheCallError> {
        self.only_in("bypass", &[Phase::Request])?;
        self.directives.bypass = true;
        Ok(())
    }

    /// `set-ttl`: override the freshness lifetime (the latest call wins).
    pub fn set_ttl(&mut self, seconds: u32) -> Result<(), CacheCallError> {
        self.only_in("set-ttl", &[Phase::Request, Phase::Response])?;
        if seconds > MAX_TTL_SECONDS {
            return Err(invalid(format!(
                "ttl of {seconds} s is over the limit of {MAX_TTL_SECONDS} s (365 days)"
            )));
        }
        self.directives.ttl = Some(Duration::from_secs(u64::from(seconds)));
        Ok(())
    }

    /// `add-surrogate-keys`: tag the response, all keys or none.
    pub fn add_surrogate_keys(&mut self, keys: Vec<String>) -> Result<(), CacheCallError> {
        self.only_in("add-surrogate-keys", &[Phase::Request, Phase::Response])?;
        for key in &keys {
            check_surrogate_key(key)?;
        }
        let have = &self.directives.surrogate_keys;
        let mut new: Vec<String> = Vec::new();
        for key in keys {
            if !have.contains(&key) && !new.contains(&key) {
                new.push(key);
            }
        }
        if have.len() + new.len() > MAX_SURROGATE_KEYS {
            return Err(invalid(format!(
                "a request may have at most {MAX_SURROGATE_KEYS} surrogate keys ({} already, {} new)",
                have.len(),
                new.len()
            )));
        }
        self.directives.surrogate_keys.append(&mut new);
        Ok(())
    }
}

/// Whether `key` may be a surrogate key: 1 to [`MAX_SURROGATE_KEY_BYTES`]
/// bytes of visible ASCII other than `,`, so it reads the same in
/// `Surrogate-Key` (space-separated), `Cache-Tag` (comma-separated) and a
/// purge request.
pub fn check_surrogate_key(key: &str) -> Result<(), CacheCallError> {
    if key.is_empty() {
        return Err(invalid("surrogate key is empty".into()));
    }
    if key.len() > MAX_SURROGATE_KEY_BYTES {
        return Err(invalid(format!(
            "surrogate key of {} bytes is over the limit of {MAX_SURROGATE_KEY_BYTES}",
            key.len()
        )));
    }
    if let Some(at) = key.bytes().position(|b| !b.is_ascii_graphic() || b == b',') {
        return Err(invalid(format!(
            "surrogate key `{}` has a byte other than visible ASCII or has `,` (byte {at}: \
             whitespace and control characters separate keys in headers)",
            key.escape_debug()
        )));
    }
    Ok(())
}

fn invalid(message: String) -> CacheCallError {
    CacheCallError::Invalid(message)
}

/// Where a request's directives stood before a hook call, to undo what a
/// failed call recorded (its other effects are discarded too).
#[derive(Debug, Clone, Copy)]
pub struct CacheMark {
    key_parts: usize,
    bypass: bool,
    ttl: Option<Duration>,
    surrogate_keys: usize,
}

impl CacheMark {
    /// The state of `directives` now.
    pub fn of(directives: &CacheDirectives) -> CacheMark {
        CacheMark {
            key_parts: directives.key_parts.len(),
            bypass: directives.bypass,
            ttl: directives.ttl,
            surrogate_keys: directives.surrogate_keys.len(),
        }
    }

    /// Put `directives` back as they were at the mark (calls only append,
    /// set or raise, so this is exact).
    pub fn restore(self, directives: &mut CacheDirectives) {
        directives.key_parts.truncate(self.key_parts);
        directives.bypass = self.bypass;
        directives.ttl = self.ttl;
        directives.surrogate_keys.truncate(self.surrogate_keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_phase(phase: Phase) -> CacheCalls {
        let mut calls = CacheCalls::default();
        calls.begin(phase, &mut CacheDirectives::default());
        calls
    }

    fn recorded(mut calls: CacheCalls) -> CacheDirectives {
        let mut d = CacheDirectives::default();
        calls.end(&mut d);
        d
    }

    fn is_wrong_phase(r: Result<(), CacheCallError>) -> bool {
        matches!(r, Err(CacheCallError::WrongPhase { .. }))
    }

    #[test]
    fn each_call_counts_only_in_its_phases() {
        // (call, allowed in request, allowed in response); never outside.
        type Call = fn(&mut CacheCalls) -> Result<(), CacheCallError>;
        let calls: [(&str, Call, bool, bool); 4] = [
            ("add-key", |c| c.add_key("a".into()), true, false),
            ("bypass", CacheCalls::bypass, true, false),
            ("set-ttl", |c| c.set_ttl(60), true, true),
            (
                "add-surrogate-keys",
                |c| c.add_surrogate_keys(vec!["k".into()]),
                true,
                true,
            ),
        ];
        for (name, call, request, response) in calls {
            for (phase, allowed) in [
                (Phase::Outside, false),
                (Phase::Request, request),
                (Phase::Response, response),
            ] {
                let mut c = in_phase(phase);
                let result = call(&mut c);
                if allowed {
                    assert_eq!(result, Ok(()), "{name} {phase:?}");
                    assert!(!recorded(c).is_empty(), "{name} {phase:?} recorded");
                } else {
                    let message = result.clone().err().map(|e| e.to_string());
                    assert!(is_wrong_phase(result), "{name} {phase:?}: {message:?}");
                    assert!(
                        message.is_some_and(|m| m.contains(name)),
                        "the message names the call"
                    );
                    assert!(recorded(c).is_empty(), "{name} {phase:?} recorded nothing");
                }
            }
        }
    }

    #[test]
    fn key_parts_are_bounded_in_number_size_and_characters() {
        let mut c = in_phase(Phase::Request);
        assert_eq!(c.add_key(String::new()), Ok(()), "an empty part counts");
        assert_eq!(c.add_key("é".repeat(MAX_KEY_PART_BYTES / 2)), Ok(()));
        assert!(c.add_key("x".repeat(MAX_KEY_PART_BYTES + 1)).is_err());
        for control in ["a\nb", "\r", "\0", "a\u{7f}", "\u{85}x", "tab\t"] {
            assert!(c.add_key(control.into()).is_err(), "{control:?}");
        }
        while c.directives.key_parts.len() < MAX_KEY_PARTS {
            assert_eq!(c.add_key("p".into()), Ok(()));
        }
        let over = c.add_key("one more".into());
        assert!(matches!(over, Err(CacheCallError::Invalid(ref m)) if m.contains("at most 16")));
        let d = recorded(c);
        assert_eq!(d.key_parts.len(), MAX_KEY_PARTS);
        assert_eq!(d.key_parts[0], "", "in call order");
    }

    #[test]
    fn ttl_is_bounded_and_the_latest_wins() {
        let mut c = in_phase(Phase::Request);
        assert_eq!(c.set_ttl(0), Ok(()), "stored stale");
        assert_eq!(c.set_ttl(MAX_TTL_SECONDS), Ok(()));
        assert!(c.set_ttl(MAX_TTL_SECONDS + 1).is_err());
        assert!(c.set_ttl(u32::MAX).is_err());
        let mut d = recorded(c);
        assert_eq!(
            d.ttl,
            Some(Duration::from_secs(MAX_TTL_SECONDS.into())),
            "a refused call changes nothing"
        );
        let mut c = CacheCalls::default();
        c.begin(Phase::Response, &mut d);
        assert_eq!(c.set_ttl(60), Ok(()));
        c.end(&mut d);
        assert_eq!(d.ttl, Some(Duration::from_secs(60)));
    }

    #[test]
    fn surrogate_keys_are_tokens_deduplicated_and_all_or_nothing() {
        let mut c = in_phase(Phase::Response);
        let keys = |ks: &[&str]| ks.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>();
        assert_eq!(c.add_surrogate_keys(keys(&["a", "b", "a"])), Ok(()));
        assert_eq!(c.add_surrogate_keys(keys(&["b", "c"])), Ok(()));
        assert_eq!(c.add_surrogate_keys(Vec::new()), Ok(()));
        for bad in [
            "", " ", "a b", "a\tb", "a\nb", "a,b", "café", "\u{7f}", "a\u{0}",
        ] {
            let r = c.add_surrogate_keys(keys(&["fine", bad]));
            assert!(
                matches!(r, Err(CacheCallError::Invalid(_))),
                "{bad:?}: {r:?}"
            );
        }
        assert!(
            c.add_surrogate_keys(vec!["k".repeat(MAX_SURROGATE_KEY_BYTES + 1)])
                .is_err()
        );
        assert_eq!(
            c.add_surrogate_keys(vec!["k".repeat(MAX_SURROGATE_KEY_BYTES)]),
            Ok(())
        );
        let fill: Vec<String> = (0..MAX_SURROGATE_KEYS - 4)
            .map(|i| format!("t{i}"))
            .collect();
        assert_eq!(c.add_surrogate_keys(fill), Ok(()));
        assert_eq!(c.add_surrogate_keys(keys(&["a", "b"])), Ok(()), "not new");
        let over = c.add_surrogate_keys(keys(&["x", "y"]));
        assert!(matches!(over, Err(CacheCallError::Invalid(ref m)) if m.contains("at most 64")));
        let d = recorded(c);
        assert_eq!(d.surrogate_keys.len(), MAX_SURROGATE_KEYS);
        assert_eq!(&d.surrogate_keys[..3], ["a", "b", "c"]);
        assert!(!d.surrogate_keys.iter().any(|k| k == "fine" || k == "x"));
    }

    #[test]
    fn limits_hold_for_all_links_of_a_request_together() {
        let mut request = CacheDirectives::default();
        for _ in 0..MAX_KEY_PARTS {
            let mut link = CacheCalls::default();
            link.begin(Phase::Request, &mut request);
            assert_eq!(link.add_key("p".into()), Ok(()));
            link.end(&mut request);
        }
        let mut link = CacheCalls::default();
        link.begin(Phase::Request, &mut request);
        assert!(link.add_key("p".into()).is_err());
        link.end(&mut request);
        assert_eq!(request.key_parts.len(), MAX_KEY_PARTS);
    }

    #[test]
    fn a_mark_undoes_every_kind_of_call() {
        let mut request = CacheDirectives {
            key_parts: vec!["kept".into()],
            ttl: Some(Duration::from_secs(5)),
            surrogate_keys: vec!["kept".into()],
            ..Default::default()
        };
        let before = request.clone();
        let mark = CacheMark::of(&request);
        let mut link = CacheCalls::default();
        link.begin(Phase::Request, &mut request);
        assert!(request.is_empty(), "lent to the call");
        for r in [
            link.add_key("k".into()),
            link.bypass(),
            link.set_ttl(9),
            link.add_surrogate_keys(vec!["t".into()]),
        ] {
            assert_eq!(r, Ok(()));
        }
        link.end(&mut request);
        assert_ne!(request, before);
        mark.restore(&mut request);
        assert_eq!(request, before);
    }
}
