//! `runiam-grant-invoker`: see the runiam-grant-invoker library.

fn main() -> std::process::ExitCode {
    runiam_grant_invoker::run(std::env::args_os().collect()).into()
}
