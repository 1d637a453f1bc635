//! The deletion engine, one target at a time (a folder, or the versions of one key):
//!
//! ```text
//! lister/ -> compact pages (page.rs, backlog.rs) -> batches.rs -> deleter.rs (throttle.rs, reply.rs)
//! ```
//!
//! Listing runs ahead: deletion starts once listing has ended or the lister has to wait for room,
//! and then takes pages while later ones are still being listed. List requests in flight and
//! pages waiting are bounded (the backlog, in bytes and pages), and at most `concurrency`
//! DeleteObjects requests are in flight, so memory is bounded by those, never by the size of the
//! folder. When a whole request fails the deleters stop taking batches and hang up, which stops
//! the lister.
//!
//! Once listing has ended, the last batches shrink (batches.rs), so that the requests in flight
//! end about together instead of draining, fewer and fewer at a time, at a fraction of the
//! store's rate; a folder small enough to be listed whole first goes in one round of equal
//! batches.

mod backlog;
mod batches;
mod deleter;
mod lister;
mod page;
mod reply;
mod throttle;

use super::{FailedKey, StoreError};
use crate::budget::Budget;
use crate::config::DeletionLimits;
use crate::s3_names::Folder;
use crate::telemetry::Meter;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use backlog::{BACKLOG_PAGES, Backlog};
use batches::batches;
pub(crate) use lister::FirstPage;
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

/// The longest deletion waits for listing to end or run far ahead (see backlog.rs).
const MAX_HOLD: Duration = Duration::from_secs(5);

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
    /// The time budget ended before the folder was exhausted; the rest is still there.
    pub cut_short: bool,
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
        self.cut_short |= other.cut_short;
    }

    /// Counts `objects` as not deleted, the first named with `code` and `message` if it is the
    /// report's first failure.
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

/// The process's client twice over, on one connection pool: `standard` retries as the SDK does;
/// `deleting` does not, since the engine retries DeleteObjects itself to see every throttled
/// reply (deleter.rs). Built once: an override on each request cost a config layer each.
#[derive(Debug, Clone)]
pub(super) struct Clients {
    pub(super) standard: Client,
    pub(super) deleting: Client,
}

impl Clients {
    pub(super) fn new(standard: Client) -> Clients {
        let unretried = standard.config().to_builder().retry_config(RetryConfig::disabled());
        Clients { deleting: Client::from_conf(unretried.build()), standard }
    }
}

/// A listed object: its key, its version in a versioned bucket, its size for the byte count.
#[derive(Debug, Clone)]
struct Listed {
    key: String,
    version_id: Option<String>,
    size: u64,
}

/// What one run of the engine deletes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target<'a> {
    /// Every object in `folder` but `keep`; in a versioned bucket, every version of each.
    Folder { folder: &'a Folder, keep: Option<&'a str>, versioned: bool },
    /// Every version and delete marker of one key, in a versioned bucket.
    Versions { bucket: &'a str, key: &'a str },
}

impl Target<'_> {
    fn bucket(&self) -> &str {
        match self {
            Target::Folder { folder, .. } => &folder.bucket,
            Target::Versions { bucket, .. } => bucket,
        }
    }

    /// The prefix every key listed must start with: the isolation boundary.
    fn root(&self) -> &str {
        match self {
            Target::Folder { folder, .. } => &folder.prefix,
            Target::Versions { key, .. } => key,
        }
    }

    fn versioned(&self) -> bool {
        match self {
            Target::Folder { versioned, .. } => *versioned,
            Target::Versions { .. } => true,
        }
    }

    /// Whether a listed key inside the root is one to delete.
    fn admits(&self, key: &str) -> bool {
        match self {
            Target::Folder { keep, .. } => Some(key) != *keep,
            Target::Versions { key: only, .. } => key == *only,
        }
    }
}

/// Deletes every object of `target`, within `budget`; counts what it does in `meter`. The
/// listing starts from `first_page` when that is the first page the target's listing needs.
pub(super) async fn delete(
    clients: &Clients,
    target: Target<'_>,
    first_page: Option<FirstPage>,
    limits: DeletionLimits,
    budget: Budget,
    meter: &Meter,
) -> Report {
    let backlog = &Backlog::default();
    let lister = lister::Lister {
        client: &clients.standard,
        target,
        concurrency: limits.list_concurrency,
        full_pages: Semaphore::new(lister::full_pages_in_flight(limits.list_concurrency)),
        budget,
        backlog,
        meter,
        first_page: first_page.into(),
    };
    let (pages, received) = mpsc::channel(BACKLOG_PAGES);
    let listing = async move {
        // Owning the sender here closes the channel as soon as listing ends.
        let listed = lister.run(&pages).await;
        backlog.listing_ended();
        listed
    };
    let batches = batches(received, backlog, limits.batch_size, limits.concurrency);
    let deleting = async {
        // Not for longer than a bounded share of the budget, however slowly listing goes.
        let longest = MAX_HOLD.min(budget.cut_at.saturating_duration_since(Instant::now()) / 4);
        let _ = tokio::time::timeout(longest, backlog.deletion_may_start()).await;
        deleter::delete_all(
            &clients.deleting,
            target.bucket(),
            batches,
            limits.concurrency,
            budget,
            meter,
        )
        .await
    };
    let (listed, mut report) = tokio::join!(listing, deleting);
    match listed {
        // A lister stopped by the deleters' hang-up after a failure is not a cut budget.
        Ok(complete) => report.cut_short |= !complete && report.stopped.is_none(),
        Err(err) => {
            report.stopped.get_or_insert(err);
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deleting_client_only_gives_up_the_retries() {
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .operation_attempt_timeout(Duration::from_secs(7))
            .build();
        let config = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("eu-west-1"))
            .retry_config(RetryConfig::standard().with_max_attempts(5))
            .timeout_config(timeouts.clone())
            .build();
        let clients = Clients::new(Client::from_conf(config));
        let attempts = |client: &Client| client.config().retry_config().map(|r| r.max_attempts());
        assert_eq!(attempts(&clients.standard), Some(5));
        assert_eq!(attempts(&clients.deleting), Some(1), "the engine retries DeleteObjects");
        let deleting = clients.deleting.config();
        assert_eq!(deleting.timeout_config(), Some(&timeouts));
        assert_eq!(deleting.region().map(|r| r.as_ref()), Some("eu-west-1"));
    }
}
