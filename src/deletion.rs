//! Deleting one job: the plan and its order, whatever the entry (HTTP, queue, event, ticket).
//!
//! 1. Resolve where the job and its configuration sources live; refuse a forbidden folder before
//!    touching the store.
//! 2. Read the job's record: no record, no job (404). The request's type must match the record's,
//!    and a job that is starting or running is refused.
//! 3. Delete the configuration sources, then the data, the record excepted, within the budget.
//! 4. If the budget ends first, mark the record `deleting` and write a ticket that carries the
//!    request and the progress to the next invocation.
//! 5. Only when nothing failed and nothing is left, delete the record, then the ticket. A deletion
//!    cut short by any failure leaves a job that the same request, retried, finishes.

use crate::budget::Budget;
use crate::config::Config;
use crate::error::ApiError;
use crate::layout::JobLayout;
use crate::request::{DeleteRequest, Id, JobType};
use crate::store::{Report, Store, StoreError};
use crate::ticket::Ticket;
use serde::Deserialize;

/// How far a deletion got, counting the invocations before this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub job_id: Id,
    /// Objects removed: configuration sources, data and, once done, the record.
    pub objects: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything is gone, the record last.
    Deleted(Progress),
    /// The budget ended first; a ticket carries the rest to the next invocation.
    InProgress(Progress),
}

/// What resuming from a ticket came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumed {
    /// The object is not a deletion ticket of this function.
    NotATicket,
    /// The ticket is gone: an earlier invocation finished the deletion.
    AlreadyDone,
    /// The job's record is gone; the ticket was removed.
    JobGone,
    Worked(Outcome),
}

/// The job record written by the services that create jobs; other fields are tolerated.
#[derive(Debug, Deserialize)]
struct JobRecord {
    #[serde(rename = "type")]
    job_type: String,
    status: String,
}

const DELETING: &str = "deleting";

impl JobRecord {
    fn parse(bytes: &[u8], job_id: &Id) -> Result<JobRecord, ApiError> {
        serde_json::from_slice(bytes).map_err(|e| ApiError::RecordUnreadable {
            job_id: job_id.to_string(),
            reason: format!("not a job record: {e}"),
        })
    }

    /// Whether the request may delete the job this record describes.
    fn admit(&self, request: &DeleteRequest) -> Result<(), ApiError> {
        if JobType::parse(&self.job_type) != Some(request.job_type) {
            return Err(ApiError::invalid(
                "type",
                format!(
                    "job {} is of type {}, not {}",
                    request.job_id,
                    printable(&self.job_type),
                    request.job_type.as_str()
                ),
            ));
        }
        match self.status.as_str() {
            "succeeded" | "failed" | DELETING => Ok(()),
            // Starting and running jobs are refused; so is a status this function does not know,
            // since it cannot tell whether the job is still writing.
            other => Err(ApiError::JobBusy {
                job_id: request.job_id.to_string(),
                status: printable(other),
            }),
        }
    }

    /// The record's bytes with its status set to `deleting`, every other field kept.
    fn marked_deleting(bytes: &[u8]) -> Option<Vec<u8>> {
        let mut record: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(bytes).ok()?;
        record.insert("status".into(), DELETING.into());
        serde_json::to_vec(&record).ok()
    }
}

/// A record's field, echoed to the caller: short and printable.
fn printable(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).take(32).collect()
}

/// Deletes the job `request` names, within `budget`.
pub async fn delete_job(
    store: &Store,
    config: &Config,
    request: &DeleteRequest,
    budget: Budget,
) -> Result<Outcome, ApiError> {
    run(store, config, request, budget, None).await
}

/// Resumes the deletion carried by the ticket `key` in `bucket`, within `budget`.
pub async fn resume(
    store: &Store,
    config: &Config,
    bucket: &str,
    key: &str,
    budget: Budget,
) -> Result<Resumed, ApiError> {
    let Some((project_id, job_id)) = JobLayout::ticket_ids(config, bucket, key) else {
        return Ok(Resumed::NotATicket);
    };
    let read = store.read_small(bucket, key).await.map_err(|err| store_error(&job_id, err))?;
    let Some(bytes) = read else { return Ok(Resumed::AlreadyDone) };
    let ticket = Ticket::parse(key, &bytes)?;
    if ticket.request.project_id != project_id || ticket.request.job_id != job_id {
        return Err(ApiError::TicketUnreadable {
            key: key.to_owned(),
            reason: "it carries the request of another job".into(),
        });
    }
    match run(store, config, &ticket.request, budget, Some(&ticket)).await {
        Err(ApiError::NotFound(_)) => {
            store.delete_object(bucket, key).await.map_err(|err| store_error(&job_id, err))?;
            Ok(Resumed::JobGone)
        }
        outcome => outcome.map(Resumed::Worked),
    }
}

