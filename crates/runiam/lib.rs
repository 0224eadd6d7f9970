//! The front binary `runiam`: runs built-in commands in-process and
//! `runiam-<name>` plugins from `PATH` for anything else, the way git and
//! cargo do.
//!
//! `runiam export ARGS` runs exactly what `runiam-export ARGS` runs (same
//! help, same output, same exit code). A plugin can never shadow a built-in:
//! built-ins are looked up first. Adding a command is one crate, one
//! `[[bin]]` in the root Cargo.toml and one line in `BUILTINS`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

pub mod demo;
pub mod runbook;

use runiam_core::cli::Builtin;
use runiam_core::{CommandError, Exit};

/// The built-in commands, in the order `runiam --help` lists them.
pub const BUILTINS: &[Builtin] = &[
    Builtin { name: "export", command: runiam_export::command, run: runiam_export::run },
    Builtin { name: "troubleshoot", command: runiam_troubleshoot::command, run: runiam_troubleshoot::run },
    Builtin { name: "grant-invoker", command: runiam_grant_invoker::command, run: runiam_grant_invoker::run },
    Builtin { name: "rollback", command: runiam_rollback::command, run: runiam_rollback::run },
    Builtin { name: "verify", command: runiam_verify::command, run: runiam_verify::run },
    Builtin { name: "proxy", command: runiam_proxy::command, run: runiam_proxy::run },
];

/// Names the front binary answers itself.
const OWN_COMMANDS: &[&str] = &["plugins", "demo", "runbook", "help"];

/// The `runiam` command as help, man pages and completions show it.
pub fn command() -> clap::Command {
    let mut cmd = clap::Command::new("runiam")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Find out why a caller cannot invoke a Cloud Run service, fix it with least privilege, prove it, undo it")
        .long_about(
            "Find out why a caller cannot invoke a Cloud Run service, fix it with least privilege, prove it, undo it.\n\n\
             `runiam COMMAND ARGS` runs the built-in COMMAND, exactly as `runiam-COMMAND ARGS` does. Any other \
             COMMAND runs `runiam-COMMAND` from PATH with ARGS, stdin, stdout and stderr passed through and its \
             exit code returned.",
        )
        .after_long_help(
            "Examples:\n  \
             # The whole story, offline, in seconds\n  \
             runiam demo\n\n  \
             # Diagnose, fix with least privilege, prove with a real call\n  \
             set -o pipefail\n  \
             runiam troubleshoot hello --caller user:ana@acme.example | runiam grant-invoker --apply --yes | runiam verify\n\n  \
             # Help for one command, and the plugins on PATH\n  \
             runiam help troubleshoot\n  \
             runiam plugins",
        )
        .subcommand_required(true)
        .allow_external_subcommands(true)
        // `runiam help CMD` is the front binary's own: `runiam CMD --help`.
        .disable_help_subcommand(true)
        .subcommand(plugins_command())
        .subcommand(demo::command().name("demo"))
        .subcommand(runbook::command().name("runbook"));
    // The built-ins whole, flags and values included, so the front binary's
    // completions complete them as the runiam-COMMAND binaries' do.
    for b in BUILTINS {
        cmd = cmd.subcommand((b.command)().name(b.name));
    }
    cmd
}

/// `runiam plugins`.
fn plugins_command() -> clap::Command {
    clap::Command::new("plugins")
        .about("List the runiam-* plugins found on PATH")
        .long_about("List the runiam-* plugins found on PATH, and whether a built-in of the same name shadows one.")
        .after_long_help(
            "Examples:\n  \
             # A plugin is any runiam-NAME on PATH; runiam NAME runs it\n  \
             runiam plugins",
        )
}

/// Every binary runiam ships, as `(name, clap command)`: the front binary,
/// one `runiam-<name>` per built-in, and the emulator. xtask generates man
/// pages and completions from this list, so a new built-in is picked up.
pub fn binaries() -> Vec<clap::Command> {
    let mut all = vec![command()];
    all.extend(
        BUILTINS
            .iter()
            .map(|b| (b.command)().name(format!("runiam-{}", b.name)).bin_name(format!("runiam-{}", b.name))),
    );
    all.push(runiam_emulator::command());
    all
}

/// Every man page runiam ships: the binaries' and the front binary's own
/// subcommands' (`runiam-plugins`, `runiam-demo`, `runiam-runbook`), so every page runiam(1)
/// refers to exists.
pub fn man_pages() -> Vec<clap::Command> {
    let mut all = binaries();
    all.push(plugins_command().name("runiam-plugins"));
    all.push(demo::command().name("runiam-demo"));
    all.push(runbook::command().name("runiam-runbook"));
    all
}

