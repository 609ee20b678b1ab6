//! Control of the HTTP cache in the chain (the WIT `cache` interface).
//!
//! A plugin knows what the URL and the response's fields do not: the tenant
//! behind a token, that a page is personal, how long a product page may be
//! served. It tells the cache here, for the request its hook is serving:
//!
//! - [`add_key`] splits the cache key by a value (a tenant, a device class);
//! - [`bypass`] keeps the request away from the cache (no lookup, no store);
//! - [`set_ttl`] overrides how long the response is fresh;
//! - [`add_surrogate_keys`] tags the stored response, for purge by key.
//!
//! The key and bypass count in [`crate::Plugin::on_request`] only (the
//! lookup has happened by the response phase); the TTL and surrogate keys in
//! either hook, since the cache reads them when it stores. A call made
//! elsewhere (in [`crate::Plugin::new`]) returns [`Error::WrongPhase`]. A
//! refused call records nothing and never traps. Limits hold per request,
//! all links together: 16 key parts of at most 256 bytes without control
//! characters, a TTL of at most 365 days, 64 distinct surrogate keys of 1 to
//! 256 bytes of visible ASCII other than `,`. When a hook fails (panic,
//! deadline, a decision the host refuses), its cache calls are undone.
//!
//! ```
//! use edgechain_sdk::{cache, Action, Plugin, Request};
//! use std::time::Duration;
//!
//! struct Rules;
//! impl Plugin for Rules {
//!     type Config = ();
//!     fn new(_: ()) -> Result<Self, String> {
//!         Ok(Rules)
//!     }
//!     fn on_request(&mut self, req: &mut Request) -> Action {
//!         if req.header("cookie").is_some_and(|c| c.contains("session=")) {
//!             let _ = cache::bypass();
//!         } else if req.path().starts_with("/static/") {
//!             let _ = cache::set_ttl(Duration::from_secs(3600));
//!             let _ = cache::add_surrogate_keys(["static"]);
//!         }
//!         Action::Next
//!     }
//! }
//! ```
//!
//! In unit tests, [`crate::testing::Harness::cache`] shows what was asked.

use crate::sys::cache as raw;
use std::fmt;
use std::time::Duration;

/// Why a cache call was refused (the WIT `cache-error`); nothing was
/// recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Called in a hook where it cannot take effect: [`add_key`] or
    /// [`bypass`] outside `on_request`, or any call outside a request hook.
    WrongPhase,
    /// The input breaks a rule or a limit; the message names which.
    Invalid(String),
}

impl Error {
    /// The WIT case name: `wrong-phase` or `invalid`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::WrongPhase => "wrong-phase",
            Error::Invalid(_) => "invalid",
        }
    }

    fn from_raw(e: raw::CacheError) -> Self {
        match e {
            raw::CacheError::WrongPhase => Error::WrongPhase,
            raw::CacheError::Invalid(m) => Error::Invalid(m),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::WrongPhase => f.write_str("cache call in a hook where it cannot take effect"),
            Error::Invalid(m) => write!(f, "cache call refused: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Append `part` to this request's cache key (after scheme, host and the
/// normalised target), so the URL is stored once per value of `part`. Parts
/// keep their call order; an empty part counts. `on_request` only.
pub fn add_key(part: &str) -> Result<(), Error> {
    raw::add_key(part).map_err(Error::from_raw)
}

/// Neither look this request up nor store its response: it goes to the next
/// hop as if there were no cache. `on_request` only; in `on_response`, set
/// `cache-control: no-store` (or `private`) on the response instead.
pub fn bypass() -> Result<(), Error> {
    raw::bypass().map_err(Error::from_raw)
}

/// Store the response as fresh for `ttl` (whole seconds, rounded down),
/// whatever its fields say; zero stores it stale, to be revalidated before
/// each use. The latest call of the request wins. Either hook.
pub fn set_ttl(ttl: Duration) -> Result<(), Error> {
    let seconds = u32::try_from(ttl.as_secs()).unwrap_or(u32::MAX);
    raw::set_ttl(seconds).map_err(Error::from_raw)
}

/// Tag the stored response with surrogate keys, so an operator can purge
/// everything tagged `product-42` at once. A key added already is not added
/// again; all or nothing. Either hook.
pub fn add_surrogate_keys<I>(keys: I) -> Result<(), Error>
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    let keys: Vec<String> = keys.into_iter().map(Into::into).collect();
    raw::add_surrogate_keys(&keys).map_err(Error::from_raw)
}

/// The longest TTL [`set_ttl`] accepts (365 days), for checking a config in
/// [`crate::Plugin::new`].
pub const MAX_TTL: Duration = Duration::from_secs(edgechain_wire::cache::MAX_TTL_SECONDS as u64);

/// Most key parts a request may have, all links together.
pub const MAX_KEY_PARTS: usize = edgechain_wire::cache::MAX_KEY_PARTS;

/// Whether the host would accept `key` as a surrogate key, with the reason
/// if not. Check keys that come from a plugin's config in
/// [`crate::Plugin::new`], so a bad config is refused at load.
pub fn check_surrogate_key(key: &str) -> Result<(), String> {
    edgechain_wire::cache::check_surrogate_key(key).map_err(|r| r.to_string())
}

/// Whether the host would accept `part` as a key part, with the reason if
/// not.
pub fn check_key_part(part: &str) -> Result<(), String> {
    edgechain_wire::cache::check_key_part(part).map_err(|r| r.to_string())
}
