//! The front binary: plugins on PATH, `runiam plugins`, did-you-mean,
//! help, and a quiet exit on a closed stdout.

use std::process::Stdio;

use crate::common::{cmd, path_with, run, script};

fn hello_plugin(dir: &std::path::Path) {
    script(
        &dir.join("runiam-hello"),
        "#!/bin/sh\necho \"args: $*\"\nread line\necho \"stdin: $line\"\necho \"to stderr\" >&2\nexit 7\n",
    );
}

#[test]
fn plugin_gets_args_stdio_and_exit_code() {
    let home = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    hello_plugin(bin.path());
    let mut c = cmd("runiam", home.path());
    c.env("PATH", path_with(bin.path())).args(["hello", "--flag", "two words"]);
    let (_, text) = run(c, "piped in\n");
    insta::assert_snapshot!(text, @r"
    args: --flag two words
    stdin: piped in
    [stderr]
    to stderr
    [exit status: 7]
    ");
}

#[test]
fn plugins_lists_what_is_on_path() {
    let home = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    hello_plugin(bin.path());
    // Not executable: not a plugin.
    std::fs::write(bin.path().join("runiam-notes"), "text").unwrap();
    let mut c = cmd("runiam", home.path());
    c.env("PATH", path_with(bin.path())).arg("plugins");
    let (_, text) = run(c, "");
    let text = text.replace(&bin.path().display().to_string(), "[BIN]");
    insta::assert_snapshot!(text, @r"
    hello	[BIN]/runiam-hello
    [stderr]
    [exit status: 0]
    ");
}

#[test]
fn unknown_command_suggests_the_closest() {
    let home = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    hello_plugin(bin.path());
    let mut c = cmd("runiam", home.path());
    c.env("PATH", path_with(bin.path())).arg("helo");
    let (_, text) = run(c, "");
    insta::assert_snapshot!(text, @r"
    [stderr]
    runiam: error: 'helo' is not a runiam command, and no runiam-helo plugin is on PATH

    hint: did you mean `runiam hello`?
    hint: `runiam --help` lists the commands, `runiam plugins` the plugins
    [exit status: 2]
    ");

    let mut c = cmd("runiam", home.path());
    c.arg("nosuch");
    let (out, text) = run(c, "");
    assert_eq!(out.status.code(), Some(2));
    assert!(text.contains("runiam: error: 'nosuch' is not a runiam command"), "{text}");
}

#[test]
fn help_and_version() {
    let home = tempfile::tempdir().unwrap();
    let mut c = cmd("runiam", home.path());
    c.arg("--version");
    let (_, text) = run(c, "");
    assert_eq!(text, format!("runiam {}\n[stderr]\n[exit status: 0]", env!("CARGO_PKG_VERSION")));

    let mut c = cmd("runiam", home.path());
    c.arg("--help");
    let (out, _) = run(c, "");
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("List the runiam-* plugins found on PATH"));

    let (out, _) = run(cmd("runiam", home.path()), "");
    assert_eq!(out.status.code(), Some(2), "no command is a usage error");

    // `runiam help CMD` shows CMD's help for every command, its own included.
    for (command, usage) in [
        ("plugins", "Usage: runiam plugins"),
        ("demo", "Usage: runiam-demo"),
        ("export", "Usage: runiam-export"),
        ("verify", "Usage: runiam-verify"),
    ] {
        let mut c = cmd("runiam", home.path());
        c.args(["help", command]);
        let (out, text) = run(c, "");
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(String::from_utf8_lossy(&out.stdout).contains(usage), "{command}: {text}");
    }
}

#[test]
fn closed_stdout_is_a_quiet_success() {
    let home = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut c = cmd("runiam", home.path());
    c.arg("--help").stdout(Stdio::from(writer)).stderr(Stdio::piped());
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn timeout_gives_up_with_a_clear_message() {
    let emu = crate::common::Emulator::start(
        &crate::common::root().join("tests/e2e/data/change-world.yaml"),
        &["--latency", "3s"],
    );
    let home = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let (code, out, err) =
        crate::common::runiam(&emu, home.path(), &["export", "--all", "--project", "chg-proj", "--timeout", "1s"], "");
    assert_eq!(code, 3, "{err}");
    assert_eq!(out, "");
    assert!(err.contains("gave up after 1s (--timeout); nothing was written"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "it gave up late: {:?}", started.elapsed());

    let (code, _, err) = crate::common::runiam(&emu, home.path(), &["export", "--all", "--timeout", "0"], "");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'0' gives no time at all"), "{err}");
}
