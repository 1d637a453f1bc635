//! Slimmer list replies. A ListObjectsV2 reply describes each object in some 300 bytes
//! (`LastModified`, `ETag`, `StorageClass`, ...), of which the lister uses the key and the size.
//! The SDK reads a reply whole, copies its pieces into one buffer and parses it twice (once only
//! to see whether it is an error), so what the lister never reads took a quarter to a third of
//! the function's CPU in a 100,000-object job (BENCHMARKS.md).
//!
//! The lister's client therefore reads each successful reply itself (`SlimReplies`), keeps of
//! every `<Contents>` only `<Key>` and `<Size>`, and hands the SDK that as one piece, which the
//! SDK then keeps without a copy. Everything else in the reply stays as it came. Whatever a
//! reply holds, the lister still deletes only keys inside the root it lists (`confine`).
//! Gathered replies show the SDK no progress until they end, so that client has no stalled-stream
//! check; its attempts are bounded by `S3_ATTEMPT_TIMEOUT_MS` (`Clients::new`).

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::primitives::SdkBody;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use memchr::{memchr, memmem};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Installed on the lister's client only: ListObjectsV2 and ListObjectVersions. A reply without
/// `<Contents>` (versions, errors) passes unchanged.
#[derive(Debug)]
pub(super) struct SlimReplies;

impl Intercept for SlimReplies {
    fn name(&self) -> &'static str {
        "SlimReplies"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response_mut();
        if response.status().is_success() {
            let body = std::mem::replace(response.body_mut(), SdkBody::taken());
            *response.body_mut() = SdkBody::from_body_1_x(Slimmed::new(body));
        }
        Ok(())
    }
}

/// A reply body read whole and slimmed: one data frame, then the end.
struct Slimmed {
    inner: SdkBody,
    pieces: Vec<Bytes>,
    ended: bool,
}

impl Slimmed {
    fn new(inner: SdkBody) -> Slimmed {
        Slimmed { inner, pieces: Vec::new(), ended: false }
    }
}

impl Body for Slimmed {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        while !this.ended {
            match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        this.pieces.push(data);
                    }
                }
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => this.ended = true,
            }
        }
        if this.pieces.is_empty() {
            return Poll::Ready(None);
        }
        // The pieces are held until the end, as the SDK holds them: copying each as it came
        // peaked higher (BENCHMARKS.md), the connection's read buffer then being kept and grown.
        let pieces = std::mem::take(&mut this.pieces);
        let mut xml = Vec::with_capacity(pieces.iter().map(Bytes::len).sum());
        for piece in pieces {
            xml.extend_from_slice(&piece);
        }
        slim(&mut xml);
        xml.shrink_to_fit();
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(xml)))))
    }

    fn is_end_stream(&self) -> bool {
        self.ended && self.pieces.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// Child elements of `<Contents>` that are kept; the others are dropped.
const KEPT: [&[u8]; 2] = [b"Key", b"Size"];

/// Drops, in place, every child element of each `<Contents>` element but `<Key>` and `<Size>`.
///
/// Only whole elements of a plain reply are dropped: a reply with a CDATA section, a comment or
/// a declaration (`<!`), or with a processing instruction past its start, is left as it is; so
/// is the rest of one at the first tag that is not the simple `<Name>` a store writes. Kept
/// elements are copied byte for byte, so a key is never changed, only ever left out whole with
/// the element that holds it.
pub(super) fn slim(xml: &mut Vec<u8>) {
    let plain = memmem::find(xml, b"<!").is_none()
        && memmem::find_iter(xml, b"<?").all(|at| at == 0)
        && memmem::find(xml, b"<Contents>").is_some();
    if !plain {
        return;
    }
    let mut out = Compactor { xml, read: 0, write: 0 };
    while let Some(opened) = out.find(b"<Contents>") {
        out.keep_to(opened + b"<Contents>".len());
        if !out.children_of_contents() {
            break;
        }
    }
    out.finish();
}

/// Moves the bytes that are kept towards the front: `[..write]` is the output so far and
/// `[read..]` what is still to be read.
struct Compactor<'a> {
    xml: &'a mut Vec<u8>,
    read: usize,
    write: usize,
}

