//! S3's own naming rules, which every layer shares and none owns: bucket names, `s3://` paths, the
//! folder a deletion removes, and keys as S3 sends them URL-encoded.

use std::fmt;

/// S3's limit on a key, and so on any path that names keys.
const MAX_PATH_BYTES: usize = 1024;

/// S3's rules for a general purpose bucket name: 3 to 63 of `[a-z0-9.-]`, starting and ending
/// with a letter or digit, no `..`, and not shaped like an IP address.
pub fn is_bucket_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && !name.contains("..")
        && name.parse::<std::net::Ipv4Addr>().is_err()
}

/// `s3://bucket/prefix`, with the prefix's trailing slashes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Path {
    pub bucket: String,
    /// Empty for the bucket's root; otherwise `/`-separated segments, none empty, `.` or `..`.
    pub prefix: String,
}

/// Why a text is not an [`S3Path`]; the text says it to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum S3PathError {
    #[error("at most {MAX_PATH_BYTES} bytes")]
    TooLong,
    #[error("expected s3://bucket/prefix")]
    NotAnS3Path,
    #[error("expected s3://bucket/prefix, with a valid bucket name")]
    BadBucket,
    #[error("the prefix must not contain empty, '.' or '..' segments")]
    BadSegment,
    #[error("the prefix must not contain control characters")]
    ControlCharacter,
}

impl S3Path {
    pub fn parse(value: &str) -> Result<S3Path, S3PathError> {
        if value.len() > MAX_PATH_BYTES {
            return Err(S3PathError::TooLong);
        }
        let rest = value.strip_prefix("s3://").ok_or(S3PathError::NotAnS3Path)?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if !is_bucket_name(bucket) {
            return Err(S3PathError::BadBucket);
        }
        let prefix = prefix.trim_end_matches('/');
        let bad_segment = |s: &str| s.is_empty() || s == "." || s == "..";
        if !prefix.is_empty() && prefix.split('/').any(bad_segment) {
            return Err(S3PathError::BadSegment);
        }
        if prefix.chars().any(char::is_control) {
            return Err(S3PathError::ControlCharacter);
        }
        Ok(S3Path { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }
}

impl fmt::Display for S3Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.prefix.as_str() {
            "" => write!(f, "s3://{}", self.bucket),
            prefix => write!(f, "s3://{}/{prefix}", self.bucket),
        }
    }
}

/// Every key in `bucket` that starts with `prefix`; `prefix` always ends with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub bucket: String,
    pub prefix: String,
}

/// A key as S3 sends it URL-encoded (listings with `encoding-type=url`, event notifications):
/// `%XX` escapes, and `+` for a space (a `+` of the key itself comes as `%2B`).
pub fn url_decode(encoded: &str) -> String {
    let spaced = encoded.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for good in ["abc", "res-jobs", "a.b-c", "0ab", &"a".repeat(63)] {
            assert!(is_bucket_name(good), "{good}");
        }
        for bad in ["ab", "Abc", "a_b", "-ab", "ab-", "a..b", "192.168.1.1", &"a".repeat(64)] {
            assert!(!is_bucket_name(bad), "{bad}");
        }
    }

    #[test]
    fn s3_paths_read_back_as_written_and_refuse_tricks() {
        let path = S3Path::parse("s3://cfg.b/a/b//").unwrap();
        assert_eq!(path, S3Path { bucket: "cfg.b".into(), prefix: "a/b".into() });
        assert_eq!(path.to_string(), "s3://cfg.b/a/b");
        let root = S3Path::parse("s3://cfg/").unwrap();
        assert_eq!((root.prefix.as_str(), root.to_string().as_str()), ("", "s3://cfg"));
        for (bad, why) in [
            ("cfg/a", S3PathError::NotAnS3Path),
            ("s3://Cfg/a", S3PathError::BadBucket),
            ("s3://cfg/a//b", S3PathError::BadSegment),
            ("s3://cfg/../a", S3PathError::BadSegment),
            ("s3://cfg/a\nb", S3PathError::ControlCharacter),
        ] {
            assert_eq!(S3Path::parse(bad), Err(why), "{bad:?}");
        }
        assert_eq!(
            S3Path::parse(&format!("s3://cfg/{}", "a".repeat(1100))),
            Err(S3PathError::TooLong)
        );
    }

    #[test]
    fn keys_are_decoded_exactly() {
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
