//! Parallel listing. A job's outputs are usually spread over sub-folders (Spark-style
//! `output/part-…/`); listing them one continuation token after another is one serial chain of
//! round trips. So the lister first probes a prefix with a delimiter listing, and when the probe
//! shows a few sub-folders it lists them concurrently, down to a bounded depth.
//!
//! S3 bills a list request whatever its size, so a probe below the job's root asks for a full
//! page: a folder's probe is most often its first page of keys too. Only the root's probe asks
//! for a short page (`PROBE_KEYS` entries) first, often asked for beside the read of the job's
//! record ([`FirstPage`]), and for a full one after it when the root holds more: a job's root holds its
//! record and a few sub-folders, which a store may roll up at a page's worth of keys each (Garage
//! does: its probe of 16 sub-folders of 1,250 keys took 75-100 ms with pages of 1,000, 8-9 ms
//! with pages of 100), and a short page shows them as well.
//! The same cost meets the full-page probe of a folder of large sub-folders below the root, once a
//! job (2% of a 20,000-object job on Garage; nothing on S3, whose delimiter listings do not read
//! the keys they roll up).
//! The probe's keys are used whenever they can be: a probe that shows a few sub-folders and no
//! more keys than its pages sends its keys and splits; a probe of a large folder without
//! sub-folders goes on from where it stopped, in key ranges listed side by side (ranges.rs).
//! Only a probe that is both large and mixed (sub-folders and more keys than its pages hold) is
//! thrown away, and its folder listed from the start in one chain, so that no key is sent twice.
//! Splits are bounded by depth and by a budget of prefixes, so a tree of many tiny folders costs
//! a few extra round trips, not one per folder. A versioned bucket is listed in one chain of
//! versions (versions.rs).
//!
//! Listing runs ahead of deleting, as far as the backlog allows (backlog.rs): a request goes out
//! only once the backlog has room and a slot for its page is reserved in the pages channel.
//! Requests in flight and pages waiting are bounded, and memory does not depend on the size of
//! the folder. Of the requests in flight, only a quarter may read full pages at once
//! ([`full_pages_in_flight`]); the short pages of probes may fill the rest.

mod ranges;
mod scan;
mod versions;

use super::backlog::Backlog;
use super::page::Page;
use super::{Listed, Target};
use crate::budget::Budget;
use crate::s3_names::{Folder, url_decode};
use crate::store::StoreError;
use crate::telemetry::Meter;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
use aws_sdk_s3::operation::list_objects_v2::builders::ListObjectsV2FluentBuilder;
use aws_sdk_s3::types::EncodingType;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use ranges::{Range, Start};
use scan::{ListPage, Tap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::sync::mpsc::{self, Permit};
use tokio::task::JoinHandle;
use tokio::time::timeout_at;

/// Depth below the root down to which prefixes are probed: root, `output/`, `output/part-…/`.
const MAX_PROBE_DEPTH: usize = 3;
/// Sub-folders the lister may split into in all; a wider tree is listed in longer chains.
const PREFIX_BUDGET: usize = 64;
/// A probe listing more sub-folders than this is not split.
const MAX_FANOUT: usize = 32;
/// Key ranges a folder may be cut into in all.
const RANGE_BUDGET: usize = 256;
/// Entries (keys and sub-folders) the root's probe asks for before it asks for a full page:
/// enough for a job's root whole, few enough that rolling up large sub-folders costs the store
/// little.
const PROBE_KEYS: i32 = 100;

/// Lists every object of a target and sends them in pages.
pub(super) struct Lister<'a> {
    pub client: &'a Client,
    pub target: Target<'a>,
    /// List requests in flight at once.
    pub concurrency: usize,
    /// Of those, the requests for full pages (see [`full_pages_in_flight`]).
    pub full_pages: Semaphore,
    pub budget: Budget,
    /// What is listed and not yet deleted.
    pub backlog: &'a Backlog,
    pub meter: &'a Meter,
    /// The root's first page, asked for ahead (see [`FirstPage`]); taken by the root's probe.
    pub first_page: Mutex<Option<FirstPage>>,
}

