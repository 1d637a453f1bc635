//! EventBridge's custom "Delete Job" event: its `detail` is the request. A failure is a Lambda
//! error, so that Lambda's retries and the on-failure destination apply.
//!
//! Events carry no token, so each is checked against who may send it: "Delete Job" only from
//! `EVENT_SOURCE` in the function's own account or one of `TRUSTED_ACCOUNTS`. Anything else (any
//! other detail type, an S3 event among them) deletes nothing and fails, so that it reaches the
//! failure destination and its alarm. Every other rule (validation, isolation) is the HTTP path's:
//! the `detail` is read from the event's text, duplicate members visible, as a body is.

use super::{Ending, EventError, Handled, event_budget, summarise};
use crate::app::App;
use crate::deletion;
use crate::error::ApiError;
use crate::request::DeleteRequest;
use crate::request::strict_json::Json;
use crate::telemetry::{Entry, Meter};
use lambda_runtime::Context;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct EventBridge<'a> {
    source: String,
    #[serde(default)]
    account: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(borrow)]
    detail: &'a RawValue,
}

/// The account of the function's ARN, `arn:aws:lambda:REGION:ACCOUNT:function:NAME`.
fn own_account(context: &Context) -> Option<&str> {
    context.invoked_function_arn.split(':').nth(4).filter(|account| !account.is_empty())
}

pub(super) async fn eventbridge(
    app: &App,
    event: &RawValue,
    context: &Context,
) -> Result<Value, EventError> {
    let event: EventBridge =
        serde_json::from_str(event.get()).map_err(|_| EventError::Unrecognised)?;
    let meter = Meter::new(Entry::EventBridge, &context.request_id);
    let who = format!("source={} account={}", event.source, event.account);
    let handled = honour(app, &event, context, &meter).await.asked_by("eventbridge", who);
    summarise(app, &meter, &handled, |_| {});
    match handled.ending {
        Ending::Deleted(progress) => Ok(json!({
            "outcome": "deleted", "job_id": progress.job_id.as_str(),
            "deleted_objects": progress.objects,
        })),
        Ending::InProgress(progress) => Ok(json!({
            "outcome": "in_progress", "job_id": progress.job_id.as_str(),
            "deleted_objects": progress.objects,
        })),
        Ending::NotFound(err) => Ok(json!({"outcome": "not_found", "message": err.to_string()})),
        Ending::JobGone => Ok(json!({"outcome": "job_gone"})),
        Ending::Superseded => Ok(json!({"outcome": "superseded"})),
        Ending::Error(err) => Err(EventError::Failed(err)),
        Ending::Refused(reason) => Err(EventError::Refused(reason)),
        ending @ (Ending::ChainStopped { .. } | Ending::NotTried) => {
            Err(EventError::Refused(ending.end().error.unwrap_or_default()))
        }
    }
}

/// Deletes what an EventBridge event asks for, if its sender may ask it.
async fn honour(app: &App, event: &EventBridge<'_>, context: &Context, meter: &Meter) -> Handled {
    let trust = &app.config.trust;
    if event.detail_type != "Delete Job" {
        return refuse(format!(
            "a {:?} event from source {:?}: this function honours only \"Delete Job\"",
            event.detail_type, event.source
        ));
    }
    let expected_source = trust.event_source.as_str();
    if event.source != expected_source {
        return refuse(format!(
            "a \"Delete Job\" event from source {:?}, not {expected_source:?}",
            event.source
        ));
    }
    let account = event.account.as_str();
    let own = own_account(context);
    if own != Some(account) && !trust.accounts.iter().any(|a| a == account) {
        return refuse(format!(
            "a \"Delete Job\" event from account {account:?}, neither the function's own ({}) \
             nor one of TRUSTED_ACCOUNTS",
            own.unwrap_or("unknown")
        ));
    }
    let request = Json::parse(event.detail.get().as_bytes())
        .map_err(|e| ApiError::InvalidContent(format!("the detail is not valid JSON ({e})")))
        .and_then(DeleteRequest::from_event_json);
    match request {
        Ok(request) => {
            let budget = event_budget(app, context);
            let result = deletion::delete_job(app, &request, budget, meter).await;
            Handled::about(&request, Ending::of(result))
        }
        Err(refused) => Handled::new(Ending::Error(refused)),
    }
}

/// An event this function must not honour: it deletes nothing, and fails with `reason`.
fn refuse(reason: String) -> Handled {
    tracing::warn!(reason, "event refused; nothing deleted");
    Handled::new(Ending::Refused(reason))
}
