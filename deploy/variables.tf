variable "project" {
  description = "The project whose Cloud Run services the loop watches and heals; everything here is created in it."
  type        = string
}

variable "region" {
  description = "Where the Cloud Run job and the Cloud Scheduler job run."
  type        = string
}

variable "image" {
  description = "The image built from deploy/Dockerfile (for example REGION-docker.pkg.dev/PROJECT/runiam/runiam:TAG)."
  type        = string
}

variable "heal_policy_file" {
  description = "The heal policy (docs/self-healing.md), a YAML file; see heal.example.yaml."
  type        = string
}

variable "every_minutes" {
  description = "The schedule: the loop runs every this many minutes and reads the denials of that window (plus one minute for log ingestion)."
  type        = number
  default     = 5

  validation {
    condition     = var.every_minutes >= 1 && var.every_minutes <= 59 && floor(var.every_minutes) == var.every_minutes
    error_message = "every_minutes must be a whole number of minutes from 1 to 59."
  }
}

variable "autofix_spike" {
  description = "The alert fires when more auto-fixes than this are applied within ten minutes."
  type        = number
  default     = 5
}

variable "notification_channels" {
  description = "Monitoring notification channels (projects/P/notificationChannels/ID) the spike alert notifies."
  type        = list(string)
  default     = []
}

variable "name" {
  description = "The name of the job, its service accounts, the scheduler job and the role id's prefix."
  type        = string
  default     = "runiam-heal"
}
