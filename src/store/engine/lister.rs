//! Parallel listing. A job's outputs are usually spread over sub-folders (Spark-style
//! `output/part-…/`); listing them one continuation token after another is one serial chain of
//! round trips. So the lister first probes a prefix with a delimiter listing, and when the probe
//! shows a few sub-folders it lists them concurrently, down to a bounded depth.
//!
//! A probe asks for a short page first (`PROBE_KEYS` entries), and for a full page after it
//! only when the folder holds more. A probe only needs to see the sub-folders, and a store may
//! read a page's worth of keys for each sub-folder it rolls up: Garage does, and its probe of 16
//! sub-folders of 1,250 keys took 75-100 ms with pages of 1,000, 8-9 ms with pages of 100.
//! The probe's keys are used whenever they can be: a probe that shows a few sub-folders and no
//! more keys than its two pages sends its keys and splits; a probe of a large folder without
//! sub-folders goes on from where it stopped. Only a probe that is both large and mixed
//! (sub-folders and more keys than its pages hold) is thrown away, and its folder listed from
//! the start in one chain, so that no key is sent twice. Splits are bounded by depth and by a
//! budget of prefixes, so a tree of many tiny folders costs a few extra round trips, not one per
//! folder.
//!
//! A large flat folder would still be one chain. So while few listings run, the rest of a
//! folder after a page is cut into key ranges (ranges.rs), and the ranges are listed side by side.
//! A range whose first page ends before the range does asks for a short page next
//! ([`Start::Tail`]), since it most likely holds only a few keys more, or none.
//!
//! Listing runs ahead of deleting, as far as the backlog allows (backlog.rs): a request goes out
//! only once the backlog has room and a slot for its page is reserved in the pages channel.
//! Requests in flight and pages waiting are bounded, and memory does not depend on the size of
//! the folder. Of the requests in flight, only a quarter may read full pages at once
//! ([`full_pages_in_flight`]); the short pages of probes may fill the rest.

use super::Listed;
use super::backlog::Backlog;
use super::page::Page;
use super::ranges::cut_points;
use crate::budget::Budget;
use crate::store::StoreError;
use crate::store::url_decode;
use aws_sdk_s3::Client;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::types::EncodingType;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::{self, Permit};
use tokio::time::timeout_at;

/// Depth below the root down to which prefixes are probed: root, `output/`, `output/part-…/`.
const MAX_PROBE_DEPTH: usize = 3;
/// Sub-folders the lister may split into in all; a wider tree is listed in longer chains.
const PREFIX_BUDGET: usize = 64;
/// A probe listing more sub-folders than this is not split.
const MAX_FANOUT: usize = 32;
/// Key ranges a folder may be cut into in all.
const RANGE_BUDGET: usize = 256;
/// Entries (keys and sub-folders) a probe asks for before it asks for a full page: enough for
/// a small folder whole, few enough that rolling up large sub-folders costs the store little.
/// A range's tail ([`Start::Tail`]) asks for as many.
const PROBE_KEYS: i32 = 100;

/// Lists every object under `root` in `bucket`, but `keep`, and sends them in pages.
pub(super) struct Lister<'a> {
    pub client: &'a Client,
    pub bucket: &'a str,
    pub root: &'a str,
    pub keep: Option<&'a str>,
    /// When set, the one key to list (all its versions), not the whole root.
    pub only: Option<&'a str>,
    /// List requests in flight at once.
    pub concurrency: usize,
    /// Of those, the requests for full pages (see [`full_pages_in_flight`]).
    pub full_pages: Semaphore,
    pub budget: Budget,
    /// What is listed and not yet deleted.
    pub backlog: &'a Backlog,
}

enum Job {
    /// One delimiter listing, to decide whether to split.
    Probe { prefix: String, depth: usize },
    /// Every key under the prefix, page after page, from the start.
    Chain { prefix: String },
    /// One delimiter page of the prefix's keys in a range: from `start` on, up to and with
    /// `upto` (to the end when `None`). The sub-folders it rolls up are listed as chains.
    Range { prefix: String, start: Start, upto: Option<String> },
}

