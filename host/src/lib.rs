//! edgechain: an HTTP reverse proxy that runs a chain of WebAssembly components
//! in-process, in front of a next hop.
//!
//! The crate is built in floors: a module imports only modules on lower
//! floors (its own children included), never one beside or above it, so
//! there is no import cycle and each room can be read knowing only what is
//! below it. `tests/floors.rs` reads the table below and fails on any module
//! that names a room on its own floor or higher, or that stands on no floor.
//! One request reads top to bottom: [`server`] accepts it, [`proxy`] answers
//! what a proxy must refuse ([`proxy::front`]) and drives [`chain::walk`]
//! (request), [`upstream`] (the next hop) and the walk again (response);
//! [`proxy::completion`] reports it to [`telemetry::access`].
//!
//! | floor | rooms |
//! |---|---|
//! | 0 | `cache_directives`, `cache::collapse`, `cache::directives_parse`, `cache::key`, `limits`, `kv`, `conn`, `client_body`, `demo_origin`, `telemetry`, `telemetry::metrics`, `telemetry::stdout`, `engine::ticker`, `plugin::bindings`, `plugin::output` |
//! | 1 | `cache::policy`, `cache::purge`, `config`, `convert`, `telemetry::access`, `upstream`, `plugin::clock` |
//! | 2 | `cache::store`, `decision` |
//! | 3 | `cache::tee`, `outbound` |
//! | 4 | `cache`, `plugin::state` |
//! | 5 | `engine`, `plugin::call` |
//! | 6 | `plugin::link` |
//! | 7 | `plugin::filter`, `plugin::handler`, `plugin::preinit` |
//! | 8 | `plugin` |
//! | 9 | `chain`, `chain::body`, `chain::granted`, `chain::revalidate` |
//! | 10 | `chain::failure`, `chain::load` |
//! | 11 | `chain::walk` |
//! | 12 | `proxy::body`, `proxy::completion`, `proxy::date`, `proxy::front` |
//! | 13 | `proxy::tunnel` |
//! | 14 | `proxy::cached` |
//! | 15 | `proxy` |
//! | 16 | `reload` |
//! | 17 | `admin`, `reload::watch` |
//! | 18 | `server::accept` |
//! | 19 | `server::workers` |
//! | 20 | `server` |
//!
//! What each room owns:
//!
//! - [`cache_directives`]: what links asked of the HTTP cache for one request.
//! - [`cache`]: the shared HTTP cache in the chain: RFC 9111 rules, the
//!   bounded store, collapsing, purge.
//! - [`limits`]: what a message head may be and spell, for clients and plugins alike.
//! - [`kv`]: the per-plugin in-memory key-value store behind the `kv` import.
//! - [`conn`]: one client connection's watch (timeouts), hold on its slot, and drain.
//! - [`client_body`]: the client's request body on its way out (idle timeout, read-ahead).
//! - [`telemetry`]: JSON diagnostics on stderr, the access log, metrics.
//! - [`config`]: the chain manifest (`proxychain.json`) and its validation.
//! - [`convert`]: hyper types ⇄ WIT records, hop-by-hop rules, the normalised path.
//! - [`decision`]: a plugin's decision checked and turned into HTTP types.
//! - [`upstream`]: the pooled keep-alive client to the next hop.
//! - [`outbound`]: the HTTP calls plugins may make to authorities they are granted.
//! - [`engine`]: the shared wasmtime engine, its epoch ticker and compile cache.
//! - [`plugin`]: one loaded link, a filter or a `wasi:http` handler, and its guarded calls.
//! - [`chain`]: a whole chain: loading it into an immutable [`chain::ChainSnapshot`]
//!   and walking a request through it.
//! - [`proxy`]: the hyper service: the front door, the walk, the next hop, the report.
//! - [`reload`]: deciding on content hashes whether to load, and publishing.
//! - [`admin`]: health, readiness, reload and metrics on the admin port.
//! - [`server`]: listeners, workers, connection limits and graceful shutdown.
//! - [`demo_origin`]: a tiny echo origin for the demo and for trying things out.
#![deny(missing_docs)]

pub mod admin;
pub mod cache;
pub mod cache_directives;
pub mod chain;
pub mod client_body;
pub mod config;
pub mod conn;
pub mod convert;
pub mod decision;
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
