//! `--create-alert`: the watch done on Google's side. A Cloud Monitoring
//! alert policy with one log-match condition on the filter `--logs` and
//! `--watch` read (the service's Cloud Run 401/403), notifying the
//! `--notify` channels at most once per `RATE_LIMIT`. One per service:
//! runiam's policies carry `DISPLAY_PREFIX` and the service in their
//! display name (and user labels for filtering), and an existing one is
//! reported, not duplicated. `--delete-alert NAME` removes one, and only
//! one runiam made.

use std::collections::BTreeMap;

use runiam_core::CommandError;
use runiam_core::api::Monitoring;
use runiam_core::api::monitoring::AlertPolicy;
use runiam_core::doc::{Check, CheckResult, Evidence};
use runiam_core::model::ServiceRef;
use runiam_core::target::user_named;
use serde_json::{Value, json};

use crate::checks::CheckName;
use crate::logs;

/// Every display name of runiam's alert policies starts with this.
pub const DISPLAY_PREFIX: &str = "runiam: Cloud Run 401/403 on ";
/// The user label that marks a policy as runiam's.
pub const LABEL: &str = "runiam";
/// At most one notification per this long (Monitoring requires one for
/// log-match policies).
pub const RATE_LIMIT: &str = "300s";
/// An incident with no new match closes after this long.
pub const AUTO_CLOSE: &str = "1800s";

/// The policy runiam creates for `target`.
pub fn policy(target: &ServiceRef, channels: &[String]) -> AlertPolicy {
    let full = target.full_name();
    let labels = BTreeMap::from([
        (LABEL.to_owned(), "verify".to_owned()),
        ("service".to_owned(), target.name.clone()),
        ("region".to_owned(), target.region.clone()),
    ]);
    let content = format!(
        "Cloud Run refused a caller of `{full}` again (401/403 in its request log) after `runiam verify` proved \
         the fix.\n\nDiagnose it: `runiam troubleshoot {full} --since 1h`\n\nCreated by `runiam verify \
         --create-alert`; remove it with `runiam verify --delete-alert POLICY_NAME`."
    );
    let extra = json!({
        "combiner": "OR",
        "enabled": true,
        "conditions": [{
            "displayName": format!("Cloud Run 401/403 in the request log of {}", target.name),
            "conditionMatchedLog": {"filter": logs::denials_filter(target)},
        }],
        "alertStrategy": {"notificationRateLimit": {"period": RATE_LIMIT}, "autoClose": AUTO_CLOSE},
        "documentation": {"content": content, "mimeType": "text/markdown"},
    });
    AlertPolicy {
        name: String::new(),
        display_name: format!("{DISPLAY_PREFIX}{full}"),
        user_labels: labels,
        notification_channels: channels.to_vec(),
        extra: match extra {
            Value::Object(o) => o,
            _ => unreachable!("a JSON object literal"),
        },
    }
}

/// `--notify CHANNEL`: a notification channel's full name, or its id in
/// the service's project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channel {
    Name(String),
    Id(String),
}

impl Channel {
    pub fn parse(given: &str) -> Result<Self, CommandError> {
        let ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        match given.split('/').collect::<Vec<_>>().as_slice() {
            [id] if ok(id) => Ok(Channel::Id((*id).to_owned())),
            ["projects", p, "notificationChannels", id] if ok(p) && ok(id) => Ok(Channel::Name(given.to_owned())),
            _ => Err(CommandError::usage(format!(
                "--notify '{given}' is not a notification channel: give projects/PROJECT/notificationChannels/ID or the ID"
            ))
            .hinted("gcloud beta monitoring channels list --format='value(name)'")),
        }
    }

    /// The channel's full name, an id taken to be in `project`.
    pub fn name(&self, project: &str) -> String {
        match self {
            Channel::Name(n) => n.clone(),
            Channel::Id(id) => format!("projects/{project}/notificationChannels/{id}"),
        }
    }
}

/// The command that removes `name`.
pub fn delete_command(name: &str) -> String {
    format!("runiam verify --delete-alert {name}")
}

