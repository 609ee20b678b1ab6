//! The `edgechain` command line, for tests that run it as a child process.

fn main() -> std::process::ExitCode {
    edgechain_cli::main()
}
