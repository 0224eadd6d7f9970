//! How results reach the user: human text on a terminal, YAML or JSON
//! documents otherwise, and progress bars only when stderr is a terminal.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::doc::DocFormat;

/// `-o text|yaml|json`, shared by every command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// A YAML stream of runiam documents.
    Yaml,
    /// One runiam document per line, as JSON.
    Json,
    /// A page for the team wiki (runbook.rs): what happened, as Markdown.
    Markdown,
}

impl Format {
    /// The format to use when `-o` is absent: text on a terminal, YAML in a pipe.
    pub fn resolve(flag: Option<Format>) -> Format {
        flag.unwrap_or_else(|| if std::io::stdout().is_terminal() { Format::Text } else { Format::Yaml })
    }

    /// The document format, for the two machine formats.
    pub fn doc_format(self) -> Option<DocFormat> {
        match self {
            Format::Text | Format::Markdown => None,
            Format::Yaml => Some(DocFormat::Yaml),
            Format::Json => Some(DocFormat::Json),
        }
    }
}

/// A progress bar for `len` steps on stderr, with the rate and the time
/// left, hidden in pipes and with `--quiet`.
pub fn progress(len: u64, message: &str, quiet: bool) -> ProgressBar {
    bar(len, message, quiet, "{msg} [{bar:30}] {human_pos}/{human_len} {rate} ETA {eta}")
}

/// A progress bar of `seconds` waited, on stderr, hidden in pipes and with `--quiet`.
pub fn waiting(seconds: u64, message: &str, quiet: bool) -> ProgressBar {
    bar(seconds, message, quiet, "{msg} [{bar:30}] {pos}s of {len}s")
}

fn bar(len: u64, message: &str, quiet: bool, template: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_style(style(template));
    bar.set_message(message.to_owned());
    bar
}

/// Every bar's look: `{rate}` is a whole number of steps a second.
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).expect("static template").progress_chars("=> ").with_key(
        "rate",
        |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0}/s", state.per_sec());
        },
    )
}

/// A bar for a span of time on stderr (position and length in
/// milliseconds, the time left in the message), hidden in pipes and with
/// `--quiet`.
pub fn countdown(quiet: bool) -> ProgressBar {
    bar(1, "", quiet, "{msg} [{bar:30}]")
}

/// A count of `unit`s done with its rate and elapsed time, for work whose
/// total is not known up front; on stderr, hidden in pipes and with `--quiet`.
pub fn counter(message: &str, unit: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::no_length()
        .with_style(style(&format!("{{spinner}} {{msg}}: {{human_pos}} {unit} ({{rate}}, {{elapsed}})")));
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Turns a counter into a bar once the total is known: count, rate and ETA.
pub fn set_total(bar: &ProgressBar, len: u64, unit: &str) {
    if bar.is_hidden() {
        return;
    }
    bar.set_style(style(&format!("{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{rate}}, ETA {{eta}})")));
    bar.set_length(len);
    bar.set_position(0);
}