async fn run(
    store: &Store,
    config: &Config,
    request: &DeleteRequest,
    budget: Budget,
    ticket: Option<&Ticket>,
) -> Result<Outcome, ApiError> {
    let job_id = &request.job_id;
    let layout = JobLayout::new(config, &request.project_id, job_id);
    let config_folder = request
        .offline_platform
        .as_ref()
        .and_then(|platform| platform.config_load_path.as_ref())
        .map(|path| layout.config_folder(config, path, job_id))
        .transpose()?;

    let bucket = &layout.data.bucket;
    // Whether the buckets keep versions is asked once per process; beside the record, the
    // question costs no round trip of its own.
    let buckets: Vec<&str> = config_folder
        .iter()
        .map(|folder| folder.bucket.as_str())
        .chain([bucket.as_str()])
        .collect();
    let (record, ()) = tokio::join!(
        store.read_small(bucket, &layout.record_key),
        store.learn_versioning(&buckets)
    );
    let record_bytes = record.map_err(|err| store_error(job_id, err))?.ok_or_else(|| {
        ApiError::NotFound(format!("job {job_id} does not exist in project {}", request.project_id))
    })?;
    let record = JobRecord::parse(&record_bytes, job_id)?;
    record.admit(request)?;

    let mut report = Report::default();
    for folder in config_folder.iter() {
        report.merge(store.delete_folder(folder, None, budget).await);
    }
    // Keys that failed alone do not stop the data from going; a store that stopped answering does.
    if report.stopped.is_none() {
        report.merge(store.delete_folder(&layout.data, Some(&layout.record_key), budget).await);
    }
    log_report(request, &report);
    check_complete(job_id, &report)?;

    let mut progress = Progress {
        job_id: job_id.clone(),
        objects: ticket.map_or(0, |t| t.deleted_objects) + report.deleted,
        bytes: ticket.map_or(0, |t| t.deleted_bytes) + report.bytes,
    };
    if report.cut_short {
        if report.deleted == 0 {
            // A request that races the invocation already carrying this job leaves it to that
            // one; a continuation that made no progress fails, so that Lambda retries it later
            // rather than handing on work that would only loop.
            if record.status == DELETING && ticket.is_none() {
                return Ok(Outcome::InProgress(progress));
            }
            return Err(ApiError::StoreUnavailable {
                job_id: job_id.to_string(),
                reason: "nothing could be deleted within the time budget".into(),
            });
        }
        let hops = ticket.map_or(0, |t| t.hops) + 1;
        hand_on(store, &layout, request, &record, &record_bytes, &progress, hops).await?;
        return Ok(Outcome::InProgress(progress));
    }

    let delete = |key| async move {
        store.delete_object(bucket, key).await.map_err(|e| store_error(job_id, e))
    };
    delete(&layout.record_key).await?;
    progress.objects += 1;
    progress.bytes += record_bytes.len() as u64;
    if ticket.is_some() || record.status == DELETING {
        delete(&layout.ticket_key).await?;
    }
    Ok(Outcome::Deleted(progress))
}

/// Marks the record `deleting`, then writes the ticket, whose Object Created event starts the
/// next invocation.
async fn hand_on(
    store: &Store,
    layout: &JobLayout,
    request: &DeleteRequest,
    record: &JobRecord,
    record_bytes: &[u8],
    progress: &Progress,
    hops: u32,
) -> Result<(), ApiError> {
    let job_id = &request.job_id;
    let bucket = &layout.data.bucket;
    if record.status != DELETING
        && let Some(marked) = JobRecord::marked_deleting(record_bytes)
    {
        store
            .put_json(bucket, &layout.record_key, marked)
            .await
            .map_err(|e| store_error(job_id, e))?;
    }
    let ticket = Ticket {
        request: request.clone(),
        deleted_objects: progress.objects,
        deleted_bytes: progress.bytes,
        hops,
    };
    store
        .put_json(bucket, &layout.ticket_key, ticket.to_bytes())
        .await
        .map_err(|e| store_error(job_id, e))?;
    tracing::info!(project_id = %request.project_id, job_id = %job_id, deleted = progress.objects, hops,
        "deletion handed on to the next invocation");
    Ok(())
}