/// What a delimiter listing showed: one page, or a probe's two as if they were one.
struct Delimited {
    listed: Vec<Listed>,
    subfolders: Vec<String>,
    truncated: bool,
    /// Where the folder goes on.
    token: Option<String>,
}

/// Where a range's next page starts.
enum Start {
    /// After this key, which need not exist: the start of a range cut from another.
    After(String),
    /// Where the last page ended.
    Token(String),
    /// Where the first page of a range cut about a page long ended without reaching the range's
    /// end: most likely just before it, so a short page asks, not a full one read past it.
    Tail(String),
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
    /// A page of a range, listed from after `bounds.0` (or from a token), up to `bounds.1`.
    Ranged {
        prefix: String,
        bounds: (Option<String>, Option<String>),
        page: Box<ListObjectsV2Output>,
        /// The channel slot reserved for the page's keys.
        slot: Permit<'a, Page>,
    },
}

impl Lister<'_> {
    /// Whether every object was listed: false when the time budget ended, or the receiver hung
    /// up, first.
    pub async fn run(&self, pages: &mpsc::Sender<Page>) -> Result<bool, StoreError> {
        let mut queue = vec![Job::Probe { prefix: self.root.to_owned(), depth: 0 }];
        let mut running = FuturesUnordered::new();
        let mut splits_left = PREFIX_BUDGET;
        let mut ranges_left = RANGE_BUDGET;
        let mut complete = true;
        loop {
            while running.len() < self.concurrency && !queue.is_empty() {
                if !self.budget.allows_new_work() {
                    complete = false;
                    queue.clear();
                } else if let Some(job) = queue.pop() {
                    running.push(self.start(job, pages));
                }
            }
            let Some(done) = running.next().await else { return Ok(complete) };
            // Ranges are cut only while few listings run: a tree of sub-folders is already
            // listed side by side.
            let listings = running.len() + queue.len();
            let cut_room = (self.concurrency / 2).saturating_sub(listings).min(ranges_left);
            let (prefix, depth, probe, slot) = match done? {
                Done::Chained { complete: chained, found } => {
                    complete &= chained;
                    queue.extend(found.into_iter().map(|prefix| Job::Chain { prefix }));
                    continue;
                }
                Done::Ranged { prefix, bounds, page, slot } => {
                    let (rest, cuts) = self.range_page(prefix, bounds, &page, slot, cut_room);
                    ranges_left -= cuts;
                    queue.extend(rest);
                    continue;
                }
                Done::Probed { prefix, depth, probe, slot } => (prefix, depth, probe, slot),
            };
            let Delimited { listed, subfolders, truncated, token } = probe;
            let next = match (truncated, token) {
                (false, _) if subfolders.len() <= MAX_FANOUT.min(splits_left) => {
                    splits_left -= subfolders.len();
                    let next_depth = depth + 1;
                    subfolders
                        .into_iter()
                        .map(|prefix| match next_depth < MAX_PROBE_DEPTH {
                            true => Job::Probe { prefix, depth: next_depth },
                            false => Job::Chain { prefix },
                        })
                        .collect()
                }
                (true, Some(token)) if subfolders.is_empty() => {
                    let cuts = cuts_after(&prefix, &listed, None, cut_room);
                    ranges_left -= cuts.len();
                    ranges(prefix, Start::Token(token), None, &cuts)
                }
                // Too wide, or large and mixed: the probe's keys are dropped, the folder listed
                // whole.
                _ => {
                    queue.push(Job::Chain { prefix });
                    continue;
                }
            };
            self.send(slot, listed);
            queue.extend(next);
        }
    }

    /// What one delimiter page of `prefix` showed: its keys that may be deleted, its sub-folders.
    fn delimited(&self, page: &ListObjectsV2Output, prefix: &str) -> Delimited {
        Delimited {
            listed: self.accept(page),
            subfolders: self.subfolders(page, prefix),
            truncated: page.is_truncated().unwrap_or(false),
            token: page.next_continuation_token().map(str::to_owned),
        }
    }

    /// The sub-folders a delimiter page rolled up, that lie under `prefix`.
    fn subfolders(&self, page: &ListObjectsV2Output, prefix: &str) -> Vec<String> {
        let encoded = page.encoding_type() == Some(&EncodingType::Url);
        page.common_prefixes()
            .iter()
            .filter_map(|p| p.prefix())
            .map(|p| decoded(p, encoded))
            .filter(|p| p.starts_with(prefix) && p.len() > prefix.len())
            .collect()
    }

    async fn start<'p>(
        &self,
        job: Job,
        pages: &'p mpsc::Sender<Page>,
    ) -> Result<Done<'p>, StoreError> {
        // Keys come URL-encoded: a key with control characters cannot travel in XML otherwise.
        let list = |prefix: &str| {
            let request = self.client.list_objects_v2().bucket(self.bucket).prefix(prefix);
            request.encoding_type(EncodingType::Url)
        };
        let cut_short = Done::Chained { complete: false, found: Vec::new() };
        let (prefix, chain) = match job {
            Job::Probe { prefix, depth } => {
                // The deleters hung up: nothing more to list for.
                let Ok(slot) = self.reserve(pages).await else { return Ok(cut_short) };
                let probe = async {
                    let short = list(&prefix).delimiter("/").max_keys(PROBE_KEYS).send().await?;
                    let mut probe = self.delimited(&short, &prefix);
                    if let (true, Some(token)) = (probe.truncated, probe.token.take()) {
                        let full = list(&prefix).delimiter("/").continuation_token(token);
                        let rest = self.delimited(&self.full_page(full.send()).await?, &prefix);
                        probe.listed.extend(rest.listed);
                        probe.subfolders.extend(rest.subfolders);
                        (probe.truncated, probe.token) = (rest.truncated, rest.token);
                    }
                    Ok(probe)
                };
                let Ok(probe) = timeout_at(self.budget.cut_at, probe).await else {
                    return Ok(cut_short);
                };
                let probe = probe.map_err(|e| self.error(&prefix, e))?;
                return Ok(Done::Probed { prefix, depth, probe, slot });
            }
            Job::Chain { prefix } => {
                let chain = list(&prefix).into_paginator().send();
                (prefix, chain)
            }
            Job::Range { prefix, start, upto } => {
                let Ok(slot) = self.reserve(pages).await else { return Ok(cut_short) };
                if !self.budget.allows_new_work() {
                    return Ok(cut_short);
                }
                let request = list(&prefix).delimiter("/");
                let short = matches!(start, Start::Tail(_));
                let (request, after) = match start {
                    Start::After(key) => (request.start_after(&key), Some(key)),
                    Start::Token(token) => (request.continuation_token(token), None),
                    Start::Tail(token) => {
                        (request.continuation_token(token).max_keys(PROBE_KEYS), None)
                    }
                };
                let listed = async {
                    match short {
                        true => request.send().await,
                        false => self.full_page(request.send()).await,
                    }
                };
                let Ok(page) = timeout_at(self.budget.cut_at, listed).await else {
                    return Ok(cut_short);
                };
                let page = Box::new(page.map_err(|e| self.error(&prefix, e))?);
                return Ok(Done::Ranged { prefix, bounds: (after, upto), page, slot });
            }
        };
        let mut chain = chain;
        let mut found = Vec::new();
        loop {
            let Ok(slot) = self.reserve(pages).await else {
                return Ok(Done::Chained { complete: false, found });
            };
            if !self.budget.allows_new_work() {
                return Ok(Done::Chained { complete: false, found });
            }
            let listed = self.full_page(chain.next());
            let Ok(page) = timeout_at(self.budget.cut_at, listed).await else {
                return Ok(Done::Chained { complete: false, found });
            };
            let Some(page) = page else { return Ok(Done::Chained { complete: true, found }) };
            let page = page.map_err(|e| self.error(&prefix, e))?;
            found.extend(self.subfolders(&page, &prefix));
            self.send(slot, self.accept(&page));
        }
    }

    /// Sends the part of a range's page that lies in the range `(after, upto]`, and returns
    /// the jobs that list what is left: its sub-folders, and the rest of the range cut at up to
    /// `room` points; with the number of cuts. Sub-folders and cut points hold no '/' past the
    /// prefix, so each sub-folder lies wholly on one side of a cut.
    fn range_page(
        &self,
        prefix: String,
        (after, upto): (Option<String>, Option<String>),
        page: &ListObjectsV2Output,
        slot: Permit<'_, Page>,
        room: usize,
    ) -> (Vec<Job>, usize) {
        let past_end = |key: &str| upto.as_deref().is_some_and(|upto| key > upto);
        // A store that ignored `start-after` must not make another range's keys ours too.
        let before_start = |key: &str| after.as_deref().is_some_and(|after| key <= after);
        let Delimited { mut listed, subfolders: mut found, truncated, token } =
            self.delimited(page, &prefix);
        listed.retain(|object| !before_start(&object.key));
        found.retain(|folder| !before_start(folder));
        let keys = listed.iter().map(|object| object.key.as_str());
        let ended = keys.chain(found.iter().map(String::as_str)).any(past_end);
        listed.retain(|object| !past_end(&object.key));
        found.retain(|folder| !past_end(folder));
        let mut jobs: Vec<Job> = found.into_iter().map(|prefix| Job::Chain { prefix }).collect();
        let mut cuts = Vec::new();
        if let Some(token) = token.filter(|_| truncated && !ended) {
            cuts = cuts_after(&prefix, &listed, upto.as_deref(), room);
            // Cut where a counter steps, a range often holds exactly a page (after `data-0002`
            // up to `data-0003`: `data-0002000` to `data-0002999`), so its first page ends
            // just before the range does, and a full page after it would be read past the
            // range for nothing.
            let start = match after.is_some() && upto.is_some() && cuts.is_empty() {
                true => Start::Tail(token),
                false => Start::Token(token),
            };
            jobs.extend(ranges(prefix, start, upto, &cuts));
        }
        self.send(slot, listed);
        (jobs, cuts.len())
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
            slot.send(page);
        }
    }

    fn accept(&self, page: &ListObjectsV2Output) -> Vec<Listed> {
        let encoded = page.encoding_type() == Some(&EncodingType::Url);
        let objects = page.contents().iter().filter_map(|object| {
            let size = object.size().unwrap_or(0).max(0) as u64;
            Some(Listed { key: decoded(object.key()?, encoded), version_id: None, size })
        });
        self.confine(objects)
    }

    /// The objects that may be deleted: inside the root, and not `keep`. The root is the
    /// isolation boundary: a key outside it is never deleted, whatever the store answered.
    fn confine(&self, objects: impl Iterator<Item = Listed>) -> Vec<Listed> {
        objects
            .filter(|object| {
                let inside = object.key.starts_with(self.root);
                if !inside {
                    tracing::warn!(
                        key = object.key,
                        root = self.root,
                        "store listed a key outside the prefix; ignored"
                    );
                }
                inside
                    && Some(object.key.as_str()) != self.keep
                    && self.only.is_none_or(|only| object.key == only)
            })
            .collect()
    }

    /// Every version and delete marker under the root, in one chain: a versioned bucket keeps
    /// the data of a plain delete, so each version is deleted by its id. Whether everything was
    /// listed, as [`Lister::run`].
    pub async fn run_versions(&self, pages: &mpsc::Sender<Page>) -> Result<bool, StoreError> {
        let (mut key_marker, mut version_marker) = (None, None);
        loop {
            let Ok(slot) = self.reserve(pages).await else { return Ok(false) };
            if !self.budget.allows_new_work() {
                return Ok(false);
            }
            // ListObjectVersions has no paginator in the SDK: page with the markers.
            let request = self
                .client
                .list_object_versions()
                .bucket(self.bucket)
                .prefix(self.root)
                .encoding_type(EncodingType::Url)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker);
            let Ok(page) = timeout_at(self.budget.cut_at, request.send()).await else {
                return Ok(false);
            };
            let page = page.map_err(|e| self.error(self.root, e))?;
            let encoded = page.encoding_type() == Some(&EncodingType::Url);
            let versions = page.versions().iter().filter_map(|v| {
                let key = decoded(v.key()?, encoded);
                let size = v.size().unwrap_or(0).max(0) as u64;
                Some(Listed { key, version_id: v.version_id().map(str::to_owned), size })
            });
            let markers = page.delete_markers().iter().filter_map(|m| {
                let key = decoded(m.key()?, encoded);
                Some(Listed { key, version_id: m.version_id().map(str::to_owned), size: 0 })
            });
            self.send(slot, self.confine(versions.chain(markers)));
            if !page.is_truncated().unwrap_or(false) {
                return Ok(true);
            }
            key_marker = page.next_key_marker().map(|k| decoded(k, encoded));
            version_marker = page.next_version_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                return Ok(true);
            }
        }
    }

    fn error<E>(
        &self,
        prefix: &str,
        err: aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
    ) -> StoreError
    where
        E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        StoreError::from_sdk("list", self.bucket, prefix, err)
    }
}

