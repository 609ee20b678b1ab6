//! The plugin author's tools, kept apart from the server (`edgechain`): they
//! run compilers and watch source trees, which the serving path never does.
//!
//! - [`scaffold`]: `edgechain new`, a plugin project (Rust, JavaScript,
//!   TypeScript or Python) that builds and loads as is.
//! - [`build`]: `edgechain build`, one command for a project in any of those
//!   languages, installing the SDK toolchains on first use.
//! - [`dev`]: `edgechain dev`, rebuilding plugins from source and hot-swapping
//!   them into a real server.
#![deny(missing_docs)]

pub mod build;
pub mod dev;
pub mod scaffold;
