//! Key ranges: a large flat folder would be one chain of pages, so after a page the rest of it
//! is cut into ranges listed side by side. ListObjectsV2 takes a `start-after` but no end, so a
//! range `(after, upto]` is listed from `after` and ends at its first key past `upto`. That is
//! exact whatever the cut points are: a bad guess costs balance and a request, never a key
//! missed or listed twice.
//!
//! The cut points are guessed from one page. Jobs name their outputs with counters
//! (`part-00000`, `data-0001999.bin`, hex hashes): read as a number in its alphabet where the
//! page's first and last keys part, the counter shows how far one page reaches. Points are cut
//! [`RANGE_FILL`] of a page apart, so that a range's first page reaches past its end and shows
//! it whole in one request (S3 bills each). A guess too wide costs a request more in that range,
//! never a key.
//!
//! A folder's end cannot be known before it is listed, and every range past it costs a request
//! that finds nothing; so ranges are cut in waves of [`CUT_WAVE`] points, each from the page of
//! the range that reaches furthest (the folder's second page first), and a folder ends at most a
//! wave's worth of requests past its last key.

use super::scan::ListPage;
use super::{Delimited, Done, Lister, Listing};
use crate::store::StoreError;
use crate::store::engine::Listed;
use crate::store::engine::page::Page;
use tokio::sync::mpsc::{self, Permit};
use tokio::time::timeout_at;

/// A key range of a folder: its keys after `start`, up to and with `upto` (to the end when
/// `None`). The sub-folders its pages roll up are listed as chains.
pub(super) struct Range {
    prefix: String,
    start: Start,
    upto: Option<String>,
}

/// Where a range's next page starts.
pub(super) enum Start {
    /// After this key, which need not exist: the start of a range cut from another.
    After(String),
    /// Where the last page ended.
    Token(String),
}

/// Ranges are cut to this share of a page: a range's first page reaches past its end, and so
/// shows it whole; the keys past it, a twentieth of a page, are read twice.
const RANGE_FILL: f64 = 0.95;
/// The most points cut from one page: a wave of as many ranges, and the one past them, which
/// reaches furthest and is cut from next. What a folder may cost past its end.
pub(super) const CUT_WAVE: usize = 3;
/// Keys in a full page.
const PAGE_KEYS: f64 = 1000.0;
/// A page's counter is read to this many steps at least, so that a cut lands within a percent
/// of a page of where it is aimed.
const MIN_STEPS: u128 = 200;
/// Digits of a counter read at most.
const MAX_DIGITS: usize = 8;

impl Lister<'_> {
    /// One delimiter page of `range`.
    pub(super) async fn range<'p>(
        &self,
        range: Range,
        pages: &'p mpsc::Sender<Page>,
    ) -> Result<Done<'p>, StoreError> {
        let Ok(slot) = self.reserve(pages).await else { return Ok(Done::cut_short()) };
        if !self.budget.allows_new_work() {
            return Ok(Done::cut_short());
        }
        let request = self.list(&range.prefix).delimiter("/");
        let request = match &range.start {
            Start::After(key) => request.start_after(key),
            Start::Token(token) => request.continuation_token(token),
        };
        let listed = self.full_page(super::fetch(request));
        let Ok(page) = timeout_at(self.budget.cut_at, listed).await else {
            return Ok(Done::cut_short());
        };
        let page = page.map_err(|e| self.error(&range.prefix, e))?;
        Ok(Done::Ranged { range, page, slot })
    }

    /// Sends the part of a range's page that lies in the range `(after, upto]`, and returns
    /// the listings of what is left: its sub-folders, and the rest of the range cut at up to
    /// `room` points; with the number of cuts. Sub-folders and cut points hold no '/' past the
    /// prefix, so each sub-folder lies wholly on one side of a cut.
    pub(super) fn range_page(
        &self,
        range: Range,
        page: &ListPage,
        slot: Permit<'_, Page>,
        room: usize,
    ) -> (Vec<Listing>, usize) {
        let Range { prefix, start, upto } = range;
        // Only a range's first page starts after a key; later ones go on from a token.
        let after = match start {
            Start::After(key) => Some(key),
            Start::Token(_) => None,
        };
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
        let mut next: Vec<Listing> =
            found.into_iter().map(|prefix| Listing::Chain { prefix }).collect();
        let mut cuts = Vec::new();
        if let Some(token) = token.filter(|_| truncated && !ended) {
            cuts = cuts_after(&prefix, &listed, upto.as_deref(), room);
            next.extend(ranges(prefix, Start::Token(token), upto, &cuts));
        }
        self.send(slot, listed);
        (next, cuts.len())
    }
}

