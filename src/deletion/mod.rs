//! Deleting one job: the plan and its order, whatever the entry (HTTP, queue, event, hand-on).
//!
//! 1. Where: the job's root and record. A configuration folder the request names is refused
//!    before the store is asked anything if the function may not delete there.
//! 2. The record: no record, no job (404). The request's type must match the record's, a job
//!    that is starting or running is refused, and a record that names its `config_load_path`
//!    decides where the configuration sources are (a request naming another path is refused).
//! 3. Delete the configuration sources, then the data, the record always excepted, within the
//!    budget.
//! 4. If the budget ends first, hand on: mark the record `deleting`, bound to the configuration
//!    path being deleted, then send the request, that path and the progress to the function's
//!    own queue, whose message invokes the function again. Only once that message is sent is
//!    the deletion "in progress" (202); otherwise the store is unavailable (503).
//! 5. Only when nothing failed and nothing is left, delete the record. A deletion cut short by
//!    any failure leaves a job that the same request, retried, finishes.
//!
//! Only the function's role may send to the hand-on queue, so a hand-on is the function's own; it
//! resumes only a job whose record says `deleting`, and a chain of hand-ons stops after
//! `MAX_HOPS`. Nothing written to a bucket starts or steers a deletion.
//!
//! Every store request is bounded by the budget: the reads by its `cut_at`, the writes after the
//! deletion by its `answer_by`, so that an HTTP caller always gets an answer in time.

mod hand_on;
mod record;

pub use hand_on::HandOn;

use crate::app::App;
use crate::budget::Budget;
use crate::config::Config;
use crate::error::ApiError;
use crate::job::Id;
use crate::job::layout::JobLayout;
use crate::request::DeleteRequest;
use crate::s3_names::Folder;
use crate::store::{FirstPage, Report, Small, Store, StoreError};
use crate::telemetry::{Meter, with_progress};
use record::{JobRecord, printable};
use std::time::Duration;
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
    /// The budget ended first; a hand-on, sent, carries the rest to the next invocation.
    InProgress(Progress),
}

/// What resuming from a hand-on came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resumed {
    /// The job's record is gone: an earlier invocation finished the deletion.
    JobGone,
    /// The job's record names another chain: a later hand-on (a resend's, or a duplicate's
    /// sibling) carries the deletion now, and this one has nothing to do.
    Superseded,
    /// The job's record does not say `deleting`, or names another configuration path, or
    /// another type (the reason says which): nothing was deleted.
    Refused(String),
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

/// Resumes the deletion `hand_on` carries, within `budget`; counts what it does in `meter`.
pub async fn resume(
    app: &App,
    hand_on: &HandOn,
    budget: Budget,
    meter: &Meter,
) -> Result<Resumed, ApiError> {
    let request = &hand_on.request;
    let job = match Job::find(&app.store, &app.config, request, budget).await {
        Ok(job) => job,
        Err(ApiError::NotFound(_)) => return Ok(Resumed::JobGone),
        // A hand-on carries a request that passed these checks when it was sent.
        Err(refused @ ApiError::InvalidParameter { .. }) => {
            return Ok(Resumed::Refused(refused.to_string()));
        }
        Err(err) => return Err(err),
    };
    if let Err(reason) = job.resumes(request) {
        tracing::warn!(project_id = %request.project_id, job_id = %request.job_id, reason,
            "hand-on refused; nothing deleted");
        return Ok(Resumed::Refused(reason));
    }
    if job.record.chain.as_deref() != Some(hand_on.chain.as_str()) {
        tracing::info!(project_id = %request.project_id, job_id = %request.job_id,
            chain = hand_on.chain, "hand-on superseded by a later one; nothing to do");
        return Ok(Resumed::Superseded);
    }
    if hand_on.hops >= app.config.hand_on.max_hops {
        tracing::error!(project_id = %request.project_id, job_id = %request.job_id,
            hops = hand_on.hops, max_hops = app.config.hand_on.max_hops,
            "deletion handed on MAX_HOPS times: the chain stops, the job stays deleting");
        return Ok(Resumed::ChainStopped { hops: hand_on.hops });
    }
    job.delete(app, request, budget, meter, Some(hand_on)).await.map(Resumed::Worked)
}

