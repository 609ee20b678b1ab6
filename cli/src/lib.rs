//! The `edgechain` command line: `serve`, `validate`, `demo`, `dev`, `new` and
//! `build`.
//!
//! Kept in a library so the binary is one line and tests can run the exact
//! same code as a child process. This file holds the clap types of the
//! command line and the dispatch; each command is its own module:
//!
//! | module | holds |
//! |---|---|
//! | `serve` | `serve`, and serving a started server until a signal (`demo` too) |
//! | `validate` | `validate` (with `advice`'s warnings on a chain that loads) |
//! | `demo` | `demo`, and the built-in echo origin `dev` uses too |
//! | `dev` | `dev`: the flags, then `edgechain_author::dev` |
//! | `new` | `new`: the flags, then `edgechain_author::scaffold`, and the next steps |
//! | `build` | `build`: the flags, then `edgechain_author::build`, and its one line |
//! | `args` | the flag groups several commands share (`LoadArgs`, `Tuning`) |
//! | `signals` | the one wait for SIGTERM/SIGINT (and SIGHUP where it reloads) |
//! | `report` | how a failure is said on stderr |

#![deny(missing_docs)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod advice;
mod args;
mod build;
mod demo;
mod dev;
mod new;
mod report;
mod serve;
mod signals;
mod validate;

/// An HTTP proxy that runs a chain of WebAssembly plugins in front of a next hop.
#[derive(Debug, Parser)]
#[command(name = "edgechain", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the chain in DIR in front of the next hop.
    Serve(serve::ServeArgs),
    /// Check that DIR would load: exit 0 (with a warning on stderr for a
    /// JavaScript or Python link that should run in `reuse`), or exit 1 with
    /// the reasons on stderr (one JSON object per problem). Works offline.
    Validate(validate::ValidateArgs),
    /// Serve the chain in DIR in front of a built-in echo origin, for trying
    /// plugins out.
    Demo(demo::DemoArgs),
    /// Develop plugins: serve a chain, rebuild a plugin from source when it is
    /// saved, and hot-swap it in (the server keeps running).
    Dev(dev::DevArgs),
    /// Create a plugin project (Rust, JavaScript, TypeScript or Python) that
    /// builds, loads and passes its tests as is.
    New(new::NewArgs),
    /// Build the plugin project in DIR (a cargo crate, or a JavaScript/
    /// TypeScript or Python project) into a component the host loads; exit 1
    /// with the reason if it does not build or imports what the host lacks.
    Build(build::BuildArgs),
}

/// Parse the command line and run it. The binary's whole `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // Every thread runs a single-threaded scheduler (no work stealing, no
    // cross-thread wakeups): this one does the control work (loading,
    // reloads, admin, signals) and, with one worker, serves too.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report::error(&format!("cannot start the async runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Validate(args) => return validate::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Dev(args) => dev::run(args).await,
            Command::New(args) => new::run(args),
            Command::Build(args) => return build::run(args).await,
        }
        .map(|()| ExitCode::SUCCESS)
    });
    // Access-log lines of the last (drained) requests are written before exit.
    edgechain::telemetry::stdout::flush();
    match result {
        Ok(code) => code,
        Err(e) => {
            report::error(&report::error_chain(&e));
            ExitCode::FAILURE
        }
    }
}
