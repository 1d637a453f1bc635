//! del-job: an AWS Lambda function serving the RES "Deleting Jobs" API,
//! `DELETE /v1/{project_id}/del-job`, on Amazon S3.
//!
//! The flow, one module a step:
//! event in ([`entry`]: HTTP, SQS, EventBridge; who is asking) -> request parsed and validated
//! ([`request`]) -> where the job lives ([`job`]) -> the plan and its order, the job's record and
//! the hand-on that carries a deletion to the next invocation ([`deletion`], sent through
//! [`queue`]), within a time [`budget`] -> the store lists and deletes ([`store`]) -> the answer
//! out ([`entry`], with [`error`] for every refusal).
//!
//! Below them all: [`app`], what every invocation shares; [`config`], read once at start-up;
//! [`telemetry`], the summary and progress lines; and [`s3_names`], S3's naming rules. The store
//! imports nothing of the layers above it.

pub mod app;
pub(crate) mod budget;
pub mod config;
pub(crate) mod deletion;
pub mod entry;
pub mod error;
pub(crate) mod job;
pub(crate) mod queue;
pub(crate) mod request;
pub mod s3_names;
pub mod store;
pub mod telemetry;
