//! The virtual clock and Beijing-time formatting.
//!
//! Every time the mock reasons about (send times, refunds, daily counters, rate windows,
//! certificate expiry) is a virtual instant in milliseconds since the Unix epoch. The real
//! clock is read in exactly one place, [`real_now_ms`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds in a day.
pub(crate) const DAY_MS: u64 = 86_400_000;
/// Beijing time is UTC+8 all year.
const BEIJING_OFFSET_MS: u64 = 8 * 3_600_000;

/// How the mock's clock moves.
///
/// Either way, [`MockServer::advance_clock`](crate::MockServer::advance_clock) (or
/// `POST /__admin/clock/advance`) moves it forward by any amount, which runs what fell due
/// (refunds after 24 h, the end of `RFUND_ING`, the daily reset at Beijing midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ClockMode {
    /// Real time plus the offset accumulated by advances.
    #[default]
    Real,
    /// Frozen at the start time (or where the persisted ledger left it); only advances move it.
    Frozen,
}

impl ClockMode {
    /// The mode's name as the command line and the config file spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Real => "real",
            Self::Frozen => "frozen",
        }
    }
}

impl std::str::FromStr for ClockMode {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "real" => Ok(Self::Real),
            "frozen" => Ok(Self::Frozen),
            other => Err(crate::Error::Config {
                what: format!("unknown clock mode {other:?} (expected \"real\" or \"frozen\")"),
                source: None,
            }),
        }
    }
}

/// The one place the real clock is read.
pub(crate) fn real_now_ms() -> u64 {
    // The mock's only reading of the wall clock: everything else takes virtual time from
    // `Clock`, so tests can freeze and advance it.
    #[allow(clippy::disallowed_methods)]
    let now = SystemTime::now();
    now.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The virtual clock.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    mode: ClockMode,
    /// `Real`: virtual minus real, in ms. `Frozen`: the frozen instant.
    value: i128,
}

impl Clock {
    /// A clock of `mode` whose current virtual time is `now_ms`.
    pub(crate) fn starting_at(mode: ClockMode, now_ms: u64) -> Self {
        let value = match mode {
            ClockMode::Real => i128::from(now_ms) - i128::from(real_now_ms()),
            ClockMode::Frozen => i128::from(now_ms),
        };
        Self { mode, value }
    }

    pub(crate) fn mode(&self) -> ClockMode {
        self.mode
    }

    /// The virtual now, in ms since the epoch.
    pub(crate) fn now_ms(&self) -> u64 {
        let now = match self.mode {
            ClockMode::Real => i128::from(real_now_ms()) + self.value,
            ClockMode::Frozen => self.value,
        };
        u64::try_from(now.max(0)).unwrap_or(u64::MAX)
    }

    /// Moves the clock forward.
    pub(crate) fn advance(&mut self, by: Duration) {
        let ms = i128::try_from(by.as_millis()).unwrap_or(i128::MAX / 4);
        self.value = self.value.saturating_add(ms);
    }
}

/// The Beijing calendar day number of an instant (days since 1970-01-01 in UTC+8).
pub(crate) fn beijing_day(ms: u64) -> u64 {
    ms.saturating_add(BEIJING_OFFSET_MS) / DAY_MS
}

/// The broken-down Beijing time of an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
}

/// Converts days since 1970-01-01 into (year, month, day) in the proleptic Gregorian calendar
/// (the "days from civil" inverse, computed over 400-year eras).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = if m <= 2 { y + 1 } else { y };
    // Both are small positive numbers by construction.
    (
        year,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// The Beijing wall-clock time of an instant.
pub(crate) fn beijing(ms: u64) -> Civil {
    let local = ms.saturating_add(BEIJING_OFFSET_MS) / 1000;
    let days = i64::try_from(local / 86_400).unwrap_or(i64::MAX / 2);
    let secs = local % 86_400;
    let (year, month, day) = civil_from_days(days);
    // `secs` is below 86 400, so each part fits.
    Civil {
        year,
        month,
        day,
        hour: u32::try_from(secs / 3600).unwrap_or(0),
        minute: u32::try_from(secs / 60 % 60).unwrap_or(0),
        second: u32::try_from(secs % 60).unwrap_or(0),
    }
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time, as `gethbinfo` writes times.
pub(crate) fn format_beijing(ms: u64) -> String {
    let c = beijing(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// `yyyymmdd` in Beijing time, as `send_listid` embeds the date.
pub(crate) fn beijing_yyyymmdd(ms: u64) -> String {
    let c = beijing(ms);
    format!("{:04}{:02}{:02}", c.year, c.month, c.day)
}

/// Converts an instant to a `SystemTime`.
pub(crate) fn to_system_time(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_is_eight_in_the_morning_in_beijing() {
        assert_eq!(format_beijing(0), "1970-01-01 08:00:00");
    }

    #[test]
    fn known_instant_formats_in_beijing_time() {
        // 2018-01-23 05:45:08 UTC = 13:45:08 in Beijing (the spec's gethbinfo sample).
        assert_eq!(format_beijing(1_516_686_308_000), "2018-01-23 13:45:08");
        assert_eq!(beijing_yyyymmdd(1_516_686_308_000), "20180123");
    }

    #[test]
    fn beijing_day_changes_at_sixteen_utc() {
        let utc_1559 = 1_516_723_140_000; // 2018-01-23 15:59:00 UTC
        let utc_1601 = utc_1559 + 120_000;
        assert_eq!(beijing_day(utc_1559) + 1, beijing_day(utc_1601));
    }

    #[test]
    fn leap_day_is_a_real_date() {
        // 2024-02-29 00:00:00 Beijing = 2024-02-28 16:00:00 UTC.
        assert_eq!(format_beijing(1_709_136_000_000), "2024-02-29 00:00:00");
    }

    #[test]
    fn frozen_clock_only_moves_when_advanced() {
        let mut clock = Clock::starting_at(ClockMode::Frozen, 1_000);
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.now_ms(), 3_000);
    }
}
