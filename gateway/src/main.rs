fn main() -> std::process::ExitCode {
    paymux_gateway::cli::run()
}
