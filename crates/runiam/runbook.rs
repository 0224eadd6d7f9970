//! `runiam runbook [FILE...]`: a saved stream of documents as the Markdown
//! page `-o markdown` writes (runiam-core's `runbook`), for the documents
//! that were kept along the way (`tee diag.yaml`, `tee change.yaml`).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;
use runiam_core::doc::{Document, Documents, Input, Kind};
use runiam_core::{CommandError, Exit};

/// The kinds a runbook page tells.
const KINDS: [Kind; 3] = [Kind::Diagnosis, Kind::ChangeRecord, Kind::VerifyReport];

/// Shown after `--help` and as the man page's EXAMPLES.
const EXAMPLES: &str = "\
Examples:
  # One page for the incident: diagnosis, change, verification
  cat diagnosis.yaml change.yaml verify.yaml | runiam runbook > INCIDENT.md

  # The same from files, in order
  runiam runbook diagnosis.yaml change.yaml verify.yaml";

/// Render saved runiam documents as one Markdown page for the team wiki.
///
/// Reads Diagnosis, ChangeRecord and VerifyReport documents (YAML streams
/// or JSON lines, as every command writes them) from each FILE in turn, or
/// from stdin without FILE or with -, and prints what happened: the symptom
/// with Cloud Run's quoted log entries, the evidence and cause, the change
/// with its diff and blast radius, the verification, the rollback command,
/// and the alert created. `cat diag.yaml change.yaml verify.yaml | runiam
/// runbook > INCIDENT.md`; each command's own `-o markdown` renders the
/// same page for its own documents.
#[derive(Parser, Debug)]
#[command(name = "runiam-runbook", version, after_long_help = EXAMPLES)]
pub struct RunbookArgs {
    /// Files of documents, read in order (- for stdin) [default: stdin].
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn command() -> clap::Command {
    <RunbookArgs as clap::CommandFactory>::command()
}

/// Runs `runiam runbook` on full argv; returns the exit code.
pub fn run(args: Vec<OsString>) -> Exit {
    let parsed = match RunbookArgs::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { Exit::Usage } else { Exit::Ok };
        }
    };
    match render(&parsed) {
        Ok(()) => Exit::Ok,
        Err(e) => e.report("runiam-runbook"),
    }
}

fn render(args: &RunbookArgs) -> Result<(), CommandError> {
    let inputs: Vec<Input> = if args.files.is_empty() {
        vec![Input::Stdin]
    } else {
        args.files.iter().map(|f| if f.as_os_str() == "-" { Input::Stdin } else { Input::File(f.clone()) }).collect()
    };
    let mut docs: Vec<Document> = Vec::new();
    for input in &inputs {
        for d in Documents::open("runiam runbook", &KINDS, input, true)? {
            docs.push(d.map_err(|e| match input {
                Input::File(p) => e.context(format!("in {}", p.display())),
                Input::Stdin => e,
            })?);
        }
    }
    if docs.is_empty() {
        return Err(CommandError::usage("no documents to render: did the command before fail?")
            .hinted("runiam runbook diag.yaml change.yaml verify.yaml, or pipe them in"));
    }
    runiam_core::runbook::write_stdout(&docs)?;
    Ok(())
}
