//! Host-side bindings generated from the `edgechain:plugin` WIT world.
//!
//! Exports are async so a guest call can yield to tokio at epoch ticks instead
//! of holding a worker thread for its whole deadline; `http.send` is async so
//! a plugin waiting on the network never blocks other requests.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    imports: { "edgechain:plugin/http.send": async },
    exports: { default: async },
});

pub use edgechain::plugin::types::{Level, Needs, Request, RequestAction, Response};
