//! `runiam-proxy`: see the runiam-proxy library.

fn main() -> std::process::ExitCode {
    runiam_proxy::run(std::env::args_os().collect()).into()
}