/// A plugin found on PATH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plugin {
    pub name: String,
    pub path: PathBuf,
    /// A built-in of the same name wins; the plugin is never run.
    pub shadowed: bool,
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Every `runiam-<name>` executable on `path` (first one wins, as in a shell).
pub fn plugins(path: Option<&std::ffi::OsStr>) -> Vec<Plugin> {
    let mut found: BTreeMap<String, Plugin> = BTreeMap::new();
    for dir in path.map(std::env::split_paths).into_iter().flatten() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for p in names {
            let Some(name) = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("runiam-")) else {
                continue;
            };
            if name.is_empty() || found.contains_key(name) || !is_executable(&p) {
                continue;
            }
            let shadowed = BUILTINS.iter().any(|b| b.name == name);
            found.insert(name.to_owned(), Plugin { name: name.to_owned(), path: p, shadowed });
        }
    }
    found.into_values().collect()
}

/// The closest known command to a mistyped one, if any is close.
pub fn did_you_mean<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(typed, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Runs a plugin with the arguments and stdio untouched; returns its exit code.
fn run_plugin(plugin: &Plugin, args: &[OsString]) -> Result<i32, CommandError> {
    let status = Process::new(&plugin.path)
        .args(args)
        .status()
        .map_err(|e| CommandError::new(Exit::Api, e).context(format!("cannot run plugin {}", plugin.path.display())))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

fn print_plugins(path: Option<&std::ffi::OsStr>) -> Result<i32, CommandError> {
    let found = plugins(path);
    let mut out = std::io::stdout().lock();
    if found.is_empty() {
        writeln!(out, "no runiam-* plugins on PATH")?;
    }
    for p in found {
        let note = if p.shadowed { "  (shadowed by the built-in; never run)" } else { "" };
        writeln!(out, "{}\t{}{note}", p.name, p.path.display())?;
    }
    Ok(0)
}

/// The whole front binary; returns the process exit code.
pub fn run(args: Vec<OsString>) -> i32 {
    let path = std::env::var_os("PATH");
    match dispatch(args, path.as_deref()) {
        Ok(code) => code,
        Err(e) => e.report("runiam").code(),
    }
}

fn dispatch(args: Vec<OsString>, path: Option<&std::ffi::OsStr>) -> Result<i32, CommandError> {
    let mut rest = args.into_iter().skip(1);
    let Some(first) = rest.next() else {
        let _ = command().write_help(&mut std::io::stderr());
        return Ok(Exit::Usage.code());
    };
    let rest: Vec<OsString> = rest.collect();
    let name = first.to_string_lossy().into_owned();
    match name.as_str() {
        "-h" | "--help" | "help" if rest.is_empty() => {
            let mut out = std::io::stdout().lock();
            write!(out, "{}", command().render_long_help())?;
            return Ok(0);
        }
        "help" => {
            // `runiam help export` is `runiam export --help`.
            let mut again = vec![OsString::from("runiam"), rest[0].clone(), OsString::from("--help")];
            again.extend(rest.into_iter().skip(1));
            return dispatch(again, path);
        }
        "-V" | "--version" => {
            writeln!(std::io::stdout(), "runiam {}", env!("CARGO_PKG_VERSION"))?;
            return Ok(0);
        }
        "plugins" if rest.iter().any(|a| a == "-h" || a == "--help") => {
            write!(std::io::stdout(), "{}", plugins_command().bin_name("runiam plugins").render_long_help())?;
            return Ok(0);
        }
        "plugins" => return print_plugins(path),
        "demo" => {
            let mut argv = vec![OsString::from("runiam-demo")];
            argv.extend(rest);
            return Ok(demo::run(argv).code());
        }
        "runbook" => {
            let mut argv = vec![OsString::from("runiam-runbook")];
            argv.extend(rest);
            return Ok(runbook::run(argv).code());
        }
        _ => {}
    }
    if let Some(b) = BUILTINS.iter().find(|b| b.name == name) {
        let mut argv = vec![OsString::from(format!("runiam-{}", b.name))];
        argv.extend(rest);
        return Ok((b.run)(argv).code());
    }
    let found = plugins(path);
    if !name.starts_with('-')
        && let Some(p) = found.iter().find(|p| p.name == name)
    {
        return run_plugin(p, &rest);
    }
    let known: Vec<&str> = BUILTINS
        .iter()
        .map(|b| b.name)
        .chain(OWN_COMMANDS.iter().copied())
        .chain(found.iter().map(|p| p.name.as_str()))
        .collect();
    let err = CommandError::usage(format!("'{name}' is not a runiam command, and no runiam-{name} plugin is on PATH"));
    let err = match did_you_mean(&name, known.iter().copied()) {
        Some(c) => err.hinted(format!("did you mean `runiam {c}`?")),
        None => err,
    };
    Err(err.hinted("`runiam --help` lists the commands, `runiam plugins` the plugins"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn suggestions() {
        assert_eq!(did_you_mean("plugin", ["plugins", "help"]), Some("plugins"));
        assert_eq!(did_you_mean("zzzz", ["plugins", "help"]), None);
    }
}
