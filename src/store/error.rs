//! How a store request fails: [`StoreError`] for one request, [`FailedKey`] for one object a
//! deletion could not remove. Only the S3 codes and the operation are for a caller; the SDK's
//! detail, which can name hosts, is for the log.

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use std::error::Error as _;
use std::fmt;

/// One S3 request that failed after its retries.
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
    pub fault: Fault,
    /// The SDK's description, for logs only: it can name hosts and internals.
    pub detail: Option<String>,
}

/// Whose the failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The store refused the request (access, a missing bucket, a malformed request).
    Refused,
    /// The store, not the request, is at fault: throttling, timeouts, lost connections.
    Unavailable,
    /// The object is larger than anything this function reads (its records are small).
    TooLarge,
    /// A write or delete conditional on the object as read found it changed (412, or 409 for a
    /// conflicting request at the same moment).
    Changed,
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
    pub fn is_unavailable(&self) -> bool {
        self.fault == Fault::Unavailable
    }

    /// Worth another attempt: the store was unavailable, or failed inside itself.
    pub(crate) fn is_passing(&self) -> bool {
        self.is_unavailable() || self.code == "InternalError" || self.code == "HTTP500"
    }

    pub(crate) fn from_sdk<E>(
        operation: &'static str,
        bucket: &str,
        key: &str,
        err: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let (code, fault) = match &err {
            SdkError::TimeoutError(_) => ("Timeout".to_owned(), Fault::Unavailable),
            SdkError::DispatchFailure(_) => ("ConnectionFailed".to_owned(), Fault::Unavailable),
            SdkError::ResponseError(_) => ("ResponseError".to_owned(), Fault::Unavailable),
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
                let fault = if status == 412
                    || code == "PreconditionFailed"
                    || code == "ConditionalRequestConflict"
                {
                    Fault::Changed
                } else if status == 503 || is_throttling_code(&code) {
                    Fault::Unavailable
                } else {
                    Fault::Refused
                };
                (code, fault)
            }
            _ => ("RequestFailed".to_owned(), Fault::Refused),
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
            fault,
            detail: Some(detail),
        }
    }
}

/// One object the store refused to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedKey {
    pub key: String,
    /// The S3 error code, such as `AccessDenied`.
    pub code: String,
    pub message: String,
}

impl fmt::Display for FailedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.key.as_str() {
            // No object has the empty key: the store's reply named none.
            "" => write!(f, "a key not named by the store ({}", self.code)?,
            key => write!(f, "key {key} ({}", self.code)?,
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        f.write_str(")")?;
        if self.message.to_ascii_lowercase().contains("object lock") {
            f.write_str(", protected by S3 Object Lock (a retention period or a legal hold)")?;
        }
        Ok(())
    }
}
