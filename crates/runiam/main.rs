//! `runiam`: the front binary (see the library for how it dispatches).

fn main() -> std::process::ExitCode {
    let code = runiam::run(std::env::args_os().collect());
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
