//! `passthrough`: does nothing. The baseline for measuring what one link costs.
//!
//! Config: none (`null` or omitted).

use edgechain_sdk::{Plugin, export_plugin};

/// A link that passes every request on unchanged and skips the response phase.
pub struct Passthrough;

impl Plugin for Passthrough {
    type Config = serde::de::IgnoredAny;

    fn new(_config: Self::Config) -> Result<Self, String> {
        Ok(Passthrough)
    }
}

export_plugin!(Passthrough);
