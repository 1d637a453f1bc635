//! The SQS entry, for two queues. On the request queue each message body is a deletion request,
//! `{"project_id", "job_id", "type", "offline_platform"?}`; on the function's own hand-on queue
//! (known by its ARN) each is a hand-on, the next step of a deletion an earlier invocation began.
//! The answer is a partial batch response: the messages that failed, and only those, go back to
//! the queue (and, past the queue's receive count, to its dead-letter queue).
//!
//! Every message is tried in the invocation that received it: each takes an equal share of the
//! time left when its turn comes, so that a large job cannot spend the whole budget and send the
//! rest of the batch back untried (each receive counts toward the dead-letter queue). A large job
//! hands the rest of its deletion on through the hand-on queue, as the HTTP entry does; a small
//! one leaves its unused share to the messages after it.

use super::{EventError, event_budget, settle, summarise};
use crate::app::App;
use crate::budget::Budget;
use crate::deletion::{self, HandOn, Resumed};
use crate::request::DeleteRequest;
use crate::telemetry::{End, Entry, Meter};
use lambda_runtime::Context;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Batch {
    #[serde(rename = "Records")]
    records: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "messageId")]
    message_id: String,
    #[serde(default)]
    body: String,
    #[serde(rename = "eventSourceARN", default)]
    source: String,
}

pub(super) async fn handle(
    app: &App,
    event: Value,
    context: &Context,
) -> Result<Value, EventError> {
    let batch: Batch = serde_json::from_value(event).map_err(|_| EventError::Unrecognised)?;
    let budget = event_budget(app, context);
    let messages = batch.records.len();
    let mut failures = Vec::new();
    for (turn, message) in batch.records.into_iter().enumerate() {
        let meter = Meter::new(Entry::Sqs, &context.request_id);
        let from_hand_on_queue = app.hand_on.as_ref().is_some_and(|q| q.is_source(&message.source));
        let mut end = if budget.allows_new_work() {
            let share = budget.share(messages - turn);
            if from_hand_on_queue {
                carry_on(app, &message.body, share, &meter).await
            } else {
                process(app, &message.body, share, &meter).await
            }
        } else {
            // Only when the invocation began with too little time for the batch.
            End {
                outcome: "not_tried",
                error: Some("no time was left for it".into()),
                ..End::default()
            }
        };
        if end.outcome == "not_tried" || end.is_refusal() || end.is_failure() {
            // Invalid requests go on failing until the dead-letter queue takes them; the
            // summary says why.
            failures.push(json!({"itemIdentifier": message.message_id}));
        }
        end.message_id = Some(message.message_id);
        summarise(app, &meter, end);
    }
    Ok(json!({"batchItemFailures": failures}))
}

/// Deletes the job a message names, within its share of the budget.
async fn process(app: &App, body: &str, budget: Budget, meter: &Meter) -> End {
    let request = DeleteRequest::from_event(body.as_bytes());
    let (project_id, job_id) = match &request {
        Ok(r) => (Some(r.project_id.to_string()), Some(r.job_id.to_string())),
        Err(_) => (None, None),
    };
    let result = match request {
        Ok(request) => settle(deletion::delete_job(app, &request, budget, meter).await),
        Err(refused) => Err(refused),
    };
    let end = super::event_end(&result.map_err(EventError::Failed));
    End { project_id, job_id, ..end }
}

/// Carries on the deletion a hand-on names, within its share of the budget.
async fn carry_on(app: &App, body: &str, budget: Budget, meter: &Meter) -> End {
    let hand_on = match HandOn::parse(body.as_bytes()) {
        Ok(hand_on) => hand_on,
        Err(err) => return super::event_end(&Err(EventError::Failed(err))),
    };
    let request = &hand_on.request;
    let (project_id, job_id) =
        (Some(request.project_id.to_string()), Some(request.job_id.to_string()));
    let end = match deletion::resume(app, &hand_on, budget, meter).await {
        Ok(Resumed::JobGone) => End { outcome: "job_gone", ..End::default() },
        Ok(Resumed::Refused(reason)) => End {
            outcome: "refused",
            error: Some(format!("hand-on refused, nothing deleted: {reason}")),
            ..End::default()
        },
        Ok(Resumed::ChainStopped { hops }) => End {
            outcome: "failed",
            error: Some(format!(
                "the deletion was handed on {hops} times, MAX_HOPS; the job stays deleting until \
                 the request is sent again"
            )),
            ..End::default()
        },
        Ok(Resumed::Worked(outcome)) => {
            super::event_end(&settle(Ok(outcome)).map_err(EventError::Failed))
        }
        Err(err) => super::event_end(&Err(EventError::Failed(err))),
    };
    End { project_id, job_id, ..end }
}
