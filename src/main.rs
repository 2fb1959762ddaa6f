//! The `pantry-registry` binary: everything is in the library; this only runs the command line.

fn main() -> std::process::ExitCode {
    pantry_registry::cli::main()
}
