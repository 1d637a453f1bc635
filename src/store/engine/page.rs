//! Listed objects kept compact: between the lister and the deleters (backlog.rs), and while their
//! DeleteObjects request is in flight (deleter.rs). Listings come sorted, so a key shares most of
//! its bytes with the one before it: each key is kept as the length of that shared part and the
//! rest (front coding), and the numbers as varints.

use super::Listed;
use std::borrow::Borrow;

/// Listed objects, compact. 1,000 keys named as
/// `project/jobs/<id>/output/part-00001/data-0000001.bin` take about 8 KB, against 130 KB as
/// 1,000 [`Listed`].
#[derive(Debug)]
pub(super) struct Page {
    /// Per object: the bytes its key shares with the key before it, the length of its rest, its
    /// size; each a LEB128 varint.
    numbers: Vec<u8>,
    rests: String,
    len: usize,
    /// The objects' sizes, summed.
    size: u64,
    /// Empty unless some object has a version id.
    versions: Vec<Option<String>>,
}

impl Page {
    pub fn new(objects: &[Listed]) -> Page {
        let mut page = Page {
            numbers: Vec::with_capacity(3 * objects.len()),
            rests: String::new(),
            len: objects.len(),
            size: objects.iter().map(|o| o.size).sum(),
            versions: Vec::new(),
        };
        if objects.iter().any(|o| o.version_id.is_some()) {
            page.versions = objects.iter().map(|o| o.version_id.clone()).collect();
        }
        let mut previous = "";
        for object in objects {
            let shared = shared_len(previous, &object.key);
            let rest = &object.key[shared..];
            for number in [shared as u64, rest.len() as u64, object.size] {
                put_varint(&mut page.numbers, number);
            }
            page.rests.push_str(rest);
            previous = &object.key;
        }
        page.numbers.shrink_to_fit();
        page.rests.shrink_to_fit();
        page
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The memory the page holds, near enough to bound the backlog.
    pub fn bytes(&self) -> usize {
        let versions: usize = self.versions.iter().flatten().map(String::len).sum();
        self.numbers.len() + self.rests.len() + self.versions.len() * 24 + versions
    }

    /// The objects, whole again, in the order they were listed.
    pub fn objects(&self) -> Objects<&Page> {
        Objects::new(self)
    }

    /// The same, for a page being taken apart over time (see `batches` in mod.rs).
    pub fn into_objects(self) -> Objects<Page> {
        Objects::new(self)
    }
}

/// A page's objects, one at a time: each key is rebuilt from the one before it.
#[derive(Debug)]
pub(super) struct Objects<P> {
    page: P,
    next: usize,
    /// Where the next object's numbers and rest start.
    numbers: usize,
    rests: usize,
    key: String,
}

impl<P: Borrow<Page>> Objects<P> {
    fn new(page: P) -> Self {
        Objects { page, next: 0, numbers: 0, rests: 0, key: String::new() }
    }

    pub fn page(&self) -> &Page {
        self.page.borrow()
    }

    pub fn is_done(&self) -> bool {
        self.next == self.page().len
    }

    fn number(&mut self) -> u64 {
        read_varint(&self.page.borrow().numbers, &mut self.numbers)
    }
}

impl<P: Borrow<Page>> Iterator for Objects<P> {
    type Item = Listed;

    fn next(&mut self) -> Option<Listed> {
        if self.is_done() {
            return None;
        }
        let (shared, rest, size) = (self.number() as usize, self.number() as usize, self.number());
        self.key.truncate(shared);
        let page = self.page.borrow();
        self.key.push_str(&page.rests[self.rests..self.rests + rest]);
        self.rests += rest;
        let version_id = page.versions.get(self.next).cloned().flatten();
        self.next += 1;
        Some(Listed { key: self.key.clone(), version_id, size })
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The varint written by [`put_varint`] at `*at`; moves `*at` past it.
fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0;
    let mut shift = 0;
    while let Some(&byte) = bytes.get(*at) {
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            break;
        }
        shift += 7;
    }
    value
}

/// The length of the longest common prefix of `a` and `b` that ends on a character boundary.
fn shared_len(a: &str, b: &str) -> usize {
    let mut n = a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    while !a.is_char_boundary(n) {
        n -= 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(key: &str, version_id: Option<&str>, size: u64) -> Listed {
        Listed { key: key.to_owned(), version_id: version_id.map(str::to_owned), size }
    }

    fn whole(page: &Page) -> Vec<(String, Option<String>, u64)> {
        page.objects().map(|o| (o.key, o.version_id, o.size)).collect()
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
            // Out of order, a key that is a prefix of the one before, sizes past one byte.
            vec![listed("ab/c", None, 300), listed("ab", None, 5 << 40), listed("abz", None, 0)],
            vec![],
        ];
        for objects in cases {
            let expected: Vec<_> =
                objects.iter().map(|o| (o.key.clone(), o.version_id.clone(), o.size)).collect();
            let page = Page::new(&objects);
            assert_eq!(
                (page.len(), page.size()),
                (objects.len(), objects.iter().map(|o| o.size).sum())
            );
            assert_eq!(whole(&page), expected);
            assert_eq!(whole(&page), expected, "read twice");
            let taken: Vec<_> =
                page.into_objects().map(|o| (o.key, o.version_id, o.size)).collect();
            assert_eq!(taken, expected);
        }
    }

    #[test]
    fn a_page_of_keys_under_one_folder_takes_under_10_bytes_a_key() {
        let objects: Vec<Listed> = (0..1000)
            .map(|i| {
                listed(
                    &format!("p/jobs/0123456789abcdef/output/part-00001/data-{i:07}.bin"),
                    None,
                    16,
                )
            })
            .collect();
        let page = Page::new(&objects);
        assert!(page.bytes() < 10_000, "{} bytes", page.bytes());
    }
}
