//! What listing has found and deletion has not yet taken. On Garage, listing while the store
//! deletes slows its deletions far more than the listing's own cost (BENCHMARKS.md), so the
//! lister runs well ahead of the deleters: up to `BACKLOG_BYTES` of keys waiting, and deletion
//! starts only once listing has ended or the lister has to wait for room. The bound is in
//! bytes, not pages, so that long keys cannot make the backlog large; and the keys wait in a
//! compact form, so that the bound holds many of them.

use super::Listed;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::Notify;

/// Bytes of listed keys that may wait for the deleters: about 130 pages of 1,000 keys named as
/// `project/jobs/<id>/output/part-00001/data-0000001.bin`.
pub(super) const BACKLOG_BYTES: usize = 4 << 20;
/// Pages that may wait, whatever their size: a page holds at least one key.
pub(super) const BACKLOG_PAGES: usize = 1024;

/// Listed objects, compact: their keys in one buffer, without the prefix they share. A page of
/// 1,000 such keys takes about 32 KB, against 130 KB as 1,000 [`Listed`].
#[derive(Debug)]
pub(super) struct Page {
    prefix: String,
    rests: String,
    ends: Vec<usize>,
    sizes: Vec<u64>,
    /// Empty unless some object has a version id.
    versions: Vec<Option<String>>,
}

impl Page {
    pub fn new(objects: Vec<Listed>) -> Page {
        let first = objects.first().map_or("", |o| o.key.as_str());
        let shared = objects.iter().map(|o| shared_len(first, &o.key)).min().unwrap_or(0);
        let mut page = Page {
            prefix: first[..shared].to_owned(),
            rests: String::with_capacity(objects.iter().map(|o| o.key.len() - shared).sum()),
            ends: Vec::with_capacity(objects.len()),
            sizes: Vec::with_capacity(objects.len()),
            versions: Vec::new(),
        };
        if objects.iter().any(|o| o.version_id.is_some()) {
            page.versions = objects.iter().map(|o| o.version_id.clone()).collect();
        }
        for object in objects {
            page.rests.push_str(&object.key[shared..]);
            page.ends.push(page.rests.len());
            page.sizes.push(object.size);
        }
        page
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// The memory the page holds, near enough to bound the backlog.
    pub fn bytes(&self) -> usize {
        let versions: usize = self.versions.iter().flatten().map(String::len).sum();
        self.prefix.len() + self.rests.len() + self.len() * 16 + self.versions.len() * 24 + versions
    }

    /// The `i`th object, whole again.
    pub fn object(&self, i: usize) -> Listed {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Listed {
            key: [self.prefix.as_str(), &self.rests[start..self.ends[i]]].concat(),
            version_id: self.versions.get(i).cloned().flatten(),
            size: self.sizes[i],
        }
    }
}

/// The length of the longest common prefix of `a` and `b` that ends on a character boundary.
fn shared_len(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(n) {
        n -= 1;
    }
    n
}

/// The bytes held by pages between the lister and the deleters.
#[derive(Default)]
pub(super) struct Backlog {
    bytes: AtomicUsize,
    freed: Notify,
    /// Set once deletion may start: see [`Backlog::deletion_may_start`].
    deleting: AtomicBool,
    started: Notify,
}

impl Backlog {
    /// Waits until the backlog has room for another page; deletion starts if it has none.
    pub async fn room(&self) {
        loop {
            // Created before the check, so that a release between the two is not missed.
            let freed = self.freed.notified();
            if self.bytes.load(Ordering::Relaxed) < BACKLOG_BYTES {
                return;
            }
            self.start_deleting();
            freed.await;
        }
    }

    /// Waits until listing has ended or the lister has to wait for room: until then, deleting
    /// would slow listing down and be slowed down by it.
    pub async fn deletion_may_start(&self) {
        loop {
            let started = self.started.notified();
            if self.deleting.load(Ordering::Relaxed) {
                return;
            }
            started.await;
        }
    }

