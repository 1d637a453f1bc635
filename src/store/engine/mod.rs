//! The deletion engine, one folder at a time:
//!
//! ```text
//! lister (lister.rs) -> compact pages (page.rs, backlog.rs) -> batches of `batch_size` keys -> deleters (deleter.rs)
//! ```
//!
//! Listing runs ahead: deletion starts once listing has ended or the lister has to wait for room,
//! and then takes pages while later ones are still being listed. List requests in flight and
//! pages waiting are bounded (the backlog, in bytes and pages), and at most `concurrency`
//! DeleteObjects requests are in flight, so memory is bounded by those, never by the size of the
//! folder. When a whole request fails the deleters stop taking batches and hang up, which stops
//! the lister.
//!
//! Once listing has ended, the last batches shrink (`tail_batch`), so that the requests in flight
//! end about together instead of draining, fewer and fewer at a time, at a fraction of the
//! store's rate.

mod backlog;
mod deleter;
mod lister;
mod page;
mod ranges;
mod throttle;

use super::StoreError;
use crate::budget::Budget;
use crate::config::DeletionLimits;
use crate::error::FailedKey;
use crate::layout::Folder;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use backlog::{BACKLOG_PAGES, Backlog};
use futures_util::Stream;
use page::{Objects, Page};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

/// The longest deletion waits for listing to end or run far ahead (see backlog.rs).
const MAX_HOLD: Duration = Duration::from_secs(5);
/// The smallest batch the tail of a folder is cut into (see `tail_batch`).
const TAIL_MIN_BATCH: usize = 20;

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

