//! The SQS entry: each message body is a deletion request,
//! `{"project_id", "job_id", "type", "offline_platform"?}`. The answer is a partial batch
//! response: the messages that failed, and only those, go back to the queue (and, past the
//! queue's receive count, to its dead-letter queue).

use super::{App, EventError, settle};
use crate::budget::Budget;
use crate::deletion;
use crate::error::ApiError;
use crate::request::DeleteRequest;
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

pub(super) async fn handle(app: &App, event: Value, budget: Budget) -> Result<Value, EventError> {
    let batch: Batch = serde_json::from_value(event).map_err(|_| EventError::Unrecognised)?;
    let mut failures = Vec::new();
    for message in batch.records {
        let result = if budget.allows_new_work() {
            process(app, &message.body, budget).await
        } else {
            Err(ApiError::StoreUnavailable {
                job_id: "?".into(),
                reason: "the invocation ran out of time before this message".into(),
            })
        };
        match result {
            Ok(done) => tracing::info!(message_id = %message.message_id, %done, "message done"),
            Err(err) => {
                // Invalid requests go on failing until the dead-letter queue takes them; this
                // line says why.
                tracing::warn!(message_id = %message.message_id, error_code = err.code(), error = %err,
                    "message failed");
                failures.push(json!({"itemIdentifier": message.message_id}));
            }
        }
    }
    Ok(json!({"batchItemFailures": failures}))
}

async fn process(app: &App, body: &str, budget: Budget) -> Result<Value, ApiError> {
    let request = DeleteRequest::from_event(body.as_bytes())?;
    settle(deletion::delete_job(&app.store, &app.config, &request, budget).await)
}
