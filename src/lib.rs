//! del-job: an AWS Lambda function serving the RES "Deleting Jobs" API,
//! `DELETE /v1/{project_id}/del-job`, on Amazon S3.
//!
//! The flow, one module a step:
//! event in ([`entry`]) -> request parsed and validated ([`request`]) -> where the job lives
//! ([`layout`]) -> the plan and its order ([`deletion`]), within a time [`budget`] -> the store
//! deletes it ([`store`]) -> the answer out ([`entry`], with [`error`] for every refusal). What
//! one invocation cannot finish, a [`ticket`] carries to the next.

pub mod budget;
pub mod config;
pub mod deletion;
pub mod entry;
pub mod error;
pub mod layout;
pub mod request;
pub mod store;
pub mod strict_json;
pub mod ticket;
