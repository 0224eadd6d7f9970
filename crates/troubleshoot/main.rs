//! `runiam-troubleshoot`: see the runiam-troubleshoot library.

fn main() -> std::process::ExitCode {
    runiam_troubleshoot::run(std::env::args_os().collect()).into()
}
