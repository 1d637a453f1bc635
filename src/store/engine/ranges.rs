//! Where to cut a flat folder's keys so that parts of it can be listed side by side.
//! ListObjectsV2 takes a `start-after` but no end, so the lister lists a range `(after, upto]`
//! from `after` and stops at its first key past `upto`. That is exact whatever the cut points
//! are: a bad guess costs balance and a request, never a key missed or listed twice.
//!
//! The points are guessed from one page. Jobs name their outputs with counters
//! (`part-00000`, `data-0001999.bin`, hex hashes), so the position where the page's first and
//! last keys part shows how far one page reaches; stepping the key up to that position, in the
//! counter's alphabet, gives points about a page apart.

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
/// rest of a folder into ranges of about a page each. `keys` is one page of the folder, in order,
/// every key starting with `prefix` and holding no '/' after it. Empty when the page shows no
/// counter to step.
pub(super) fn cut_points(
    prefix: &str,
    keys: &[&str],
    upto: Option<&str>,
    most: usize,
) -> Vec<String> {
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else { return Vec::new() };
    let (first, last) = (first.as_bytes(), last.as_bytes());
    let parted = first.iter().zip(last).take_while(|(a, b)| a == b).count();
    // The store's order is not trusted: a page out of order is not cut, and never panics.
    if parted < prefix.len() || parted >= first.len().min(last.len()) {
        return Vec::new();
    }
    // The counter's digits are where the keys part and the position after it.
    let digits = keys.iter().flat_map(|key| key.as_bytes().iter().skip(parted).take(2).copied());
    let Some(alphabet) = alphabet_of(digits) else { return Vec::new() };
    let (Some(low), Some(high)) = (rank(alphabet, first[parted]), rank(alphabet, last[parted]))
    else {
        return Vec::new();
    };
    // The page spans `spanned` digits where it parts. Stepping the digit before it moves about
    // `alphabet / spanned` pages, stepping that digit itself `1 / spanned` of a page: take
    // whichever is nearer one page.
    let Some(spanned) = high.checked_sub(low).map(|apart| apart + 1) else { return Vec::new() };
    let stepped = match parted > prefix.len() && alphabet.len() / spanned <= spanned {
        true => parted,
        false => parted + 1,
    };
    let mut point = last[..stepped].to_vec();
    let mut points = Vec::new();
    while points.len() < most && step(&mut point, alphabet, prefix.len()) {
        // Only ASCII bytes were changed, each at a character of its own.
        let Ok(cut) = String::from_utf8(point.clone()) else { break };
        if upto.is_some_and(|upto| cut.as_str() >= upto) {
            break;
        }
        points.push(cut);
    }
    points
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

/// Steps `point` to the next string in `alphabet`, carrying left as a counter does, but never
/// into its first `fixed` bytes; false when it cannot.
fn step(point: &mut [u8], alphabet: &[u8], fixed: usize) -> bool {
    for at in (fixed..point.len()).rev() {
        let Some(rank) = rank(alphabet, point[at]) else { return false };
        if let Some(&next) = alphabet.get(rank + 1) {
            point[at] = next;
            return true;
        }
        point[at] = alphabet[0];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::cut_points;

    fn page(keys: impl Iterator<Item = String>) -> Vec<String> {
        keys.collect()
    }

    fn cuts(prefix: &str, keys: &[String], upto: Option<&str>, most: usize) -> Vec<String> {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        cut_points(prefix, &keys, upto, most)
    }

    #[test]
    fn a_decimal_counter_is_cut_a_page_apart() {
        let keys = page((0..1000).map(|i| format!("j/out/data-{i:07}.bin")));
        let points = cuts("j/out/", &keys, None, 12);
        assert_eq!(points.first().map(String::as_str), Some("j/out/data-0001"));
        assert_eq!(points.get(8).map(String::as_str), Some("j/out/data-0009"));
        // The carry goes on as a counter does.
        assert_eq!(points.get(9).map(String::as_str), Some("j/out/data-0010"));
        assert_eq!(points.len(), 12);
    }

    #[test]
    fn a_page_that_spans_few_digits_is_cut_on_the_next_digit() {
        // Hex names whose page reaches only from 0000 to 02ff.
        let mut keys = page((0..1000).map(|i| format!("j/{:04x}-{i}", i * 768 / 1000)));
        keys.sort();
        assert_eq!(cuts("j/", &keys, None, 3), ["j/03", "j/04", "j/05"]);
    }

    #[test]
    fn points_are_ordered_above_the_page_and_below_the_end() {
        let keys = page((0..1000).map(|i| format!("p/part-{i:05}")));
        let points = cuts("p/", &keys, Some("p/part-04"), 100);
        assert_eq!(points, ["p/part-01", "p/part-02", "p/part-03"]);
        assert!(points.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn no_point_leaves_the_prefix_or_holds_a_delimiter() {
        // The carry would have to step the prefix itself.
        let keys = page((0..1000).map(|i| format!("p9/{:03}", i)));
        assert_eq!(cuts("p9/", &keys, None, 5), Vec::<String>::new());
        let keys = page(["p/a.x", "p/a~x"].into_iter().map(str::to_owned));
        let points = cuts("p/", &keys, None, 200);
        assert!(!points.is_empty());
        assert!(points.iter().all(|p| p.starts_with("p/") && !p[2..].contains('/')), "{points:?}");
    }

    #[test]
    fn pages_without_a_counter_are_not_cut() {
        let none = Vec::<String>::new();
        assert_eq!(cuts("p/", &none, None, 5), none);
        let one = page(["p/x".to_owned()].into_iter());
        assert_eq!(cuts("p/", &one, None, 5), none);
        // The first key is a prefix of the last: nothing to step where they part.
        let nested = page(["p/ab", "p/abc"].into_iter().map(str::to_owned));
        assert_eq!(cuts("p/", &nested, None, 5), none);
        // A counter behind a character that is not ASCII is not stepped.
        let wide = page(["p/\u{e9}a", "p/\u{e9}z"].into_iter().map(str::to_owned));
        assert_eq!(cuts("p/", &wide, None, 5), none);
        // Pages out of order, as only a broken store would send them.
        let backwards = page(["p/abc", "p/ab"].into_iter().map(str::to_owned));
        assert_eq!(cuts("p/", &backwards, None, 5), none);
        let descending = page(["p/x9", "p/x1"].into_iter().map(str::to_owned));
        assert_eq!(cuts("p/", &descending, None, 5), none);
    }
}
