fn main() -> std::process::ExitCode {
    selfsup_runner::main()
}
