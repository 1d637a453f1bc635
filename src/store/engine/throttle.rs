//! DeleteObjects at the rate the store admits. Every request holds one of `DELETE_CONCURRENCY`
//! slots. Until the store first throttles, nothing else limits them: a store that is not
//! throttled says nothing, and waiting would only cost time. Once it throttles (SlowDown, 503),
//! requests are paced by keys a second: S3 admits a prefix's writes at a rate (3,500 a second,
//! more as it scales), and halving the requests in flight cannot find that rate (one request of
//! 100 keys every 30 ms is already 3,333 keys a second).
//!
//! The pace starts a little under what the store admitted in the second before the first
//! refused request was sent: the keys sent then, less those refused. (Counting the replies that
//! came back would not do: a refusal comes back at once, while an admitted request comes back
//! only once its keys are deleted.) Every refusal of the same round may lower that measure, none
//! raise it; a refusal of a later round measures again. Without a SlowDown the pace rises: 1% a
//! second, the step doubling after every 5 s without one (up to 25%), so that a store at its limit
//! is probed gently, with few refused requests, and a short storm of SlowDowns (or a store that
//! throttled before a second of deletions could be measured) cannot hold a fast store down for
//! long.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::time::Instant;

/// The window over which the keys the store admits are counted.
const WINDOW: Duration = Duration::from_secs(1);
/// The pace starts this much under what the store admitted.
const UNDER: f64 = 0.98;
/// The pace never falls below this, so that a store that refused everything is still asked.
const MIN_RATE: f64 = 500.0;
/// How often the pace rises without a SlowDown, by how much at first, and at most.
const RISE_EVERY: Duration = Duration::from_secs(1);
const FIRST_STEP: f64 = 0.01;
const MAX_STEP: f64 = 0.25;
/// Quiet time after which the step doubles.
const QUIET: Duration = Duration::from_secs(5);

pub(super) struct Throttle {
    slots: Semaphore,
    state: Mutex<State>,
}

struct State {
    /// Keys a second; `None` until the store first throttles.
    rate: Option<f64>,
    /// When the next request may go, once paced: each moves it on by its keys over the rate.
    next_at: Instant,
    /// The requests sent over the last two windows, oldest first.
    sent: VecDeque<Sent>,
    /// Numbers the requests sent.
    sequence: u64,
    /// Bumped at each measurement that starts a round.
    round: u64,
    /// The last rise, the step of the next one, and since when it is that large.
    risen_at: Instant,
    step: f64,
    step_since: Instant,
}

struct Sent {
    id: u64,
    at: Instant,
    keys: u64,
    /// Of those, the keys the store refused as too many.
    refused: u64,
}

/// A request's right to run; give it back with [`Throttle::done`].
pub(super) struct Slot<'a> {
    _permit: SemaphorePermit<'a>,
    round: u64,
    id: u64,
    sent_at: Instant,
}

impl Throttle {
    pub fn new(concurrency: usize) -> Throttle {
        let now = Instant::now();
        let state = State {
            rate: None,
            next_at: now,
            sent: VecDeque::new(),
            sequence: 0,
            round: 0,
            risen_at: now,
            step: FIRST_STEP,
            step_since: now,
        };
        Throttle { slots: Semaphore::new(concurrency), state: Mutex::new(state) }
    }