/// Deletes every object under `folder`, but `keep`; only `only` when it is set (an exact key).
#[allow(clippy::too_many_arguments)]
pub(super) async fn delete_folder(
    clients: &Clients,
    folder: &Folder,
    keep: Option<&str>,
    only: Option<&str>,
    versioned: bool,
    limits: DeletionLimits,
    budget: Budget,
) -> Report {
    let backlog = &Backlog::default();
    let lister = lister::Lister {
        client: &clients.standard,
        bucket: &folder.bucket,
        root: &folder.prefix,
        keep,
        only,
        concurrency: limits.list_concurrency,
        full_pages: Semaphore::new(lister::full_pages_in_flight(limits.list_concurrency)),
        budget,
        backlog,
    };
    let (pages, received) = mpsc::channel(BACKLOG_PAGES);
    let listing = async move {
        // Owning the sender here closes the channel as soon as listing ends.
        let listed = match versioned {
            true => lister.run_versions(&pages).await,
            false => lister.run(&pages).await,
        };
        backlog.listing_ended();
        listed
    };
    let batches = batches(received, backlog, limits.batch_size, limits.concurrency);
    let deleting = async {
        // Not for longer than a bounded share of the budget, however slowly listing goes.
        let longest = MAX_HOLD.min(budget.cut_at.saturating_duration_since(Instant::now()) / 4);
        let _ = tokio::time::timeout(longest, backlog.deletion_may_start()).await;
        deleter::delete_all(&clients.deleting, &folder.bucket, batches, limits.concurrency, budget)
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

/// The size of the next batch once listing has ended and `left` keys are still to be batched:
/// `full` until fewer than `concurrency` full batches are left, then an equal share of what is
/// left for each request, down to `TAIL_MIN_BATCH`. A store that works through a request's keys
/// one after another (Garage does) otherwise ends a folder with fewer and fewer requests in
/// flight, each still holding up to a full batch: on Garage the last 0.6-0.9 s of a 4 s job of
/// 20,000 objects ran at a third to half of the steady rate (BENCHMARKS.md).
fn tail_batch(left: usize, full: usize, concurrency: usize) -> usize {
    left.div_ceil(concurrency).clamp(TAIL_MIN_BATCH.min(full), full)
}

/// Regroups pages into batches of `full` keys. A smaller batch goes out only when no page is
/// waiting, so that a deleter never idles while keys are known, and at the tail (`tail_batch`).
fn batches<'a>(
    pages: mpsc::Receiver<Page>,
    backlog: &'a Backlog,
    full: usize,
    concurrency: usize,
) -> impl Stream<Item = Vec<Listed>> + 'a {
    // The page being taken apart.
    let state = (pages, None::<Objects<Page>>);
    futures_util::stream::unfold(state, move |(mut pages, mut current)| async move {
        let size = backlog.left_to_batch().map_or(full, |left| tail_batch(left, full, concurrency));
        let mut batch = Vec::with_capacity(size);
        loop {
            if let Some(objects) = &mut current {
                let before = batch.len();
                batch.extend(objects.by_ref().take(size - batch.len()));
                backlog.taken(batch.len() - before);
                if objects.is_done() {
                    backlog.release(objects.page());
                    current = None;
                }
            }
            if batch.len() == size {
                return Some((batch, (pages, current)));
            }
            let page = match pages.try_recv() {
                Ok(page) => Some(page),
                Err(mpsc::error::TryRecvError::Empty) if !batch.is_empty() => {
                    return Some((batch, (pages, current)));
                }
                Err(_) => pages.recv().await,
            };
            match page {
                Some(page) => current = Some(page.into_objects()),
                None if batch.is_empty() => return None,
                None => return Some((batch, (pages, current))),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn page(from: usize, len: usize) -> Vec<Listed> {
        (from..from + len)
            .map(|i| Listed { key: format!("k{i:05}"), version_id: None, size: 1 })
            .collect()
    }

    #[tokio::test]
    async fn pages_are_regrouped_into_full_batches_without_losing_or_repeating_keys() {
        let (sender, receiver) = mpsc::channel(8);
        let backlog = Backlog::default();
        let mut from = 0;
        for len in [1000, 250, 250, 999, 1, 3] {
            let page = Page::new(&page(from, len));
            backlog.add(&page);
            sender.send(page).await.unwrap();
            from += len;
        }
        drop(sender);
        let batches: Vec<Vec<Listed>> = batches(receiver, &backlog, 1000, 8).collect().await;
        assert!(batches.iter().all(|b| !b.is_empty() && b.len() <= 1000));
        let keys: Vec<String> = batches.into_iter().flatten().map(|l| l.key).collect();
        let expected: Vec<String> = page(0, from).into_iter().map(|l| l.key).collect();
        assert_eq!(keys, expected);
    }

    #[tokio::test]
    async fn a_partial_batch_goes_out_when_no_page_is_waiting() {
        let (sender, receiver) = mpsc::channel(8);
        let backlog = Backlog::default();
        let first = Page::new(&page(0, 10));
        backlog.add(&first);
        sender.send(first).await.unwrap();
        let mut batches = std::pin::pin!(batches(receiver, &backlog, 1000, 8));
        // The sender is still open: a deleter would otherwise wait for keys that are known.
        assert_eq!(batches.next().await.map(|b| b.len()), Some(10));
        drop(sender);
        assert!(batches.next().await.is_none());
    }

    #[test]
    fn the_last_batches_shrink_to_an_equal_share_of_what_is_left() {
        assert_eq!(tail_batch(10_000, 100, 32), 100);
        assert_eq!(tail_batch(3_200, 100, 32), 100);
        assert_eq!(tail_batch(1_600, 100, 32), 50);
        assert_eq!(tail_batch(100, 100, 32), TAIL_MIN_BATCH);
        // A full batch below the floor is never made larger.
        assert_eq!(tail_batch(50, 5, 32), 5);
    }

    #[tokio::test]
    async fn once_listing_has_ended_batches_shrink_without_losing_or_repeating_keys() {
        let (sender, receiver) = mpsc::channel(8);
        let backlog = Backlog::default();
        for from in (0..1000).step_by(250) {
            let page = Page::new(&page(from, 250));
            backlog.add(&page);
            sender.send(page).await.unwrap();
        }
        drop(sender);
        backlog.listing_ended();
        let batches: Vec<Vec<Listed>> = batches(receiver, &backlog, 100, 4).collect().await;
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        // Full until fewer than 4 full batches are left (after 700 keys), then a quarter of
        // what is left, down to 20, and the last keys.
        assert_eq!(sizes, [100, 100, 100, 100, 100, 100, 100, 75, 57, 42, 32, 24, 20, 20, 20, 10]);
        let keys: Vec<String> = batches.into_iter().flatten().map(|l| l.key).collect();
        let expected: Vec<String> = page(0, 1000).into_iter().map(|l| l.key).collect();
        assert_eq!(keys, expected);
    }

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
