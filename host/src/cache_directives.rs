//! What the links of one request asked of the HTTP cache (plugin control).
//!
//! Links record into it through the `cache` import while they run; the cache
//! reads the request-phase parts before its lookup and the response-phase
//! parts before it stores. It sits on the lowest floor so that both the plugin
//! side that fills it and the cache that reads it can name it.

use std::time::Duration;

/// The cache requests the links of one request made, in call order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CacheDirectives {
    /// Extra parts of the cache key, appended after scheme, host and target, so
    /// a link can split one URL by what it knows (a tenant, a device class).
    pub key_parts: Vec<String>,
    /// Neither look up nor store: the request goes to the next hop as if there
    /// were no cache (for content a link knows is personal).
    pub bypass: bool,
    /// A freshness lifetime that replaces what the response's fields say.
    pub ttl: Option<Duration>,
    /// Surrogate keys the stored response is tagged with, for purge by key.
    pub surrogate_keys: Vec<String>,
}

impl CacheDirectives {
    /// Whether no link asked anything, the common case the cache checks first.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_asks_nothing() {
        assert!(CacheDirectives::default().is_empty());
        let bypass = CacheDirectives {
            bypass: true,
            ..Default::default()
        };
        assert!(!bypass.is_empty());
    }
}
