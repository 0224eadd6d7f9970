//! `runiam-verify`: see the runiam-verify library.

fn main() -> std::process::ExitCode {
    runiam_verify::run(std::env::args_os().collect()).into()
}
