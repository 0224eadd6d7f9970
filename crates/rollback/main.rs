//! `runiam-rollback`: see the runiam-rollback library.

fn main() -> std::process::ExitCode {
    runiam_rollback::run(std::env::args_os().collect()).into()
}
