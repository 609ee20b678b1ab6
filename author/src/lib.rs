//! The plugin author's tools, kept apart from the server (`edgechain`): they
//! run compilers and watch source trees, which the serving path never does.
//!
//! - [`scaffold`]: `edgechain new`, a plugin project (Rust, JavaScript,
//!   TypeScript or Python) that builds and loads as is.
//! - [`build`]: `edgechain build`, one command for a project in any of those
//!   languages, installing the SDK toolchains on first use.
//! - [`dev`]: `edgechain dev`, rebuilding plugins from source and hot-swapping
//!   them into a real server.
//!
//! The rooms stand on floors, each importing only those below it (no circle):
//!
//! 1. `process`: spawning tools in a process group of their own, and the
//!    one kill of an abandoned group.
//! 2. [`build`]: what a project is, the SDK toolchains, and building each
//!    language (its `cargo` room runs the user's cargo for `dev` too).
//! 3. [`scaffold`] and [`dev`], side by side: both use `build`, neither the
//!    other.
#![deny(missing_docs)]

pub mod build;
pub mod dev;
mod process;
pub mod scaffold;
