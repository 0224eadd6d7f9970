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
}

impl Format {
    /// The format to use when `-o` is absent: text on a terminal, YAML in a pipe.
    pub fn resolve(flag: Option<Format>) -> Format {
        flag.unwrap_or_else(|| if std::io::stdout().is_terminal() { Format::Text } else { Format::Yaml })
    }

    /// The document format, for the two machine formats.
    pub fn doc_format(self) -> Option<DocFormat> {
        match self {
            Format::Text => None,
            Format::Yaml => Some(DocFormat::Yaml),
            Format::Json => Some(DocFormat::Json),
        }
    }
}

/// A progress bar for `len` steps on stderr, hidden in pipes and with `--quiet`.
pub fn progress(len: u64, message: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}").expect("static template").progress_chars("=> "),
    );
    bar.set_message(message.to_owned());
    bar
}

/// A count of `unit`s done with its rate and elapsed time, for work whose
/// total is not known up front; on stderr, hidden in pipes and with `--quiet`.
pub fn counter(message: &str, unit: &str, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::no_length();
    let template = format!("{{spinner}} {{msg}}: {{pos}} {unit} ({{per_sec}}, {{elapsed}})");
    bar.set_style(ProgressStyle::with_template(&template).expect("counter template"));
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Turns a counter into a bar once the total is known: count, rate and ETA.
pub fn set_total(bar: &ProgressBar, len: u64, unit: &str) {
    if bar.is_hidden() {
        return;
    }
    let template = format!("{{msg}} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{per_sec}}, ETA {{eta}})");
    bar.set_style(ProgressStyle::with_template(&template).expect("bar template").progress_chars("=> "));
    bar.set_length(len);
    bar.set_position(0);
}
