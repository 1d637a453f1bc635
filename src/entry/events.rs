//! Asynchronous events: EventBridge's custom "Delete Job" (its `detail` is the request), and the
//! "Object Created" of a deletion ticket, by EventBridge or by a direct S3 notification, which
//! resumes the deletion the ticket carries. A failure is a Lambda error, so that Lambda's
//! retries and the on-failure destination apply.
//!
//! Events carry no token, so each is checked against who may send it: a "Delete Job" only from
//! `EVENT_SOURCE` in the function's own account or one of `TRUSTED_ACCOUNTS`; an "Object Created"
//! only from `aws.s3`, in such an account, for a ticket in the job bucket (and the ticket itself
//! only while the job's record says `deleting`: see deletion.rs). Anything else deletes nothing
//! and fails, so that it reaches the failure destination and its alarm. Every other rule
//! (validation, isolation) is the HTTP path's.

use super::{EventError, event_budget, event_end, settle, summarise};
use crate::app::App;
use crate::budget::Budget;
use crate::deletion::{self, Resumed};
use crate::job::layout::JobLayout;
use crate::request::DeleteRequest;
use crate::s3_names::url_decode;
use crate::telemetry::{End, Entry, Meter};
use lambda_runtime::Context;
use serde::Deserialize;
use serde_json::{Value, json};

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
    summarise(app, &meter, with_ids(event_end(&result), ids));
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
    let expected_source = match event.detail_type.as_str() {
        "Delete Job" => trust.event_source.as_str(),
        "Object Created" => "aws.s3",
        _ => return Err(EventError::Unrecognised),
    };
    let detail_type = &event.detail_type;
    if event.source != expected_source {
        return Err(refuse(format!(
            "a {detail_type:?} event from source {:?}, not {expected_source:?}",
            event.source
        )));
    }
    let account = event.account.as_str();
    let own = own_account(context);
    if own != Some(account) && !trust.accounts.iter().any(|a| a == account) {
        return Err(refuse(format!(
            "a {detail_type:?} event from account {account:?}, neither the function's own ({}) \
             nor one of TRUSTED_ACCOUNTS",
            own.unwrap_or("unknown")
        )));
    }
    if event.detail_type == "Delete Job" {
        let request = DeleteRequest::from_event(event.detail.to_string().as_bytes())?;
        *ids = Some((request.project_id.to_string(), request.job_id.to_string()));
        return Ok(settle(deletion::delete_job(app, &request, budget, meter).await)?);
    }
    let bucket = event.detail["bucket"]["name"].as_str().unwrap_or_default();
    let key = event.detail["object"]["key"].as_str().unwrap_or_default();
    *ids = ticket_ids(app, bucket, key);
    resume(app, (bucket, key), budget, meter).await
}

/// The project and job whose ticket `key` would be.
fn ticket_ids(app: &App, bucket: &str, key: &str) -> Ids {
    let (project, job) = JobLayout::ticket_ids(&app.config, bucket, key)?;
    Some((project.to_string(), job.to_string()))
}

fn with_ids(end: End, ids: Ids) -> End {
    let (project_id, job_id) = ids.unzip();
    End { project_id, job_id, ..end }
}

/// An event this function must not honour: it deleted nothing, and fails with `reason`.
fn refuse(reason: String) -> EventError {
    tracing::warn!(reason, "event refused; nothing deleted");
    EventError::Refused(reason)
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records")]
    records: Vec<NotificationRecord>,
}

#[derive(Deserialize)]
struct NotificationRecord {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: NotificationEntity,
}

#[derive(Deserialize)]
struct NotificationEntity {
    bucket: Named,
    object: Keyed,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize)]
struct Keyed {
    key: String,
}

/// A direct S3 event notification. Every record is handled, each with its summary; the first
/// failure is returned.
pub(super) async fn s3_notification(
    app: &App,
    event: Value,
    context: &Context,
) -> Result<Value, EventError> {
    let budget = event_budget(app, context);
    let notification: Notification =
        serde_json::from_value(event).map_err(|_| EventError::Unrecognised)?;
    let mut results = Vec::new();
    let mut first_failure = None;
    for record in notification.records {
        if !record.event_name.starts_with("ObjectCreated:") {
            continue;
        }
        // Notification keys are URL-encoded, spaces as '+'.
        let key = url_decode(&record.s3.object.key);
        let bucket = &record.s3.bucket.name;
        let meter = Meter::new(Entry::S3, &context.request_id);
        let resumed = resume(app, (bucket, &key), budget, &meter).await;
        summarise(app, &meter, with_ids(event_end(&resumed), ticket_ids(app, bucket, &key)));
        match resumed {
            Ok(result) => results.push(result),
            Err(err) => {
                first_failure.get_or_insert(err);
            }
        }
    }
    match first_failure {
        Some(err) => Err(err),
        None => Ok(json!({"results": results})),
    }
}

async fn resume(
    app: &App,
    (bucket, key): (&str, &str),
    budget: Budget,
    meter: &Meter,
) -> Result<Value, EventError> {
    let resumed = deletion::resume(app, (bucket, key), budget, meter).await?;
    let summary = match resumed {
        Resumed::NotATicket => {
            return Err(refuse(format!(
                "object {key:?} in bucket {bucket:?} is not a deletion ticket"
            )));
        }
        Resumed::TicketRefused(reason) => {
            return Err(EventError::Refused(format!("ticket {key:?} removed unheeded: {reason}")));
        }
        Resumed::ChainStopped { hops } => {
            return Err(EventError::Refused(format!(
                "ticket {key:?}: the deletion was handed on {hops} times, MAX_HOPS; the job stays \
                 deleting until the request is sent again"
            )));
        }
        Resumed::AlreadyDone => json!({"outcome": "already_done", "key": key}),
        Resumed::JobGone => json!({"outcome": "job_gone", "key": key}),
        Resumed::Worked(outcome) => settle(Ok(outcome))?,
    };
    Ok(summary)
}