    /// Lets deletion start: listing has ended, or cannot go on until deletion takes pages.
    pub fn start_deleting(&self) {
        self.deleting.store(true, Ordering::Relaxed);
        self.started.notify_waiters();
    }

    pub fn add(&self, page: &Page) {
        self.bytes.fetch_add(page.bytes(), Ordering::Relaxed);
    }

    pub fn release(&self, page: &Page) {
        self.bytes.fetch_sub(page.bytes(), Ordering::Relaxed);
        self.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(key: &str, version_id: Option<&str>, size: u64) -> Listed {
        Listed { key: key.to_owned(), version_id: version_id.map(str::to_owned), size }
    }

    fn whole(page: &Page) -> Vec<(String, Option<String>, u64)> {
        (0..page.len()).map(|i| page.object(i)).map(|o| (o.key, o.version_id, o.size)).collect()
    }

    #[test]
    fn a_page_gives_back_every_object_as_it_was_listed() {
        let cases = [
            vec![
                listed("p/jobs/a/output/part-1/x", None, 1),
                listed("p/jobs/a/output/part-2/y", None, 2),
            ],
            // Keys sharing bytes inside a character: the shared prefix stops before it.
            vec![listed("p/é", None, 3), listed("p/è", None, 4), listed("p/", None, 0)],
            vec![listed("k", Some("v1"), 5), listed("k", None, 6), listed("k", Some("v2"), 7)],
            vec![listed("only", None, 8)],
            vec![listed("a", None, 1), listed("b/c", None, 2)],
        ];
        for objects in cases {
            let expected: Vec<_> =
                objects.iter().map(|o| (o.key.clone(), o.version_id.clone(), o.size)).collect();
            assert_eq!(whole(&Page::new(objects)), expected);
        }
    }

    #[test]
    fn a_page_of_keys_under_one_folder_takes_under_40_bytes_a_key() {
        let objects: Vec<Listed> = (0..1000)
            .map(|i| {
                listed(
                    &format!("p/jobs/0123456789abcdef/output/part-00001/data-{i:07}.bin"),
                    None,
                    16,
                )
            })
            .collect();
        let page = Page::new(objects);
        assert!(page.bytes() < 40_000, "{} bytes", page.bytes());
    }

    #[tokio::test]
    async fn deletion_waits_until_listing_ends() {
        let backlog = Backlog::default();
        backlog.add(&Page::new(vec![listed("k", None, 1)]));
        let mut waiting = std::pin::pin!(backlog.deletion_may_start());
        assert!(futures_util::poll!(waiting.as_mut()).is_pending());
        backlog.start_deleting();
        assert!(futures_util::poll!(waiting.as_mut()).is_ready());
    }

    #[tokio::test]
    async fn deletion_starts_before_listing_ends_once_the_lister_waits_for_room() {
        let backlog = Backlog::default();
        let mut deleting = std::pin::pin!(backlog.deletion_may_start());
        backlog.add(&Page::new(vec![listed(&"k".repeat(BACKLOG_BYTES / 2), None, 0)]));
        assert!(futures_util::poll!(std::pin::pin!(backlog.room())).is_ready(), "room left");
        assert!(futures_util::poll!(deleting.as_mut()).is_pending());
        backlog.add(&Page::new(vec![listed(&"k".repeat(BACKLOG_BYTES / 2), None, 0)]));
        assert!(futures_util::poll!(std::pin::pin!(backlog.room())).is_pending(), "no room left");
        assert!(futures_util::poll!(deleting.as_mut()).is_ready());
    }

    #[tokio::test]
    async fn the_lister_waits_for_room_until_the_deleters_take_a_page() {
        let backlog = Backlog::default();
        let big = Page::new(vec![listed(&"k".repeat(BACKLOG_BYTES), None, 0)]);
        backlog.add(&big);
        let mut waiting = std::pin::pin!(backlog.room());
        assert!(futures_util::poll!(waiting.as_mut()).is_pending());
        backlog.release(&big);
        assert!(futures_util::poll!(waiting.as_mut()).is_ready());
    }
}