/// Full pages that may be read at once out of `concurrency` list requests: a quarter. A reply
/// of 1,000 keys is ~300 KB, and read 32 side by side they were the listing's peak of memory;
/// 8 of them still keep a store busy (BENCHMARKS.md), and probes of `PROBE_KEYS` entries, which
/// cost little, still go out as wide as `concurrency` allows.
pub(super) fn full_pages_in_flight(concurrency: usize) -> usize {
    (concurrency / 4).max(1)
}

/// The range jobs that list the rest of a range from `first`, cut at `cuts` (in order).
fn ranges(prefix: String, first: Start, upto: Option<String>, cuts: &[String]) -> Vec<Job> {
    if !cuts.is_empty() {
        tracing::debug!(prefix, ranges = cuts.len() + 1, "folder cut into key ranges");
    }
    let starts = std::iter::once(first).chain(cuts.iter().cloned().map(Start::After));
    let ends = cuts.iter().cloned().map(Some).chain(std::iter::once(upto));
    starts
        .zip(ends)
        .map(|(start, upto)| Job::Range { prefix: prefix.clone(), start, upto })
        .collect()
}

/// Up to `room` points that cut the rest of a folder after the page `listed`, below `upto`.
fn cuts_after(prefix: &str, listed: &[Listed], upto: Option<&str>, room: usize) -> Vec<String> {
    if room == 0 {
        return Vec::new();
    }
    let keys: Vec<&str> = listed.iter().map(|object| object.key.as_str()).collect();
    cut_points(prefix, &keys, upto, room)
}

