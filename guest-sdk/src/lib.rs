//! Write edgechain plugins as plain Rust types.
//!
//! A plugin is one link of an edgechain chain: the host calls it for every HTTP
//! request, in the order of the chain manifest, and it may rewrite the request,
//! answer it at the edge, and rewrite the response on its way back. This crate
//! hides the WebAssembly bindings: implement [`Plugin`] on your type and call
//! [`export_plugin!`] once.
//!
//! # Example
//!
//! ```
//! use edgechain_sdk::{export_plugin, Action, Needs, Plugin, Request, Response};
//! use serde::Deserialize;
//!
//! /// Answers `/healthz` at the edge and tags every other request.
//! struct Tagger {
//!     tag: String,
//! }
//!
//! #[derive(Deserialize)]
//! #[serde(deny_unknown_fields)]
//! struct Config {
//!     tag: String,
//! }
//!
//! impl Plugin for Tagger {
//!     type Config = Config;
//!
//!     fn new(config: Config) -> Result<Self, String> {
//!         if config.tag.is_empty() {
//!             return Err("`tag` must not be empty".into());
//!         }
//!         Ok(Tagger { tag: config.tag })
//!     }
//!
//!     fn needs(&self) -> Needs {
//!         Needs::RESPONSE_PHASE
//!     }
//!
//!     fn on_request(&mut self, req: &mut Request) -> Action {
//!         if req.path() == "/healthz" {
//!             return Action::Respond(Response::text(200, "ok\n"));
//!         }
//!         req.set_header("x-tag", &self.tag);
//!         Action::Next
//!     }
//!
//!     fn on_response(&mut self, _req: &Request, resp: &mut Response) {
//!         resp.set_header("x-tagged-by", &self.tag);
//!     }
//! }
//!
//! export_plugin!(Tagger);
//! # fn main() {}
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (or
//! `cargo component build --release`) and name the `.wasm` in the chain manifest.
//!
//! # Lifecycle
//!
//! 1. When the chain loads, the host calls `init` with the plugin's JSON config:
//!    the SDK deserialises it into [`Plugin::Config`], calls [`Plugin::new`] and
//!    reports [`Plugin::needs`]. An `Err` rejects the chain with your message.
//! 2. Each instance builds its value once, on its first hook call, from the same
//!    config. With the default `"instance": "per-request"` every request gets a
//!    fresh instance, so fields set in [`Plugin::on_request`] are still there in
//!    [`Plugin::on_response`] for the same request and for no other.
//! 3. A panic traps the instance; the manifest's `on_error` policy decides what
//!    the client sees, and the instance is discarded.
#![deny(missing_docs)]

pub mod cache;
pub mod context;
mod headers;
pub mod http;
pub mod kv;
pub mod log;
mod message;
#[doc(hidden)]
pub mod runtime;
mod sys;
#[cfg(not(target_family = "wasm"))]
pub mod testing;

pub use headers::HeaderList;

/// The form `Request::path` gives a path, for a path written in a plugin's
/// config (a prefix to match, a route): bytes a URI cannot hold unescaped
/// (non-ASCII, spaces, ...) percent-encoded, then the host's normalisation
/// (`/%61dmin`, `//admin` and `/x/../admin` are `/admin`). Compare config
/// paths in this form, or they may never match. `Err` for a path that has
/// none (`..` above the root, `%00`, a backslash, a bad escape).
pub fn normalize_path(path: &str) -> Result<String, String> {
    use std::fmt::Write;
    let mut escaped = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b) {
            escaped.push(char::from(b));
        } else {
            let _ = write!(escaped, "%{b:02X}");
        }
    }
    edgechain_wire::path::normalize(&escaped).map_err(|e| format!("`{path}`: {e}"))
}

/// Whether `path` is `prefix` or below it by whole segments: `/public` holds
/// `/public` and `/public/x`, not `/publicity` (a prefix ending in `/` holds
/// what follows it). For lists that open paths, where a plain string prefix
/// would open more than meant.
pub fn path_is_under(path: &str, prefix: &str) -> bool {
    path.strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'))
}

/// Whether the host would accept a plugin setting header `name` to `value`
/// (a token name the host does not own, a value without control bytes),
/// with the reason if not. Check header names and values that come from a
/// plugin's config in `new`, so a bad config is refused at load instead of
/// failing every request.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    edgechain_wire::decision::check_field(name.as_bytes(), value.as_bytes())
        .map_err(|r| r.to_string())
}
pub use message::{Request, Response};