/// The listings of the rest of a range from `first`, cut at `cuts` (in order).
pub(super) fn ranges(
    prefix: String,
    first: Start,
    upto: Option<String>,
    cuts: &[String],
) -> Vec<Listing> {
    if !cuts.is_empty() {
        tracing::debug!(prefix, ranges = cuts.len() + 1, "folder cut into key ranges");
    }
    let starts = std::iter::once(first).chain(cuts.iter().cloned().map(Start::After));
    let ends = cuts.iter().cloned().map(Some).chain(std::iter::once(upto));
    starts
        .zip(ends)
        .map(|(start, upto)| Listing::Range(Range { prefix: prefix.clone(), start, upto }))
        .collect()
}

/// Up to `room` points that cut the rest of a folder after the page `listed`, below `upto`.
pub(super) fn cuts_after(
    prefix: &str,
    listed: &[Listed],
    upto: Option<&str>,
    room: usize,
) -> Vec<String> {
    if room == 0 {
        return Vec::new();
    }
    let keys: Vec<&str> = listed.iter().map(|object| object.key.as_str()).collect();
    cut_points(prefix, &keys, upto, room)
}

/// Alphabets a counter is written in, smallest first, each in byte order as the store sorts.
const ALPHABETS: [&[u8]; 6] = [
    b"0123456789",
    b"0123456789ABCDEF",
    b"0123456789abcdef",
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    b"0123456789abcdefghijklmnopqrstuvwxyz",
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
];

/// Printable ASCII but '/': cut points never hold a delimiter, so a sub-folder is never split
/// between two ranges.
const PRINTABLE: [u8; 94] = {
    let mut all = [0; 94];
    let (mut at, mut byte) = (0, b' ');
    while byte <= b'~' {
        if byte != b'/' {
            all[at] = byte;
            at += 1;
        }
        byte += 1;
    }
    all
};

