//! The campaign's rate limit: evenly spaced sending slots on the client's clock.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::clock::Clock;

const MINUTE_NANOS: u64 = 60_000_000_000;

/// Hands out sending slots at most `rate` a minute, evenly spaced (no bursts): any 60 s
/// window holds at most `rate` slots. Shared by the campaign's tasks; time and sleeps come
/// from a [`Clock`], so a virtual clock makes it instant in tests.
pub(crate) struct RateLimiter {
    interval: Duration,
    /// The monotonic reading of the next free slot.
    next: Mutex<Option<Duration>>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// `rate` slots a minute (`rate` ≥ 1).
    pub(crate) fn per_minute(rate: u32, clock: Arc<dyn Clock>) -> Self {
        Self {
            // Rounded up, so that the slots of any minute never exceed the rate.
            interval: Duration::from_nanos(MINUTE_NANOS.div_ceil(u64::from(rate.max(1)))),
            next: Mutex::new(None),
            clock,
        }
    }

    /// Takes the next slot and returns how long to wait for it.
    pub(crate) fn reserve(&self) -> Duration {
        let now = self.clock.monotonic();
        // One read and one write under the lock: a poisoned value is still a valid slot.
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = next.map_or(now, |next| next.max(now));
        *next = Some(slot.saturating_add(self.interval));
        slot.saturating_sub(now)
    }

    /// Waits for the next slot.
    pub(crate) async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            self.clock.sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn slots_are_evenly_spaced_and_idle_time_is_not_saved_up() {
        // Arrange: 1800 a minute is one slot every 33.333 ms.
        let clock = ManualClock::at_unix_secs(1_000);
        let limiter = RateLimiter::per_minute(1800, Arc::new(clock.clone()));

        // Act
        for _ in 0..4 {
            limiter.acquire().await;
        }
        clock.advance(Duration::from_secs(10));
        limiter.acquire().await;
        limiter.acquire().await;

        // Assert: no wait for the first, one interval before each next; after an idle
        // pause, one slot at once (no burst), then the spacing again.
        let interval = Duration::from_nanos(33_333_334);
        assert_eq!(clock.sleeps(), vec![interval; 4]);
    }

    #[test]
    fn a_minute_holds_at_most_rate_slots() {
        let clock = ManualClock::at_unix_secs(0);
        let limiter = RateLimiter::per_minute(7, Arc::new(clock.clone()));
        let mut starts = Vec::new();
        for _ in 0..20 {
            let wait = limiter.reserve();
            clock.advance(wait);
            starts.push(clock.elapsed());
        }
        for (i, start) in starts.iter().enumerate() {
            let in_window = starts[i..]
                .iter()
                .filter(|s| **s < *start + Duration::from_secs(60))
                .count();
            assert!(
                in_window <= 7,
                "{in_window} slots in the minute from {start:?}"
            );
        }
    }
}
