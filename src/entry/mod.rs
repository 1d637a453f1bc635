//! Events in, answers out. One binary serves every entry; each event is recognised by its shape
//! and handed to the entry that knows it. The entries share validation, isolation, the deletion
//! engine and its time budget, so a rule holds the same whichever way a request arrives.
//!
//! | event | entry | failure |
//! |---|---|---|
//! | API Gateway REST/HTTP API, Function URL | `http` | an answer: status and RES envelope |
//! | SQS batch: the request queue, or the function's own hand-on queue | `sqs` | the message id in `batchItemFailures` |
//! | EventBridge "Delete Job" | `events` | a Lambda error |
//!
//! Each deletion request an entry handles ends in one of the ways [`Ending`] names; the entry
//! turns it into its own answer, and [`summarise`] into the request's summary line.

mod auth;
mod events;
mod http;
mod sqs;

use crate::app::App;
use crate::budget::Budget;
use crate::deletion::{Outcome, Progress};
use crate::error::ApiError;
use crate::job::Id;
use crate::request::DeleteRequest;
use crate::telemetry::{self, End, Meter};
use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use serde_json::Value;
use serde_json::value::RawValue;

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

/// Handles one invocation. The event is kept as its text until an entry reads it, so that an
/// EventBridge `detail`, like every request, is parsed with its duplicate members visible.
pub async fn handle(app: &App, event: LambdaEvent<Box<RawValue>>) -> Result<Value, EventError> {
    let (raw, context) = (event.payload, event.context);
    let payload: Value = serde_json::from_str(raw.get()).map_err(|_| EventError::Unrecognised)?;
    let records_source = payload["Records"][0]["eventSource"].as_str();
    if http::is_http(&payload) {
        Ok(http::handle(app, payload, &context).await)
    } else if records_source == Some("aws:sqs") {
        sqs::handle(app, payload, &context).await
    } else if payload.get("detail-type").is_some() {
        events::eventbridge(app, &raw, &context).await
    } else {
        tracing::error!(request_id = %context.request_id, "unrecognised event");
        Err(EventError::Unrecognised)
    }
}

/// The ways one deletion request ends, whatever its entry.
#[derive(Debug)]
enum Ending {
    /// Everything is gone, the record last.
    Deleted(Progress),
    /// A hand-on, sent, carries the rest on.
    InProgress(Progress),
    /// No such job: a refusal for a caller, done for an event (deleting is idempotent, and the
    /// job may have gone with an earlier delivery of the same event).
    NotFound(ApiError),
    /// A hand-on whose job an earlier invocation finished.
    JobGone,
    /// A hand-on of a chain that a later hand-on superseded: the job is carried on by that one.
    Superseded,
    /// The request, or the store, said no: refused (4xx) or failed (5xx) by its status.
    Error(ApiError),
    /// An event that must not be honoured, or a hand-on that the job's record does not back:
    /// nothing deleted.
    Refused(String),
    /// The chain of hand-ons reached `MAX_HOPS`: nothing deleted, the job left `deleting`.
    ChainStopped { hops: u32 },
    /// An SQS message the invocation had no time left for.
    NotTried,
}

impl Ending {
    fn of(result: Result<Outcome, ApiError>) -> Ending {
        match result {
            Ok(Outcome::Deleted(progress)) => Ending::Deleted(progress),
            Ok(Outcome::InProgress(progress)) => Ending::InProgress(progress),
            Err(not_found @ ApiError::NotFound(_)) => Ending::NotFound(not_found),
            Err(err) => Ending::Error(err),
        }
    }

    /// Whether an event's deletion is done: the job is deleted, carried on, or gone.
    fn is_done(&self) -> bool {
        match self {
            Ending::Deleted(_)
            | Ending::InProgress(_)
            | Ending::NotFound(_)
            | Ending::JobGone
            | Ending::Superseded => true,
            Ending::Error(_)
            | Ending::Refused(_)
            | Ending::ChainStopped { .. }
            | Ending::NotTried => false,
        }
    }

    /// The summary's account of it.
    fn end(&self) -> End {
        let failed = |err: &ApiError| End {
            status: Some(err.status()),
            error_code: Some(err.code()),
            error: Some(err.to_string()),
            ..End::new(if err.status() < 500 {
                telemetry::Outcome::Refused
            } else {
                telemetry::Outcome::Failed
            })
        };
        let with_reason =
            |outcome, reason: String| End { error: Some(reason), ..End::new(outcome) };
        match self {
            Ending::Deleted(_) => End::new(telemetry::Outcome::Deleted),
            Ending::InProgress(_) => End::new(telemetry::Outcome::InProgress),
            Ending::NotFound(_) => End::new(telemetry::Outcome::NotFound),
            Ending::JobGone => End::new(telemetry::Outcome::JobGone),
            Ending::Superseded => End::new(telemetry::Outcome::Superseded),
            Ending::Error(err) => failed(err),
            Ending::Refused(reason) => with_reason(telemetry::Outcome::Refused, reason.clone()),
            Ending::ChainStopped { hops } => with_reason(
                telemetry::Outcome::Failed,
                format!(
                    "the deletion was handed on {hops} times, MAX_HOPS; the job stays deleting \
                     until the request is sent again"
                ),
            ),
            Ending::NotTried => {
                with_reason(telemetry::Outcome::NotTried, "no time was left for it".into())
            }
        }
    }
}

/// One deletion request handled: how it ended, which job it was about once known, and who asked.
#[derive(Debug)]
struct Handled {
    ending: Ending,
    ids: Option<(Id, Id)>,
    /// How the asker was known, and as whom: the audit trail.
    who: Option<(&'static str, String)>,
}

impl Handled {
    fn new(ending: Ending) -> Handled {
        Handled { ending, ids: None, who: None }
    }

    fn about(request: &DeleteRequest, ending: Ending) -> Handled {
        let ids = Some((request.project_id.clone(), request.job_id.clone()));
        Handled { ending, ids, who: None }
    }

    fn asked_by(self, kind: &'static str, id: String) -> Handled {
        Handled { who: Some((kind, id)), ..self }
    }
}

/// The tail every entry shares: the summary of one handled request, with what the entry adds
/// (an HTTP answer's status, an SQS message's id).
fn summarise(app: &App, meter: &Meter, handled: &Handled, amend: impl FnOnce(&mut End)) {
    let mut end = handled.ending.end();
    let (project_id, job_id) = handled.ids.clone().unzip();
    end.project_id = project_id.map(|id| id.to_string());
    end.job_id = job_id.map(|id| id.to_string());
    if let Some((kind, id)) = &handled.who {
        end.caller_type = Some(kind);
        end.caller = Some(id.clone());
    }
    amend(&mut end);
    app.sink.emit(meter.summary(&app.config.function_name, &end));
}
