//! Which calls of the WIT `cache` import the host records: the phase each
//! call counts in, the limits, and the rules for key parts, TTLs and
//! surrogate keys. The host refuses a call that breaks one with a
//! `cache-error` (never a trap); an SDK's test harness applies the same
//! rules natively, so a plugin test sees the refusal the host would give.
//! `vectors.json` (`cache`) holds the verdicts the JavaScript and Python
//! SDKs port.
//!
//! The limits on counts hold for a request, all links together: the
//! recorders (the host's walk, a harness) count; this module checks one
//! input at a time.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Most key parts per request: each value of a part is a separate cache
/// entry, so an unbounded list would let one URL fill the cache.
pub const MAX_KEY_PARTS: usize = 16;

/// Longest key part, in bytes.
pub const MAX_KEY_PART_BYTES: usize = 256;

/// Longest TTL a link may set, in seconds: 365 days, beyond which "fresh"
/// means "forever" for any cache.
pub const MAX_TTL_SECONDS: u32 = 365 * 24 * 60 * 60;

/// Most distinct surrogate keys per request: what a purge index holds per
/// stored object.
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

impl Phase {
    /// Where this is, as words for a message.
    pub fn words(self) -> &'static str {
        match self {
            Phase::Outside => "outside a request hook (in `init`)",
            Phase::Request => "in `on-request`",
            Phase::Response => "in `on-response` (the lookup has happened)",
        }
    }
}

/// A function of the `cache` import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `add-key`.
    AddKey,
    /// `bypass`.
    Bypass,
    /// `set-ttl`.
    SetTtl,
    /// `add-surrogate-keys`.
    AddSurrogateKeys,
}

impl Call {
    /// The WIT name.
    pub fn name(self) -> &'static str {
        match self {
            Call::AddKey => "add-key",
            Call::Bypass => "bypass",
            Call::SetTtl => "set-ttl",
            Call::AddSurrogateKeys => "add-surrogate-keys",
        }
    }

    /// Whether the call counts in `phase`: the key and bypass only before
    /// the lookup (`on-request`); the TTL and surrogate keys in either hook,
    /// since the cache reads them when it stores; nothing outside a request.
    pub fn check_phase(self, phase: Phase) -> Result<(), CacheRefusal> {
        let ok = match self {
            Call::AddKey | Call::Bypass => phase == Phase::Request,
            Call::SetTtl | Call::AddSurrogateKeys => phase != Phase::Outside,
        };
        if ok {
            Ok(())
        } else {
            Err(CacheRefusal::WrongPhase(self, phase))
        }
    }
}

/// Why the host refuses a `cache` call. Every case but `WrongPhase` is the
/// WIT `cache-error.invalid`, with this text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheRefusal {
    /// The call cannot take effect in this hook (WIT `wrong-phase`).
    WrongPhase(Call, Phase),
    /// The request has [`MAX_KEY_PARTS`] already.
    TooManyKeyParts,
    /// A key part longer than [`MAX_KEY_PART_BYTES`] (its length).
    KeyPartTooLong(usize),
    /// A key part with a control character.
    KeyPartControl,
    /// A TTL over [`MAX_TTL_SECONDS`].
    TtlTooLong(u32),
    /// An empty surrogate key.
    SurrogateKeyEmpty,
    /// A surrogate key longer than [`MAX_SURROGATE_KEY_BYTES`] (its length).
    SurrogateKeyTooLong(usize),
    /// A surrogate key with a byte other than visible ASCII, or a `,`.
    SurrogateKeyByte,
    /// More than [`MAX_SURROGATE_KEYS`] distinct keys (how many there would be).
    TooManySurrogateKeys(usize),
}

impl CacheRefusal {
    /// A stable name for the case, as `vectors.json` spells verdicts.
    pub fn code(&self) -> &'static str {
        match self {
            CacheRefusal::WrongPhase(..) => "wrong-phase",
            CacheRefusal::TooManyKeyParts | CacheRefusal::TooManySurrogateKeys(_) => "too-many",
            CacheRefusal::KeyPartTooLong(_)
            | CacheRefusal::TtlTooLong(_)
            | CacheRefusal::SurrogateKeyTooLong(_) => "too-long",
            CacheRefusal::KeyPartControl => "control",
            CacheRefusal::SurrogateKeyEmpty => "empty",
            CacheRefusal::SurrogateKeyByte => "byte",
        }
    }
}

