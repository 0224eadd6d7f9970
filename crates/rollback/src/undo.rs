//! The decisions of rollback, pure: what the policy must become to undo a
//! record or restore a snapshot, or that it drifted and must not be touched.

use chrono::{DateTime, Utc};
use runiam_core::doc::{ChangeRecord, ServiceSnapshot};
use runiam_core::model::Policy;

/// What to undo or restore.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    Record(Box<ChangeRecord>),
    Snapshot(Box<ServiceSnapshot>),
}

impl Source {
    /// When the change was made or the snapshot taken (newest is undone first).
    pub fn when(&self) -> DateTime<Utc> {
        match self {
            Source::Record(r) => r.applied_at.unwrap_or(r.recorded_at),
            Source::Snapshot(s) => s.captured_at,
        }
    }

    /// The policy before and after the change (a snapshot is both).
    pub fn before_after(&self) -> (&Policy, &Policy) {
        match self {
            Source::Record(r) => (&r.policy_before, &r.policy_after),
            Source::Snapshot(s) => (&s.iam_policy, &s.iam_policy),
        }
    }

    /// For the rollback's own record.
    pub fn describe(&self) -> String {
        match self {
            Source::Record(r) => format!(
                "rollback of the {:?} recorded at {}",
                r.intent.action,
                r.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
            Source::Snapshot(s) => format!(
                "restore of the snapshot taken at {}",
                s.captured_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        }
    }
}

/// What to do with the live policy.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// Already as it should be.
    InPlace,
    /// Write this (the etag is the caller's business).
    Write(Policy),
    /// Someone else changed the policy since the record, or since the
    /// snapshot: refuse.
    Drifted,
}

/// How to treat edits made since the record or snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Refuse to touch them.
    Exact,
    /// `--merge`: keep them, undo only the change (or add back only what
    /// the snapshot had).
    Merge,
    /// `--force`: overwrite them with the recorded policy.
    Force,
}

/// Restores `want`'s grants and fields at the version they need.
fn restore(want: &Policy) -> Policy {
    let mut p = want.clone();
    p.version = p.required_version();
    p
}

/// The undo of a record or the restore of a snapshot against `live`. A
/// snapshot restore that would remove grants made since is drift too.
pub fn target(live: &Policy, source: &Source, mode: Mode) -> Target {
    let settle = |p: Policy| if p.same_grants(live) { Target::InPlace } else { Target::Write(p) };
    match source {
        Source::Snapshot(s) if live.same_grants(&s.iam_policy) => Target::InPlace,
        Source::Snapshot(s) if mode == Mode::Force => Target::Write(restore(&s.iam_policy)),
        Source::Snapshot(s) if mode == Mode::Merge => settle(merge_restore(live, &s.iam_policy)),
        Source::Snapshot(s) if live.grants_not_in(&s.iam_policy).is_empty() => Target::Write(restore(&s.iam_policy)),
        Source::Snapshot(_) => Target::Drifted,
        Source::Record(r) if live.same_grants(&r.policy_before) => Target::InPlace,
        Source::Record(r) if live.same_grants(&r.policy_after) || mode == Mode::Force => {
            Target::Write(restore(&r.policy_before))
        }
        Source::Record(r) if mode == Mode::Merge => settle(merge_undo(live, r)),
        Source::Record(_) => Target::Drifted,
    }
}

/// `live` with every grant of the snapshot added back; grants made since stay.
pub fn merge_restore(live: &Policy, snapshot: &Policy) -> Policy {
    let mut p = live.clone();
    add_back(&mut p, snapshot.grants_not_in(live));
    p.version = p.required_version();
    p
}

fn add_back(p: &mut Policy, grants: Vec<runiam_core::model::Binding>) {
    for r in grants {
        match p.bindings.iter_mut().find(|b| b.role == r.role && b.condition == r.condition) {
            Some(b) => {
                for m in r.members {
                    if !b.members.contains(&m) {
                        b.members.push(m);
                    }
                }
            }
            None => p.bindings.push(r),
        }
    }
}

