//! Asynchronous events: EventBridge's custom "Delete Job" (its `detail` is the request), and the
//! "Object Created" of a deletion ticket, by EventBridge or by a direct S3 notification, which
//! resumes the deletion the ticket carries. A failure is a Lambda error, so that Lambda's
//! retries and the on-failure destination apply.
//!
//! Events carry no token: they are trusted because only IAM principals can put them on the bus
//! or write to the bucket; every other rule (validation, isolation) is the HTTP path's.

use super::{App, EventError, settle};
use crate::budget::Budget;
use crate::deletion::{self, Resumed};
use crate::request::DeleteRequest;
use crate::store::url_decode;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct EventBridge {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: Value,
}

pub(super) async fn eventbridge(
    app: &App,
    event: Value,
    budget: Budget,
) -> Result<Value, EventError> {
    let event: EventBridge = serde_json::from_value(event).map_err(|_| EventError::Unrecognised)?;
    match (event.source.as_str(), event.detail_type.as_str()) {
        (_, "Delete Job") => {
            let request = DeleteRequest::from_event(event.detail.to_string().as_bytes())?;
            Ok(settle(deletion::delete_job(&app.store, &app.config, &request, budget).await)?)
        }
        ("aws.s3", "Object Created") => {
            let bucket = event.detail["bucket"]["name"].as_str().unwrap_or_default();
            let key = event.detail["object"]["key"].as_str().unwrap_or_default();
            resume(app, bucket, key, budget).await
        }
        _ => Err(EventError::Unrecognised),
    }
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

/// A direct S3 event notification. Every record is handled; the first failure is returned.
pub(super) async fn s3_notification(
    app: &App,
    event: Value,
    budget: Budget,
) -> Result<Value, EventError> {
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
        match resume(app, &record.s3.bucket.name, &key, budget).await {
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

async fn resume(app: &App, bucket: &str, key: &str, budget: Budget) -> Result<Value, EventError> {
    let resumed = deletion::resume(&app.store, &app.config, bucket, key, budget).await?;
    let summary = match resumed {
        Resumed::NotATicket => {
            tracing::warn!(bucket, key, "object created outside the deletion tickets; ignored");
            json!({"outcome": "ignored", "key": key})
        }
        Resumed::AlreadyDone => json!({"outcome": "already_done", "key": key}),
        Resumed::JobGone => json!({"outcome": "job_gone", "key": key}),
        Resumed::Worked(outcome) => settle(Ok(outcome))?,
    };
    Ok(summary)
}
