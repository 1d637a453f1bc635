//! Deleting one job: the plan and its order, whatever the entry (HTTP, queue, event, ticket).
//!
//! 1. Where: the job's root, record and ticket. A configuration folder the request names is
//!    refused before the store is asked anything if the function may not delete there.
//! 2. The record: no record, no job (404). The request's type must match the record's, a job
//!    that is starting or running is refused, and a record that names its `config_load_path`
//!    decides where the configuration sources are (a request naming another path is refused).
//! 3. Delete the configuration sources, then the data, the record excepted, within the budget.
//! 4. If the budget ends first, hand on: mark the record `deleting`, with the configuration path
//!    being deleted, then write a ticket that carries the request and the progress to the next
//!    invocation.
//! 5. Only when nothing failed and nothing is left, delete the record, then the ticket. A deletion
//!    cut short by any failure leaves a job that the same request, retried, finishes.
//!
//! A ticket is a request that carries no caller's token, and anyone who can write to the bucket
//! could write one. So a ticket is honoured only while the job's record, which only this function
//! marks so, says `deleting` and names the ticket's configuration path; any other ticket is
//! removed unheeded. A chain of hand-ons stops after `MAX_HOPS`.
//!
//! Every store request is bounded by the budget: the reads by its `cut_at`, the writes after the
//! deletion by its `answer_by`, so that an HTTP caller always gets an answer in time.

mod record;
mod ticket;

use crate::app::App;
use crate::budget::Budget;
use crate::config::Config;
use crate::error::ApiError;
use crate::job::Id;
use crate::job::layout::JobLayout;
use crate::request::DeleteRequest;
use crate::s3_names::{Folder, S3Path};
use crate::store::{Report, Store, StoreError};
use crate::telemetry::{Meter, with_progress};
use record::{JobRecord, printable};
use ticket::Ticket;
use tokio::time::{Instant, timeout_at};

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
    /// The ticket was not written by a hand-on of this job's deletion (the reason says why); it
    /// was removed, and nothing was deleted.
    TicketRefused(String),
    /// The deletion has been handed on `hops` times, `MAX_HOPS` at least: the chain stops here,
    /// the job left `deleting` until the request is sent again.
    ChainStopped {
        hops: u32,
    },
    Worked(Outcome),
}

/// Deletes the job `request` names, within `budget`; counts what it does in `meter`.
pub async fn delete_job(
    app: &App,
    request: &DeleteRequest,
    budget: Budget,
    meter: &Meter,
) -> Result<Outcome, ApiError> {
    let job = Job::find(&app.store, &app.config, request, budget).await?;
    job.record.admit(request)?;
    job.delete(app, request, budget, meter, None).await
}

/// Resumes the deletion carried by the ticket `key` in `bucket`, within `budget`; counts what it
/// does in `meter`.
pub async fn resume(
    app: &App,
    (bucket, key): (&str, &str),
    budget: Budget,
    meter: &Meter,
) -> Result<Resumed, ApiError> {
    let (store, config) = (&app.store, &app.config);
    let Some((project_id, job_id)) = JobLayout::ticket_ids(config, bucket, key) else {
        return Ok(Resumed::NotATicket);
    };
    let read = store.read_small(bucket, key);
    let Some(bytes) = within(budget.cut_at, &job_id, "read the deletion ticket", read).await?
    else {
        return Ok(Resumed::AlreadyDone);
    };
    let ticket = Ticket::parse(key, &bytes)?;
    let request = &ticket.request;
    let found = if request.project_id != project_id || request.job_id != job_id {
        Err("it carries the request of another job".to_owned())
    } else {
        match Job::find(store, config, request, budget).await {
            Ok(job) => job.honours(&ticket).map(|()| job),
            Err(ApiError::NotFound(_)) => {
                remove_ticket(store, bucket, key, &job_id, budget).await?;
                return Ok(Resumed::JobGone);
            }
            // A hand-on writes only requests that passed these checks.
            Err(refused @ ApiError::InvalidParameter { .. }) => Err(refused.to_string()),
            Err(err) => return Err(err),
        }
    };
    let job = match found {
        Ok(job) => job,
        Err(reason) => {
            tracing::warn!(
                bucket,
                key,
                reason,
                "deletion ticket refused and removed; nothing deleted"
            );
            remove_ticket(store, bucket, key, &job_id, budget).await?;
            return Ok(Resumed::TicketRefused(reason));
        }
    };
    if ticket.hops >= config.max_hops {
        tracing::error!(
            bucket,
            key,
            hops = ticket.hops,
            max_hops = config.max_hops,
            "deletion handed on MAX_HOPS times: the chain stops, the job stays deleting"
        );
        return Ok(Resumed::ChainStopped { hops: ticket.hops });
    }
    job.delete(app, request, budget, meter, Some(&ticket)).await.map(Resumed::Worked)
}

