# The self-healing loop on Google Cloud (deploy/README.md): a Cloud Run job
# runs `runiam troubleshoot --watch | runiam grant-invoker --heal-policy`
# once per Cloud Scheduler tick, as a service account holding one custom
# role with exactly the permissions the loop's API calls need; an alert
# fires on a spike of auto-fixes.

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

locals {
  # The window a run reads: its schedule, plus a minute for log
  # ingestion. An overlap costs nothing: grants are idempotent, and a
  # refusal is counted at most once an hour.
  since = "${var.every_minutes + 1}m"
  loop  = <<-EOT
    set -o pipefail
    printf '%s' "$HEAL_POLICY" > /tmp/heal.yaml
    runiam troubleshoot --watch --project "$CLOUDSDK_CORE_PROJECT" --since ${local.since} --polls 1 -o json \
      | runiam grant-invoker --heal-policy /tmp/heal.yaml --apply --yes --allow-empty -o json
  EOT
}

resource "google_project_service" "apis" {
  for_each           = toset(["run.googleapis.com", "cloudscheduler.googleapis.com", "monitoring.googleapis.com", "logging.googleapis.com"])
  service            = each.value
  disable_on_destroy = false
}

# The loop's identity.
resource "google_service_account" "heal" {
  account_id   = var.name
  display_name = "runiam self-healing loop"
}

# Every predefined role with run.services.setIamPolicy carries far more.
# These are the permissions the loop's calls check, read by the loop run
# against the emulator (tests/e2e/heal.rs compares this list with them).
resource "google_project_iam_custom_role" "heal" {
  role_id     = replace("${var.name}_loop", "-", "_")
  title       = "runiam self-healing loop"
  description = "Reads Cloud Run request logs and the callers configured to invoke services, grants roles/run.invoker on services, writes the auto-fix metrics."
  permissions = [
    "cloudfunctions.functions.list",
    "cloudscheduler.jobs.list",
    "cloudscheduler.locations.list",
    "cloudtasks.locations.list",
    "cloudtasks.queues.list",
    "cloudtasks.tasks.list",
    "eventarc.locations.list",
    "eventarc.triggers.list",
    "iam.denypolicies.list",
    "iam.roles.get",
    "iam.serviceAccountKeys.list",
    "iam.serviceAccounts.get",
    "iam.serviceAccounts.getIamPolicy",
    "logging.logEntries.list",
    "monitoring.timeSeries.create",
    "monitoring.timeSeries.list",
    "orgpolicy.policy.get",
    "pubsub.subscriptions.list",
    "resourcemanager.projects.get",
    "resourcemanager.projects.getIamPolicy",
    "run.jobs.list",
    "run.locations.list",
    "run.services.get",
    "run.services.getIamPolicy",
    "run.services.list",
    "run.services.setIamPolicy",
    "workflows.locations.list",
    "workflows.workflows.list",
  ]
}

resource "google_project_iam_member" "heal" {
  project = var.project
  role    = google_project_iam_custom_role.heal.name
  member  = "serviceAccount:${google_service_account.heal.email}"
}

resource "google_cloud_run_v2_job" "heal" {
  name                = var.name
  location            = var.region
  deletion_protection = false

  template {
    task_count = 1
    template {
      service_account = google_service_account.heal.email
      # A run that has not finished by the next tick is stopped.
      timeout     = "${var.every_minutes * 60}s"
      max_retries = 0
      containers {
        image   = var.image
        command = ["/bin/bash", "-c"]
        args    = [local.loop]
        env {
          name  = "CLOUDSDK_CORE_PROJECT"
          value = var.project
        }
        env {
          name  = "HEAL_POLICY"
          value = file(var.heal_policy_file)
        }
        resources {
          limits = {
            cpu    = "1"
            memory = "512Mi"
          }
        }
      }
    }
  }

  depends_on = [google_project_service.apis, google_project_iam_member.heal]
}

# Cloud Scheduler runs the job with an OAuth token (the Run Admin API takes
# no OIDC token) of its own account, which may only run this job.
resource "google_service_account" "scheduler" {
  account_id   = "${var.name}-tick"
  display_name = "runiam self-healing loop: scheduler"
}

resource "google_cloud_run_v2_job_iam_member" "scheduler" {
  project  = var.project
  location = var.region
  name     = google_cloud_run_v2_job.heal.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.scheduler.email}"
}

resource "google_cloud_scheduler_job" "heal" {
  name             = var.name
  region           = var.region
  schedule         = "*/${var.every_minutes} * * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  retry_config {
    retry_count = 0
  }

  http_target {
    http_method = "POST"
    uri         = "https://run.googleapis.com/v2/projects/${var.project}/locations/${var.region}/jobs/${google_cloud_run_v2_job.heal.name}:run"
    oauth_token {
      service_account_email = google_service_account.scheduler.email
      scope                 = "https://www.googleapis.com/auth/cloud-platform"
    }
  }

  depends_on = [google_cloud_run_v2_job_iam_member.scheduler]
}

# The loop writes these; declaring them lets the alert exist before the
# first fix (an alert on a metric type nobody wrote yet is refused).
resource "google_monitoring_metric_descriptor" "autofix" {
  for_each     = toset(["autofix_count", "autofix_refused"])
  type         = "custom.googleapis.com/runiam/${each.value}"
  metric_kind  = "GAUGE"
  value_type   = "INT64"
  display_name = "runiam ${replace(each.value, "_", " ")}"
  description  = "Auto-fixes the runiam self-healing loop applied (autofix_count) or refused (autofix_refused), one point per run and label set."

  labels {
    key         = "service"
    value_type  = "STRING"
    description = "The Cloud Run service's full name."
  }
  labels {
    key         = "member"
    value_type  = "STRING"
    description = "The member granted (or refused)."
  }
  labels {
    key         = "finding"
    value_type  = "STRING"
    description = "The id of the finding the fix answers."
  }

  depends_on = [google_project_service.apis]
}

# A spike of auto-fixes is itself an outage signal: callers losing access
# faster than people notice.
resource "google_monitoring_alert_policy" "autofix_spike" {
  display_name          = "runiam: auto-fix spike"
  combiner              = "OR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "more than ${var.autofix_spike} auto-fixes within 10 minutes"
    condition_threshold {
      filter          = "metric.type=\"custom.googleapis.com/runiam/autofix_count\" AND resource.type=\"global\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.autofix_spike
      duration        = "0s"
      aggregations {
        alignment_period     = "600s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
      trigger {
        count = 1
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The runiam self-healing loop granted more than ${var.autofix_spike} invoker bindings within 10 minutes. Read the ChangeRecords in the logs of the Cloud Run job ${var.name}, find what removed the callers' access, and undo a fix with `runiam rollback`."
  }

  depends_on = [google_monitoring_metric_descriptor.autofix]
}
