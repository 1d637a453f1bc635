//! ListObjectsV2 replies read by a scanner of their own. The SDK parses every field of every
//! object of a page (dates, ETags, storage classes) and walks the whole document once more to see
//! whether it is an error: at the CPU share of a small Lambda function that was the larger part of
//! the time a deletion spent. Deleting needs only each key and size, the sub-folders, whether the
//! listing goes on and from which token.
//!
//! So a list request carries a [`Tap`]: it buffers the reply's body, reads it with [`scan`], and
//! hands the SDK an empty result to parse instead. A body the scanner does not know (an `<Error>`
//! inside a 200, anything unexpected) goes to the SDK untouched, and the page is read from the
//! SDK's output ([`ListPage::from_output`]): the scanner can only make listing cheaper, never
//! change what is listed.

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::primitives::SdkBody;
use aws_sdk_s3::types::EncodingType;
use bytes::Bytes;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

/// What deleting needs of one ListObjectsV2 page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ListPage {
    /// Each object's key, as sent (URL-encoded when `encoded`), and size.
    pub objects: Vec<(String, u64)>,
    /// The sub-folders a delimiter listing rolled up, as sent.
    pub prefixes: Vec<String>,
    pub truncated: bool,
    pub next_token: Option<String>,
    /// Whether keys and prefixes came URL-encoded (`encoding-type=url`).
    pub encoded: bool,
}

impl ListPage {
    /// The page of an output the SDK parsed.
    pub fn from_output(output: &ListObjectsV2Output) -> ListPage {
        let objects = output.contents().iter().filter_map(|object| {
            Some((object.key()?.to_owned(), object.size().unwrap_or(0).max(0) as u64))
        });
        ListPage {
            objects: objects.collect(),
            prefixes: output
                .common_prefixes()
                .iter()
                .filter_map(|p| p.prefix())
                .map(str::to_owned)
                .collect(),
            truncated: output.is_truncated().unwrap_or(false),
            next_token: output.next_continuation_token().map(str::to_owned),
            encoded: output.encoding_type() == Some(&EncodingType::Url),
        }
    }
}

/// The body the SDK parses in place of a page the scanner read: a result with nothing in it.
const EMPTY_RESULT: &[u8] = b"<ListBucketResult></ListBucketResult>";

/// Reads the page of a ListObjectsV2 reply into its slot; see the module's doc.
#[derive(Debug, Default, Clone)]
pub(super) struct Tap {
    pub page: Arc<Mutex<Option<ListPage>>>,
}

impl Tap {
    /// The page the scanner read, if it read one.
    pub fn take(&self) -> Option<ListPage> {
        self.page.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Intercept for Tap {
    fn name(&self) -> &'static str {
        "ListPageTap"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        if response.status().is_success() {
            let body = response.take_body();
            let scanned =
                Scanned { body, buffer: Vec::new(), page: self.page.clone(), done: false };
            *response.body_mut() = SdkBody::from_body_1_x(scanned);
        }
        Ok(())
    }
}

/// A reply's body, buffered whole, then given on as the empty result if the scanner read it, or
/// as it came.
struct Scanned {
    body: SdkBody,
    buffer: Vec<u8>,
    page: Arc<Mutex<Option<ListPage>>>,
    done: bool,
}

impl http_body::Body for Scanned {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        loop {
            if self.done {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => {
                    self.done = true;
                    let buffer = std::mem::take(&mut self.buffer);
                    let given = match scan(&buffer) {
                        Some(page) => {
                            *self.page.lock().unwrap_or_else(|e| e.into_inner()) = Some(page);
                            Bytes::from_static(EMPTY_RESULT)
                        }
                        None => Bytes::from(buffer),
                    };
                    return Poll::Ready(Some(Ok(http_body::Frame::data(given))));
                }
            }
        }
    }
}