/// A key as listed: URL-encoded only when the reply says so (some servers ignore the request).
fn decoded(key: &str, encoded: bool) -> String {
    if encoded { url_decode(key) } else { key.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::{Job, Lister, Start};
    use crate::budget::Budget;
    use crate::store::engine::Listed;
    use crate::store::engine::backlog::{BACKLOG_BYTES, Backlog};
    use crate::store::engine::page::Page;
    use crate::store::url_decode;
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
    use aws_sdk_s3::types::{CommonPrefix, Object};
    use tokio::sync::mpsc;

    /// A lister of `j/` in bucket `b`, for the parts that send no request.
    fn lister<'a>(client: &'a aws_sdk_s3::Client, backlog: &'a Backlog) -> Lister<'a> {
        Lister {
            client,
            bucket: "b",
            root: "j/",
            keep: None,
            only: None,
            concurrency: 8,
            full_pages: tokio::sync::Semaphore::new(super::full_pages_in_flight(8)),
            budget: Budget::unlimited(),
            backlog,
        }
    }

    fn client() -> aws_sdk_s3::Client {
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

    /// What a range keeps of a page (keys and sub-folders), and where it goes on: with a short
    /// page or a full one, from which token. `after`: the range's start, when the page is the
    /// range's first.
    fn range_of(
        page: &ListObjectsV2Output,
        after: Option<&str>,
        upto: &str,
    ) -> (Vec<String>, Option<(&'static str, String)>) {
        let (client, backlog) = (client(), Backlog::default());
        let lister = lister(&client, &backlog);
        let (pages, mut received) = mpsc::channel(1);
        let slot = pages.try_reserve().expect("a free slot");
        let bounds = (after.map(|after| format!("j/{after}")), Some(format!("j/{upto}")));
        let (rest, _) = lister.range_page("j/".into(), bounds, page, slot, 0);
        let mut kept: Vec<String> = match received.try_recv() {
            Ok(page) => page.into_objects().map(|o| o.key).collect(),
            Err(_) => Vec::new(),
        };
        let mut next = None;
        for job in rest {
            match job {
                Job::Chain { prefix } => kept.push(prefix),
                Job::Range { start: Start::Tail(token), .. } => next = Some(("short", token)),
                Job::Range { start: Start::Token(token), .. } => next = Some(("full", token)),
                _ => panic!("a range page leads to sub-folder chains and its own next page"),
            }
        }
        (kept, next)
    }

    fn page(keys: &[&str], folders: &[&str], truncated: bool) -> ListObjectsV2Output {
        let object = |key: &&str| Object::builder().key(format!("j/{key}")).build();
        let folder = |p: &&str| CommonPrefix::builder().prefix(format!("j/{p}")).build();
        ListObjectsV2Output::builder()
            .set_contents(Some(keys.iter().map(object).collect()))
            .set_common_prefixes(Some(folders.iter().map(folder).collect()))
            .is_truncated(truncated)
            .next_continuation_token("next")
            .build()
    }

    #[test]
    fn a_range_keeps_exactly_its_keys_whatever_the_store_sent() {
        // A page from where the range starts: it goes on while nothing is past its end, with a
        // short page, since the range most likely ends soon after its first page.
        let inside = page(&["b1", "b2"], &["b3/"], true);
        let kept = vec!["j/b1".into(), "j/b2".into(), "j/b3/".into()];
        assert_eq!(
            range_of(&inside, Some("b"), "c"),
            (kept.clone(), Some(("short", "next".into())))
        );
        // A later page of a range that goes on: it goes on with full pages.
        assert_eq!(range_of(&inside, None, "c"), (kept, Some(("full", "next".into()))));
        // The end key itself is in; past it the range has ended, whether the page is
        // truncated or not.
        let across = page(&["bz", "c", "c0", "d"], &["c/"], true);
        assert_eq!(range_of(&across, Some("b"), "c"), (vec!["j/bz".into(), "j/c".into()], None));
        // A store that ignored `start-after`: keys at or before the start are another range's.
        let from_the_top = page(&["a", "b", "b1"], &["a/"], false);
        assert_eq!(range_of(&from_the_top, Some("b"), "c"), (vec!["j/b1".into()], None));
    }

    #[test]
    fn listed_keys_are_decoded_exactly() {
        assert_eq!(url_decode("enc%2Fa%20b"), "enc/a b");
        assert_eq!(url_decode("a+b"), "a b");
        assert_eq!(url_decode("plus%2Bx"), "plus+x");
        assert_eq!(url_decode("pct%2541"), "pct%41");
        assert_eq!(url_decode("ctl%01x%0D"), "ctl\u{1}x\r");
        assert_eq!(url_decode("%C3%BC%C3%B1"), "üñ");
        // Hive-style partitions: '=' and '&' are never separators here.
        assert_eq!(url_decode("date=2024%2Fa&b=c"), "date=2024/a&b=c");
        assert_eq!(url_decode("a%3Db%26c"), "a=b&c");
        assert_eq!(url_decode(""), "");
    }
}