/// A job that exists: where it lives and what its record says.
struct Job {
    layout: JobLayout,
    record: JobRecord,
    /// The record as read, to mark it `deleting` with every other field kept, and its ETag:
    /// the record is marked, and deleted, only if it is still the one read.
    record_read: Small,
    /// The data's first page, asked for beside the record.
    first_page: Option<FirstPage>,
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
            .map(|path| layout.config_folder(config, path))
            .transpose()?;
        let bucket = layout.data.bucket.as_str();
        // Whether the buckets keep versions is asked every time (versioning can be turned on at
        // any time); beside the record, the question costs no round trip of its own.
        let buckets: Vec<&str> =
            requested.iter().map(|folder| folder.bucket.as_str()).chain([bucket]).collect();
        // Listing the data need not wait for the record: its first page is asked for beside it
        // (a read only, used only if the data is the first thing deleted and the page is known
        // to be later than the record), saving a round trip.
        let first_page = requested.is_none().then(|| store.list_ahead(&layout.data)).flatten();
        let read = async {
            let (record, ()) = tokio::join!(
                store.read_small(bucket, &layout.record_key),
                store.learn_versioning(&buckets)
            );
            record
        };
        let record_read = within(budget.cut_at, job_id, "read the job's record", read)
            .await?
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "job {job_id} does not exist in project {}",
                    request.project_id
                ))
            })?;
        let record = JobRecord::parse(&record_read.bytes, job_id)?;
        let first_page = first_page.filter(|page| page.asked_after(record_read.written));
        // A bucket the record alone names is asked about too, as it is now.
        if let Some(recorded) = &record.config_load_path
            && !buckets.contains(&recorded.bucket.as_str())
        {
            let learn = async {
                store.learn_versioning(&[&recorded.bucket]).await;
                Ok(())
            };
            within(budget.cut_at, job_id, "read the versioning of the configuration bucket", learn)
                .await?;
        }
        Ok(Job { layout, record, record_read, first_page })
    }

    /// Whether a hand-on of `request` may resume this job: only while its record says
    /// `deleting`, and admits the request. Why not, otherwise.
    fn resumes(&self, request: &DeleteRequest) -> Result<(), String> {
        if !self.record.is_deleting() {
            let status = printable(&self.record.status);
            return Err(format!("the job's record says {status:?}, not \"deleting\""));
        }
        if let Some(recorded) = &self.record.config_load_path
            && Some(recorded) != request.config_load_path()
        {
            return Err(format!(
                "the job's record names the configuration path {recorded}, not the hand-on's"
            ));
        }
        self.record.admit(request).map_err(|refused| refused.to_string())
    }

    /// Steps 3 to 5, for a request the record admitted; `resumed` when carrying a hand-on on.
    async fn delete(
        mut self,
        app: &App,
        request: &DeleteRequest,
        budget: Budget,
        meter: &Meter,
        resumed: Option<&HandOn>,
    ) -> Result<Outcome, ApiError> {
        let (store, config) = (&app.store, &app.config);
        let job_id = &request.job_id;
        let config_path = self.record.config_path(request)?;
        let config_folder = (config_path.map(|path| self.layout.config_folder(config, path)))
            .transpose()
            .map_err(|refused| match request.config_load_path() {
                // The record alone names it: not the caller's to answer for.
                None => ApiError::RecordUnreadable {
                    job_id: job_id.to_string(),
                    reason: format!(
                        "it names a configuration path the function may not delete: {refused}"
                    ),
                },
                Some(_) => refused,
            })?;

        let first_page = self.first_page.take();
        let deleting =
            self.delete_contents(store, config_folder.as_ref(), first_page, budget, meter);
        let ids = (request.project_id.as_str(), job_id.as_str());
        let report =
            with_progress(&app.sink, config.time.progress_interval, meter, ids, deleting).await;
        log_report(request, &report);
        check_complete(job_id, &report)?;

        let mut progress = Progress {
            job_id: job_id.clone(),
            objects: resumed.map_or(0, |h| h.deleted_objects) + report.deleted,
            bytes: resumed.map_or(0, |h| h.deleted_bytes) + report.bytes,
        };
        if report.cut_short {
            // Nothing deleted in a whole budget: the store is too slow to make progress now.
            // Failing lets the caller (or the queue, for a hand-on) try again later, instead of
            // handing on work that would only loop.
            if report.deleted == 0 {
                return Err(ApiError::StoreUnavailable {
                    job_id: job_id.to_string(),
                    reason: "nothing could be deleted within the time budget".into(),
                });
            }
            let hops = resumed.map_or(0, |h| h.hops) + 1;
            let max_hops = config.hand_on.max_hops;
            if hops >= max_hops {
                return Err(ApiError::HandOnsExhausted { job_id: job_id.to_string(), max_hops });
            }
            let hand_on = HandOn {
                request: request.with_config_load_path(config_path),
                chain: hand_on::new_chain(),
                deleted_objects: progress.objects,
                deleted_bytes: progress.bytes,
                hops,
            };
            self.hand_on(app, &hand_on, budget).await?;
            meter.handed_on();
            tracing::info!(project_id = %request.project_id, job_id = %job_id,
                deleted = progress.objects, hops = hand_on.hops,
                "deletion handed on to the next invocation");
            return Ok(Outcome::InProgress(progress));
        }

        let (bucket, read) = (&self.layout.data.bucket, &self.record_read);
        let finished = store.delete_object(bucket, &self.layout.record_key, read.etag.as_deref());
        within(budget.answer_by, job_id, "delete the job's record", finished).await?;
        let record_bytes = read.bytes.len() as u64;
        meter.deleted(1, record_bytes);
        progress.objects += 1;
        progress.bytes += record_bytes;
        Ok(Outcome::Deleted(progress))
    }

    /// The configuration sources, then the data; the record stays, whichever folder holds it.
    /// The data's `first_page` is used only when the data goes first: a configuration folder
    /// may overlap it, and the page would list keys deleted since.
    async fn delete_contents(
        &self,
        store: &Store,
        config_folder: Option<&Folder>,
        first_page: Option<FirstPage>,
        budget: Budget,
        meter: &Meter,
    ) -> Report {
        let mut report = Report::default();
        let first_page = first_page.filter(|_| config_folder.is_none());
        if let Some(folder) = config_folder {
            let keep = self.layout.kept_in(folder);
            report.merge(store.delete_folder(folder, keep, None, budget, meter).await);
        }
        // Keys that failed alone do not stop the data from going; a store that stopped
        // answering does.
        if report.stopped.is_none() {
            let (data, keep) = (&self.layout.data, self.layout.kept_in(&self.layout.data));
            report.merge(store.delete_folder(data, keep, first_page, budget, meter).await);
        }
        report
    }

    /// Marks the record `deleting`, bound to the configuration path being deleted and to the
    /// hand-on's chain, then sends the hand-on, whose message invokes the function again. Both
    /// within the answer's time. The mark is made only over the record as read: a record
    /// rewritten meanwhile (the job started again, or another invocation's hand-on) is left as
    /// it is. A hand-on that cannot be sent puts the record back as it was read, so that the
    /// chain it named before, if any, still carries the job.
    async fn hand_on(&self, app: &App, hand_on: &HandOn, budget: Budget) -> Result<(), ApiError> {
        let job_id = &hand_on.request.job_id;
        let Some(queue) = &app.hand_on else {
            return Err(ApiError::StoreUnavailable {
                job_id: job_id.to_string(),
                reason: "the deletion needs another invocation, and no hand-on queue is \
                         configured (HAND_ON_QUEUE_URL)"
                    .into(),
            });
        };
        let read = &self.record_read;
        let marked = JobRecord::marked_deleting(
            &read.bytes,
            hand_on.request.config_load_path(),
            &hand_on.chain,
        )
        .ok_or_else(|| ApiError::RecordUnreadable {
            job_id: job_id.to_string(),
            reason: "it cannot be marked deleting".into(),
        })?;
        let mark = self.write_record(&app.store, marked, read.etag.as_deref());
        let marked_etag =
            within(budget.answer_by, job_id, "mark the job's record deleting", mark).await?;
        // A send that fails slowly must leave time to put the record back.
        let left = budget.answer_by.saturating_duration_since(Instant::now());
        let send_by = budget.answer_by - RESTORE_ALLOWANCE.min(left / 3);
        let sent = match timeout_at(send_by, queue.send(hand_on.to_body())).await {
            Ok(sent) => sent.map_err(|err| ApiError::from_queue(job_id, err)),
            Err(_) => Err(ApiError::StoreUnavailable {
                job_id: job_id.to_string(),
                reason: "no answer in time to hand the deletion on".into(),
            }),
        };
        if sent.is_err() {
            let restore = self.write_record(&app.store, read.bytes.clone(), marked_etag.as_deref());
            if let Err(err) = within(budget.answer_by, job_id, "put the record back", restore).await
            {
                tracing::warn!(job_id = %job_id, error = %err, "the record stays marked");
            }
        }
        sent
    }

    async fn write_record(
        &self,
        store: &Store,
        body: Vec<u8>,
        if_match: Option<&str>,
    ) -> Result<Option<String>, StoreError> {
        store.put_json(&self.layout.data.bucket, &self.layout.record_key, body, if_match).await
    }
}

/// Kept, of the time to answer, for putting the record back after a hand-on that failed to go.
const RESTORE_ALLOWANCE: Duration = Duration::from_millis(500);

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
