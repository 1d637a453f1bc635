//! The SQS entry: each message body is a deletion request,
//! `{"project_id", "job_id", "type", "offline_platform"?}`. The answer is a partial batch
//! response: the messages that failed, and only those, go back to the queue (and, past the
//! queue's receive count, to its dead-letter queue).
//!
//! Every message is tried in the invocation that received it: each takes an equal share of the
//! time left when its turn comes, so that a large job cannot spend the whole budget and send the
//! rest of the batch back untried (each receive counts toward the dead-letter queue). A large job
//! hands the rest of its deletion on through its ticket, as the HTTP entry does; a small one
//! leaves its unused share to the messages after it.

use super::{EventError, event_budget, settle, summarise};
use crate::app::App;
use crate::budget::Budget;
use crate::deletion;
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
        let mut end = if budget.allows_new_work() {
            let share = budget.share(messages - turn);
            process(app, &message.body, share, &meter).await
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
