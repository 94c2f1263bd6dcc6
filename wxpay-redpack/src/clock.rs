//! Time as an input: the wall clock (billno dates, `timeStamp`) and the monotonic clock and
//! sleeps of the retry loop, behind one small trait.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

/// A future returned by [`Clock::sleep`].
pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Where the client reads the time and how it waits between retries.
///
/// [`SystemClock`] is the real one; [`ManualClock`] is a virtual clock for tests whose sleeps
/// return at once and move its time forward, so a retry loop with one-second delays runs in
/// microseconds and stays deterministic. Implement it yourself to tie the client's time to
/// something else (a test server's virtual clock, for instance).
pub trait Clock: Send + Sync + fmt::Debug {
    /// The wall-clock time: the date of generated billnos, the `timeStamp` of
    /// `wx.sendBizRedPacket`.
    fn now(&self) -> SystemTime;

    /// A monotonic reading: the time since an arbitrary fixed origin. Only differences between
    /// two readings mean anything (the retry budget).
    fn monotonic(&self) -> Duration;

    /// Waits for `duration`.
    fn sleep(&self, duration: Duration) -> Sleep<'_>;
}

/// The real clock: `SystemTime::now`, [`Instant`] and Tokio's timer (needs a Tokio runtime with
/// the time driver).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// The real clock.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    // The one adapter that reads the wall clock: everything else takes time from a `Clock`.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn monotonic(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A virtual clock: it stands still until [`advance`](Self::advance) or a
/// [`sleep`](Clock::sleep) moves it, and it records every sleep.
///
/// Clones share the same time and record, so a test keeps one and gives another to the client.
#[derive(Clone)]
pub struct ManualClock {
    state: Arc<Mutex<ManualState>>,
}

struct ManualState {
    wall: SystemTime,
    monotonic: Duration,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock standing at `wall` (the wall-clock reading) with a monotonic reading of zero.
    pub fn new(wall: SystemTime) -> Self {
        Self {
            state: Arc::new(Mutex::new(ManualState {
                wall,
                monotonic: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    /// A clock standing at `secs` seconds after the Unix epoch.
    pub fn at_unix_secs(secs: u64) -> Self {
        Self::new(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }

    /// Moves both readings forward by `duration`.
    pub fn advance(&self, duration: Duration) {
        let mut state = self.lock();
        state.wall += duration;
        state.monotonic += duration;
    }

    /// Every duration slept so far, oldest first.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// The time elapsed on the monotonic reading since the clock was made.
    pub fn elapsed(&self) -> Duration {
        self.lock().monotonic
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // Every update under the lock is a single assignment: a poisoned state is consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("ManualClock")
            .field("wall", &state.wall)
            .field("monotonic", &state.monotonic)
            .field("sleeps", &state.sleeps.len())
            .finish()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.lock().wall
    }

    fn monotonic(&self) -> Duration {
        self.lock().monotonic
    }

    fn sleep(&self, duration: Duration) -> Sleep<'_> {
        {
            let mut state = self.lock();
            state.sleeps.push(duration);
            state.wall += duration;
            state.monotonic += duration;
        }
        Box::pin(std::future::ready(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_sleep_returns_at_once_and_moves_both_readings() {
        // Arrange
        let clock = ManualClock::at_unix_secs(1_000);
        let shared = clock.clone();

        // Act
        let sleep = shared.sleep(Duration::from_secs(2));
        drop(sleep);
        clock.advance(Duration::from_millis(500));

        // Assert
        assert_eq!(
            clock.now(),
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_002_500)
        );
        assert_eq!(clock.monotonic(), Duration::from_millis(2_500));
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(2)]);
    }

    #[test]
    fn the_system_clock_is_monotonic() {
        let clock = SystemClock::new();
        let a = clock.monotonic();
        let b = clock.monotonic();
        assert!(b >= a);
    }
}
