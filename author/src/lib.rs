//! The plugin author's tools, kept apart from the server (`edgechain`): they
//! run compilers and watch source trees, which the serving path never does.
//!
//! - [`scaffold`]: `edgechain new`, a plugin crate that builds and loads as is.
//! - [`dev`]: `edgechain dev`, rebuilding plugins from source and hot-swapping
//!   them into a real server.
#![deny(missing_docs)]

pub mod dev;
pub mod scaffold;
