//! The `cache` import: what a link asks of the HTTP cache for the request it
//! serves, checked against the phase it is called in and the limits
//! (`edgechain_wire::cache`, the rules the SDKs' harnesses share), and
//! recorded into that request's [`CacheDirectives`].
//!
//! The walk lends the request's directives to each hook call
//! ([`CacheCalls::begin`], [`CacheCalls::end`]), so the limits hold for all
//! links of a request together and the record stays in call order; a
//! [`CacheMark`] taken before the call undoes a failed hook's calls. Nothing
//! is allocated for a request whose links never call the import.

use crate::cache_directives::CacheDirectives;
pub use edgechain_wire::cache::Phase;
use edgechain_wire::cache::{self, CacheRefusal, Call, check_ttl};
use std::time::Duration;

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

    fn only_in(&self, call: Call) -> Result<(), CacheRefusal> {
        call.check_phase(self.phase)
    }

    /// `add-key`: append a key part.
    pub fn add_key(&mut self, part: String) -> Result<(), CacheRefusal> {
        self.only_in(Call::AddKey)?;
        cache::push_key_part(&mut self.directives.key_parts, part)
    }

    /// `bypass`: keep the request away from the cache.
    pub fn bypass(&mut self) -> Result<(), CacheRefusal> {
        self.only_in(Call::Bypass)?;
        self.directives.bypass = true;
        Ok(())
    }

    /// `set-ttl`: override the freshness lifetime (the latest call wins).
    pub fn set_ttl(&mut self, seconds: u32) -> Result<(), CacheRefusal> {
        self.only_in(Call::SetTtl)?;
        check_ttl(seconds)?;
        self.directives.ttl = Some(Duration::from_secs(u64::from(seconds)));
        Ok(())
    }

    /// `add-surrogate-keys`: tag the response, all keys or none; a key
    /// already there is not added again.
    pub fn add_surrogate_keys(&mut self, keys: Vec<String>) -> Result<(), CacheRefusal> {
        self.only_in(Call::AddSurrogateKeys)?;
        cache::add_surrogate_keys(&mut self.directives.surrogate_keys, keys)
    }
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
    use edgechain_wire::cache::{
        MAX_KEY_PART_BYTES, MAX_KEY_PARTS, MAX_SURROGATE_KEY_BYTES, MAX_SURROGATE_KEYS,
        MAX_TTL_SECONDS,
    };

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

    fn is_wrong_phase(r: Result<(), CacheRefusal>) -> bool {
        matches!(r, Err(CacheRefusal::WrongPhase(..)))
    }

    #[test]
    fn each_call_counts_only_in_its_phases() {
        // (call, allowed in request, allowed in response); never outside.
        type Hook = fn(&mut CacheCalls) -> Result<(), CacheRefusal>;
        let calls: [(&str, Hook, bool, bool); 4] = [
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
        assert_eq!(over, Err(CacheRefusal::TooManyKeyParts));
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
            assert!(r.is_err() && !is_wrong_phase(r.clone()), "{bad:?}: {r:?}");
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
        assert_eq!(over, Err(CacheRefusal::TooManySurrogateKeys(66)));
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
