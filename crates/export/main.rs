//! `runiam-export`: see the runiam-export library.

fn main() -> std::process::ExitCode {
    runiam_export::run(std::env::args_os().collect()).into()
}
