//! The one benchmark table: every bench returns its figures as rows —
//! runiam's value beside the peer's measured in the same run, their ratio and
//! the target — and `cargo xtask bench all` prints them as one Markdown table
//! (README.md quotes it with the command that produced it).

/// A benchmark: measures, prints its details, returns its figures.
pub type Bench = fn(&std::path::Path) -> anyhow::Result<Vec<Figure>>;

/// One measured figure.
pub struct Figure {
    /// What is measured, with its conditions.
    pub name: String,
    /// runiam's value, with its unit.
    pub runiam: String,
    /// The peer and its value, measured in the same run ("—" when none).
    pub peer: String,
    /// How many times better runiam does than the peer (> 1 is better): the
    /// peer's time ÷ runiam's, or runiam's rate ÷ the peer's.
    pub ratio: Option<f64>,
    /// The target the figure is held to, and whether it is met.
    pub target: String,
}

impl Figure {
    pub fn new(name: impl Into<String>, runiam: impl Into<String>) -> Self {
        Self { name: name.into(), runiam: runiam.into(), peer: "—".into(), ratio: None, target: "—".into() }
    }

    pub fn peer(mut self, peer: impl Into<String>, ratio: f64) -> Self {
        self.peer = peer.into();
        self.ratio = Some(ratio);
        self
    }

    /// The target, marked met or missed by `met`.
    pub fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = format!("{} {}", target.into(), if met { "(met)" } else { "(MISSED)" });
        self
    }
}

/// A failed bench still gets its row: the table shows what could not be measured.
pub fn failed(bench: &str, e: &anyhow::Error) -> Figure {
    Figure::new(format!("`bench {bench}`"), format!("failed: {}", first_line(&format!("{e:#}"))))
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// The rows as a Markdown table.
pub fn table(rows: &[Figure]) -> String {
    let mut out = String::from("| figure | runiam | peer (same run) | ratio | target |\n|---|---|---|---|---|\n");
    for r in rows {
        let ratio = r.ratio.map_or("—".to_owned(), |x| if x >= 10.0 { format!("{x:.0}×") } else { format!("{x:.2}×") });
        out.push_str(&format!("| {} | {} | {} | {ratio} | {} |\n", r.name, r.runiam, r.peer, r.target));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_every_row_with_its_ratio_and_target() {
        let rows = vec![
            Figure::new("start-up", "12 ms").peer("python 600 ms", 50.0).target("≥ 10× faster", true),
            Figure::new("classifier", "0.8 s").target("≤ 3 s", true),
            failed("fleet", &anyhow::anyhow!("no python3\nmore")),
        ];
        assert_eq!(
            table(&rows),
            "| figure | runiam | peer (same run) | ratio | target |\n|---|---|---|---|---|\n\
             | start-up | 12 ms | python 600 ms | 50× | ≥ 10× faster (met) |\n\
             | classifier | 0.8 s | — | — | ≤ 3 s (met) |\n\
             | `bench fleet` | failed: no python3 | — | — | — |\n"
        );
    }
}
