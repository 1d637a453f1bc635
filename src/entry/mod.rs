//! Events in, answers out. One binary serves every entry; each event is recognised by its shape
//! and handed to the entry that knows it. The entries share validation, isolation, the deletion
//! engine and its time budget, so a rule holds the same whichever way a request arrives.
//!
//! | event | entry | failure |
//! |---|---|---|
//! | API Gateway REST/HTTP API, Function URL | `http` | an answer: status and RES envelope |
//! | SQS batch: the request queue, or the function's own hand-on queue | `sqs` | the message id in `batchItemFailures` |
//! | EventBridge "Delete Job" | `events` | a Lambda error |

mod auth;
mod events;
mod http;
mod sqs;

use crate::app::App;
use crate::budget::Budget;
use crate::deletion::Outcome;
use crate::error::ApiError;
use crate::telemetry::{End, Meter};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::{Value, json};

/// The budget of an event invocation: Lambda's deadline less the margin to hand on.
fn event_budget(app: &App, context: &Context) -> Budget {
    Budget::for_invocation(context.deadline, app.config.time.deadline_margin, None)
}

/// An event that did not do its work. Returned as a Lambda error, so that asynchronous
/// invocations are retried and then reach their on-failure destination instead of vanishing.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error(
        "unrecognised event: expected an API Gateway or Function URL request, an SQS batch or an \
         EventBridge \"Delete Job\" event"
    )]
    Unrecognised,
    /// An event that must not be honoured (an untrusted sender, another kind of event): nothing
    /// was deleted.
    #[error("event refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Failed(#[from] ApiError),
}

impl From<EventError> for Diagnostic {
    fn from(err: EventError) -> Diagnostic {
        let error_type = match &err {
            EventError::Unrecognised => "UnrecognisedEvent",
            EventError::Refused(_) => "EventRefused",
            EventError::Failed(api) => api.code(),
        };
        Diagnostic { error_type: error_type.into(), error_message: err.to_string() }
    }
}

pub async fn handle(app: &App, event: LambdaEvent<Value>) -> Result<Value, EventError> {
    let (payload, context) = (event.payload, event.context);
    let records_source = payload["Records"][0]["eventSource"].as_str();
    if http::is_http(&payload) {
        Ok(http::handle(app, payload, &context).await)
    } else if records_source == Some("aws:sqs") {
        sqs::handle(app, payload, &context).await
    } else if payload.get("detail-type").is_some() {
        events::eventbridge(app, payload, &context).await
    } else {
        tracing::error!(request_id = %context.request_id, "unrecognised event");
        Err(EventError::Unrecognised)
    }
}

/// Emits the summary of one deletion request: its meter's counts and `end`.
fn summarise(app: &App, meter: &Meter, end: End) {
    app.sink.emit(meter.summary(&app.config.function_name, &end));
}

/// What came of an event's deletion, for its summary: as [`settle`] reads it.
fn event_end(result: &Result<Value, EventError>) -> End {
    match result {
        Ok(summary) => End {
            outcome: match summary["outcome"].as_str() {
                Some("deleted") => "deleted",
                Some("in_progress") => "in_progress",
                Some("not_found") => "not_found",
                _ => "done",
            },
            ..End::default()
        },
        Err(EventError::Failed(err)) => End {
            outcome: if err.status() < 500 { "refused" } else { "failed" },
            status: Some(err.status()),
            error_code: Some(err.code()),
            error: Some(err.to_string()),
            ..End::default()
        },
        Err(err) => End { outcome: "refused", error: Some(err.to_string()), ..End::default() },
    }
}

/// An event's deletion is done when it deleted the job, handed it on, or found no job: deleting
/// is idempotent, and the job may have gone with an earlier delivery of the same event.
fn settle(result: Result<Outcome, ApiError>) -> Result<Value, ApiError> {
    match result {
        Ok(Outcome::Deleted(p)) => Ok(
            json!({"outcome": "deleted", "job_id": p.job_id.as_str(), "deleted_objects": p.objects}),
        ),
        Ok(Outcome::InProgress(p)) => Ok(
            json!({"outcome": "in_progress", "job_id": p.job_id.as_str(), "deleted_objects": p.objects}),
        ),
        Err(ApiError::NotFound(message)) => Ok(json!({"outcome": "not_found", "message": message})),
        Err(err) => Err(err),
    }
}
