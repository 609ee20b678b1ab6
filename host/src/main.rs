fn main() -> std::process::ExitCode {
    edgechain::cli::main()
}