/// At most `most` points after the last of `keys` and before `upto`, in order, that cut the
/// rest of a folder into ranges of [`RANGE_FILL`] of a page each. `keys` is one page of the
/// folder, in order, every key starting with `prefix` and holding no '/' after it. Empty when the
/// page shows no counter to read.
fn cut_points(prefix: &str, keys: &[&str], upto: Option<&str>, most: usize) -> Vec<String> {
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else { return Vec::new() };
    let (first, last) = (first.as_bytes(), last.as_bytes());
    let parted = first.iter().zip(last).take_while(|(a, b)| a == b).count();
    // The store's order is not trusted: a page out of order is not cut, and never panics.
    if parted < prefix.len() || parted >= first.len().min(last.len()) {
        return Vec::new();
    }
    // The counter's alphabet, from where the keys part and the position after it.
    let digits = keys.iter().flat_map(|key| key.as_bytes().iter().skip(parted).take(2).copied());
    let Some(alphabet) = alphabet_of(digits) else { return Vec::new() };
    let base = alphabet.len() as u128;
    // The counter's digits before the keys part, which a cut may carry into (`data-0000999` steps
    // to `data-0001948`), but never into the folder's prefix.
    let start = (prefix.len().max(parted.saturating_sub(MAX_DIGITS))..parted)
        .rev()
        .take_while(|&at| rank(alphabet, last[at]).is_some())
        .last()
        .unwrap_or(parted);
    // The counter read to `width` digits past where the keys part; past a key's end, as its
    // alphabet's first digit.
    let value = |key: &[u8], width: usize| -> Option<u128> {
        (start..parted + width).try_fold(0u128, |value, at| {
            let digit = key.get(at).map_or(Some(0), |&byte| rank(alphabet, byte))?;
            Some(value * base + digit as u128)
        })
    };
    // Read as many digits as it takes to see the page's span in fine steps, stopping where a
    // key holds something outside the counter's alphabet (its suffix).
    let (mut width, mut span) = (0, (0, 0));
    while width < MAX_DIGITS {
        let (Some(low), Some(high)) = (value(first, width + 1), value(last, width + 1)) else {
            break;
        };
        (width, span) = (width + 1, (low, high));
        if high.saturating_sub(low) >= MIN_STEPS {
            break;
        }
    }
    let (low, high) = span;
    if width == 0 || high <= low {
        return Vec::new();
    }
    // Counter steps a page of keys reaches, at the density of this one; a range is cut a little
    // shorter, so that its first page reaches past its end.
    let per_page = (high - low) as f64 * PAGE_KEYS / keys.len() as f64;
    let stride = ((per_page * RANGE_FILL) as u128).max(1);
    let digits = parted - start + width;
    let limit = base.pow(digits as u32);
    let mut points = Vec::new();
    for wave in 1..=most as u128 {
        let Some(at) = high.checked_add(stride * wave).filter(|at| *at < limit) else { break };
        let mut point = last[..start].to_vec();
        point.extend(render(at, digits, alphabet));
        // Only ASCII bytes were added, each a character of its own.
        let Ok(cut) = String::from_utf8(point) else { break };
        if upto.is_some_and(|upto| cut.as_str() >= upto) {
            break;
        }
        points.push(cut);
    }
    points
}

/// `value` as `width` digits of `alphabet`, the most significant first.
fn render(mut value: u128, width: usize, alphabet: &[u8]) -> Vec<u8> {
    let base = alphabet.len() as u128;
    let mut digits = vec![alphabet[0]; width];
    for digit in digits.iter_mut().rev() {
        *digit = alphabet[(value % base) as usize];
        value /= base;
    }
    digits
}

/// The smallest alphabet that holds every digit; none when one is not printable ASCII or '/'.
fn alphabet_of(digits: impl Iterator<Item = u8>) -> Option<&'static [u8]> {
    let mut seen = [false; 128];
    for digit in digits {
        if digit == b'/' || !(b' '..=b'~').contains(&digit) {
            return None;
        }
        seen[usize::from(digit)] = true;
    }
    let holds_all = |alphabet: &[u8]| {
        (0..128u8).all(|byte| !seen[usize::from(byte)] || alphabet.contains(&byte))
    };
    ALPHABETS.into_iter().find(|alphabet| holds_all(alphabet)).or(Some(&PRINTABLE))
}

/// Where `byte` stands in `alphabet`.
fn rank(alphabet: &[u8], byte: u8) -> Option<usize> {
    alphabet.iter().position(|&a| a == byte)
}

#[cfg(test)]
mod tests {
    use super::super::tests;
    use super::*;
    use crate::store::engine::backlog::Backlog;
    use tokio::sync::mpsc;

