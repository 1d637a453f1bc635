//! DeleteObjects, as many at once and as fast as the store takes them (see `throttle.rs`).
//!
//! The engine, not the SDK, retries DeleteObjects, so that it sees every throttled reply and can
//! slow down instead of spending a fixed number of attempts: a throttled batch waits and goes
//! again for as long as the budget lasts. Other passing failures (timeouts, lost connections,
//! 500s, an error inside a 200) are retried a few times with backoff. A reply can be a 200 that
//! lists per-key `Errors`: every reply is read (reply.rs), keys that failed for a passing reason
//! go again alone, the rest are reported.

use super::page::Page;
use super::reply;
use super::throttle::Throttle;
use super::{Listed, Report};
use crate::budget::Budget;
use crate::store::error::is_throttling_code;
use crate::store::{Fault, StoreError};
use crate::telemetry::Meter;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures_util::{Stream, StreamExt};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::{Instant, timeout_at};

/// Attempts per batch for passing failures other than throttling.
const ATTEMPTS: u32 = 5;
const BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs up to `concurrency` batches at once. No new batch starts after a whole request failed for
/// good, or when the budget allows no new work or too little to finish it (judged by the slowest
/// batch so far): the store would go on with a batch abandoned half way, slowing what follows,
/// the hand-on writes included.
/// Batches still in flight when the budget is cut are abandoned; their objects are not counted.
pub(super) async fn delete_all(
    client: &Client,
    bucket: &str,
    batches: impl Stream<Item = Vec<Listed>>,
    concurrency: usize,
    budget: Budget,
    meter: &Meter,
) -> Report {
    let throttle = Throttle::new(concurrency);
    let stop = AtomicBool::new(false);
    let out_of_time = AtomicBool::new(false);
    let slowest_ms = AtomicU64::new(0);
    let batches = batches.take_while(|_| {
        // Twice the slowest so far: later batches run beside more of their kind than early ones.
        let expected = Duration::from_millis(2 * slowest_ms.load(Ordering::Relaxed));
        let in_time = budget.allows_new_work() && Instant::now() + expected < budget.cut_at;
        out_of_time.fetch_or(!in_time, Ordering::Relaxed);
        std::future::ready(in_time && !stop.load(Ordering::Relaxed))
    });
    let outcomes = batches
        .map(|batch| async {
            let started = Instant::now();
            let deleting = delete_batch(client, bucket, batch, &throttle, meter);
            let outcome = timeout_at(budget.cut_at, deleting)
                .await
                .unwrap_or_else(|_| Report { cut_short: true, ..Report::default() });
            slowest_ms.fetch_max(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            outcome
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

async fn delete_batch(
    client: &Client,
    bucket: &str,
    mut batch: Vec<Listed>,
    throttle: &Throttle,
    meter: &Meter,
) -> Report {
    // Keys holding characters XML 1.0 cannot carry go one by one, in the URL: in a DeleteObjects
    // body they would make the store refuse the whole request.
    let singles: Vec<Listed> =
        batch.extract_if(.., |o| o.key.chars().any(|c| !is_xml_char(c))).collect();
    // Compact while the request is in flight: with dozens in flight, keys as `Listed` were a
    // quarter of the heap.
    let pending = Page::new(&batch);
    drop(batch);
    let mut report = delete_singles(client, bucket, singles, throttle, meter).await;
    if report.stopped.is_none() && !pending.is_empty() {
        report.merge(delete_page(client, bucket, pending, throttle, meter).await);
    }
    report
}

/// Deletes `objects` one request each (DeleteObject, the key in the URL); stops at the first
/// failure of the store itself.
async fn delete_singles(
    client: &Client,
    bucket: &str,
    objects: Vec<Listed>,
    throttle: &Throttle,
    meter: &Meter,
) -> Report {
    let mut report = Report::default();
    for object in objects {
        let slot = throttle.slot(1).await;
        let in_flight = meter.in_flight();
        let deleted = client
            .delete_object()
            .bucket(bucket)
            .key(&object.key)
            .set_version_id(object.version_id.clone())
            .send()
            .await;
        drop(in_flight);
        match deleted {
            Ok(_) => {
                throttle.done(slot, 0);
                report.deleted += 1;
                report.bytes += object.size;
                meter.deleted(1, object.size);
            }
            Err(err) => {
                let err = StoreError::from_sdk("delete", bucket, &object.key, err);
                let throttled = err.is_unavailable() && is_throttling_code(&err.code);
                throttle.done(slot, u64::from(throttled));
                report.fail(std::slice::from_ref(&object), &err.code, "");
                meter.failed(1);
                if err.is_unavailable() {
                    report.stopped = Some(err);
                    return report;
                }
            }
        }
    }
    report
}

/// Deletes a page's objects with DeleteObjects, sending again what the store throttled for as
/// long as the budget lasts, and what failed for another passing reason a few times.
async fn delete_page(
    client: &Client,
    bucket: &str,
    mut pending: Page,
    throttle: &Throttle,
    meter: &Meter,
) -> Report {
    let mut report = Report::default();
    let mut failures = 0;
    for round in 0u32.. {
        if round > 0 {
            tokio::time::sleep(backoff(round)).await;
        }
        let slot = throttle.slot(pending.len()).await;
        let in_flight = meter.in_flight();
        let sent = send(client, bucket, &pending).await;
        drop(in_flight);
        let reply = match sent {
            Ok(reply) => reply,
            Err(err) => {
                let throttled = err.is_unavailable() && is_throttling_code(&err.code);
                throttle.done(slot, if throttled { pending.len() as u64 } else { 0 });
                if throttled {
                    meter.throttled();
                }
                if throttled || (err.is_passing() && failures + 1 < ATTEMPTS) {
                    failures += u32::from(!throttled);
                    continue;
                }
                report.fail(&pending.objects().collect::<Vec<_>>(), &err.code, "");
                meter.failed(pending.len() as u64);
                report.stopped = Some(err);
                return report;
            }
        };
        let verdict = reply::read(&pending, reply.errors(), failures + 1 < ATTEMPTS);
        throttle.done(slot, verdict.throttled_keys);
        if verdict.throttled_keys > 0 {
            meter.throttled();
        }
        meter.deleted(verdict.report.deleted, verdict.report.bytes);
        meter.failed(verdict.report.failed);
        report.merge(verdict.report);
        if verdict.retry.is_empty() {
            break;
        }
        failures += u32::from(verdict.throttled_keys == 0);
        pending = Page::new(&verdict.retry);
    }
    report
}

/// One DeleteObjects request, on a client without the SDK's retries: the engine retries (see
/// above).
async fn send(
    client: &Client,
    bucket: &str,
    objects: &Page,
) -> Result<aws_sdk_s3::operation::delete_objects::DeleteObjectsOutput, StoreError> {
    let first = objects.objects().next().map(|o| o.key).unwrap_or_default();
    let identifiers = objects
        .objects()
        .map(|o| ObjectIdentifier::builder().key(o.key).set_version_id(o.version_id).build())
        .collect::<Result<Vec<_>, _>>();
    let delete = identifiers
        .and_then(|objects| Delete::builder().set_objects(Some(objects)).quiet(true).build());
    let delete = delete.map_err(|err| StoreError {
        operation: "delete",
        bucket: bucket.to_owned(),
        key: first.to_owned(),
        code: "InvalidRequest".into(),
        fault: Fault::Refused,
        detail: Some(err.to_string()),
    })?;
    client
        .delete_objects()
        .bucket(bucket)
        .delete(delete)
        .send()
        .await
        .map_err(|err| StoreError::from_sdk("delete", bucket, &first, err))
}

/// Exponential backoff with full jitter: a random wait up to 100 ms × 2^round, at most 5 s.
fn backoff(round: u32) -> Duration {
    let ceiling = BACKOFF.saturating_mul(1 << round.min(16)).min(MAX_BACKOFF);
    let random = RandomState::new().hash_one(Instant::now());
    ceiling.mul_f64((random % 1000) as f64 / 1000.0)
}

/// Whether XML 1.0 can carry `c` (its `Char` production; surrogates are no `char`).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

#[cfg(test)]
mod tests {
    use super::is_xml_char;

    #[test]
    fn keys_xml_cannot_carry_are_known() {
        for c in ['a', 'é', '\t', '\n', '\r', ' ', '\u{D7FF}', '\u{E000}', '\u{FFFD}', '\u{1F600}']
        {
            assert!(is_xml_char(c), "{c:?}");
        }
        for c in ['\0', '\u{1}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'] {
            assert!(!is_xml_char(c), "{c:?}");
        }
    }
}