/// `live` without what the record added and with what it removed; every
/// other edit stays.
pub fn merge_undo(live: &Policy, record: &ChangeRecord) -> Policy {
    let added = record.policy_after.grants_not_in(&record.policy_before);
    let removed = record.policy_before.grants_not_in(&record.policy_after);
    let mut p = live.clone();
    for a in &added {
        for b in p.bindings.iter_mut().filter(|b| b.role == a.role && b.condition == a.condition) {
            b.members.retain(|m| !a.members.contains(m));
        }
    }
    p.bindings.retain(|b| !b.members.is_empty());
    add_back(&mut p, removed);
    p.version = p.required_version();
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use runiam_core::doc::{ChangeAction, Intent};
    use runiam_core::model::ServiceRef;

    fn policy(etag: &str, grants: &[(&str, &str)]) -> Policy {
        Policy { etag: Some(etag.into()), ..Policy::with_grants(grants) }
    }

    fn record(before: Policy, after: Policy) -> Source {
        let service = ServiceRef::new("acme-prod", "europe-west1", "hello");
        let mut r = ChangeRecord::plan(service, Intent::bare(ChangeAction::Grant, None), before, after);
        r.applied = true;
        Source::Record(Box::new(r))
    }

    const INV: &str = "roles/run.invoker";

    #[test]
    fn exact_undo_drift_and_merge() {
        let before = policy("A", &[(INV, "user:a@x.example")]);
        let after = policy("B", &[(INV, "user:a@x.example"), (INV, "user:ours@x.example")]);
        let r = record(before.clone(), after.clone());
        assert_eq!(target(&after, &r, Mode::Exact), Target::Write(Policy { etag: Some("A".into()), ..before.clone() }));
        assert_eq!(target(&before, &r, Mode::Exact), Target::InPlace);
        let live =
            policy("C", &[(INV, "user:a@x.example"), (INV, "user:ours@x.example"), (INV, "user:theirs@x.example")]);
        assert_eq!(target(&live, &r, Mode::Exact), Target::Drifted);
        let Target::Write(merged) = target(&live, &r, Mode::Merge) else { panic!("merge must write") };
        assert!(merged.same_grants(&policy("", &[(INV, "user:a@x.example"), (INV, "user:theirs@x.example")])));
    }

    #[test]
    fn a_snapshot_restore_that_removes_later_grants_is_drift() {
        let snap = policy("A", &[(INV, "user:a@x.example")]);
        let source = Source::Snapshot(Box::new(runiam_core::doc::ServiceSnapshot::of_policy(
            ServiceRef::new("acme-prod", "europe-west1", "hello"),
            snap.clone(),
            Utc::now(),
        )));
        let since = policy("B", &[(INV, "user:a@x.example"), (INV, "user:new@x.example")]);
        assert_eq!(target(&since, &source, Mode::Exact), Target::Drifted);
        assert_eq!(target(&since, &source, Mode::Merge), Target::InPlace);
        assert!(matches!(target(&since, &source, Mode::Force), Target::Write(p) if p.same_grants(&snap)));
        // Only missing grants: restoring adds them back, no drift.
        assert!(matches!(target(&policy("C", &[]), &source, Mode::Exact), Target::Write(p) if p.same_grants(&snap)));
    }

    #[test]
    fn merge_restores_what_the_change_removed() {
        let before = policy("A", &[(INV, "user:gone@x.example")]);
        let after = policy("B", &[]);
        let live = policy("C", &[("roles/run.viewer", "user:v@x.example")]);
        let Target::Write(merged) = target(&live, &record(before, after), Mode::Merge) else { panic!() };
        assert!(
            merged.same_grants(&policy("", &[("roles/run.viewer", "user:v@x.example"), (INV, "user:gone@x.example")]))
        );
    }
}
