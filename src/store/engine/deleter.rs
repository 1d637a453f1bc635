//! DeleteObjects, up to `concurrency` requests at once. A reply can be a 200 that still lists
//! per-key `Errors`: every reply is read, keys that failed for a passing reason are retried alone
//! with backoff, the rest are reported.

use super::{Listed, Report};
use crate::budget::Budget;
use crate::store::{StoreError, is_throttling_code};
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures_util::{Stream, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::timeout_at;

/// Extra attempts for keys that a DeleteObjects reply lists with a passing error.
const KEY_RETRIES: u32 = 3;
const KEY_RETRY_BACKOFF: Duration = Duration::from_millis(200);

/// Runs up to `concurrency` batches at once. No new batch starts after a whole request failed or
/// once the budget allows no new work (the ones in flight finish, or are abandoned when the
/// budget is cut); then the batches, with the pages channel, are dropped.
pub(super) async fn delete_all(
    client: &Client,
    bucket: &str,
    batches: impl Stream<Item = Vec<Listed>>,
    concurrency: usize,
    budget: Budget,
) -> Report {
    let stop = AtomicBool::new(false);
    let out_of_time = AtomicBool::new(false);
    let batches = batches.take_while(|_| {
        let go = !stop.load(Ordering::Relaxed) && budget.allows_new_work();
        if !budget.allows_new_work() {
            out_of_time.store(true, Ordering::Relaxed);
        }
        std::future::ready(go)
    });
    let outcomes = batches
        .map(|batch| async move {
            timeout_at(budget.cut_at, delete_batch(client, bucket, batch))
                .await
                .unwrap_or_else(|_| Report { cut_short: true, ..Report::default() })
        })
        .buffer_unordered(concurrency);
    let mut outcomes = std::pin::pin!(outcomes);
    let mut report = Report::default();
    while let Some(outcome) = outcomes.next().await {
        if outcome.stopped.is_some() {
            stop.store(true, Ordering::Relaxed);
        }
        report.merge(outcome);
    }
    report.cut_short |= out_of_time.load(Ordering::Relaxed);
    report
}

async fn delete_batch(client: &Client, bucket: &str, batch: Vec<Listed>) -> Report {
    let mut report = Report::default();
    let mut pending = batch;
    for attempt in 0..=KEY_RETRIES {
        if attempt > 0 {
            tokio::time::sleep(KEY_RETRY_BACKOFF * 2u32.pow(attempt - 1)).await;
        }
        let request = delete_request(&pending);
        let reply = match request {
            Ok(delete) => client.delete_objects().bucket(bucket).delete(delete).send().await,
            Err(err) => {
                report.fail(&pending, "InvalidRequest", &err.to_string());
                return report;
            }
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(err) => {
                let first = pending.first().map_or("", |o| o.key.as_str());
                let err = StoreError::from_sdk("delete", bucket, first, err);
                report.fail(&pending, &err.code, "");
                report.stopped = Some(err);
                return report;
            }
        };
        // Quiet mode: the reply lists only the keys that were not deleted.
        let mut errors: HashMap<&str, (&str, &str)> = reply
            .errors()
            .iter()
            .filter_map(|e| {
                Some((e.key()?, (e.code().unwrap_or("Unknown"), e.message().unwrap_or(""))))
            })
            .collect();
        let mut retry = Vec::new();
        for object in pending {
            match errors.remove(object.key.as_str()) {
                None => {
                    report.deleted += 1;
                    report.bytes += object.size;
                }
                Some((code, _)) if is_passing(code) && attempt < KEY_RETRIES => retry.push(object),
                Some((code, message)) => report.fail(std::slice::from_ref(&object), code, message),
            }
        }
        // An error naming a key that was not sent cannot be matched to its object; rather than
        // call a failure a success, count one object fewer as deleted for each.
        for (key, (code, message)) in errors {
            report.deleted = report.deleted.saturating_sub(1);
            report.fail(&[Listed { key: key.to_owned(), size: 0 }], code, message);
        }
        if retry.is_empty() {
            break;
        }
        pending = retry;
    }
    report
}

/// Per-key errors worth another attempt: the store's, not the key's.
fn is_passing(code: &str) -> bool {
    code == "InternalError" || is_throttling_code(code)
}

fn delete_request(objects: &[Listed]) -> Result<Delete, aws_sdk_s3::error::BuildError> {
    let objects = objects
        .iter()
        .map(|o| ObjectIdentifier::builder().key(&o.key).build())
        .collect::<Result<Vec<_>, _>>()?;
    Delete::builder().set_objects(Some(objects)).quiet(true).build()
}