impl fmt::Display for CacheRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheRefusal::WrongPhase(call, phase) => {
                write!(f, "`{}` cannot take effect {}", call.name(), phase.words())
            }
            CacheRefusal::TooManyKeyParts => {
                write!(f, "a request may have at most {MAX_KEY_PARTS} key parts")
            }
            CacheRefusal::KeyPartTooLong(n) => write!(
                f,
                "key part of {n} bytes is over the limit of {MAX_KEY_PART_BYTES}"
            ),
            CacheRefusal::KeyPartControl => f.write_str("key part has a control character"),
            CacheRefusal::TtlTooLong(s) => write!(
                f,
                "ttl of {s} s is over the limit of {MAX_TTL_SECONDS} s (365 days)"
            ),
            CacheRefusal::SurrogateKeyEmpty => f.write_str("surrogate key is empty"),
            CacheRefusal::SurrogateKeyTooLong(n) => write!(
                f,
                "surrogate key of {n} bytes is over the limit of {MAX_SURROGATE_KEY_BYTES}"
            ),
            CacheRefusal::SurrogateKeyByte => f.write_str(
                "surrogate key has a byte other than visible ASCII, or a `,` (whitespace, \
                 commas and control characters separate keys in headers)",
            ),
            CacheRefusal::TooManySurrogateKeys(n) => write!(
                f,
                "a request may have at most {MAX_SURROGATE_KEYS} surrogate keys, not {n}"
            ),
        }
    }
}

/// Whether `part` may be a key part: at most [`MAX_KEY_PART_BYTES`] bytes
/// without control characters (a key shows in logs and `Cache-Status`).
/// Empty is allowed: "no value" is a value.
pub fn check_key_part(part: &str) -> Result<(), CacheRefusal> {
    if part.len() > MAX_KEY_PART_BYTES {
        return Err(CacheRefusal::KeyPartTooLong(part.len()));
    }
    if part.chars().any(char::is_control) {
        return Err(CacheRefusal::KeyPartControl);
    }
    Ok(())
}

/// Whether `seconds` may be a TTL (0, stored stale, included).
pub fn check_ttl(seconds: u32) -> Result<(), CacheRefusal> {
    if seconds > MAX_TTL_SECONDS {
        return Err(CacheRefusal::TtlTooLong(seconds));
    }
    Ok(())
}

/// Whether `key` may be a surrogate key: 1 to [`MAX_SURROGATE_KEY_BYTES`]
/// bytes of visible ASCII other than `,`, so it reads the same in
/// `Surrogate-Key` (space-separated), `Cache-Tag` (comma-separated) and a
/// purge request.
pub fn check_surrogate_key(key: &str) -> Result<(), CacheRefusal> {
    if key.is_empty() {
        return Err(CacheRefusal::SurrogateKeyEmpty);
    }
    if key.len() > MAX_SURROGATE_KEY_BYTES {
        return Err(CacheRefusal::SurrogateKeyTooLong(key.len()));
    }
    if key.bytes().any(|b| !b.is_ascii_graphic() || b == b',') {
        return Err(CacheRefusal::SurrogateKeyByte);
    }
    Ok(())
}

/// `add-key` into a request's `parts` so far: checked, then appended (in
/// call order), within [`MAX_KEY_PARTS`]. The phase is the caller's check.
pub fn push_key_part(parts: &mut Vec<String>, part: String) -> Result<(), CacheRefusal> {
    if parts.len() >= MAX_KEY_PARTS {
        return Err(CacheRefusal::TooManyKeyParts);
    }
    check_key_part(&part)?;
    parts.push(part);
    Ok(())
}

/// `add-surrogate-keys` into a request's keys so far (`have`): every key
/// checked first, then the new ones appended once each, within
/// [`MAX_SURROGATE_KEYS`] distinct keys. All or nothing: on a refusal `have`
/// is unchanged. The phase is the caller's check.
pub fn add_surrogate_keys(have: &mut Vec<String>, keys: Vec<String>) -> Result<(), CacheRefusal> {
    for key in &keys {
        check_surrogate_key(key)?;
    }
    let mut new: Vec<String> = Vec::new();
    for key in keys {
        if !have.contains(&key) && !new.contains(&key) {
            new.push(key);
        }
    }
    let total = have.len() + new.len();
    if total > MAX_SURROGATE_KEYS {
        return Err(CacheRefusal::TooManySurrogateKeys(total));
    }
    have.append(&mut new);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_counts_only_in_its_phases() {
        use Phase::*;
        for (call, allowed) in [
            (Call::AddKey, [false, true, false]),
            (Call::Bypass, [false, true, false]),
            (Call::SetTtl, [false, true, true]),
            (Call::AddSurrogateKeys, [false, true, true]),
        ] {
            for (phase, ok) in [Outside, Request, Response].into_iter().zip(allowed) {
                assert_eq!(call.check_phase(phase).is_ok(), ok, "{call:?} {phase:?}");
            }
        }
    }
}
