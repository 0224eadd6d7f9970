//! README.md, followed literally: every command of its ```sh blocks, in
//! order, in one bash session, in a directory where `examples/` and
//! `target/release/` are this checkout's (the latter holds the binaries this
//! test was built with). Each command must exit as the README says: 0 unless
//! its trailing comment says `exit N`, and `statuses A B C` there checks a
//! pipe's statuses (`PIPESTATUS`) under `set -o pipefail`.
//!
//! Not run, and why: `cargo` lines (the binaries under test are already
//! built by the cargo running this test; the demo and the tests have tests
//! of their own), and `gcloud` lines when gcloud is not installed.

use std::path::Path;

use crate::common::{bin, root};

/// One command of the README and what it must exit with.
#[derive(Debug)]
struct Step {
    line: String,
    exit: i32,
    pipestatus: Option<String>,
}

/// The commands of every ```sh block, continuation lines joined.
fn steps(readme: &str) -> Vec<Step> {
    let mut out = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = !in_sh && line.trim() == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let (code, comment) = split_comment(line);
        if let Some(head) = code.trim_end().strip_suffix('\\') {
            pending.push_str(head.trim_end());
            pending.push(' ');
            continue;
        }
        let full = format!("{pending}{}", code.trim());
        pending.clear();
        if full.trim().is_empty() {
            continue;
        }
        let exit = comment.and_then(|c| numbers_after(c, "exit ").first().copied()).unwrap_or(0);
        let pipestatus = comment
            .map(|c| numbers_after(c, "statuses "))
            .filter(|n| !n.is_empty())
            .map(|n| n.iter().map(i32::to_string).collect::<Vec<_>>().join(" "));
        out.push(Step { line: full.trim().to_owned(), exit, pipestatus });
    }
    out
}

/// The numbers right after `word` in a comment: `exit 1: statuses 1 0 0 0`.
fn numbers_after(comment: &str, word: &str) -> Vec<i32> {
    let Some((_, rest)) = comment.split_once(word) else { return Vec::new() };
    rest.split_whitespace().map_while(|w| w.trim_end_matches([':', ',', ';']).parse().ok()).collect()
}

/// A line's code and its trailing `# comment`, a `#` inside quotes not counting.
fn split_comment(line: &str) -> (&str, Option<&str>) {
    let (mut single, mut double) = (false, false);
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && (i == 0 || line[..i].ends_with(' ')) => {
                return (&line[..i], Some(&line[i + 1..]));
            }
            _ => {}
        }
    }
    (line, None)
}

fn skipped(step: &Step, gcloud: bool) -> bool {
    step.line.starts_with("cargo ") || (!gcloud && step.line.starts_with("gcloud "))
}

/// The session: each command followed by a marker with its statuses, and a
/// wait for the port after a command sent to the background.
fn script(steps: &[Step], gcloud: bool) -> String {
    let mut s = String::new();
    for (i, step) in steps.iter().enumerate() {
        if skipped(step, gcloud) {
            continue;
        }
        s.push_str(&step.line);
        s.push_str(&format!("\necho \"@@step {i} $? ${{PIPESTATUS[*]}}@@\"\n"));
        if step.line.ends_with('&') {
            let port = listening_port(&step.line);
            s.push_str(&format!(
                "for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done\n"
            ));
        }
    }
    s.push_str("kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; echo @@end@@\n");
    s
}

/// The port a command sent to the background listens on: its `--port`,
/// else the default of runiam proxy (8080) or runiam-emulator (8785).
fn listening_port(line: &str) -> u16 {
    let words: Vec<&str> = line.split_whitespace().collect();
    let given = words.windows(2).find(|w| w[0] == "--port").and_then(|w| w[1].parse().ok());
    given.unwrap_or(if line.contains("runiam proxy") { 8080 } else { 8785 })
}

fn link(from: &Path, to: &Path) {
    std::os::unix::fs::symlink(from, to).unwrap();
}

#[test]
fn the_readme_followed_literally_works() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let steps = steps(&readme);
    let gcloud = std::process::Command::new("gcloud").arg("--version").output().is_ok_and(|o| o.status.success());
    let dir = tempfile::tempdir().unwrap();
    link(&root().join("examples"), &dir.path().join("examples"));
    std::fs::create_dir_all(dir.path().join("target")).unwrap();
    link(bin("runiam").parent().unwrap(), &dir.path().join("target/release"));
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(script(&steps, gcloud))
        .current_dir(dir.path())
        .env_clear()
        .env("HOME", dir.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("@@end@@"), "the session did not finish:\n{text}");
    let mut ran = 0;
    for (i, step) in steps.iter().enumerate() {
        if skipped(step, gcloud) {
            continue;
        }
        ran += 1;
        let marker = format!("@@step {i} ");
        let statuses = text
            .split(&marker)
            .nth(1)
            .and_then(|r| r.split("@@").next())
            .unwrap_or_else(|| panic!("`{}` never finished:\n{text}", step.line));
        let mut words = statuses.split_whitespace();
        let exit: i32 = words.next().unwrap().parse().unwrap();
        assert_eq!(exit, step.exit, "README: `{}` exited {exit}, the README says {}:\n{text}", step.line, step.exit);
        if let Some(want) = &step.pipestatus {
            assert_eq!(&words.collect::<Vec<_>>().join(" "), want, "README: `{}`:\n{text}", step.line);
        }
    }
    assert!(ran >= 10, "only {ran} README commands ran:\n{text}");
}

#[test]
fn commands_are_read_as_bash_would() {
    let readme = "x\n```sh\nrunemu &   # start\nrunner a \\\n  --b 'c # d' # exit 1: statuses 1 0 0, all fine\n```\n```text\nnot run\n```\n";
    let s = steps(readme);
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].line.as_str(), s[0].exit), ("runemu &", 0));
    assert_eq!((s[1].line.as_str(), s[1].exit), ("runner a --b 'c # d'", 1));
    assert_eq!(s[1].pipestatus.as_deref(), Some("1 0 0"));
    assert_eq!(s[0].pipestatus, None);
}
