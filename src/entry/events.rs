//! EventBridge's custom "Delete Job" event: its `detail` is the request. A failure is a Lambda
//! error, so that Lambda's retries and the on-failure destination apply.
//!
//! Events carry no token, so each is checked against who may send it: "Delete Job" only from
//! `EVENT_SOURCE` in the function's own account or one of `TRUSTED_ACCOUNTS`. Anything else (any
//! other detail type, an S3 event among them) deletes nothing and fails, so that it reaches the
//! failure destination and its alarm. Every other rule (validation, isolation) is the HTTP path's.

use super::{EventError, event_budget, event_end, settle, summarise};
use crate::app::App;
use crate::deletion;
use crate::request::DeleteRequest;
use crate::telemetry::{End, Entry, Meter};
use lambda_runtime::Context;
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct EventBridge {
    source: String,
    #[serde(default)]
    account: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: Value,
}

/// The account of the function's ARN, `arn:aws:lambda:REGION:ACCOUNT:function:NAME`.
fn own_account(context: &Context) -> Option<&str> {
    context.invoked_function_arn.split(':').nth(4).filter(|account| !account.is_empty())
}

/// The project and job a deletion request is about, once known, for its summary.
type Ids = Option<(String, String)>;

pub(super) async fn eventbridge(
    app: &App,
    event: Value,
    context: &Context,
) -> Result<Value, EventError> {
    let meter = Meter::new(Entry::EventBridge, &context.request_id);
    let mut ids = None;
    let result = honour(app, event, context, &meter, &mut ids).await;
    let (project_id, job_id) = ids.unzip();
    summarise(app, &meter, End { project_id, job_id, ..event_end(&result) });
    result
}

/// Deletes what an EventBridge event asks for, if its sender may ask it.
async fn honour(
    app: &App,
    event: Value,
    context: &Context,
    meter: &Meter,
    ids: &mut Ids,
) -> Result<Value, EventError> {
    let budget = event_budget(app, context);
    let event: EventBridge = serde_json::from_value(event).map_err(|_| EventError::Unrecognised)?;
    let trust = &app.config.trust;
    if event.detail_type != "Delete Job" {
        return Err(refuse(format!(
            "a {:?} event from source {:?}: this function honours only \"Delete Job\"",
            event.detail_type, event.source
        )));
    }
    let expected_source = trust.event_source.as_str();
    if event.source != expected_source {
        return Err(refuse(format!(
            "a \"Delete Job\" event from source {:?}, not {expected_source:?}",
            event.source
        )));
    }
    let account = event.account.as_str();
    let own = own_account(context);
    if own != Some(account) && !trust.accounts.iter().any(|a| a == account) {
        return Err(refuse(format!(
            "a \"Delete Job\" event from account {account:?}, neither the function's own ({}) \
             nor one of TRUSTED_ACCOUNTS",
            own.unwrap_or("unknown")
        )));
    }
    let request = DeleteRequest::from_event(event.detail.to_string().as_bytes())?;
    *ids = Some((request.project_id.to_string(), request.job_id.to_string()));
    Ok(settle(deletion::delete_job(app, &request, budget, meter).await)?)
}

/// An event this function must not honour: it deleted nothing, and fails with `reason`.
fn refuse(reason: String) -> EventError {
    tracing::warn!(reason, "event refused; nothing deleted");
    EventError::Refused(reason)
}
