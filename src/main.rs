fn main() -> std::process::ExitCode {
    selfsup_cli::main()
}
