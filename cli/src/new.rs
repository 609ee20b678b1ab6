//! `edgechain new`: the flags, then `edgechain_author::scaffold`, and the
//! next steps for the project's language.

use anyhow::Context;
use clap::Args;
use edgechain::telemetry::stdout::say;
use edgechain_author::scaffold::{self, NewLang, NewOptions};
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// Plugin name (lower-case letters, digits, `-`).
    name: String,
    /// Directory to create (default: ./NAME).
    #[arg(long)]
    path: Option<PathBuf>,
    /// The SDK: guest-sdk/ of an edgechain checkout (default: the one
    /// above the new project).
    #[arg(long)]
    sdk: Option<PathBuf>,
    /// The plugin's language.
    #[arg(long, default_value = "rust",
          value_parser = clap::builder::PossibleValuesParser::new(NewLang::NAMES))]
    lang: String,
    /// An edge app instead of a plugin: a standard wasi:http component
    /// that answers requests as the last link of a chain, in place of
    /// the next hop (JavaScript, built with StarlingMonkey; with
    /// `--lang js`).
    #[arg(long)]
    app: bool,
}

/// `edgechain new`: create the project and say how to test, build and serve it.
pub(crate) fn run(args: NewArgs) -> anyhow::Result<()> {
    let NewArgs {
        name,
        path,
        sdk,
        lang,
        app,
    } = args;
    let lang = NewLang::parse(&lang).context("unknown --lang")?;
    let created = scaffold::create(&NewOptions {
        name,
        path,
        sdk,
        lang,
        app,
    })?;
    let dir = created.dir.display();
    let dev = "edgechain dev --plugin . --config proxy_config  # serve it, rebuild on save";
    if app {
        say(format!("created JavaScript edge app (wasi:http) {dir}"));
        say(format!("  cd {dir}"));
        say("  npm install && npm test                      # the handler under Node");
        say(
            "  edgechain build                              # proxy_config/<name>.wasm (StarlingMonkey; installs it once, ~390 MB)",
        );
        say(format!("  {dev}"));
        return Ok(());
    }
    match lang {
        NewLang::Rust => {
            say(format!("created plugin crate {dir}"));
            if created.workspace_member {
                say("  (a member of this workspace: `cargo xtask plugins` builds it too)");
            }
            say(format!("  cd {dir}"));
            say("  cargo test                                   # unit tests, natively");
            say(format!("  {dev}"));
        }
        NewLang::Js | NewLang::Ts => {
            say(format!("created {} plugin project {dir}", lang.describe()));
            say(format!("  cd {dir}"));
            say("  npm install && npm test                      # unit tests under Node");
            say("  edgechain build                              # proxy_config/<name>.wasm");
            say(format!("  {dev}"));
        }
        NewLang::Python => {
            let python = created
                .sdk
                .as_ref()
                .map(|s| s.join(".venv/bin/python").display().to_string())
                .unwrap_or_else(|| "python3".into());
            say(format!("created Python plugin project {dir}"));
            say(format!("  cd {dir}"));
            say(
                "  edgechain build                              # installs the toolchain once; proxy_config/<name>.wasm",
            );
            say(format!("  {python} -m pytest   # unit tests under CPython"));
            say(format!("  {dev}"));
        }
    }
    Ok(())
}
