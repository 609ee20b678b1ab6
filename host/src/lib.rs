//! edgechain: an HTTP reverse proxy that runs a chain of WebAssembly components
//! in-process, in front of a next hop.
//!
//! The crate is organised in rooms that each own one idea; a request only
//! touches [`proxy`], [`chain`], [`plugin`] and [`upstream`], and never the
//! filesystem or a global lock:
//!
//! - [`config`]: the chain manifest (`proxychain.json`) and its validation.
//! - [`engine`]: the shared wasmtime engine, its epoch ticker and compile cache.
//! - [`plugin`]: one loaded component: limits, failure policy, instances, hooks.
//! - [`kv`]: the per-plugin in-memory key-value store behind the `kv` import.
//! - [`limits`]: head size and header count, for clients and plugins alike.
//! - [`outbound`]: the HTTP calls plugins may make to authorities they are granted.
//! - [`chain`]: loading a whole chain into an immutable [`chain::ChainSnapshot`]
//!   and walking a request through it.
//! - [`proxy`]: the hyper service: conversions, hop-by-hop rules, streaming.
//! - [`upstream`]: the pooled keep-alive client to the next hop.
//! - [`server`]: listeners, connection limits and graceful shutdown.
//! - [`admin`]: health endpoints on the admin port.
//! - [`demo_origin`]: a tiny echo origin for the demo and for trying things out.
//! - [`telemetry`]: JSON diagnostics on stderr.
#![deny(missing_docs)]

pub mod admin;
pub mod chain;
pub mod config;
pub mod demo_origin;
pub mod engine;
pub mod kv;
pub mod limits;
pub mod outbound;
pub mod plugin;
pub mod proxy;
pub mod reload;
pub mod server;
pub mod telemetry;
pub mod upstream;
