//! The host functions the SDK calls: the component's imports in wasm, and the
//! in-process fake of [`crate::testing`] in native builds, so plugins can be
//! unit-tested with a plain `cargo test`.

#[cfg(target_family = "wasm")]
pub(crate) use crate::bindings::edgechain::plugin::{cache, host, http, kv};
#[cfg(not(target_family = "wasm"))]
pub(crate) use crate::testing::fake::{cache, host, http, kv};
