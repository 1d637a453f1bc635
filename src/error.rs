//! Every way a request can fail, as the caller sees it: an HTTP status, a RES error code and a
//! message. The message (`Display`) is what the caller reads, so variants carry only what the
//! caller may know: parameter names, ids, object keys and S3 error codes, never SDK internals.

use crate::job::{Id, IdError};
use crate::queue::QueueError;
use crate::store::{FailedKey, Fault, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("The value of request parameter({param}) is invalid: {reason}.")]
    InvalidParameter { param: String, reason: String },

    #[error("The size of request parameter({param}) is invalid: {reason}.")]
    ParameterTooLong { param: String, reason: String },

    #[error("The request parameter({0}) is null.")]
    MissingParameter(String),

    #[error("The request content is invalid: {0}.")]
    InvalidContent(String),

    #[error("The token is empty: the request carries no authorizer context.")]
    TokenMissing,

    #[error("Failed to resolve the token from the request.")]
    TokenUnresolved,

    #[error("The token does not grant access to project {0}.")]
    ForeignProject(String),

    #[error("The IAM principal {0:?} is not trusted to delete jobs.")]
    UntrustedPrincipal(String),

    #[error("Resource is not found: {0}.")]
    NotFound(String),

    #[error("The method {0} is not allowed: this API takes DELETE.")]
    MethodNotAllowed(String),

    #[error("The job {job_id} is {status} and cannot be deleted until it ends.")]
    JobBusy { job_id: String, status: String },

    #[error(
        "Failed to delete {failed} object(s) of job {job_id}; the first: {first}. \
         The job is kept and can be deleted again."
    )]
    DeletionIncomplete { job_id: String, failed: u64, first: FailedKey },

    #[error("The object store failed to {operation} for job {job_id}: {code}.")]
    StoreFailed { job_id: String, operation: &'static str, code: String },

    #[error("The record of job {job_id} cannot be read ({reason}); it is left in place.")]
    RecordUnreadable { job_id: String, reason: String },

    #[error("The hand-on message cannot be read ({0}).")]
    HandOnUnreadable(String),

    #[error(
        "The object store is unavailable ({reason}) while deleting job {job_id}; \
         nothing is reported deleted that was not, try again later."
    )]
    StoreUnavailable { job_id: String, reason: String },

    #[error(
        "The record of job {job_id} changed while it was being deleted (another invocation \
         carries the deletion on, or the job was started again); nothing was handed on. Send \
         the request again."
    )]
    JobChanged { job_id: String },

    #[error(
        "The deletion of job {job_id} needs more invocations than MAX_HOPS ({max_hops}) allows; \
         the job stays deleting. Send the request again to go on."
    )]
    HandOnsExhausted { job_id: String, max_hops: u32 },
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::InvalidParameter { .. }
            | ApiError::ParameterTooLong { .. }
            | ApiError::MissingParameter(_)
            | ApiError::InvalidContent(_)
            | ApiError::JobBusy { .. } => 400,
            ApiError::TokenMissing | ApiError::TokenUnresolved => 401,
            ApiError::ForeignProject(_) | ApiError::UntrustedPrincipal(_) => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::DeletionIncomplete { .. }
            | ApiError::StoreFailed { .. }
            | ApiError::RecordUnreadable { .. }
            | ApiError::HandOnUnreadable(_) => 500,
            ApiError::StoreUnavailable { .. }
            | ApiError::JobChanged { .. }
            | ApiError::HandOnsExhausted { .. } => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidParameter { .. } => "res.1001",
            ApiError::ParameterTooLong { .. } => "res.1002",
            ApiError::MissingParameter(_) => "res.1003",
            ApiError::InvalidContent(_) => "res.1006",
            ApiError::TokenMissing => "res.1019",
            ApiError::TokenUnresolved => "res.2301",
            ApiError::ForeignProject(_) | ApiError::UntrustedPrincipal(_) => "res.1012",
            ApiError::NotFound(_) => "res.3301",
            ApiError::MethodNotAllowed(_) => "res.1007",
            ApiError::JobBusy { .. } => "res.1024",
            ApiError::DeletionIncomplete { .. }
            | ApiError::StoreFailed { .. }
            | ApiError::RecordUnreadable { .. }
            | ApiError::HandOnUnreadable(_) => "res.5001",
            ApiError::StoreUnavailable { .. }
            | ApiError::JobChanged { .. }
            | ApiError::HandOnsExhausted { .. } => "res.5003",
        }
    }

    /// The answer for a store request that failed: the caller learns the operation and the S3
    /// code; the SDK's detail stays in the log.
    pub fn from_store(job_id: &Id, err: StoreError) -> ApiError {
        tracing::warn!(job_id = %job_id, error = %err, "store request failed");
        let job_id = job_id.to_string();
        match err.fault {
            Fault::Unavailable => ApiError::StoreUnavailable {
                job_id,
                reason: format!("{} {}", err.operation, err.code),
            },
            Fault::TooLarge => ApiError::RecordUnreadable {
                job_id,
                reason: "it is larger than a record can be".into(),
            },
            Fault::Refused => {
                ApiError::StoreFailed { job_id, operation: err.operation, code: err.code }
            }
            Fault::Changed => ApiError::JobChanged { job_id },
        }
    }

    /// The answer for a hand-on that could not be sent: the deletion was not carried on, the
    /// job's record is kept, and the same request later goes on from where it stopped.
    pub fn from_queue(job_id: &Id, err: QueueError) -> ApiError {
        tracing::warn!(job_id = %job_id, error = %err, detail = err.detail, "hand-on not sent");
        ApiError::StoreUnavailable {
            job_id: job_id.to_string(),
            reason: format!("the deletion could not be handed on: {}", err.code),
        }
    }

    /// The answer for an id parameter `param` that is not an [`Id`]: its size (res.1002) or
    /// its characters (res.1001).
    pub fn bad_id(param: &str, err: IdError) -> ApiError {
        match err {
            IdError::Length(_) => ApiError::too_long(param, err.to_string()),
            IdError::Characters => ApiError::invalid(param, err.to_string()),
        }
    }

    pub fn invalid(param: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::InvalidParameter { param: param.into(), reason: reason.into() }
    }

    pub fn too_long(param: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError::ParameterTooLong { param: param.into(), reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_id_names_its_parameter_with_the_code_of_its_kind() {
        for (value, code) in
            [("", "res.1002"), (&"x".repeat(65) as &str, "res.1002"), ("a/b", "res.1001")]
        {
            let err = ApiError::bad_id("job_id", Id::parse(value).unwrap_err());
            assert_eq!(err.code(), code, "{value:?}");
            assert!(err.to_string().contains("parameter(job_id)"), "{err}");
        }
    }
}