    /// What a range keeps of a page (keys and sub-folders), and where it goes on: from which
    /// token. `after`: the range's start, when the page is the range's first.
    fn range_of(
        page: &ListPage,
        after: Option<&str>,
        upto: &str,
    ) -> (Vec<String>, Option<(&'static str, String)>) {
        let (client, backlog) = (tests::client(), Backlog::default());
        let lister = tests::lister(&client, &backlog);
        let (pages, mut received) = mpsc::channel(1);
        let slot = pages.try_reserve().expect("a free slot");
        let start = match after {
            Some(after) => Start::After(format!("j/{after}")),
            None => Start::Token("t".into()),
        };
        let range = Range { prefix: "j/".into(), start, upto: Some(format!("j/{upto}")) };
        let (rest, _) = lister.range_page(range, page, slot, 0);
        let mut kept: Vec<String> = match received.try_recv() {
            Ok(page) => page.into_objects().map(|o| o.key).collect(),
            Err(_) => Vec::new(),
        };
        let mut next = None;
        for listing in rest {
            match listing {
                Listing::Chain { prefix } => kept.push(prefix),
                Listing::Range(Range { start: Start::Token(token), .. }) => {
                    next = Some(("full", token))
                }
                _ => panic!("a range page leads to sub-folder chains and its own next page"),
            }
        }
        (kept, next)
    }

    fn page(keys: &[&str], folders: &[&str], truncated: bool) -> ListPage {
        use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
        use aws_sdk_s3::types::{CommonPrefix, Object};
        let object = |key: &&str| Object::builder().key(format!("j/{key}")).build();
        let folder = |p: &&str| CommonPrefix::builder().prefix(format!("j/{p}")).build();
        let output = ListObjectsV2Output::builder()
            .set_contents(Some(keys.iter().map(object).collect()))
            .set_common_prefixes(Some(folders.iter().map(folder).collect()))
            .is_truncated(truncated)
            .next_continuation_token("next")
            .build();
        ListPage::from_output(&output)
    }

    #[test]
    fn a_range_keeps_exactly_its_keys_whatever_the_store_sent() {
        // A page from where the range starts, or a later one: the range goes on while nothing
        // is past its end.
        let inside = page(&["b1", "b2"], &["b3/"], true);
        let kept = vec!["j/b1".into(), "j/b2".into(), "j/b3/".into()];
        assert_eq!(
            range_of(&inside, Some("b"), "c"),
            (kept.clone(), Some(("full", "next".into())))
        );
        assert_eq!(range_of(&inside, None, "c"), (kept, Some(("full", "next".into()))));
        // The end key itself is in; past it the range has ended, whether the page is
        // truncated or not.
        let across = page(&["bz", "c", "c0", "d"], &["c/"], true);
        assert_eq!(range_of(&across, Some("b"), "c"), (vec!["j/bz".into(), "j/c".into()], None));
        // A store that ignored `start-after`: keys at or before the start are another range's.
        let from_the_top = page(&["a", "b", "b1"], &["a/"], false);
        assert_eq!(range_of(&from_the_top, Some("b"), "c"), (vec!["j/b1".into()], None));
    }

    fn keys_of(keys: impl Iterator<Item = String>) -> Vec<String> {
        keys.collect()
    }

    fn cuts(prefix: &str, keys: &[String], upto: Option<&str>, most: usize) -> Vec<String> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        cut_points(prefix, &keys, upto, most)
    }

    #[test]
    fn a_decimal_counter_is_cut_a_little_under_a_page_apart() {
        let keys = keys_of((0..1000).map(|i| format!("j/out/data-{i:07}.bin")));
        let points = cuts("j/out/", &keys, None, 3);
        // 948 keys after the page (1000 to 1947), then 949 in each range: a range's first page
        // reaches past its end.
        assert_eq!(points, ["j/out/data-0001948", "j/out/data-0002897", "j/out/data-0003846"]);
    }

    #[test]
    fn points_are_ordered_above_the_page_and_below_the_end() {
        let keys = keys_of((0..1000).map(|i| format!("p/part-{i:05}")));
        let points = cuts("p/", &keys, Some("p/part-03"), 100);
        assert_eq!(points, ["p/part-01948", "p/part-02897"]);
        assert!(points.windows(2).all(|w| w[0] < w[1]));
    }