/// Raw bindings generated from the `edgechain:plugin` WIT world. Plugin code
/// should not need them; they are public for the [`export_plugin!`] macro.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "plugin",
        pub_export_macro: true,
        default_bindings_module: "edgechain_sdk::bindings",
        export_macro_name: "export",
        generate_all,
    });
}

/// What a plugin asks the host for; see the WIT `needs` flags. Combine with `|`.
pub use bindings::edgechain::plugin::types::Needs;

/// A log level for [`log::log`].
pub use bindings::edgechain::plugin::types::Level;

/// Whether [`Plugin::new`] is running in `init`, whose plugin value is kept:
/// snapshotted into every fresh instance (pre-initialisation, the default) or
/// pooled warm (`reuse`). It is `false` when a fresh instance that was not
/// pre-initialised (`--preinit off`, or a plugin the host could not snapshot)
/// builds its plugin for the one request it serves. Precomputation that only
/// pays back over many requests, such as a fully built automaton or a large
/// index, belongs in the first case alone.
pub fn built_by_init() -> bool {
    runtime::in_init()
}

/// Whether the host owns the lower-case header `name` (hop-by-hop fields,
/// `host`, `content-length`, `expect`): a plugin never sees it and what it
/// sets there is refused, so a plugin can reject such a name in its config.
pub fn is_managed_header(name: &str) -> bool {
    edgechain_wire::managed::is_managed(name)
}

/// What [`Plugin::on_request`] decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Pass the (possibly rewritten) request on to the next link or the next hop.
    Next,
    /// Answer the client with this response; later links and the next hop never
    /// see the request.
    Respond(Response),
}

/// A chain link written in Rust. Every method but [`Plugin::new`] has a default,
/// so a plugin implements only the hooks it needs.
pub trait Plugin: Sized + 'static {
    /// The plugin's configuration, deserialised from the manifest's `config`
    /// (JSON). Use `serde_json::Value` to take anything, or `()` to take `null`.
    type Config: serde::de::DeserializeOwned;

    /// Build the plugin from its configuration. Runs in `init` at chain load
    /// (where an `Err` rejects the chain, so validate here); the value `init`
    /// built is what every fresh instance starts from when the host
    /// pre-initialises the plugin. Otherwise it runs again in each fresh
    /// instance: see [`built_by_init`].
    fn new(config: Self::Config) -> Result<Self, String>;

    /// What this plugin needs from the host. Ask only for what you use: bodies
    /// stream past plugins that did not ask for them, and `on_response` is only
    /// called with [`Needs::RESPONSE_PHASE`].
    fn needs(&self) -> Needs {
        Needs::empty()
    }

    /// Inspect or rewrite the request, or answer it with [`Action::Respond`].
    fn on_request(&mut self, req: &mut Request) -> Action {
        let _ = req;
        Action::Next
    }

    /// Rewrite the response to a request this plugin passed on. `req` is the
    /// request as sent to the next hop. Needs [`Needs::RESPONSE_PHASE`].
    fn on_response(&mut self, req: &Request, resp: &mut Response) {
        let _ = (req, resp);
    }
}

/// Export a [`Plugin`] type as this component's `edgechain:plugin/filter`.
///
/// Call it once, at the top level of the plugin crate.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        struct __EdgechainExport;

        impl $crate::bindings::exports::edgechain::plugin::filter::Guest for __EdgechainExport {
            fn init(
                config: ::std::string::String,
            ) -> ::std::result::Result<$crate::Needs, ::std::string::String> {
                $crate::runtime::init::<$plugin>(&config)
            }

            fn on_request(
                req: $crate::bindings::edgechain::plugin::types::Request,
            ) -> $crate::bindings::edgechain::plugin::types::RequestAction {
                $crate::runtime::on_request::<$plugin>(req)
            }

            fn on_response(
                req: $crate::bindings::edgechain::plugin::types::Request,
                resp: $crate::bindings::edgechain::plugin::types::Response,
            ) -> $crate::bindings::edgechain::plugin::types::Response {
                $crate::runtime::on_response::<$plugin>(req, resp)
            }
        }

        // Natively (for unit tests) there is no component to export into.
        #[cfg(target_family = "wasm")]
        $crate::bindings::export!(__EdgechainExport with_types_in $crate::bindings);
    };
}
