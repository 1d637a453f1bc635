//! The object store: Amazon S3 (or a compatible server) through `aws-sdk-s3`.
//!
//! Nothing here knows about HTTP or the RES envelope; failures come back as [`StoreError`] (one
//! request failed) or inside a [`Report`] (what a folder deletion did and did not do).

mod client;
mod dated;
mod engine;
pub(crate) mod error;

pub use client::{aws_config, s3_client, s3_client_from};
use engine::Clients;
pub(crate) use engine::FirstPage;
pub use engine::Report;
pub use error::{FailedKey, Fault, StoreError};

use crate::budget::Budget;
use crate::config::DeletionLimits;
use crate::config::Versioning;
use crate::s3_names::Folder;
use crate::telemetry::Meter;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::SdkError;
use dated::ReplyDate;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::time::timeout_at;

/// The records this function reads are small JSON documents; anything larger is not one.
const MAX_RECORD_BYTES: i64 = 1024 * 1024;

/// A small object as read: its bytes, its ETag for a write or delete conditional on it, and
/// when it was written, on this process's clock, to a second or so (dated.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Small {
    pub bytes: Vec<u8>,
    pub etag: Option<String>,
    pub written: Option<Instant>,
}

/// The S3 clients (one connection pool), shared by every invocation of the process, and how hard
/// to drive them.
#[derive(Debug, Clone)]
pub struct Store {
    clients: Clients,
    limits: DeletionLimits,
    versioning: Versioning,
    /// Whether each bucket is versioned, as last asked: every deletion request asks again
    /// (`learn_versioning`), since a bucket's versioning can be turned on at any time.
    versioned: Arc<Mutex<HashMap<String, bool>>>,
}

impl Store {
    pub fn new(client: Client, limits: DeletionLimits, versioning: Versioning) -> Store {
        Store { clients: Clients::new(client), limits, versioning, versioned: Arc::default() }
    }

    /// The client with the SDK's retries, for everything but the engine's DeleteObjects.
    fn client(&self) -> &Client {
        &self.clients.standard
    }

    /// Whether `bucket` keeps versions (versioning enabled, or suspended after it was), so that
    /// deleting must remove every version and delete marker: as last asked, or asked now.
    pub async fn is_versioned(&self, bucket: &str) -> Result<bool, StoreError> {
        match self.versioning {
            Versioning::On => return Ok(true),
            Versioning::Off => return Ok(false),
            Versioning::Auto => {}
        }
        if let Some(known) = self.versioned.lock().unwrap_or_else(|e| e.into_inner()).get(bucket) {
            return Ok(*known);
        }
        self.ask_versioning(bucket).await
    }

    /// Asks whether `bucket` keeps versions (`BUCKET_VERSIONING=auto`), and keeps the answer.
    async fn ask_versioning(&self, bucket: &str) -> Result<bool, StoreError> {
        let versioned = match self.client().get_bucket_versioning().bucket(bucket).send().await {
            Ok(reply) => reply.status().is_some(),
            // Some servers (moto) wrap the answer in another root element, which the SDK will not
            // read; the status inside is still plain.
            Err(SdkError::ServiceError(e)) if e.raw().status().is_success() => {
                let body =
                    e.raw().body().bytes().and_then(|b| std::str::from_utf8(b).ok()).unwrap_or("");
                body.contains("<Status>Enabled</Status>")
                    || body.contains("<Status>Suspended</Status>")
            }
            Err(err) => {
                // Not known any more: the deletion asks again, and reports what it finds.
                self.versioned.lock().unwrap_or_else(|e| e.into_inner()).remove(bucket);
                return Err(StoreError::from_sdk("read the versioning of", bucket, "", err));
            }
        };
        self.versioned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(bucket.to_owned(), versioned);
        Ok(versioned)
    }

    /// Asks whether each of `buckets` keeps versions, side by side, so that the deletions that
    /// follow find the answers as they are now. A failure is not kept: the deletion asks again
    /// and reports it.
    pub async fn learn_versioning(&self, buckets: &[&str]) {
        let mut buckets = buckets.to_vec();
        buckets.sort_unstable();
        buckets.dedup();
        if self.versioning != Versioning::Auto {
            return;
        }
        futures_util::future::join_all(buckets.into_iter().map(|b| self.ask_versioning(b))).await;
    }

