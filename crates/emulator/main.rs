//! `runiam-emulator`: a local stand-in for the Google APIs runiam calls and
//! for Cloud Run's front end (docs/emulator.md).

fn main() -> std::process::ExitCode {
    runiam_emulator::run(std::env::args_os().collect()).into()
}