async fn remove_ticket(
    store: &Store,
    bucket: &str,
    key: &str,
    job_id: &Id,
    budget: Budget,
) -> Result<(), ApiError> {
    within(budget.answer_by, job_id, "remove the deletion ticket", store.delete_object(bucket, key))
        .await
}

/// A job that exists: where it lives and what its record says.
struct Job {
    layout: JobLayout,
    record: JobRecord,
    /// The record as read, to mark it `deleting` with every other field kept.
    record_bytes: Vec<u8>,
}

impl Job {
    /// Steps 1 and 2: the job's layout and record; 404 when there is no record.
    async fn find(
        store: &Store,
        config: &Config,
        request: &DeleteRequest,
        budget: Budget,
    ) -> Result<Job, ApiError> {
        let job_id = &request.job_id;
        let layout = JobLayout::new(config, &request.project_id, job_id);
        let requested = request
            .config_load_path()
            .map(|path| layout.config_folder(config, path, job_id))
            .transpose()?;
        let bucket = layout.data.bucket.as_str();
        // Whether the buckets keep versions is asked once per process; beside the record, the
        // question costs no round trip of its own.
        let buckets: Vec<&str> =
            requested.iter().map(|folder| folder.bucket.as_str()).chain([bucket]).collect();
        let read = async {
            let (record, ()) = tokio::join!(
                store.read_small(bucket, &layout.record_key),
                store.learn_versioning(&buckets)
            );
            record
        };
        let record_bytes = within(budget.cut_at, job_id, "read the job's record", read)
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "job {job_id} does not exist in project {}",
                    request.project_id
                ))
            })?;
        let record = JobRecord::parse(&record_bytes, job_id)?;
        Ok(Job { layout, record, record_bytes })
    }

    /// Whether `ticket` was written by a hand-on of this job's deletion: only then does the
    /// record say `deleting` and name the ticket's configuration path. Why not, otherwise.
    fn honours(&self, ticket: &Ticket) -> Result<(), String> {
        if !self.record.is_deleting() {
            let status = printable(&self.record.status);
            return Err(format!("the job's record says {status:?}, not \"deleting\""));
        }
        if self.record.config_load_path.as_ref() != ticket.request.config_load_path() {
            return Err("it names another configuration path than the job's record".into());
        }
        self.record.admit(&ticket.request).map_err(|refused| refused.to_string())
    }

    /// Steps 3 to 5, for a request the record admitted; `ticket` when resuming from one.
    async fn delete(
        &self,
        app: &App,
        request: &DeleteRequest,
        budget: Budget,
        meter: &Meter,
        ticket: Option<&Ticket>,
    ) -> Result<Outcome, ApiError> {
        let (store, config) = (&app.store, &app.config);
        let job_id = &request.job_id;
        let config_path = self.record.config_path(request)?;
        let config_folder =
            config_path.map(|path| self.layout.config_folder(config, path, job_id)).transpose()?;

        let deleting = self.delete_contents(store, config_folder.as_ref(), budget, meter);
        let ids = (request.project_id.as_str(), job_id.as_str());
        let report = with_progress(&app.sink, config.progress_interval, meter, ids, deleting).await;
        log_report(request, &report);
        check_complete(job_id, &report)?;

        let mut progress = Progress {
            job_id: job_id.clone(),
            objects: ticket.map_or(0, |t| t.deleted_objects) + report.deleted,
            bytes: ticket.map_or(0, |t| t.deleted_bytes) + report.bytes,
        };
        if report.cut_short {
            if report.deleted == 0 {
                // A request that races the invocation already carrying this job leaves it to
                // that one; a continuation that made no progress fails, so that Lambda retries
                // it later rather than handing on work that would only loop.
                if self.record.is_deleting() && ticket.is_none() {
                    return Ok(Outcome::InProgress(progress));
                }
                return Err(ApiError::StoreUnavailable {
                    job_id: job_id.to_string(),
                    reason: "nothing could be deleted within the time budget".into(),
                });
            }
            let hops = ticket.map_or(0, |t| t.hops) + 1;
            let handed = self.hand_on(store, request, config_path, &progress, hops);
            within(budget.answer_by, job_id, "hand the deletion on", handed).await?;
            meter.handed_on();
            tracing::info!(project_id = %request.project_id, job_id = %job_id,
                deleted = progress.objects, hops, "deletion handed on to the next invocation");
            return Ok(Outcome::InProgress(progress));
        }

        let bucket = &self.layout.data.bucket;
        let finished = async {
            store.delete_object(bucket, &self.layout.record_key).await?;
            if ticket.is_some() || self.record.is_deleting() {
                store.delete_object(bucket, &self.layout.ticket_key).await?;
            }
            Ok(())
        };
        within(budget.answer_by, job_id, "delete the job's record", finished).await?;
        let record_bytes = self.record_bytes.len() as u64;
        meter.deleted(1, record_bytes);
        progress.objects += 1;
        progress.bytes += record_bytes;
        Ok(Outcome::Deleted(progress))
    }

    /// The configuration sources, then the data but the record.
    async fn delete_contents(
        &self,
        store: &Store,
        config_folder: Option<&Folder>,
        budget: Budget,
        meter: &Meter,
    ) -> Report {
        let mut report = Report::default();
        if let Some(folder) = config_folder {
            report.merge(store.delete_folder(folder, None, budget, meter).await);
        }
        // Keys that failed alone do not stop the data from going; a store that stopped
        // answering does.
        if report.stopped.is_none() {
            let data = &self.layout.data;
            let keep = Some(self.layout.record_key.as_str());
            report.merge(store.delete_folder(data, keep, budget, meter).await);
        }
        report
    }

    /// Marks the record `deleting`, bound to `config_path`, then writes the ticket, whose Object
    /// Created event starts the next invocation.
    async fn hand_on(
        &self,
        store: &Store,
        request: &DeleteRequest,
        config_path: Option<&S3Path>,
        progress: &Progress,
        hops: u32,
    ) -> Result<(), StoreError> {
        let bucket = &self.layout.data.bucket;
        let unbound = self.record.config_load_path.is_none() && config_path.is_some();
        if (!self.record.is_deleting() || unbound)
            && let Some(marked) = JobRecord::marked_deleting(&self.record_bytes, config_path)
        {
            store.put_json(bucket, &self.layout.record_key, marked).await?;
        }
        let ticket = Ticket {
            request: request.clone(),
            deleted_objects: progress.objects,
            deleted_bytes: progress.bytes,
            hops,
        };
        store.put_json(bucket, &self.layout.ticket_key, ticket.to_bytes()).await
    }
}

/// Runs a store request `what` until `deadline`: a store that does not answer by then is
/// unavailable, as one that answers with an error is.
async fn within<T>(
    deadline: Instant,
    job_id: &Id,
    what: &str,
    request: impl Future<Output = Result<T, StoreError>>,
) -> Result<T, ApiError> {
    match timeout_at(deadline, request).await {
        Ok(result) => result.map_err(|err| ApiError::from_store(job_id, err)),
        Err(_) => {
            tracing::warn!(job_id = %job_id, what, "the store did not answer in time");
            Err(ApiError::StoreUnavailable {
                job_id: job_id.to_string(),
                reason: format!("no answer in time to {what}"),
            })
        }
    }
}

fn check_complete(job_id: &Id, report: &Report) -> Result<(), ApiError> {
    if let Some(err) = &report.stopped {
        return Err(ApiError::from_store(job_id, err.clone()));
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
