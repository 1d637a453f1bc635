//! The batching stage: pages of listed keys regrouped into DeleteObjects batches, full ones while
//! listing goes on, and at the tail of a folder smaller ones, so that the last requests end about
//! together; a small folder listed whole goes in equal shares, one round of requests.

use super::Listed;
use super::backlog::Backlog;
use super::page::{Objects, Page};
use futures_util::Stream;
use tokio::sync::mpsc;

/// The smallest batch the tail of a folder is cut into (see `tail_batch`).
const TAIL_MIN_BATCH: usize = 20;

/// The size of the next batch once listing has ended and `left` keys are still to be batched:
/// `full` until fewer than `concurrency` full batches are left, then an equal share of what is
/// left for each request, down to `TAIL_MIN_BATCH`. A store that works through a request's keys
/// one after another (Garage does) otherwise ends a folder with fewer and fewer requests in
/// flight, each still holding up to a full batch: on Garage the last 0.6-0.9 s of a 4 s job of
/// 20,000 objects ran at a third to half of the steady rate.
fn tail_batch(left: usize, full: usize, concurrency: usize) -> usize {
    left.div_ceil(concurrency).clamp(TAIL_MIN_BATCH.min(full), full)
}

/// The size of every batch of a folder listed whole before its first batch, when it holds fewer
/// than `concurrency` full batches: an equal share, so that it goes in one round of requests. The
/// tail's shrinking (`tail_batch`) spreads what is left over requests already in flight; with none
/// in flight, it would only make more requests than there are turns for.
fn whole_share(left: usize, full: usize, concurrency: usize) -> Option<usize> {
    (left < full * concurrency).then(|| tail_batch(left, full, concurrency))
}

/// Regroups pages into batches of `full` keys. A smaller batch goes out only when no page is
/// waiting, so that a deleter never idles while keys are known, and at the tail (`tail_batch`),
/// or for a small folder (`whole_share`).
pub(super) fn batches<'a>(
    pages: mpsc::Receiver<Page>,
    backlog: &'a Backlog,
    full: usize,
    concurrency: usize,
) -> impl Stream<Item = Vec<Listed>> + 'a {
    // The page being taken apart, and the small folder's share, decided at the first batch
    // (the folder is listed whole by then, or it is not).
    let state = (pages, None::<Objects<Page>>, None::<Option<usize>>);
    futures_util::stream::unfold(state, move |(mut pages, mut current, mut whole)| async move {
        let left = backlog.left_to_batch();
        let share = *whole
            .get_or_insert_with(|| left.and_then(|left| whole_share(left, full, concurrency)));
        let size =
            share.or_else(|| left.map(|left| tail_batch(left, full, concurrency))).unwrap_or(full);
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
                return Some((batch, (pages, current, whole)));
            }
            let page = match pages.try_recv() {
                Ok(page) => Some(page),
                Err(mpsc::error::TryRecvError::Empty) if !batch.is_empty() => {
                    return Some((batch, (pages, current, whole)));
                }
                Err(_) => pages.recv().await,
            };
            match page {
                Some(page) => current = Some(page.into_objects()),
                None if batch.is_empty() => return None,
                None => return Some((batch, (pages, current, whole))),
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

    /// The batches of 1,000 keys, listed whole in pages of 250 before the first batch.
    async fn batches_of_a_folder_listed_whole(full: usize, concurrency: usize) -> Vec<Vec<Listed>> {
        let (sender, receiver) = mpsc::channel(8);
        let backlog = Backlog::default();
        for from in (0..1000).step_by(250) {
            let page = Page::new(&page(from, 250));
            backlog.add(&page);
            sender.send(page).await.unwrap();
        }
        drop(sender);
        backlog.listing_ended();
        batches(receiver, &backlog, full, concurrency).collect().await
    }

    #[tokio::test]
    async fn a_small_folder_listed_whole_goes_in_one_round_of_equal_batches() {
        let batches = batches_of_a_folder_listed_whole(100, 32).await;
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        // 1,000 keys for 32 requests: 31 of 32 keys and the 8 left, not 46 ever smaller ones.
        assert_eq!(sizes.len(), 32, "{sizes:?}");
        assert!(sizes[..31].iter().all(|&n| n == 32), "{sizes:?}");
        let keys: Vec<String> = batches.into_iter().flatten().map(|l| l.key).collect();
        let expected: Vec<String> = page(0, 1000).into_iter().map(|l| l.key).collect();
        assert_eq!(keys, expected);
    }

    #[tokio::test]
    async fn once_listing_has_ended_batches_shrink_without_losing_or_repeating_keys() {
        let batches = batches_of_a_folder_listed_whole(100, 4).await;
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        // Full until fewer than 4 full batches are left (after 700 keys), then a quarter of
        // what is left, down to 20, and the last keys.
        assert_eq!(sizes, [100, 100, 100, 100, 100, 100, 100, 75, 57, 42, 32, 24, 20, 20, 20, 10]);
        let keys: Vec<String> = batches.into_iter().flatten().map(|l| l.key).collect();
        let expected: Vec<String> = page(0, 1000).into_iter().map(|l| l.key).collect();
        assert_eq!(keys, expected);
    }
}
