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

use super::{Ending, EventError, Handled, event_budget, summarise};
use crate::app::App;
use crate::budget::Budget;
use crate::deletion::{self, HandOn, Resumed};
use crate::request::DeleteRequest;
use crate::telemetry::{Entry, Meter};
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
    #[serde(default)]
    attributes: Attributes,
}

#[derive(Deserialize, Default)]
struct Attributes {
    /// The sender's IAM principal id (`AROA…:session` for a role).
    #[serde(rename = "SenderId", default)]
    sender_id: String,
}

impl Message {
    /// The queue's name, the last part of its ARN.
    fn queue(&self) -> &str {
        self.source.rsplit(':').next().unwrap_or_default()
    }
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
        let from_hand_on_queue =
            app.hand_on.as_ref().is_some_and(|queue| queue.is_source(&message.source));
        let handled = if !budget.allows_new_work() {
            // Only when the invocation began with too little time for the batch.
            Handled::new(Ending::NotTried)
        } else if from_hand_on_queue {
            carry_on(app, &message.body, budget.share(messages - turn), &meter).await
        } else {
            process(app, &message.body, budget.share(messages - turn), &meter).await
        };
        let handled = if from_hand_on_queue {
            handled.asked_by("hand_on", format!("queue={}", message.queue()))
        } else {
            let sender = &message.attributes.sender_id;
            handled.asked_by("sqs", format!("queue={} sender={sender}", message.queue()))
        };
        if !handled.ending.is_done() {
            // Invalid requests go on failing until the dead-letter queue takes them; the
            // summary says why.
            failures.push(json!({"itemIdentifier": message.message_id}));
        }
        summarise(app, &meter, &handled, |end| end.message_id = Some(message.message_id));
    }
    Ok(json!({"batchItemFailures": failures}))
}

/// Deletes the job a message names, within its share of the budget.
async fn process(app: &App, body: &str, budget: Budget, meter: &Meter) -> Handled {
    match DeleteRequest::from_event(body.as_bytes()) {
        Ok(request) => {
            let result = deletion::delete_job(app, &request, budget, meter).await;
            Handled::about(&request, Ending::of(result))
        }
        Err(refused) => Handled::new(Ending::Error(refused)),
    }
}

/// Carries on the deletion a hand-on names, within its share of the budget.
async fn carry_on(app: &App, body: &str, budget: Budget, meter: &Meter) -> Handled {
    let hand_on = match HandOn::parse(body.as_bytes()) {
        Ok(hand_on) => hand_on,
        Err(unreadable) => return Handled::new(Ending::Error(unreadable)),
    };
    let ending = match deletion::resume(app, &hand_on, budget, meter).await {
        Ok(Resumed::JobGone) => Ending::JobGone,
        Ok(Resumed::Superseded) => Ending::Superseded,
        Ok(Resumed::Refused(reason)) => {
            Ending::Refused(format!("hand-on refused, nothing deleted: {reason}"))
        }
        Ok(Resumed::ChainStopped { hops }) => Ending::ChainStopped { hops },
        Ok(Resumed::Worked(outcome)) => Ending::of(Ok(outcome)),
        Err(err) => Ending::of(Err(err)),
    };
    Handled::about(&hand_on.request, ending)
}
