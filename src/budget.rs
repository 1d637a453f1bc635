//! How long an invocation may work. A deletion never runs into Lambda's timeout: it stops
//! starting requests before its budget ends, gives up on the ones still in flight when it does
//! end, and leaves the margin to Lambda's deadline for handing the rest on. Every store request
//! of an invocation is bounded by one of these instants, so that an HTTP caller is answered
//! within `HTTP_BUDGET_MS` plus [`HAND_ON_ALLOWANCE`], before API Gateway gives up (29 s for a
//! REST API, 30 s for an HTTP API: the smaller is the bound kept).

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// The longest that requests already in flight are waited for, once no new one may start.
const IN_FLIGHT_ALLOWANCE: Duration = Duration::from_secs(2);
/// The longest the writes after the deletion (marking the record and handing on, or deleting the
/// record) may take past `cut_at`: two small requests, a few milliseconds each on a healthy store.
pub const HAND_ON_ALLOWANCE: Duration = Duration::from_secs(2);
/// Kept free at the very end of an invocation, to return its answer before Lambda's deadline.
const ANSWER_GUARD: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// No request starts after this.
    pub stop_at: Instant,
    /// Requests still in flight are abandoned here (their objects are not counted as deleted),
    /// and so are the reads before the deletion (the record, the buckets' versioning).
    pub cut_at: Instant,
    /// The writes after the deletion are abandoned here, and the invocation answers.
    pub answer_by: Instant,
}

impl Budget {
    /// A budget that ends at `cut_at`, answering by `answer_by` at the latest; requests stop
    /// starting a little before `cut_at`, a quarter of the budget at most, so that even a short
    /// budget leaves time to work.
    fn ending(cut_at: Instant, answer_by: Instant) -> Budget {
        let left = cut_at.saturating_duration_since(Instant::now());
        let answer_by = answer_by.min(cut_at + HAND_ON_ALLOWANCE);
        Budget { stop_at: cut_at - IN_FLIGHT_ALLOWANCE.min(left / 4), cut_at, answer_by }
    }

    /// No limit, for work outside any invocation.
    pub fn unlimited() -> Budget {
        let far = Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600);
        Budget { stop_at: far, cut_at: far, answer_by: far }
    }

    /// The budget of an invocation whose deadline is `deadline_ms` (milliseconds since the
    /// epoch, as Lambda gives it), keeping `margin` to hand the rest on (a quarter of the time
    /// left at most, for short timeouts), and no longer than `limit` from now when there is one
    /// (the API Gateway limit, for HTTP). A deadline that has already passed as the invocation
    /// starts is not a real one (local emulators send 0 or a few milliseconds): no limit then.
    pub fn for_invocation(deadline_ms: u64, margin: Duration, limit: Option<Duration>) -> Budget {
        let now = Instant::now();
        let epoch_now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let left = Duration::from_millis(deadline_ms).checked_sub(epoch_now);
        let (mut cut_at, deadline) = match left {
            Some(left) if !left.is_zero() => (
                now + left.saturating_sub(margin.min(left / 4)),
                now + left.saturating_sub(ANSWER_GUARD.min(left / 10)),
            ),
            _ => (Budget::unlimited().cut_at, Budget::unlimited().answer_by),
        };
        if let Some(limit) = limit {
            cut_at = cut_at.min(now + limit);
        }
        Budget::ending(cut_at.min(deadline), deadline)
    }

    /// The budget of the next of `parts` pieces of work done in turn: an equal share of the time
    /// left to `cut_at`, answered by `answer_by` at the latest. A piece that ends early leaves
    /// its time to the ones after it.
    pub fn share(&self, parts: usize) -> Budget {
        let now = Instant::now();
        let left = self.cut_at.saturating_duration_since(now);
        let parts = u32::try_from(parts.max(1)).unwrap_or(u32::MAX);
        Budget::ending(now + left / parts, self.answer_by)
    }

    /// Whether new requests may still start.
    pub fn allows_new_work(&self) -> bool {
        Instant::now() < self.stop_at
    }
}

#[cfg(test)]
impl Budget {
    fn until(cut_at: Instant) -> Budget {
        Budget::ending(cut_at, cut_at + HAND_ON_ALLOWANCE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch_ms_in(d: Duration) -> u64 {
        (SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + d).as_millis() as u64
    }

    #[test]
    fn the_margin_is_kept_before_the_deadline() {
        let budget = Budget::for_invocation(
            epoch_ms_in(Duration::from_secs(60)),
            Duration::from_secs(5),
            None,
        );
        let left = budget.cut_at - Instant::now();
        assert!(left <= Duration::from_secs(55) && left > Duration::from_secs(54), "{left:?}");
        assert_eq!(budget.cut_at - budget.stop_at, IN_FLIGHT_ALLOWANCE);
        assert!(budget.allows_new_work());
    }

    #[test]
    fn a_short_timeout_keeps_a_quarter_as_its_margin() {
        let budget = Budget::for_invocation(
            epoch_ms_in(Duration::from_secs(3)),
            Duration::from_secs(3),
            None,
        );
        let left = budget.cut_at - Instant::now();
        assert!(
            left > Duration::from_millis(2_100) && left <= Duration::from_millis(2_250),
            "{left:?}"
        );
    }

    #[test]
    fn an_http_limit_shortens_the_budget() {
        let budget = Budget::for_invocation(
            epoch_ms_in(Duration::from_secs(900)),
            Duration::from_secs(5),
            Some(Duration::from_secs(25)),
        );
        assert!(budget.cut_at - Instant::now() <= Duration::from_secs(25));
        assert_eq!(budget.answer_by - budget.cut_at, HAND_ON_ALLOWANCE);
    }

    #[test]
    fn the_answer_never_comes_after_the_deadline() {
        let budget = Budget::for_invocation(
            epoch_ms_in(Duration::from_secs(3)),
            Duration::from_secs(3),
            None,
        );
        let deadline = Instant::now() + Duration::from_secs(3);
        assert!(budget.answer_by + ANSWER_GUARD <= deadline && budget.answer_by > budget.cut_at);
    }

    #[test]
    fn a_short_budget_still_leaves_three_quarters_to_work() {
        let budget = Budget::until(Instant::now() + Duration::from_millis(400));
        let work = budget.stop_at - Instant::now();
        assert!(work >= Duration::from_millis(290), "{work:?}");
    }

    #[test]
    fn a_share_is_an_equal_part_of_what_is_left() {
        let budget = Budget::until(Instant::now() + Duration::from_secs(12));
        let third = budget.share(3);
        let left = third.cut_at - Instant::now();
        assert!(left <= Duration::from_secs(4) && left > Duration::from_millis(3_900), "{left:?}");
        assert!(third.answer_by <= budget.answer_by);
        assert_eq!(budget.share(1).cut_at, budget.cut_at.min(budget.share(1).cut_at));
        assert!(budget.share(0).cut_at <= budget.cut_at);
    }

    #[test]
    fn a_deadline_that_is_no_deadline_is_no_limit() {
        for deadline in [0, 3, epoch_ms_in(Duration::ZERO) - 10] {
            assert!(
                Budget::for_invocation(deadline, Duration::from_secs(5), None).allows_new_work()
            );
        }
    }
}
