//! The backup directory, as `--list` and `--last` read it: every
//! ServiceSnapshot that an `--apply` wrote before changing a service, under
//! `DIR/PROJECT/REGION/SERVICE-TIME.yaml`, found by reading the files
//! themselves (a file that is not a snapshot is skipped), newest first.

use std::path::{Path, PathBuf};

use runiam_core::doc::{Document, ServiceSnapshot, parse_stream};

/// One backup: where it is and what it holds.
#[derive(Clone, Debug)]
pub struct Backup {
    pub path: PathBuf,
    pub snapshot: Box<ServiceSnapshot>,
}

/// Every backup under `dir` whose service `matches`, newest first.
pub fn list(dir: &Path, matches: impl Fn(&ServiceSnapshot) -> bool) -> Vec<Backup> {
    let mut out = Vec::new();
    walk(dir, &mut |path| {
        let Ok(text) = std::fs::read_to_string(path) else { return };
        if let Ok(docs) = parse_stream(&text) {
            for d in docs {
                if let Document::ServiceSnapshot(s) = d
                    && matches(&s)
                {
                    out.push(Backup { path: path.to_owned(), snapshot: s });
                }
            }
        }
    });
    out.sort_by(|a, b| b.snapshot.captured_at.cmp(&a.snapshot.captured_at).then(b.path.cmp(&a.path)));
    out
}

fn walk(dir: &Path, f: &mut impl FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, f);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            f(&p);
        }
    }
}

/// Whether a snapshot is of `service`: a full name, or a bare name (any
/// project and region).
pub fn is_of(s: &ServiceSnapshot, service: &str) -> bool {
    s.service.full_name() == service || s.service.name == service
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use runiam_core::doc::{DocFormat, render};
    use runiam_core::model::{Policy, ServiceRef};

    fn snapshot(name: &str, hour: u32) -> ServiceSnapshot {
        ServiceSnapshot::of_policy(
            ServiceRef::new("acme-prod", "europe-west1", name),
            Policy::default(),
            Utc.with_ymd_and_hms(2026, 11, 29, hour, 0, 0).unwrap(),
        )
    }

    #[test]
    fn newest_first_and_only_snapshots() {
        let dir = tempfile::tempdir().unwrap();
        let at = dir.path().join("acme-prod/europe-west1");
        std::fs::create_dir_all(&at).unwrap();
        for (name, hour) in [("hello", 9), ("hello", 11), ("other", 10)] {
            let doc = Document::ServiceSnapshot(Box::new(snapshot(name, hour)));
            std::fs::write(at.join(format!("{name}-{hour}.yaml")), render(&doc, DocFormat::Yaml)).unwrap();
        }
        std::fs::write(at.join("notes.yaml"), "not: a snapshot\n").unwrap();
        let all = list(dir.path(), |_| true);
        assert_eq!(
            all.iter().map(|b| b.snapshot.captured_at.format("%H").to_string()).collect::<Vec<_>>(),
            ["11", "10", "09"]
        );
        let hello = list(dir.path(), |s| is_of(s, "hello"));
        assert_eq!(hello.len(), 2);
        assert!(hello[0].path.ends_with("hello-11.yaml"));
        assert_eq!(list(dir.path(), |s| is_of(s, "projects/acme-prod/locations/europe-west1/services/other")).len(), 1);
    }
}