    /// Aborts every multipart upload under `folder`: the parts of a failed job's uploads are data
    /// it produced, stored and billed, and an upload completed after the deletion would put an
    /// object back. Returns how many.
    async fn abort_uploads(&self, folder: &Folder) -> Result<u64, StoreError> {
        let (bucket, prefix) = (folder.bucket.as_str(), folder.prefix.as_str());
        let failed = |err| StoreError::from_sdk("abort the uploads of", bucket, prefix, err);
        let (mut key_marker, mut upload_marker, mut aborted) = (None, None, 0);
        loop {
            let list = self.client().list_multipart_uploads().bucket(bucket).prefix(prefix);
            let page = list
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(upload_marker.take())
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("list the uploads of", bucket, prefix, e))?;
            for upload in page.uploads() {
                let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else { continue };
                // The folder is the isolation boundary here too, whatever the store answered.
                if !key.starts_with(prefix) {
                    continue;
                }
                let abort = self.client().abort_multipart_upload().bucket(bucket).key(key);
                match abort.upload_id(id).send().await {
                    Ok(_) => aborted += 1,
                    Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_upload()) => {}
                    Err(err) => return Err(failed(err)),
                }
            }
            if !page.is_truncated().unwrap_or(false) {
                return Ok(aborted);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            upload_marker = page.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && upload_marker.is_none() {
                return Ok(aborted);
            }
        }
    }

    /// The object as read (bytes, ETag, when it was written), or `None` when there is no such
    /// object.
    pub async fn read_small(&self, bucket: &str, key: &str) -> Result<Option<Small>, StoreError> {
        let date = ReplyDate::default();
        let read = self.client().get_object().bucket(bucket).key(key).customize();
        let response = match read.interceptor(date.clone()).send().await {
            Ok(response) => response,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(StoreError::from_sdk("read", bucket, key, err)),
        };
        let too_large = |size| StoreError {
            operation: "read",
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            code: "EntityTooLarge".into(),
            fault: Fault::TooLarge,
            detail: Some(format!("{size} bytes")),
        };
        if let Some(size) = response.content_length().filter(|&n| n > MAX_RECORD_BYTES) {
            return Err(too_large(size));
        }
        let etag = response.e_tag().map(str::to_owned);
        let written = response.last_modified().and_then(|modified| date.written(modified));
        let bytes = response.body.collect().await.map_err(|e| StoreError {
            operation: "read",
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            code: "ResponseError".into(),
            fault: Fault::Unavailable,
            detail: Some(e.to_string()),
        })?;
        Ok(Some(Small { bytes: bytes.to_vec(), etag, written }))
    }

    /// Deletes `key` (in a versioned bucket, every version of it), only if it is still the
    /// object whose ETag is `if_match`, when given: a key already gone is deleted.
    pub async fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        if_match: Option<&str>,
    ) -> Result<(), StoreError> {
        let versioned = self.is_versioned(bucket).await?;
        if !versioned || if_match.is_some() {
            // In a versioned bucket this leaves a delete marker, which goes with the versions.
            let delete = self.client().delete_object().bucket(bucket).key(key);
            match delete.set_if_match(if_match.map(str::to_owned)).send().await {
                Ok(_) => {}
                Err(err) if err.raw_response().is_some_and(|r| r.status().as_u16() == 404) => {}
                Err(err) => return Err(StoreError::from_sdk("delete", bucket, key, err)),
            }
        }
        if !versioned {
            return Ok(());
        }
        let versions = engine::Target::Versions { bucket, key };
        let meter = Meter::unreported();
        let report =
            engine::delete(&self.clients, versions, None, self.limits, Budget::unlimited(), &meter)
                .await;
        if let Some(err) = report.stopped {
            return Err(err);
        }
        match report.first_failure {
            Some(failure) => Err(StoreError {
                operation: "delete",
                bucket: bucket.to_owned(),
                key: failure.key,
                code: failure.code,
                fault: Fault::Refused,
                detail: Some(failure.message),
            }),
            None => Ok(()),
        }
    }

    /// Writes `body` at `key`, only over the object whose ETag is `if_match`, when given;
    /// returns the new object's ETag.
    pub async fn put_json(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        if_match: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        self.client()
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .set_if_match(if_match.map(str::to_owned))
            .body(body.into())
            .send()
            .await
            .map(|written| written.e_tag().map(str::to_owned))
            .map_err(|err| StoreError::from_sdk("write", bucket, key, err))
    }

    /// Asks for `folder`'s first page of keys now, ahead of deleting it (see [`FirstPage`]),
    /// unless its bucket is known to keep versions, whose listing is another.
    pub(crate) fn list_ahead(&self, folder: &Folder) -> Option<FirstPage> {
        let versioned = match self.versioning {
            Versioning::On => true,
            Versioning::Off => false,
            Versioning::Auto => {
                let known = self.versioned.lock().unwrap_or_else(|e| e.into_inner());
                known.get(&folder.bucket).copied().unwrap_or(false)
            }
        };
        (!versioned).then(|| FirstPage::ask(self.client(), folder))
    }

    /// Deletes every object of `folder` but `keep` (every version, in a versioned bucket),
    /// streaming, within `budget`; counts what it does in `meter`. `first_page`, asked for
    /// ahead ([`Store::list_ahead`]), is used if the folder is listed as it was asked (not as
    /// versions).
    pub(crate) async fn delete_folder(
        &self,
        folder: &Folder,
        keep: Option<&str>,
        first_page: Option<FirstPage>,
        budget: Budget,
        meter: &Meter,
    ) -> Report {
        // Known already, as a rule (learn_versioning); a store that does not answer is given
        // no more than the budget.
        let versioned = match timeout_at(budget.cut_at, self.is_versioned(&folder.bucket)).await {
            Ok(Ok(versioned)) => versioned,
            Ok(Err(err)) => return Report { stopped: Some(err), ..Report::default() },
            Err(_) => {
                let err = StoreError {
                    operation: "read the versioning of",
                    bucket: folder.bucket.clone(),
                    key: String::new(),
                    code: "Timeout".into(),
                    fault: Fault::Unavailable,
                    detail: Some("no answer within the time budget".into()),
                };
                return Report { stopped: Some(err), ..Report::default() };
            }
        };
        let target = engine::Target::Folder { folder, keep, versioned };
        let deleting =
            engine::delete(&self.clients, target, first_page, self.limits, budget, meter);
        let (mut report, aborted) =
            tokio::join!(deleting, timeout_at(budget.cut_at, self.abort_uploads(folder)));
        match aborted {
            Ok(Ok(0)) => {}
            Ok(Ok(uploads)) => tracing::info!(
                bucket = folder.bucket,
                prefix = folder.prefix,
                uploads,
                "multipart uploads in progress aborted"
            ),
            Ok(Err(err)) => {
                report.stopped.get_or_insert(err);
            }
            // The uploads not yet aborted keep the record, as the objects not yet deleted do.
            Err(_) => report.cut_short = true,
        }
        report
    }
}
