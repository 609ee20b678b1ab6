fn main() -> std::process::ExitCode {
    edgechain_cli::main()
}
