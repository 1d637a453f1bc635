//! The deletion engine: `lister -> batches -> deleters`, one folder at a time.
//!
//! The lister pages through ListObjectsV2 and sends batches of at most `batch_size` keys into a
//! bounded channel; up to `concurrency` DeleteObjects requests run at once. Memory is bounded by
//! the channel and the requests in flight, never by the size of the folder. A DeleteObjects reply
//! can be a 200 that still lists per-key `Errors`: every reply is read, keys that failed for a
//! passing reason are retried alone, the rest are reported.

use super::{StoreError, is_throttling_code};
use crate::config::DeletionLimits;
use crate::error::FailedKey;
use crate::layout::Folder;
use aws_sdk_s3::Client;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

/// Extra attempts for keys that a DeleteObjects reply lists with a passing error.
const KEY_RETRIES: u32 = 3;
const KEY_RETRY_BACKOFF: Duration = Duration::from_millis(200);

/// What a folder deletion did. Partial success is data: what was deleted, what was not and why.
#[derive(Debug, Default)]
pub struct Report {
    pub deleted: u64,
    pub bytes: u64,
    pub failed: u64,
    pub first_failure: Option<FailedKey>,
    /// Why deletion stopped before the folder was exhausted: listing failed, or a whole
    /// DeleteObjects request did (the store is down, throttling past the retries, or refusing).
    pub stopped: Option<StoreError>,
}

impl Report {
    pub fn merge(&mut self, other: Report) {
        self.deleted += other.deleted;
        self.bytes += other.bytes;
        self.failed += other.failed;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
        if self.stopped.is_none() {
            self.stopped = other.stopped;
        }
    }

    /// Whether every object was deleted and nothing stopped the deletion.
    pub fn is_complete(&self) -> bool {
        self.failed == 0 && self.stopped.is_none()
    }

    fn fail(&mut self, objects: &[Listed], code: &str, message: &str) {
        self.failed += objects.len() as u64;
        if self.first_failure.is_none()
            && let Some(first) = objects.first()
        {
            self.first_failure = Some(FailedKey {
                key: first.key.clone(),
                code: code.to_owned(),
                message: message.to_owned(),
            });
        }
    }
}

/// A listed object: its key, and its size for the byte count.
#[derive(Debug, Clone)]
struct Listed {
    key: String,
    size: u64,
}

pub(super) async fn delete_folder(
    client: &Client,
    folder: &Folder,
    keep: Option<&str>,
    limits: DeletionLimits,
) -> Report {
    let (batches, received) = mpsc::channel(limits.concurrency);
    let stop = AtomicBool::new(false);
    let (listed, mut report) = tokio::join!(
        list(client, folder, keep, limits.batch_size, batches),
        delete_batches(client, &folder.bucket, received, limits.concurrency, &stop),
    );
    if let Err(err) = listed {
        report.stopped.get_or_insert(err);
    }
    report
}

/// Sends the folder's objects, but `keep`, in batches. Ends early, without error, when the
/// deleters hang up.
async fn list(
    client: &Client,
    folder: &Folder,
    keep: Option<&str>,
    batch_size: usize,
    batches: mpsc::Sender<Vec<Listed>>,
) -> Result<(), StoreError> {
    let mut pages = client
        .list_objects_v2()
        .bucket(&folder.bucket)
        .prefix(&folder.prefix)
        .max_keys(1000)
        .into_paginator()
        .send();
    let mut batch = Vec::with_capacity(batch_size);
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|err| StoreError::from_sdk("list", &folder.bucket, &folder.prefix, err))?;
        for object in page.contents() {
            let Some(key) = object.key() else { continue };
            // The prefix is the isolation boundary: a key outside it is never deleted, whatever
            // the store answered.
            if !key.starts_with(&folder.prefix) {
                tracing::warn!(key, prefix = %folder.prefix, "store listed a key outside the prefix; ignored");
                continue;
            }
            if Some(key) == keep {
                continue;
            }
            let size = object.size().unwrap_or(0).max(0) as u64;
            batch.push(Listed { key: key.to_owned(), size });
            if batch.len() == batch_size {
                let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
                if batches.send(full).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    if !batch.is_empty() {
        // An error here means the deleters stopped; their report says why.
        let _ = batches.send(batch).await;
    }
    Ok(())
}

/// Runs up to `concurrency` batches at once. After a whole request fails, no new batch starts
/// (the ones in flight finish), and dropping the receiver stops the lister.
async fn delete_batches(
    client: &Client,
    bucket: &str,
    mut received: mpsc::Receiver<Vec<Listed>>,
    concurrency: usize,
    stop: &AtomicBool,
) -> Report {
    let batches = futures_util::stream::poll_fn(|cx| received.poll_recv(cx))
        .take_while(|_| std::future::ready(!stop.load(Ordering::Relaxed)));
    let mut outcomes =
        batches.map(|batch| delete_batch(client, bucket, batch)).buffer_unordered(concurrency);
    let mut report = Report::default();
    while let Some(outcome) = outcomes.next().await {
        if outcome.stopped.is_some() {
            stop.store(true, Ordering::Relaxed);
        }
        report.merge(outcome);
    }
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
