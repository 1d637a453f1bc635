//! What a DeleteObjects reply says of the keys it was sent. In quiet mode it lists only the keys
//! that were not deleted: every other key sent went. A key that failed for a passing reason goes
//! again; one refused for good is reported; and an error that names a key not sent, or none,
//! cannot be matched to its object, so it counts as one object not deleted, never as a success.

use super::page::Page;
use super::{Listed, Report};
use crate::store::error::is_throttling_code;
use aws_sdk_s3::types::Error as KeyError;
use std::collections::HashMap;

/// A reply's errors sorted out.
#[derive(Debug, Default)]
pub(super) struct Verdict {
    /// What was deleted and what failed for good.
    pub report: Report,
    /// Objects to send again: throttled, or failed inside the store while attempts are left.
    pub retry: Vec<Listed>,
    /// The keys the store refused as too many (SlowDown and its kind).
    pub throttled_keys: u64,
}

/// Sorts the objects of `sent` by the `errors` of its reply; `attempts_left` when a key that
/// failed inside the store (`InternalError`) may go again.
pub(super) fn read(sent: &Page, errors: &[KeyError], attempts_left: bool) -> Verdict {
    let mut verdict = Verdict::default();
    // The usual reply lists no errors: every key went, and none is rebuilt to look it up.
    if errors.is_empty() {
        verdict.report.deleted = sent.len() as u64;
        verdict.report.bytes = sent.size();
        return verdict;
    }
    let mut named: HashMap<(String, Option<String>), (&str, &str)> = HashMap::new();
    let mut unnamed = Vec::new();
    for e in errors {
        let error = (e.code().unwrap_or("Unknown"), e.message().unwrap_or(""));
        verdict.throttled_keys += u64::from(is_throttling_code(error.0));
        match e.key() {
            Some(key) => {
                named.insert((key.to_owned(), e.version_id().map(str::to_owned)), error);
            }
            None => unnamed.push(error),
        }
    }
    let report = &mut verdict.report;
    for object in sent.objects() {
        match named.remove(&(object.key.clone(), object.version_id.clone())) {
            None => {
                report.deleted += 1;
                report.bytes += object.size;
            }
            Some((code, _)) if is_throttling_code(code) => verdict.retry.push(object),
            Some(("InternalError", _)) if attempts_left => verdict.retry.push(object),
            Some((code, message)) => report.fail(std::slice::from_ref(&object), code, message),
        }
    }
    // No object has the empty key: it stands for the one not named.
    let unmatched =
        named.into_iter().chain(unnamed.into_iter().map(|e| ((String::new(), None), e)));
    for ((key, version_id), (code, message)) in unmatched {
        report.deleted = report.deleted.saturating_sub(1);
        report.fail(&[Listed { key, version_id, size: 0 }], code, message);
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(keys: &[(&str, Option<&str>)]) -> Page {
        let objects: Vec<Listed> = keys
            .iter()
            .map(|(key, version)| Listed {
                key: key.to_string(),
                version_id: version.map(str::to_owned),
                size: 10,
            })
            .collect();
        Page::new(&objects)
    }

    fn error(key: Option<&str>, version: Option<&str>, code: &str) -> KeyError {
        let mut e = KeyError::builder().code(code).message(format!("{code} message"));
        if let Some(key) = key {
            e = e.key(key);
        }
        e.set_version_id(version.map(str::to_owned)).build()
    }

    fn keys(objects: &[Listed]) -> Vec<&str> {
        objects.iter().map(|o| o.key.as_str()).collect()
    }

    #[test]
    fn a_reply_without_errors_deleted_everything_sent() {
        let verdict = read(&sent(&[("a", None), ("b", None)]), &[], true);
        assert_eq!((verdict.report.deleted, verdict.report.bytes), (2, 20));
        assert!(
            verdict.retry.is_empty() && verdict.throttled_keys == 0 && verdict.report.failed == 0
        );
    }

    #[test]
    fn throttled_keys_go_again_and_say_so() {
        let verdict =
            read(&sent(&[("a", None), ("b", None)]), &[error(Some("b"), None, "SlowDown")], false);
        assert_eq!(verdict.report.deleted, 1);
        assert_eq!(keys(&verdict.retry), ["b"]);
        assert_eq!(verdict.throttled_keys, 1);
    }

    #[test]
    fn internal_errors_go_again_only_while_attempts_are_left() {
        let page = sent(&[("a", None)]);
        let errors = [error(Some("a"), None, "InternalError")];
        assert_eq!(keys(&read(&page, &errors, true).retry), ["a"]);
        let verdict = read(&page, &errors, false);
        assert!(verdict.retry.is_empty());
        assert_eq!(verdict.report.failed, 1);
        assert_eq!(verdict.throttled_keys, 0);
    }

    #[test]
    fn keys_refused_for_good_are_reported_with_their_code_and_message() {
        let page = sent(&[("a", None), ("b", None), ("c", None)]);
        let verdict = read(&page, &[error(Some("b"), None, "AccessDenied")], true);
        assert_eq!((verdict.report.deleted, verdict.report.failed), (2, 1));
        let first = verdict.report.first_failure.unwrap();
        assert_eq!((first.key.as_str(), first.code.as_str()), ("b", "AccessDenied"));
        assert_eq!(first.message, "AccessDenied message");
    }

    #[test]
    fn versions_are_told_apart() {
        let page = sent(&[("k", Some("v1")), ("k", Some("v2"))]);
        let verdict = read(&page, &[error(Some("k"), Some("v2"), "AccessDenied")], true);
        assert_eq!((verdict.report.deleted, verdict.report.failed), (1, 1));
    }

    #[test]
    fn errors_that_match_no_key_sent_are_never_taken_for_success() {
        let page = sent(&[("a", None), ("b", None)]);
        // An error for a key that was not sent, and one that names no key.
        let errors = [error(Some("zz"), None, "AccessDenied"), error(None, None, "AccessDenied")];
        let verdict = read(&page, &errors, true);
        assert_eq!((verdict.report.deleted, verdict.report.failed), (0, 2));
        assert!(verdict.retry.is_empty());
    }
}