fn check_complete(job_id: &Id, report: &Report) -> Result<(), ApiError> {
    if let Some(err) = &report.stopped {
        return Err(store_error(job_id, err.clone()));
    }
    match &report.first_failure {
        Some(first) if report.failed > 0 => Err(ApiError::DeletionIncomplete {
            job_id: job_id.to_string(),
            failed: report.failed,
            first: first.clone(),
        }),
        _ => Ok(()),
    }
}

fn log_report(request: &DeleteRequest, report: &Report) {
    tracing::info!(
        project_id = %request.project_id,
        job_id = %request.job_id,
        deleted = report.deleted,
        bytes = report.bytes,
        failed = report.failed,
        cut_short = report.cut_short,
        stopped = report.stopped.as_ref().map(tracing::field::display),
        "job data deleted"
    );
}

/// The caller learns the operation and the S3 code; the SDK's detail stays in the log.
fn store_error(job_id: &Id, err: StoreError) -> ApiError {
    tracing::warn!(job_id = %job_id, error = %err, "store request failed");
    let job_id = job_id.to_string();
    if err.unavailable {
        ApiError::StoreUnavailable { job_id, reason: format!("{} {}", err.operation, err.code) }
    } else if err.code == "RecordTooLarge" {
        ApiError::RecordUnreadable { job_id, reason: "it is larger than a record can be".into() }
    } else {
        ApiError::StoreFailed { job_id, operation: err.operation, code: err.code }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(job_type: &str) -> DeleteRequest {
        let body = format!(r#"{{"job_id":"j1","type":"{job_type}","offline_platform":{{}}}}"#);
        let project = Id::parse("project_id", "p1").unwrap();
        DeleteRequest::from_http(project, &[], body.as_bytes()).unwrap()
    }

    fn record(json: &str) -> Result<JobRecord, ApiError> {
        JobRecord::parse(json.as_bytes(), &Id::parse("job_id", "j1").unwrap())
    }

    #[test]
    fn records_tolerate_extra_fields() {
        let r = record(r#"{"job_id":"j1","type":"etl","status":"succeeded","owner":"x","n":1}"#);
        assert!(r.unwrap().admit(&request("etl")).is_ok());
    }

    #[test]
    fn the_type_must_match_the_records_and_recall_is_retrieval() {
        let r = record(r#"{"type":"retrieval","status":"failed"}"#).unwrap();
        assert!(r.admit(&request("recall")).is_ok());
        assert!(r.admit(&request("retrieval")).is_ok());
        let err = r.admit(&request("etl")).unwrap_err();
        assert_eq!(err.code(), "res.1001");
        assert!(err.to_string().contains("parameter(type)"));
        let r = record(r#"{"type":"recall","status":"failed"}"#).unwrap();
        assert!(r.admit(&request("retrieval")).is_ok());
    }

    #[test]
    fn starting_running_and_unknown_statuses_are_refused() {
        for status in ["starting", "running", "paused"] {
            let r = record(&format!(r#"{{"type":"etl","status":"{status}"}}"#)).unwrap();
            let err = r.admit(&request("etl")).unwrap_err();
            assert_eq!((err.status(), err.code()), (409, "res.1024"), "{status}");
            assert!(err.to_string().contains(status));
        }
        for status in ["succeeded", "failed", "deleting"] {
            let r = record(&format!(r#"{{"type":"etl","status":"{status}"}}"#)).unwrap();
            assert!(r.admit(&request("etl")).is_ok(), "{status}");
        }
    }

    #[test]
    fn marking_a_record_deleting_keeps_its_other_fields() {
        let marked = JobRecord::marked_deleting(
            br#"{"job_id":"j1","type":"etl","status":"failed","n":[1]}"#,
        )
        .unwrap();
        let marked: serde_json::Value = serde_json::from_slice(&marked).unwrap();
        assert_eq!(
            marked,
            serde_json::json!({"job_id":"j1","type":"etl","status":"deleting","n":[1]})
        );
    }

    #[test]
    fn an_unreadable_record_is_a_server_error() {
        for json in ["", "[]", r#"{"type":"etl"}"#, r#"{"type":1,"status":"failed"}"#] {
            let err = record(json).unwrap_err();
            assert_eq!((err.status(), err.code()), (500, "res.5001"), "{json}");
        }
    }
}