type ListReply = Result<ListPage, SdkError<ListObjectsV2Error, HttpResponse>>;

/// A folder's first page of keys, asked for before the deletion is known to go ahead: beside the
/// read of the job's record, so that listing does not wait a round trip for it. A read only; the
/// probe of the same folder takes it, or it is aborted when dropped unused.
pub(crate) struct FirstPage {
    folder: Folder,
    asked_at: Instant,
    reply: JoinHandle<ListReply>,
}

/// How much earlier than a list request a write must be for the listing to be sure to see it:
/// a write's time is known only to a second or so (the store's dates are to the second).
const DATES_DIFFER_BY: Duration = Duration::from_secs(2);

impl FirstPage {
    /// Asks for `folder`'s first page, as the root's probe would (see [`Lister::probe`]).
    pub fn ask(client: &Client, folder: &Folder) -> FirstPage {
        let request = list(client, &folder.bucket, &folder.prefix).delimiter("/");
        let asked_at = Instant::now();
        let reply = tokio::spawn(fetch(request.max_keys(PROBE_KEYS)));
        FirstPage { folder: folder.clone(), asked_at, reply }
    }

    /// Whether the page was asked for after a write at `written` (the record's, on this
    /// process's clock): a job writes its data before it begins to write the record that says it
    /// is done, so only then does the page show all the data the record admits deleting. A job
    /// that changed as the request came is listed afresh.
    pub fn asked_after(&self, written: Option<Instant>) -> bool {
        written.is_some_and(|written| written + DATES_DIFFER_BY < self.asked_at)
    }
}

impl Drop for FirstPage {
    fn drop(&mut self) {
        self.reply.abort();
    }
}

impl std::fmt::Debug for FirstPage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FirstPage").field("folder", &self.folder).finish_non_exhaustive()
    }
}

/// One listing the lister runs beside others.
enum Listing {
    /// One delimiter listing, to decide whether to split.
    Probe { prefix: String, depth: usize },
    /// Every key under the prefix, page after page, from the start.
    Chain { prefix: String },
    /// One delimiter page of a key range (ranges.rs).
    Range(Range),
}

/// What a delimiter listing showed: one page, or a probe's two as if they were one.
struct Delimited {
    listed: Vec<Listed>,
    subfolders: Vec<String>,
    truncated: bool,
    /// Where the folder goes on.
    token: Option<String>,
}

enum Done<'a> {
    Probed {
        prefix: String,
        depth: usize,
        probe: Delimited,
        /// The channel slot reserved for the probe's keys.
        slot: Permit<'a, Page>,
    },
    /// A chain ended; `complete` when it reached its last page. `found`: sub-folders it rolled
    /// up, still to list.
    Chained { complete: bool, found: Vec<String> },
    /// A page of `range`.
    Ranged {
        range: Range,
        page: ListPage,
        /// The channel slot reserved for the page's keys.
        slot: Permit<'a, Page>,
    },
}

/// How far the lister may still split: sub-folders into listings, folders into key ranges.
struct Splits {
    prefixes_left: usize,
    ranges_left: usize,
}

