//! Concurrency that follows the store, as TCP's congestion control does. Every DeleteObjects
//! request holds a slot. It starts with every slot the configuration allows: a slow start from 4
//! slots cost 0.1-0.3 s of a 20,000-object job at 30 ms (Garage deletes a request's keys one after
//! another, so a few requests leave it half idle), and a store that is saturated says so. A
//! throttled request (SlowDown, 503) halves the slots, once per round: requests that started before
//! the last decrease do not decrease again. After a decrease, a run of `limit` successes adds one
//! slot back (additive increase), up to the maximum.

use std::sync::Mutex;
use tokio::sync::{Semaphore, SemaphorePermit};

pub(super) struct Throttle {
    slots: Semaphore,
    state: Mutex<State>,
    max: usize,
}

struct State {
    limit: usize,
    /// Slots to retire as requests give them back, after a decrease.
    debt: usize,
    successes: usize,
    /// Bumped at each decrease.
    round: u64,
}

/// A request's right to run; give it back with [`Throttle::done`].
pub(super) struct Slot<'a> {
    permit: SemaphorePermit<'a>,
    round: u64,
}

impl Throttle {
    pub fn new(max: usize) -> Throttle {
        let state = State { limit: max, debt: 0, successes: 0, round: 0 };
        Throttle { slots: Semaphore::new(max), state: Mutex::new(state), max }
    }

    pub async fn slot(&self) -> Slot<'_> {
        let permit = self.slots.acquire().await.expect("the throttle's semaphore is never closed");
        let round = self.state().round;
        Slot { permit, round }
    }

    /// Gives a slot back, saying whether the store throttled its request.
    pub fn done(&self, slot: Slot<'_>, throttled: bool) {
        let mut state = self.state();
        if throttled && slot.round == state.round {
            let target = (state.limit / 2).max(1);
            state.debt += state.limit - target;
            // Idle slots retire at once; the ones in flight as they come back.
            state.debt -= self.slots.forget_permits(state.debt);
            state.limit = target;
            state.successes = 0;
            state.round += 1;
            tracing::info!(concurrency = target, "store throttled: fewer requests in flight");
        } else if !throttled {
            state.successes += 1;
            if state.successes >= state.limit && state.limit < self.max {
                state.successes = 0;
                state.limit += 1;
                if state.debt > 0 {
                    state.debt -= 1;
                } else {
                    self.slots.add_permits(1);
                }
            }
        }
        if state.debt > 0 {
            state.debt -= 1;
            slot.permit.forget();
        }
    }

    /// The number of requests allowed in flight now.
    #[cfg(test)]
    pub fn limit(&self) -> usize {
        self.state().limit
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_slot_is_open_from_the_start() {
        let throttle = Throttle::new(16);
        assert_eq!(throttle.limit(), 16);
        let slots: Vec<Slot> =
            futures_util::future::join_all((0..16).map(|_| throttle.slot())).await;
        assert_eq!(throttle.slots.available_permits(), 0);
        for slot in slots {
            throttle.done(slot, false);
        }
        // Successes at the maximum add nothing.
        assert_eq!(throttle.limit(), 16);
        assert_eq!(throttle.slots.available_permits(), 16);
    }

    #[tokio::test]
    async fn throttling_halves_once_per_round_and_successes_win_slots_back() {
        let throttle = Throttle::new(16);
        let slots: Vec<Slot> =
            futures_util::future::join_all((0..16).map(|_| throttle.slot())).await;
        // All sixteen in flight come back throttled: one halving, not four.
        for slot in slots {
            throttle.done(slot, true);
        }
        assert_eq!(throttle.limit(), 8);
        assert_eq!(throttle.slots.available_permits(), 8);
        // The next round is throttled again: 4.
        let slot = throttle.slot().await;
        throttle.done(slot, true);
        assert_eq!(throttle.limit(), 4);
        assert_eq!(throttle.slots.available_permits(), 4);
        // Four successes in a row add one slot.
        for _ in 0..4 {
            let slot = throttle.slot().await;
            throttle.done(slot, false);
        }
        assert_eq!(throttle.limit(), 5);
        assert_eq!(throttle.slots.available_permits(), 5);
    }

    #[tokio::test]
    async fn the_limit_never_falls_below_one_nor_rises_above_the_maximum() {
        let throttle = Throttle::new(2);
        for _ in 0..5 {
            let slot = throttle.slot().await;
            throttle.done(slot, true);
        }
        assert_eq!(throttle.limit(), 1);
        for _ in 0..50 {
            let slot = throttle.slot().await;
            throttle.done(slot, false);
        }
        assert_eq!(throttle.limit(), 2);
        assert_eq!(throttle.slots.available_permits(), 2);
    }
}
