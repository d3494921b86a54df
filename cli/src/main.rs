//! The `brownout` binary: the command line of `brownout::cli` over the
//! built-in target (the embedded filesystem core) and the example engines
//! of `targets/examples`. A user's own binary looks the same, with their
//! targets in the list.

fn main() -> std::process::ExitCode {
    brownout::cli::main(&brownout_examples::targets())
}
