//! Run v2 `jobs.get` (and the job shape `jobs.list` answers in control::run_v2) (docs/emulator.md "Networks and callers"): a
//! project's `runJobs` (crate::vpc) with what a job as caller is read for,
//! its task template's `serviceAccount` (the project's default compute
//! account when the world names none) and `vpcAccess`. The operator needs
//! `run.jobs.get`; a project's `apiErrors` for `run.googleapis.com` apply.

use serde_json::{Value, json};

use super::callers::read;
use super::{Answer, Call};
use crate::errors::ApiError;
use crate::state::State;
use crate::vpc::RunJob;
use crate::world::Project;

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    if call.verb.is_some() || !call.is("GET") {
        return None;
    }
    match segs {
        ["v2", "projects", p, "locations", r, "jobs", j] => Some(job(state, p, r, j)),
        _ => None,
    }
}

fn job(state: &State, p: &str, r: &str, j: &str) -> Answer {
    read(state, p, "run.jobs.get", |proj| {
        let job = proj.run_jobs.iter().find(|x| x.region == r && x.name == j).ok_or_else(|| {
            ApiError::not_found(format!(
                "Resource '{j}' of kind 'JOB' in region '{r}' in project '{p}' does not exist."
            ))
        })?;
        Ok(job_json(proj, job))
    })
}

/// A job as `jobs.get` and `jobs.list` answer it.
pub(crate) fn job_json(proj: &Project, job: &RunJob) -> Value {
    let name = format!("projects/{}/locations/{}/jobs/{}", proj.id, job.region, job.name);
    let mut task = json!({
        "serviceAccount": job.service_account.clone().unwrap_or_else(|| proj.default_compute_account()),
        "maxRetries": 3,
    });
    if let Some(vpc) = &job.vpc_access {
        task["vpcAccess"] = serde_json::to_value(vpc).unwrap_or_default();
    }
    json!({"name": name, "template": {"taskCount": 1, "template": task}, "launchStage": "GA"})
}