impl Lister<'_> {
    /// Whether every object was listed: false when the time budget ended, or the receiver hung
    /// up, first.
    pub async fn run(&self, pages: &mpsc::Sender<Page>) -> Result<bool, StoreError> {
        if self.target.versioned() {
            return self.run_versions(pages).await;
        }
        let root = self.target.root().to_owned();
        let mut queue = vec![Listing::Probe { prefix: root, depth: 0 }];
        let mut running = FuturesUnordered::new();
        let mut splits = Splits { prefixes_left: PREFIX_BUDGET, ranges_left: RANGE_BUDGET };
        let mut complete = true;
        loop {
            while running.len() < self.concurrency && !queue.is_empty() {
                if !self.budget.allows_new_work() {
                    complete = false;
                    queue.clear();
                } else if let Some(listing) = queue.pop() {
                    running.push(self.start(listing, pages));
                }
            }
            let Some(done) = running.next().await else { return Ok(complete) };
            // Ranges are cut only while few listings run: a tree of sub-folders is already
            // listed side by side.
            let listings = running.len() + queue.len();
            let cut_room = (self.concurrency / 2)
                .saturating_sub(listings)
                .min(splits.ranges_left)
                .min(ranges::CUT_WAVE);
            match done? {
                Done::Chained { complete: chained, found } => {
                    complete &= chained;
                    queue.extend(found.into_iter().map(|prefix| Listing::Chain { prefix }));
                }
                Done::Ranged { range, page, slot } => {
                    let (rest, cuts) = self.range_page(range, &page, slot, cut_room);
                    splits.ranges_left -= cuts;
                    queue.extend(rest);
                }
                Done::Probed { prefix, depth, probe, slot } => {
                    queue.extend(self.split(prefix, depth, probe, slot, &mut splits));
                }
            }
        }
    }

    /// What follows a probe of `prefix`: its sub-folders, probed or chained, when it shows few
    /// enough; the rest of a large flat folder in key ranges; or, for a folder too wide or large
    /// and mixed, one chain from the start (the probe's keys dropped, so none is sent twice).
    fn split(
        &self,
        prefix: String,
        depth: usize,
        probe: Delimited,
        slot: Permit<'_, Page>,
        splits: &mut Splits,
    ) -> Vec<Listing> {
        let Delimited { listed, subfolders, truncated, token } = probe;
        let next = match (truncated, token) {
            (false, _) if subfolders.len() <= MAX_FANOUT.min(splits.prefixes_left) => {
                splits.prefixes_left -= subfolders.len();
                let depth = depth + 1;
                subfolders
                    .into_iter()
                    .map(|prefix| match depth < MAX_PROBE_DEPTH {
                        true => Listing::Probe { prefix, depth },
                        false => Listing::Chain { prefix },
                    })
                    .collect()
            }
            // The folder's next page comes first: most folders past one page end within the
            // next (Spark writes many of a page or two), and ranges cut now would be listed past
            // the folder's end for nothing. A folder that goes on is cut from that page.
            (true, Some(token)) if subfolders.is_empty() => {
                ranges::ranges(prefix, Start::Token(token), None, &[])
            }
            _ => return vec![Listing::Chain { prefix }],
        };
        self.send(slot, listed);
        next
    }

    async fn start<'p>(
        &self,
        listing: Listing,
        pages: &'p mpsc::Sender<Page>,
    ) -> Result<Done<'p>, StoreError> {
        match listing {
            Listing::Probe { prefix, depth } => self.probe(prefix, depth, pages).await,
            Listing::Chain { prefix } => self.chain(prefix, pages).await,
            Listing::Range(range) => self.range(range, pages).await,
        }
    }

    /// A ListObjectsV2 request for `prefix` in the target's bucket.
    fn list(&self, prefix: &str) -> ListObjectsV2FluentBuilder {
        list(self.client, self.target.bucket(), prefix)
    }

    /// The root's first, short, delimiter page: the one asked for ahead, if it was, or now.
    async fn root_first_page(&self, prefix: &str) -> ListReply {
        let asked = self.first_page.lock().unwrap_or_else(|e| e.into_inner()).take();
        let same =
            |a: &FirstPage| a.folder.bucket == self.target.bucket() && a.folder.prefix == prefix;
        // One that failed is asked again, as any request is once the deletion goes ahead.
        if let Some(mut asked) = asked.filter(same)
            && let Ok(Ok(page)) = (&mut asked.reply).await
        {
            return Ok(page);
        }
        fetch(self.list(prefix).delimiter("/").max_keys(PROBE_KEYS)).await
    }

    /// A probe: a delimiter page; at the root, a short one first, then a full one when the root
    /// holds more.
    async fn probe<'p>(
        &self,
        prefix: String,
        depth: usize,
        pages: &'p mpsc::Sender<Page>,
    ) -> Result<Done<'p>, StoreError> {
        // The deleters hung up: nothing more to list for.
        let Ok(slot) = self.reserve(pages).await else { return Ok(Done::cut_short()) };
        let probe = async {
            let mut probe = match depth {
                0 => self.delimited(&self.root_first_page(&prefix).await?, &prefix),
                _ => {
                    let page = self.list(&prefix).delimiter("/");
                    return Ok(self.delimited(&self.full_page(fetch(page)).await?, &prefix));
                }
            };
            if let (true, Some(token)) = (probe.truncated, probe.token.take()) {
                let full = self.list(&prefix).delimiter("/").continuation_token(token);
                let rest = self.delimited(&self.full_page(fetch(full)).await?, &prefix);
                probe.listed.extend(rest.listed);
                probe.subfolders.extend(rest.subfolders);
                (probe.truncated, probe.token) = (rest.truncated, rest.token);
            }
            Ok(probe)
        };
        let Ok(probe) = timeout_at(self.budget.cut_at, probe).await else {
            return Ok(Done::cut_short());
        };
        let probe = probe.map_err(|e| self.error(&prefix, e))?;
        Ok(Done::Probed { prefix, depth, probe, slot })
    }

    /// Every key under `prefix`, in full pages, one after another.
    async fn chain<'p>(
        &self,
        prefix: String,
        pages: &'p mpsc::Sender<Page>,
    ) -> Result<Done<'p>, StoreError> {
        let mut token = None;
        let mut found = Vec::new();
        loop {
            let Ok(slot) = self.reserve(pages).await else {
                return Ok(Done::Chained { complete: false, found });
            };
            if !self.budget.allows_new_work() {
                return Ok(Done::Chained { complete: false, found });
            }
            let request = self.list(&prefix).set_continuation_token(token.take());
            let listed = self.full_page(fetch(request));
            let Ok(page) = timeout_at(self.budget.cut_at, listed).await else {
                return Ok(Done::Chained { complete: false, found });
            };
            let page = page.map_err(|e| self.error(&prefix, e))?;
            found.extend(self.subfolders(&page, &prefix));
            self.send(slot, self.accept(&page));
            match page.next_token.filter(|_| page.truncated) {
                Some(next) => token = Some(next),
                None => return Ok(Done::Chained { complete: true, found }),
            }
        }
    }

    /// What one delimiter page of `prefix` showed: its keys that may be deleted, its sub-folders.
    fn delimited(&self, page: &ListPage, prefix: &str) -> Delimited {
        Delimited {
            listed: self.accept(page),
            subfolders: self.subfolders(page, prefix),
            truncated: page.truncated,
            token: page.next_token.clone(),
        }
    }

    /// The sub-folders a delimiter page rolled up, that lie under `prefix`.
    fn subfolders(&self, page: &ListPage, prefix: &str) -> Vec<String> {
        page.prefixes
            .iter()
            .map(|p| decoded(p, page.encoded))
            .filter(|p| p.starts_with(prefix) && p.len() > prefix.len())
            .collect()
    }

    /// A slot for the next page, once the backlog has room for it; an error once the deleters
    /// hung up (their pages are dropped unreleased, so the backlog would never make room).
    /// Having to wait for either lets deletion start.
    async fn reserve<'p>(
        &self,
        pages: &'p mpsc::Sender<Page>,
    ) -> Result<Permit<'p, Page>, mpsc::error::SendError<()>> {
        tokio::select! {
            () = self.backlog.room() => match pages.try_reserve() {
                Ok(slot) => Ok(slot),
                Err(mpsc::error::TrySendError::Full(())) => {
                    // A channel full of small pages: only deletion can free a slot.
                    self.backlog.start_deleting();
                    pages.reserve().await
                }
                Err(mpsc::error::TrySendError::Closed(())) => Err(mpsc::error::SendError(())),
            },
            () = pages.closed() => Err(mpsc::error::SendError(())),
        }
    }

    /// Lists a full page once it has a turn (see [`full_pages_in_flight`]), held while its reply
    /// is read.
    async fn full_page<T>(&self, request: impl Future<Output = T>) -> T {
        let _turn =
            self.full_pages.acquire().await.expect("the lister's semaphore is never closed");
        request.await
    }

    /// Hands a page's objects to the deleters, in the slot reserved before it was listed.
    fn send(&self, slot: Permit<'_, Page>, listed: Vec<Listed>) {
        if !listed.is_empty() {
            let page = Page::new(&listed);
            self.backlog.add(&page);
            self.meter.listed(page.len() as u64);
            slot.send(page);
        }
    }

    fn accept(&self, page: &ListPage) -> Vec<Listed> {
        let objects = page.objects().map(|(key, size)| Listed {
            key: decoded(key, page.encoded),
            version_id: None,
            size,
        });
        self.confine(objects)
    }

    /// The objects that may be deleted: inside the root, and ones the target names. The root is
    /// the isolation boundary: a key outside it is never deleted, whatever the store answered.
    fn confine(&self, objects: impl Iterator<Item = Listed>) -> Vec<Listed> {
        let root = self.target.root();
        objects
            .filter(|object| {
                let inside = object.key.starts_with(root);
                if !inside {
                    tracing::warn!(
                        key = object.key,
                        root,
                        "store listed a key outside the prefix; ignored"
                    );
                }
                inside && self.target.admits(&object.key)
            })
            .collect()
    }

    fn error<E>(
        &self,
        prefix: &str,
        err: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> StoreError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        StoreError::from_sdk("list", self.target.bucket(), prefix, err)
    }
}

