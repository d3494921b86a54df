//! The `brownout` command-line tool.

fn main() {
    eprintln!("brownout: not built yet");
    std::process::exit(2);
}
