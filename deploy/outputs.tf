output "job" {
  description = "The Cloud Run job that runs the loop."
  value       = google_cloud_run_v2_job.heal.id
}

output "service_account" {
  description = "The loop's identity; it holds only the custom role."
  value       = google_service_account.heal.email
}

output "role" {
  description = "The custom role with exactly the permissions the loop's calls need."
  value       = google_project_iam_custom_role.heal.name
}

output "schedule" {
  description = "The Cloud Scheduler job that runs the Cloud Run job."
  value       = google_cloud_scheduler_job.heal.id
}

output "alert_policy" {
  description = "The alert on a spike of auto-fixes."
  value       = google_monitoring_alert_policy.autofix_spike.name
}
