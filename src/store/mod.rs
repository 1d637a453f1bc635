//! The object store: Amazon S3 (or a compatible server) through `aws-sdk-s3`.
//!
//! Nothing here knows about HTTP or the RES envelope; failures come back as [`StoreError`] (one
//! request failed) or inside a [`Report`] (what a folder deletion did and did not do).

mod client;
mod engine;

pub use client::s3_client;
pub use engine::Report;

use crate::budget::Budget;
use crate::config::DeletionLimits;
use crate::layout::Folder;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::error::Error as _;

/// The records this function reads are small JSON documents; anything larger is not one.
const MAX_RECORD_BYTES: i64 = 1024 * 1024;

/// One S3 request that failed after the SDK's retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} s3://{bucket}/{key}: {code}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
pub struct StoreError {
    /// What was being done: `list`, `read`, `write`, `delete`.
    pub operation: &'static str,
    pub bucket: String,
    /// The key or prefix involved.
    pub key: String,
    /// The S3 error code (`AccessDenied`, `SlowDown`), or a transport condition (`Timeout`,
    /// `ConnectionFailed`, `ResponseError`).
    pub code: String,
    /// Whether the store, not the request, is at fault: throttling, timeouts, lost connections.
    pub unavailable: bool,
    /// The SDK's description, for logs only: it can name hosts and internals.
    pub detail: Option<String>,
}

/// S3 error codes that say "slow down or come back later" rather than "no".
pub(crate) fn is_throttling_code(code: &str) -> bool {
    matches!(code, "SlowDown" | "ServiceUnavailable" | "RequestTimeout" | "Throttling")
}

/// The `<Code>` of an S3 error document.
fn code_in_body(response: &HttpResponse) -> Option<String> {
    let text = std::str::from_utf8(response.body().bytes()?).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = start + text[start..].find("</Code>")?;
    Some(text[start..end].to_owned())
}

impl StoreError {
    /// Worth another attempt: the store was unavailable, or failed inside itself.
    pub(crate) fn is_passing(&self) -> bool {
        self.unavailable || self.code == "InternalError" || self.code == "HTTP500"
    }

    fn from_sdk<E>(
        operation: &'static str,
        bucket: &str,
        key: &str,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (code, unavailable) = match &err {
            SdkError::TimeoutError(_) => ("Timeout".to_owned(), true),
            SdkError::DispatchFailure(_) => ("ConnectionFailed".to_owned(), true),
            SdkError::ResponseError(_) => ("ResponseError".to_owned(), true),
            SdkError::ServiceError(service) => {
                let status = service.raw().status().as_u16();
                // An error inside a 200 (S3 can fail after sending its status) is not parsed by
                // the SDK; read its code from the body. Without an error document, the status.
                let code = service
                    .err()
                    .code()
                    .map(str::to_owned)
                    .or_else(|| code_in_body(service.raw()))
                    .unwrap_or_else(|| format!("HTTP{status}"));
                let unavailable = status == 503 || is_throttling_code(&code);
                (code, unavailable)
            }
            _ => ("RequestFailed".to_owned(), false),
        };
        let mut detail = err.to_string();
        let mut source = err.source();
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        StoreError {
            operation,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            code,
            unavailable,
            detail: Some(detail),
        }
    }
}

/// The S3 client, shared by every invocation of the process, and how hard to drive it.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    limits: DeletionLimits,
}

impl Store {
    pub fn new(client: Client, limits: DeletionLimits) -> Store {
        Store { client, limits }
    }

    /// The object's bytes, or `None` when there is no such object.
    pub async fn read_small(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let response = match self.client.get_object().bucket(bucket).key(key).send().await {
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
            code: "RecordTooLarge".into(),
            unavailable: false,
            detail: Some(format!("{size} bytes")),
        };
        if let Some(size) = response.content_length().filter(|&n| n > MAX_RECORD_BYTES) {
            return Err(too_large(size));
        }
        let bytes = response.body.collect().await.map_err(|e| StoreError {
            operation: "read",
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            code: "ResponseError".into(),
            unavailable: true,
            detail: Some(e.to_string()),
        })?;
        Ok(Some(bytes.to_vec()))
    }

    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map(drop)
            .map_err(|err| StoreError::from_sdk("delete", bucket, key, err))
    }

    pub async fn put_json(&self, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(body.into())
            .send()
            .await
            .map(drop)
            .map_err(|err| StoreError::from_sdk("write", bucket, key, err))
    }

    /// Deletes every object of `folder` but `keep`, streaming, within `budget`.
    pub async fn delete_folder(
        &self,
        folder: &Folder,
        keep: Option<&str>,
        budget: Budget,
    ) -> Report {
        engine::delete_folder(&self.client, folder, keep, self.limits, budget).await
    }
}
