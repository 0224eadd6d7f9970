fn main() -> std::process::ExitCode {
    runiam_emulator::run(std::env::args_os().collect()).into()
}
