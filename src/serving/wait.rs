//! Waiting for an endpoint to apply a config, as databricks-sdk-py's `service/serving.py`
//! `wait_get_serving_endpoint_not_updating` does: poll `get` (1 s growing to 10 s) until
//! `config_update` is `NOT_UPDATING` (done) or `UPDATE_FAILED`/`UPDATE_CANCELED` (failed: the
//! service keeps serving the config it had); 20 minutes at most, as its default. Done also
//! needs `state.ready = READY`: a config applied to an endpoint that serves nothing is no
//! served model. Each change of state is shown as a run's are, inside a CI group.

use std::time::{Duration, Instant};

use crate::databricks::serving::{Endpoint, Serving};
use crate::error::{Error, Result};
use crate::output::Output;

/// How waiting ended.
pub enum Waited {
    Ready,
    /// The service gave up on the config (`UPDATE_FAILED`, `UPDATE_CANCELED`).
    Failed(Endpoint),
    /// Not ready within the time allowed: the state it was last seen in.
    TimedOut(String),
}

/// 20 minutes, or `MLOPS_SERVING_TIMEOUT_SECS`.
fn timeout() -> Duration {
    Duration::from_secs(crate::support::time::env_number(
        "MLOPS_SERVING_TIMEOUT_SECS",
        1200,
    ))
}

/// The endpoint's state as shown: `READY, NOT_UPDATING`.
pub fn state_text(e: &Endpoint) -> String {
    format!(
        "{}, {}",
        e.state.ready.as_deref().unwrap_or("NOT_READY"),
        e.config_update()
    )
}

/// Polls `name` until its config is applied, failed, or the time is up; Ctrl-C stops the
/// wait (the service goes on applying the config).
pub fn wait(serving: &Serving<'_>, name: &str, output: &Output) -> Result<Waited> {
    let group = output.group(&format!("Serve endpoint {name}: its states"));
    let spinner = output.spinner("Endpoint", &format!("{name} updating"));
    let deadline = Instant::now() + timeout();
    let mut shown = String::new();
    let mut poll = 0;
    let result = loop {
        poll += 1;
        let endpoint = serving
            .get(name)?
            .ok_or_else(|| Error::remote(format!("endpoint {name} is gone")))?;
        let text = state_text(&endpoint);
        if text != shown {
            output.status("Endpoint", format!("{name} {text}"));
            spinner.message(&format!("{name} {text}"));
            shown = text;
        }
        match endpoint.config_update() {
            "NOT_UPDATING" if endpoint.is_ready() => break Waited::Ready,
            "UPDATE_FAILED" | "UPDATE_CANCELED" => break Waited::Failed(endpoint),
            _ => {}
        }
        if Instant::now() >= deadline {
            break Waited::TimedOut(shown.clone());
        }
        if crate::run::follow::pause(crate::run::follow::poll_interval(poll), None).is_some() {
            return Err(Error::interrupted());
        }
    };
    spinner.finish();
    drop(group);
    Ok(result)
}