impl Done<'_> {
    /// A listing that stopped before its end: the budget ended, or the deleters hung up.
    fn cut_short() -> Self {
        Done::Chained { complete: false, found: Vec::new() }
    }
}

/// A ListObjectsV2 request for `prefix` in `bucket`. Keys come URL-encoded: a key with control
/// characters cannot travel in XML otherwise.
fn list(client: &Client, bucket: &str, prefix: &str) -> ListObjectsV2FluentBuilder {
    let request = client.list_objects_v2().bucket(bucket).prefix(prefix);
    request.encoding_type(EncodingType::Url)
}

/// Sends a list request; its reply read by the scanner (scan.rs), or by the SDK when the scanner
/// does not know it.
async fn fetch(request: ListObjectsV2FluentBuilder) -> ListReply {
    let tap = Tap::default();
    let output = request.customize().interceptor(tap.clone()).send().await?;
    Ok(tap.take().unwrap_or_else(|| ListPage::from_output(&output)))
}

/// Full pages that may be read at once out of `concurrency` list requests: a quarter. A reply
/// of 1,000 keys is ~300 KB, and 32 read side by side were the peak of the function's memory;
/// 8 of them still keep a store busy, and the root's short probes, which cost little, still go
/// out as wide as `concurrency` allows.
pub(super) fn full_pages_in_flight(concurrency: usize) -> usize {
    (concurrency / 4).max(1)
}

