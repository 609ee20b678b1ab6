//! Host-side bindings generated from the `edgechain:plugin` WIT world.
//!
//! Exports are async so a guest call can yield to tokio at epoch ticks instead
//! of holding a worker thread for its whole deadline.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    exports: { default: async },
});

pub use edgechain::plugin::types::{Level, Needs, Request, RequestAction, Response};