/// The page of a `ListBucketResult` document; `None` for any other document, or one that is not
/// well formed as far as the scanner can tell.
pub(super) fn scan(xml: &[u8]) -> Option<ListPage> {
    let text = std::str::from_utf8(xml).ok()?;
    let mut tags = Tags { text, at: 0 };
    // The root, after any declaration.
    let root = loop {
        match tags.next()? {
            Tag::Open(name) => break name,
            Tag::Declaration => continue,
            _ => return None,
        }
    };
    if root != "ListBucketResult" {
        return None;
    }
    let mut page = ListPage::default();
    loop {
        match tags.next()? {
            Tag::Close("ListBucketResult") => return tags.rest_is_blank().then_some(page),
            Tag::Open("Contents") => {
                let (mut key, mut size) = (None, None);
                loop {
                    match tags.next()? {
                        Tag::Open("Key") => key = Some(tags.text_until("Key")?),
                        Tag::Open("Size") => size = tags.text_until("Size")?.parse().ok(),
                        Tag::Open(other) => tags.skip(other)?,
                        Tag::Empty(_) => {}
                        Tag::Close("Contents") => break,
                        _ => return None,
                    }
                }
                page.objects.push((key?, size?));
            }
            Tag::Open("CommonPrefixes") => loop {
                match tags.next()? {
                    Tag::Open("Prefix") => page.prefixes.push(tags.text_until("Prefix")?),
                    Tag::Open(other) => tags.skip(other)?,
                    Tag::Empty(_) => {}
                    Tag::Close("CommonPrefixes") => break,
                    _ => return None,
                }
            },
            Tag::Open("IsTruncated") => page.truncated = tags.text_until("IsTruncated")? == "true",
            Tag::Open("NextContinuationToken") => {
                page.next_token = Some(tags.text_until("NextContinuationToken")?);
            }
            Tag::Open("EncodingType") => page.encoded = tags.text_until("EncodingType")? == "url",
            Tag::Open(other) => tags.skip(other)?,
            Tag::Empty(_) => {}
            _ => return None,
        }
    }
}

/// One markup item of the document.
#[derive(Debug, PartialEq, Eq)]
enum Tag<'a> {
    Open(&'a str),
    Close(&'a str),
    /// `<Name/>`.
    Empty(&'a str),
    /// `<?xml …?>`, or a comment.
    Declaration,
}

/// The tags of a document, in order, with the text between them read on request.
struct Tags<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Tags<'a> {
    /// The next tag; text before it is skipped.
    fn next(&mut self) -> Option<Tag<'a>> {
        let start = self.at + self.text[self.at..].find('<')?;
        if self.text[start..].starts_with("<!--") {
            self.at = start + self.text[start..].find("-->")? + 3;
            return Some(Tag::Declaration);
        }
        let end = start + self.text[start..].find('>')?;
        self.at = end + 1;
        let inside = &self.text[start + 1..end];
        let name = |s: &'a str| {
            s.split(|c: char| c.is_ascii_whitespace()).next().filter(|n| !n.is_empty())
        };
        Some(match inside.as_bytes().first()? {
            b'?' => Tag::Declaration,
            b'!' => return None, // CDATA or a doctype: not in S3's replies
            b'/' => Tag::Close(name(&inside[1..])?),
            _ if inside.ends_with('/') => Tag::Empty(name(&inside[..inside.len() - 1])?),
            _ => Tag::Open(name(inside)?),
        })
    }

    /// The text up to the closing tag of `name`, unescaped; the closing tag is consumed.
    fn text_until(&mut self, name: &str) -> Option<String> {
        let start = self.at;
        let end = start + self.text[start..].find('<')?;
        self.at = end;
        match self.next()? {
            Tag::Close(closed) if closed == name => unescape(&self.text[start..end]),
            _ => None,
        }
    }

    /// Skips the element `name` just opened, with everything in it.
    fn skip(&mut self, name: &str) -> Option<()> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.next()? {
                Tag::Open(n) if n == name => depth += 1,
                Tag::Close(n) if n == name => depth -= 1,
                _ => {}
            }
        }
        Some(())
    }

    fn rest_is_blank(&self) -> bool {
        self.text[self.at..].trim().is_empty()
    }
}

