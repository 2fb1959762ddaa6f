//! The `pantry-registry` binary: everything is in the library; this only runs the command line.

/// mimalloc: faster than glibc's malloc on the per-request allocations of the hot read paths,
/// and without its per-thread arenas' memory growth.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    pantry_registry::cli::main()
}
