//! When an object was written, on this process's clock. The store dates a write by its own
//! clock (`Last-Modified`), which may be set apart from the function's by seconds or more (a
//! store other than S3); the reply's `Date` is of the same clock, so the object's age as the
//! store counts it, taken back from when the reply came, needs no clock but the store's.

use aws_sdk_s3::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Keeps a reply's `Date` header and when the reply came, for [`ReplyDate::written`].
#[derive(Debug, Clone, Default)]
pub(super) struct ReplyDate {
    seen: Arc<Mutex<Option<(String, Instant)>>>,
}

impl ReplyDate {
    /// When an object dated `modified` by the store was written, on this process's clock; `None`
    /// when the reply carried no readable `Date`. Both dates are to the second: the instant may
    /// be up to a second early or late.
    pub fn written(&self, modified: &DateTime) -> Option<Instant> {
        let (date, received) = self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()?;
        written(&date, modified, received)
    }
}

fn written(date: &str, modified: &DateTime, received: Instant) -> Option<Instant> {
    let now = DateTime::from_str(date, DateTimeFormat::HttpDate).ok()?;
    let age = (now.as_secs_f64() - modified.as_secs_f64()).max(0.0);
    received.checked_sub(Duration::try_from_secs_f64(age).ok()?)
}

impl Intercept for ReplyDate {
    fn name(&self) -> &'static str {
        "ReplyDate"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let date = context.response().headers().get("date").map(str::to_owned);
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = date.map(|d| (d, Instant::now()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_is_as_old_as_the_store_says_whatever_this_process_clock_says() {
        let received = Instant::now() + Duration::from_secs(3600);
        let modified = DateTime::from_secs(1_796_000_000);
        let written = |date| written(date, &modified, received);
        assert_eq!(
            modified.fmt(DateTimeFormat::HttpDate).unwrap(),
            "Mon, 30 Nov 2026 00:53:20 GMT"
        );
        // The store's clock says 10 s since the write; this process's is an hour ahead.
        assert_eq!(
            written("Mon, 30 Nov 2026 00:53:30 GMT"),
            Some(received - Duration::from_secs(10))
        );
        // A store that dates the reply before the write: written as the reply came.
        assert_eq!(written("Mon, 30 Nov 2026 00:53:10 GMT"), Some(received));
        assert_eq!(written("yesterday"), None);
    }
}
