fn main() -> std::process::ExitCode {
    invokeguard::cli::main()
}
