//! The `/emulator/` test knobs, which Google does not have:
//!
//! - `GET /emulator/v1/faults`: the fault settings, as JSON;
//! - `POST /emulator/v1/faults` with any of `{"latencyMs", "failRate",
//!   "failCodes", "raceRate", "commitThenFail", "propagationDelayMs",
//!   "idTokenSeconds"}`: changes those settings
//!   (the rest stay) and answers with all of them;
//! - `POST /emulator/v1/reset`: policies, etags, the write counter and the
//!   log store back to the world file's; fault settings stay;
//! - `GET /emulator/v1/checks`: `{"requests": [{"method", "host", "path",
//!   "checks": [{"permission", "resource", "granted"}]}]}`, every API
//!   request served (the last 10,000) and the permissions it checked.

use serde_json::{Value, json};

use super::{Answer, Call};
use crate::errors::ApiError;
use crate::faults::FaultSettings;
use crate::state::State;

pub(crate) fn route(state: &mut State, call: &Call, segs: &[&str]) -> Option<Answer> {
    match segs {
        ["emulator", "v1", "faults"] if call.verb.is_none() && call.is("GET") => Some(settings(state)),
        ["emulator", "v1", "faults"] if call.verb.is_none() && call.is("POST") => Some(set(state, call)),
        ["emulator", "v1", "checks"] if call.verb.is_none() && call.is("GET") => {
            Some(Ok(json!({ "requests": state.checks.requests() })))
        }
        ["emulator", "v1", "reset"] if call.verb.is_none() && call.is("POST") => {
            state.reset();
            Some(Ok(json!({})))
        }
        _ => None,
    }
}

fn settings(state: &State) -> Answer {
    serde_json::to_value(state.faults.settings()).map_err(|e| ApiError::invalid(e.to_string()))
}

fn set(state: &mut State, call: &Call) -> Answer {
    let mut merged = match serde_json::to_value(state.faults.settings()) {
        Ok(Value::Object(o)) => o,
        _ => serde_json::Map::new(),
    };
    merged.extend(call.body.clone());
    let next: FaultSettings = serde_path_to_error::deserialize(Value::Object(merged)).map_err(|e| {
        let field = e.path().to_string();
        ApiError::invalid_field(&field, format!("Invalid fault settings at {field}: {}", e.into_inner()))
    })?;
    next.check()?;
    state.faults.set(next);
    settings(state)
}