/// A key as listed: URL-encoded only when the reply says so (some servers ignore the request).
fn decoded(key: &str, encoded: bool) -> String {
    if encoded { url_decode(key) } else { key.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::Lister;
    use crate::budget::Budget;
    use crate::s3_names::Folder;
    use crate::store::engine::backlog::{BACKLOG_BYTES, Backlog};
    use crate::store::engine::page::Page;
    use crate::store::engine::{Listed, Target};
    use crate::telemetry::Meter;
    use std::sync::LazyLock;
    use tokio::sync::mpsc;

    static FOLDER: LazyLock<Folder> =
        LazyLock::new(|| Folder { bucket: "b".into(), prefix: "j/".into() });
    static METER: LazyLock<Meter> = LazyLock::new(Meter::unreported);

    /// A lister of `j/` in bucket `b`, for the parts that send no request.
    pub(super) fn lister<'a>(client: &'a aws_sdk_s3::Client, backlog: &'a Backlog) -> Lister<'a> {
        Lister {
            client,
            target: Target::Folder { folder: &FOLDER, keep: None, versioned: false },
            concurrency: 8,
            full_pages: tokio::sync::Semaphore::new(super::full_pages_in_flight(8)),
            budget: Budget::unlimited(),
            backlog,
            meter: &METER,
            first_page: Default::default(),
        }
    }

    pub(super) fn client() -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder().behavior_version_latest().build();
        aws_sdk_s3::Client::from_conf(config)
    }

    #[tokio::test]
    async fn a_full_backlog_does_not_hold_the_lister_once_the_deleters_hang_up() {
        let (client, backlog) = (client(), Backlog::default());
        let long_key = "k".repeat(BACKLOG_BYTES);
        backlog.add(&Page::new(&[Listed { key: long_key, version_id: None, size: 0 }]));
        let lister = lister(&client, &backlog);
        let (pages, received) = mpsc::channel(1);
        let mut reserving = std::pin::pin!(lister.reserve(&pages));
        assert!(futures_util::poll!(reserving.as_mut()).is_pending(), "waits for room");
        drop(received);
        assert!(reserving.await.is_err());
    }

    #[tokio::test]
    async fn a_pages_channel_full_of_small_pages_lets_deletion_start() {
        let (client, backlog) = (client(), Backlog::default());
        let lister = lister(&client, &backlog);
        let (pages, _received) = mpsc::channel(1);
        let _taken = pages.try_reserve().expect("a free slot");
        let mut deleting = std::pin::pin!(backlog.deletion_may_start());
        assert!(futures_util::poll!(deleting.as_mut()).is_pending());
        let mut reserving = std::pin::pin!(lister.reserve(&pages));
        assert!(futures_util::poll!(reserving.as_mut()).is_pending(), "waits for a slot");
        assert!(futures_util::poll!(deleting.as_mut()).is_ready());
    }

    #[tokio::test]
    async fn a_first_page_is_used_only_when_asked_for_after_the_record_was_written() {
        use std::time::{Duration, Instant};
        // (Its request fails at once: the client has no region.)
        let page = super::FirstPage::ask(&client(), &FOLDER);
        let asked_at = Instant::now();
        assert!(page.asked_after(Some(asked_at - Duration::from_secs(3))));
        // Within the dates' resolution, or after: not known to be earlier.
        assert!(!page.asked_after(Some(asked_at - Duration::from_secs(1))));
        assert!(!page.asked_after(Some(asked_at + Duration::from_secs(60))));
        assert!(!page.asked_after(None));
    }

    #[test]
    fn only_keys_inside_the_root_that_the_target_names_are_kept() {
        let (client, backlog) = (client(), Backlog::default());
        let listed = |key: &str| Listed { key: key.into(), version_id: None, size: 0 };
        let keys = ["j/a", "j/job.json", "jx/a", "i/a", "j/"].map(listed);
        let mut lister = lister(&client, &backlog);
        lister.target =
            Target::Folder { folder: &FOLDER, keep: Some("j/job.json"), versioned: false };
        let kept: Vec<String> =
            lister.confine(keys.clone().into_iter()).into_iter().map(|o| o.key).collect();
        assert_eq!(kept, ["j/a", "j/"]);
        lister.target = Target::Versions { bucket: "b", key: "j/job.json" };
        let kept: Vec<String> =
            lister.confine(keys.into_iter()).into_iter().map(|o| o.key).collect();
        assert_eq!(kept, ["j/job.json"]);
    }
}