    /// A slot for a request of `keys` keys, when the pace lets it go.
    pub async fn slot(&self, keys: usize) -> Slot<'_> {
        let permit = self.slots.acquire().await.expect("the throttle's semaphore is never closed");
        let start = {
            let mut state = self.state();
            state.rate.map(|rate| {
                let start = state.next_at.max(Instant::now());
                state.next_at = start + Duration::from_secs_f64(keys as f64 / rate);
                start
            })
        };
        if let Some(start) = start {
            tokio::time::sleep_until(start).await;
        }
        let mut state = self.state();
        let sent_at = Instant::now();
        state.sequence += 1;
        let id = state.sequence;
        state.sent.push_back(Sent { id, at: sent_at, keys: keys as u64, refused: 0 });
        while state.sent.front().is_some_and(|s| sent_at.duration_since(s.at) > 2 * WINDOW) {
            state.sent.pop_front();
        }
        Slot { _permit: permit, round: state.round, id, sent_at }
    }

    /// Gives a slot back, with the keys of its request the store refused as too many (SlowDown
    /// and its kind): none when it was not throttled.
    pub fn done(&self, slot: Slot<'_>, throttled_keys: u64) {
        let now = Instant::now();
        let mut state = self.state();
        if throttled_keys == 0 {
            state.rise(now);
            return;
        }
        if let Some(sent) = state.sent.iter_mut().rev().find(|s| s.id == slot.id) {
            sent.refused = throttled_keys;
        }
        let measured = state.admitted_before(slot.sent_at) as f64 / WINDOW.as_secs_f64();
        let rate = (UNDER * measured).max(MIN_RATE);
        match state.rate {
            // Requests that started before the last measurement were sent at the old pace: they
            // may lower it, as the measure of an earlier moment, but start no round.
            Some(paced) if slot.round != state.round => state.rate = Some(paced.min(rate)),
            paced => {
                if paced.is_none() {
                    tracing::info!(
                        keys_per_second = rate as u64,
                        "store throttled: deletions paced"
                    );
                    state.next_at = now;
                }
                state.rate = Some(rate);
                state.round += 1;
                (state.step, state.step_since, state.risen_at) = (FIRST_STEP, now, now);
            }
        }
    }

    /// Keys a second the requests are paced at, once they are.
    #[cfg(test)]
    pub fn rate(&self) -> Option<f64> {
        self.state().rate
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl State {
    /// The keys sent in the window before `moment` that the store did not refuse.
    fn admitted_before(&self, moment: Instant) -> u64 {
        self.sent
            .iter()
            .filter(|s| s.at < moment && moment.duration_since(s.at) <= WINDOW)
            .map(|s| s.keys - s.refused)
            .sum()
    }

    /// A request went through: the pace rises if it is time.
    fn rise(&mut self, now: Instant) {
        let Some(rate) = self.rate else { return };
        if now.duration_since(self.risen_at) < RISE_EVERY {
            return;
        }
        self.rate = Some(rate * (1.0 + self.step));
        self.risen_at = now;
        if now.duration_since(self.step_since) >= QUIET {
            (self.step, self.step_since) = ((self.step * 2.0).min(MAX_STEP), now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `n` requests of 100 keys at once, as a wave of requests does.
    async fn wave(throttle: &Throttle, n: usize) -> Vec<Slot<'_>> {
        let mut slots = Vec::new();
        for _ in 0..n {
            slots.push(throttle.slot(100).await);
            tokio::time::advance(Duration::from_micros(10)).await;
        }
        slots
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_paced_until_the_store_throttles() {
        let throttle = Throttle::new(4);
        let started = Instant::now();
        for _ in 0..100 {
            let slot = throttle.slot(100).await;
            throttle.done(slot, 0);
        }
        assert_eq!(throttle.rate(), None);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slowdown_paces_requests_at_what_was_admitted_before_it() {
        let throttle = Throttle::new(32);
        // Of a wave of 32, the store took the first 10 (1,000 keys) and refused the rest; a
        // refusal comes back before the admitted requests do.
        let mut slots = wave(&throttle, 32).await.into_iter();
        let admitted: Vec<Slot> = slots.by_ref().take(10).collect();
        for refused in slots {
            throttle.done(refused, 100);
        }
        for slot in admitted {
            throttle.done(slot, 0);
        }
        assert_eq!(throttle.rate(), Some(UNDER * 1_000.0));
        // Ten requests of 100 keys now take about a second.
        let started = Instant::now();
        drop(wave(&throttle, 10).await);
        let took = started.elapsed();
        assert!(
            took > Duration::from_millis(900) && took < Duration::from_millis(1_000),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_round_measures_once_and_later_refusals_of_it_only_lower_the_pace() {
        let throttle = Throttle::new(32);
        let mut slots = wave(&throttle, 20).await;
        // The 20th comes back first: 1,900 keys went before it.
        throttle.done(slots.pop().unwrap(), 100);
        assert_eq!(throttle.rate(), Some(UNDER * 1_900.0));
        // The 11th of the same round: only 1,000 went before it.
        let eleventh = slots.remove(10);
        throttle.done(eleventh, 100);
        assert_eq!(throttle.rate(), Some(UNDER * 1_000.0));
        // The 12th, which went after 1,100 keys, does not raise it again.
        throttle.done(slots.remove(10), 100);
        assert_eq!(throttle.rate(), Some(UNDER * 1_000.0));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_rises_without_slowdowns_and_faster_the_longer_they_stay_away() {
        let throttle = Throttle::new(32);
        let slot = throttle.slot(100).await;
        throttle.done(slot, 100);
        assert_eq!(throttle.rate(), Some(MIN_RATE), "a store that admitted nothing is still asked");
        let mut rates = Vec::new();
        for _ in 0..20 {
            tokio::time::advance(RISE_EVERY).await;
            let slot = throttle.slot(1).await;
            throttle.done(slot, 0);
            rates.push(throttle.rate().unwrap());
        }
        assert!(rates.windows(2).all(|w| w[1] > w[0]), "{rates:?}");
        // 1% at first; after twenty seconds of quiet, steps eight times as large.
        assert!((rates[0] / MIN_RATE - (1.0 + FIRST_STEP)).abs() < 1e-9, "{rates:?}");
        assert!((rates[19] / rates[18] - (1.0 + 8.0 * FIRST_STEP)).abs() < 1e-9, "{rates:?}");
        // A SlowDown measures again and starts the steps over.
        let slot = throttle.slot(1).await;
        throttle.done(slot, 1);
        assert!(throttle.rate().unwrap() < rates[19]);
    }
}
