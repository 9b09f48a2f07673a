fn main() -> Result<(), lambda_runtime::Error> {
    invokeguard::lambda::main()
}