impl Compactor<'_> {
    /// Where `needle` next starts, from the read position.
    fn find(&self, needle: &[u8]) -> Option<usize> {
        memmem::find(&self.xml[self.read..], needle).map(|at| self.read + at)
    }

    fn keep_to(&mut self, end: usize) {
        self.xml.copy_within(self.read..end, self.write);
        self.write += end - self.read;
        self.read = end;
    }

    fn drop_to(&mut self, end: usize) {
        self.read = end;
    }

    /// Reads the children of a `<Contents>` up to and with its end tag, dropping those not kept;
    /// false, with nothing more read, at anything other than a simple child element.
    fn children_of_contents(&mut self) -> bool {
        loop {
            let Some(tag) = memchr(b'<', &self.xml[self.read..]).map(|at| self.read + at) else {
                return false;
            };
            self.keep_to(tag);
            if self.xml[tag..].starts_with(b"</Contents>") {
                self.keep_to(tag + b"</Contents>".len());
                return true;
            }
            let Some(name_end) = memchr(b'>', &self.xml[tag..]).map(|at| tag + at) else {
                return false;
            };
            let name = &self.xml[tag + 1..name_end];
            if name.is_empty() || !name.iter().all(u8::is_ascii_alphanumeric) {
                return false;
            }
            let close = [b"</", name, b">"].concat();
            let Some(end) = self.find(&close).map(|at| at + close.len()) else { return false };
            match KEPT.contains(&name) {
                true => self.keep_to(end),
                false => self.drop_to(end),
            }
        }
    }

    /// Keeps the rest and cuts the buffer to what was kept.
    fn finish(mut self) {
        self.keep_to(self.xml.len());
        self.xml.truncate(self.write);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slimmed(xml: &str) -> String {
        let mut bytes = xml.as_bytes().to_vec();
        slim(&mut bytes);
        String::from_utf8(bytes).unwrap()
    }

    const OBJECT: &str = "<Contents><Key>p%2Fa%26b.bin</Key>\
        <LastModified>2026-11-29T05:45:57.737Z</LastModified>\
        <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>\
        <ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>\
        <Size>64</Size><Owner><ID>abc</ID><DisplayName>me</DisplayName></Owner>\
        <StorageClass>STANDARD</StorageClass></Contents>";

    #[test]
    fn keeps_only_the_key_and_size_of_each_object() {
        let reply = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult><Name>b</Name>\
             <Prefix>p/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>{OBJECT}\n\
             {OBJECT}<CommonPrefixes><Prefix>p/q/</Prefix></CommonPrefixes>\
             <NextContinuationToken>t&amp;1</NextContinuationToken></ListBucketResult>"
        );
        let object = "<Contents><Key>p%2Fa%26b.bin</Key><Size>64</Size></Contents>";
        assert_eq!(
            slimmed(&reply),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult><Name>b</Name>\
                 <Prefix>p/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>\
                 {object}\n{object}<CommonPrefixes><Prefix>p/q/</Prefix></CommonPrefixes>\
                 <NextContinuationToken>t&amp;1</NextContinuationToken></ListBucketResult>"
            )
        );
    }

    #[test]
    fn leaves_alone_what_it_does_not_expect() {
        // CDATA, comments, processing instructions inside: the whole reply as it came.
        for odd in [
            format!(
                "<R>{OBJECT}<Contents><Key><![CDATA[k</Key><ETag>x</ETag>]]></Key></Contents></R>"
            ),
            format!("<R><!-- <Contents> -->{OBJECT}</R>"),
            format!("<R>{OBJECT}<?pi <Contents><ETag>x</ETag></Contents> ?></R>"),
            // No objects at all (a versions reply, an error).
            "<Error><Code>NoSuchBucket</Code><Message>m</Message></Error>".to_owned(),
        ] {
            assert_eq!(slimmed(&odd), odd);
        }
        // An unexpected tag: objects before it are slimmed, the rest kept as it came.
        let rest = "<Contents><Key a=\"1\">k</Key><ETag>x</ETag></Contents></R>";
        let odd = format!("<R>{OBJECT}{rest}");
        let expected =
            format!("<R><Contents><Key>p%2Fa%26b.bin</Key><Size>64</Size></Contents>{rest}");
        assert_eq!(slimmed(&odd), expected);
        // Cut short: kept as it came from the cut on.
        let cut = format!("<R>{OBJECT}<Contents><Key>k</Key><ETag>x</ETa");
        assert!(slimmed(&cut).ends_with("<Contents><Key>k</Key><ETag>x</ETa"));
    }

    /// A body that arrives in the given pieces.
    struct Pieces(std::collections::VecDeque<Bytes>);

    impl Body for Pieces {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|piece| Ok(Frame::data(piece))))
        }
    }

    #[tokio::test]
    async fn a_reply_read_in_pieces_is_handed_on_slimmed_in_one() {
        let reply = format!("<ListBucketResult>{OBJECT}{OBJECT}</ListBucketResult>");
        let pieces = reply.as_bytes().chunks(7).map(Bytes::copy_from_slice).collect();
        let mut body = std::pin::pin!(Slimmed::new(SdkBody::from_body_1_x(Pieces(pieces))));
        let mut frames = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
            frames.push(frame.unwrap().into_data().unwrap());
        }
        let object = "<Contents><Key>p%2Fa%26b.bin</Key><Size>64</Size></Contents>";
        assert_eq!(frames, [format!("<ListBucketResult>{object}{object}</ListBucketResult>")]);
        assert!(body.is_end_stream());
    }
}