/// Creates the policy for `target` unless runiam's is there already; the
/// `alert` check either way.
pub async fn ensure(monitoring: &Monitoring, target: &ServiceRef, channels: &[String]) -> Check {
    let wanted = policy(target, channels);
    let existing = match monitoring.list_alert_policies(&target.project).await {
        Ok(all) => all.into_iter().find(|p| p.display_name == wanted.display_name),
        Err(e) => return CheckName::Alert.error(format!("cannot list the alert policies of {}: {e}", target.project)),
    };
    let (made, created) = match existing {
        Some(p) => (p, false),
        None => match monitoring.create_alert_policy(&target.project, &wanted).await {
            Ok(p) => (p, true),
            Err(e) => {
                return CheckName::Alert
                    .error(format!("cannot create the alert policy for {}: {e}", target.full_name()));
            }
        },
    };
    let channels = if made.notification_channels.is_empty() {
        "no notification channel (incidents show in the console only; add --notify CHANNEL)".to_owned()
    } else {
        format!("notifies {}", made.notification_channels.join(", "))
    };
    let how = if created { "created" } else { "already there (not duplicated)" };
    let detail = format!(
        "alert policy {} {how}: Cloud Monitoring matches Cloud Run 401/403 in the request log of {}; {channels}; \
         delete it with: {}",
        made.name,
        target.full_name(),
        delete_command(&made.name)
    );
    CheckName::Alert.with(
        CheckResult::Pass,
        detail,
        vec![Evidence {
            source: "monitoring.googleapis.com projects.alertPolicies".to_owned(),
            detail: format!("{} ({})", made.display_name, made.name),
            data: Some(json!({
                "name": made.name,
                "displayName": made.display_name,
                "created": created,
                "filter": logs::denials_filter(target),
                "notificationChannels": made.notification_channels,
                "delete": delete_command(&made.name),
            })),
        }],
    )
}

/// `--delete-alert NAME`: removes one of runiam's alert policies.
pub async fn delete(monitoring: &Monitoring, name: &str) -> Result<String, CommandError> {
    let shape = name.split('/').collect::<Vec<_>>();
    if !matches!(shape.as_slice(), ["projects", p, "alertPolicies", id] if !p.is_empty() && !id.is_empty()) {
        return Err(CommandError::usage(format!(
            "--delete-alert '{name}' is not an alert policy name: projects/PROJECT/alertPolicies/ID"
        ))
        .hinted("the name verify --create-alert printed"));
    }
    let found = monitoring
        .get_alert_policy(name)
        .await
        .map_err(|e| user_named(e, format!("cannot read alert policy {name}")))?;
    if found.user_labels.get(LABEL).map(String::as_str) != Some("verify") {
        return Err(CommandError::refused(format!(
            "{name} ('{}') was not made by runiam verify --create-alert (no user label {LABEL}=verify); \
             nothing was deleted",
            found.display_name
        ))
        .hinted(format!("delete it where it was made, e.g. gcloud alpha monitoring policies delete {name}")));
    }
    monitoring
        .delete_alert_policy(name)
        .await
        .map_err(|e| CommandError::from(e).context(format!("cannot delete alert policy {name}")))?;
    Ok(format!("deleted alert policy {name} ('{}')", found.display_name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use runiam_core::Exit;

    #[test]
    fn the_policy_watches_the_logs_filter_and_is_marked_as_runiams() {
        let t = ServiceRef::new("p", "europe-west1", "api");
        let p = policy(&t, &["projects/p/notificationChannels/7".to_owned()]);
        assert_eq!(p.display_name, "runiam: Cloud Run 401/403 on projects/p/locations/europe-west1/services/api");
        assert_eq!(p.user_labels[LABEL], "verify");
        assert_eq!(p.extra["conditions"][0]["conditionMatchedLog"]["filter"], json!(logs::denials_filter(&t)));
        assert_eq!(p.extra["alertStrategy"]["notificationRateLimit"]["period"], RATE_LIMIT);
    }

    proptest::proptest! {
        #[test]
        fn any_notify_value_is_a_channel_or_a_usage_error(s in "[a-z0-9/_-]{0,40}|\\PC{0,20}") {
            if let Ok(c) = Channel::parse(&s) {
                let name = c.name("p");
                proptest::prop_assert!(name.starts_with("projects/") && name.contains("/notificationChannels/"));
            }
        }
    }

    #[test]
    fn channels_by_id_or_name() {
        let name = |s: &str| Channel::parse(s).unwrap().name("p");
        assert_eq!(name("123"), "projects/p/notificationChannels/123");
        assert_eq!(name("projects/q/notificationChannels/9"), "projects/q/notificationChannels/9");
        for bad in ["", "a/b", "email:me@x", "projects/q/channels/9", "projects//notificationChannels/9"] {
            assert_eq!(Channel::parse(bad).unwrap_err().exit, Exit::Usage, "{bad}");
        }
    }
}
