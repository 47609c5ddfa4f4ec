/// Many small allocations per request (headers, JSON, rows) from several threads at once:
/// mimalloc serves them with less locking than glibc's allocator (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    paymux_gateway::cli::run()
}