    /// Requests a folder of `keys` (sorted, under `prefix`) costs listed as the lister lists it:
    /// a first page and the next, then ranges cut from the page of the range that reaches
    /// furthest, a wave of [`CUT_WAVE`] at a time; a range costs a page for every 1,000 of its
    /// keys, and one more when its last page holds exactly its last key.
    fn requests_to_list(prefix: &str, keys: &[String]) -> usize {
        let page = 1000;
        let mut requests = 1 + usize::from(keys.len() > page);
        let mut from = (2 * page).min(keys.len());
        let mut last_page: Vec<&str> =
            keys[from.saturating_sub(page)..from].iter().map(String::as_str).collect();
        while from < keys.len() {
            let cuts = cut_points(prefix, &last_page, None, CUT_WAVE);
            let mut start = from;
            for cut in &cuts {
                let end =
                    start + keys[start..].iter().take_while(|k| k.as_str() <= cut.as_str()).count();
                let held = end - start;
                // A page reaches past the range's end only when it holds fewer than a page.
                requests += held / page + 1;
                start = end;
            }
            // The range that reaches furthest: one page, which the next wave is cut from.
            requests += 1;
            let end = (start + page).min(keys.len());
            last_page = keys[start..end].iter().map(String::as_str).collect();
            from = end;
        }
        requests
    }

    #[test]
    fn listing_by_ranges_takes_about_a_request_a_page() {
        type Naming = (&'static str, fn(usize) -> String);
        let names: [Naming; 4] = [
            ("a decimal counter", |i| format!("j/data-{i:07}.bin")),
            ("every 16th of a counter", |i| format!("j/data-{:06}.parquet", i * 16)),
            ("hex of a hash", |i| {
                format!("j/{:016x}", (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
            }),
            ("a counter in a Spark name", |i| {
                format!("j/part-{i:05}-3f1c2b7a-c000.snappy.parquet")
            }),
        ];
        for (naming, name) in names {
            for objects in [2_500, 20_000, 100_000] {
                let mut keys: Vec<String> = (0..objects).map(name).collect();
                keys.sort();
                let requests = requests_to_list("j/", &keys);
                let least = objects.div_ceil(1000);
                assert!(
                    requests * 100 <= least * 110 + CUT_WAVE * 100,
                    "{naming}, {objects} keys: {requests} requests, least {least}"
                );
            }
        }
    }

    #[test]
    fn no_point_leaves_the_prefix_or_holds_a_delimiter() {
        // The carry would have to step the prefix itself.
        let keys = keys_of((0..1000).map(|i| format!("p9/{:03}", i)));
        assert_eq!(cuts("p9/", &keys, None, 5), Vec::<String>::new());
        // Names of any printable characters: the points are made of them too, but '/'.
        let printable = |i: usize| char::from(PRINTABLE[i % PRINTABLE.len()]);
        let mut keys =
            keys_of((0..1000).map(|i| format!("p/a{}{}x", printable(i / 94), printable(i))));
        keys.sort();
        let points = cuts("p/", &keys, None, 200);
        assert!(!points.is_empty());
        assert!(points.iter().all(|p| p.starts_with("p/") && !p[2..].contains('/')), "{points:?}");
    }

    #[test]
    fn pages_without_a_counter_are_not_cut() {
        let none = Vec::<String>::new();
        assert_eq!(cuts("p/", &none, None, 5), none);
        let one = keys_of(["p/x".to_owned()].into_iter());
        assert_eq!(cuts("p/", &one, None, 5), none);
        // The first key is a prefix of the last: nothing to step where they part.
        let nested = keys_of(["p/ab", "p/abc"].into_iter().map(str::to_owned));
        assert_eq!(cuts("p/", &nested, None, 5), none);
        // A counter behind a character that is not ASCII is not stepped.
        let wide = keys_of(["p/\u{e9}a", "p/\u{e9}z"].into_iter().map(str::to_owned));
        assert_eq!(cuts("p/", &wide, None, 5), none);
        // Pages out of order, as only a broken store would send them.
        let backwards = keys_of(["p/abc", "p/ab"].into_iter().map(str::to_owned));
        assert_eq!(cuts("p/", &backwards, None, 5), none);
        let descending = keys_of(["p/x9", "p/x1"].into_iter().map(str::to_owned));
        assert_eq!(cuts("p/", &descending, None, 5), none);
    }
}
