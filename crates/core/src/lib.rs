//! runiam-core: what every runiam command shares.
//!
//! - `config`: project, region, account and endpoints, flags > env > gcloud;
//! - `auth` and `http`: credentials and the one retrying HTTP layer;
//! - `api`: typed Google API clients; `roles`: the offline role table;
//! - `model`: services, principals, policies; `doc`: the pipe documents;
//! - `gate`: the one judge of every write (what a change may add or remove);
//! - `error`: the exit codes and the command error; `output` and `cli`:
//!   how commands talk to the user; `style`: colour on terminals.

pub mod api;
pub mod auth;
pub mod change;
pub mod cli;
pub mod config;
pub mod doc;
pub mod duration;
pub mod error;
pub mod eval;
pub mod gate;
pub mod gather;
pub mod http;
pub mod impact;
pub mod ingress;
pub mod interrupt;
pub mod jwt;
pub mod model;
pub mod output;
pub mod perimeter;
pub mod redact;
pub mod requestlog;
pub mod roles;
pub mod runbook;
pub mod style;
pub mod target;
pub mod terraform;
pub mod window;

pub use error::{CommandError, Exit};
