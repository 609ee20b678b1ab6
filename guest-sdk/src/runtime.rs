//! Glue between the generated `filter` export and a [`Plugin`] value.
//!
//! One component instance holds at most one plugin value, built lazily from
//! the host's `config()` the first time a hook runs (or by `init`).

use crate::bindings::edgechain::plugin::types as raw;
use crate::sys::host;
use crate::{Action, Needs, Plugin, Request, Response};
use std::any::Any;
use std::cell::{Cell, RefCell};

thread_local! {
    // Component instances are single-threaded; the `Any` lets one slot serve
    // whichever plugin type the crate exports.
    static INSTANCE: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
    // Set while `init` builds the plugin value (see `crate::built_by_init`).
    static IN_INIT: Cell<bool> = const { Cell::new(false) };
}

/// Whether the plugin value being built is `init`'s, the one that is kept.
pub(crate) fn in_init() -> bool {
    IN_INIT.with(Cell::get)
}

/// [`build`] as `init` runs it: [`in_init`] holds while `P::new` runs.
pub(crate) fn build_in_init<P: Plugin>(config: &str) -> Result<P, String> {
    IN_INIT.with(|f| f.set(true));
    let built = build::<P>(config);
    IN_INIT.with(|f| f.set(false));
    built
}

/// Parse `config` as `init` does and build the plugin value.
pub(crate) fn build<P: Plugin>(config: &str) -> Result<P, String> {
    let config: P::Config = match serde_json::from_str(config) {
        Ok(c) => c,
        // No config at all: a config type whose fields all have defaults
        // takes that as `{}`.
        Err(e) if config.trim() == "null" => {
            serde_json::from_str("{}").map_err(|_| format!("invalid config: {e}"))?
        }
        Err(e) => return Err(format!("invalid config: {e}")),
    };
    P::new(config)
}

fn with_plugin<P: Plugin, R>(f: impl FnOnce(&mut P) -> R) -> R {
    INSTANCE.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            // `init` accepted this config when the chain loaded, so failing now
            // means the host broke its contract: trap so the host's failure
            // policy handles it.
            let plugin = build::<P>(&host::config())
                .unwrap_or_else(|e| panic!("plugin config rejected after init: {e}"));
            *slot = Some(Box::new(plugin));
        }
        let plugin = slot
            .as_mut()
            .and_then(|b| b.downcast_mut::<P>())
            .expect("one plugin type per component");
        f(plugin)
    })
}

/// `filter.init`: validate the config and report what the plugin needs.
pub fn init<P: Plugin>(config: &str) -> Result<Needs, String> {
    let plugin = build_in_init::<P>(config)?;
    let needs = plugin.needs();
    INSTANCE.with(|slot| *slot.borrow_mut() = Some(Box::new(plugin)));
    Ok(needs)
}

/// `filter.on-request`.
pub fn on_request<P: Plugin>(req: raw::Request) -> raw::RequestAction {
    let mut req = Request::from_raw(req);
    match with_plugin::<P, _>(|p| p.on_request(&mut req)) {
        Action::Next => raw::RequestAction::Next(req.into_raw()),
        Action::Respond(resp) => raw::RequestAction::Respond(resp.into_raw()),
    }
}

/// `filter.on-response`.
pub fn on_response<P: Plugin>(req: raw::Request, resp: raw::Response) -> raw::Response {
    let req = Request::from_raw(req);
    let mut resp = Response::from_raw(resp);
    with_plugin::<P, _>(|p| p.on_response(&req, &mut resp));
    resp.into_raw()
}