/// XML text with its five entities and character references resolved; `None` for a reference
/// the scanner does not know.
fn unescape(text: &str) -> Option<String> {
    if !text.contains('&') {
        return Some(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = amp + rest[amp..].find(';')?;
        let entity = &rest[amp + 1..semi];
        let decoded = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let number = entity.strip_prefix('#')?;
                let code = match number.strip_prefix('x').or_else(|| number.strip_prefix('X')) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => number.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        out.push(decoded);
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>jobs</Name><Prefix>p/jobs/j/</Prefix><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys><Delimiter>/</Delimiter><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated><Contents><Key>p/jobs/j/a%20b.bin</Key><LastModified>2026-11-27T20:00:00.000Z</LastModified><ETag>&quot;b1946ac92492d2347c6235b4d2611184&quot;</ETag><Size>16</Size><Owner><ID>x</ID><DisplayName>y</DisplayName></Owner><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>p/jobs/j/t&amp;c.bin</Key><Size>0</Size><RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress></RestoreStatus><ChecksumAlgorithm>CRC32</ChecksumAlgorithm></Contents><CommonPrefixes><Prefix>p/jobs/j/output/</Prefix></CommonPrefixes><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>"#;

    #[test]
    fn a_page_gives_its_keys_sizes_sub_folders_and_token() {
        let page = scan(PAGE.as_bytes()).unwrap();
        assert_eq!(
            page.objects,
            [("p/jobs/j/a%20b.bin".to_owned(), 16), ("p/jobs/j/t&c.bin".to_owned(), 0)]
        );
        assert_eq!(page.prefixes, ["p/jobs/j/output/"]);
        assert!(page.truncated && page.encoded);
        assert_eq!(
            page.next_token.as_deref(),
            Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        );
    }

    #[test]
    fn the_last_page_and_an_empty_one_read_as_such() {
        let last = r#"<ListBucketResult><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount><ContinuationToken>t</ContinuationToken><StartAfter/></ListBucketResult>"#;
        let page = scan(last.as_bytes()).unwrap();
        assert!(!page.truncated && page.objects.is_empty() && page.next_token.is_none());
        assert_eq!(scan(EMPTY_RESULT), Some(ListPage::default()));
    }

    #[test]
    fn anything_else_is_left_to_the_sdk() {
        for other in [
            "<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>",
            "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>", // no size
            "<ListBucketResult><Contents><Key>k</Key><Size>1</Size></Contents>",      // cut short
            "<ListBucketResult></ListBucketResult> trailing",
            "<ListBucketResult><Contents><Key><![CDATA[k]]></Key><Size>1</Size></Contents></ListBucketResult>",
            "<ListBucketResult><Contents><Key>a&bogus;</Key><Size>1</Size></Contents></ListBucketResult>",
            "",
            "not xml",
        ] {
            assert_eq!(scan(other.as_bytes()), None, "{other}");
        }
        assert_eq!(scan(&[0xff, 0xfe]), None);
    }

    #[test]
    fn entities_and_character_references_are_resolved() {
        assert_eq!(unescape("a&lt;b&gt;&quot;c&apos;&amp;").as_deref(), Some("a<b>\"c'&"));
        assert_eq!(unescape("&#65;&#x42;&#X43;").as_deref(), Some("ABC"));
        assert_eq!(unescape("&#xD800;"), None);
        assert_eq!(unescape("a&b"), None);
    }

    #[test]
    fn the_scanner_reads_what_the_sdk_reads() {
        use aws_sdk_s3::types::{CommonPrefix, Object};
        // A page built as the SDK would parse it, written out as S3 writes it.
        let keys = ["p/a", "p/b&c", "p/<d>", "p/\"q\"", "p/ü", "p/sp ace"];
        let mut xml = String::from("<ListBucketResult><IsTruncated>false</IsTruncated>");
        for (i, key) in keys.iter().enumerate() {
            let escaped = key
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;");
            xml.push_str(&format!("<Contents><Key>{escaped}</Key><Size>{i}</Size></Contents>"));
        }
        xml.push_str(
            "<CommonPrefixes><Prefix>p/x&amp;y/</Prefix></CommonPrefixes></ListBucketResult>",
        );
        let output = ListObjectsV2Output::builder()
            .set_contents(Some(
                keys.iter()
                    .enumerate()
                    .map(|(i, k)| Object::builder().key(*k).size(i as i64).build())
                    .collect(),
            ))
            .common_prefixes(CommonPrefix::builder().prefix("p/x&y/").build())
            .is_truncated(false)
            .build();
        assert_eq!(scan(xml.as_bytes()).unwrap(), ListPage::from_output(&output));
    }
}
