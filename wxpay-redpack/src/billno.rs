//! Billnos of the documented shape: `mch_id` + `yyyymmdd` + 10 digits (spec §4.1).
//!
//! A billno is the idempotency key of a send. Make it **before** sending, persist it with the
//! intent, and reuse it for every retry of that intent: only a `SEND_FAILED` answer (or a
//! `FAILED` status) allows a new one.

use std::fmt;
use std::time::{Duration, SystemTime};

use wxpay_proto::{MchBillno, MchId};

use crate::error::Error;

/// The largest sequence number: ten digits.
pub const MAX_SEQUENCE: u64 = 9_999_999_999;

/// Beijing time is UTC+8 all year.
const BEIJING_OFFSET: Duration = Duration::from_secs(8 * 60 * 60);

/// A calendar date (the `yyyymmdd` part of a billno).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillDate {
    year: u16,
    month: u8,
    day: u8,
}

impl BillDate {
    /// The date `year-month-day`, or `None` if there is no such date or the year does not
    /// have four digits.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        let valid = (1000..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(Self { year, month, day })
    }

    /// The date in Beijing time (UTC+8, the time zone of WeChat Pay) at `time`. Times before
    /// the Unix epoch count as the epoch.
    pub fn beijing(time: SystemTime) -> Self {
        let since_epoch = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .saturating_add(BEIJING_OFFSET);
        let (year, month, day) = civil_from_days(since_epoch.as_secs() / 86_400);
        Self { year, month, day }
    }

    /// The date written `yyyymmdd`, if it is one.
    pub(crate) fn from_yyyymmdd(text: &str) -> Option<Self> {
        if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let year = text.get(0..4)?.parse().ok()?;
        let month = text.get(4..6)?.parse().ok()?;
        let day = text.get(6..8)?.parse().ok()?;
        Self::new(year, month, day)
    }

    /// The year.
    pub fn year(self) -> u16 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1 to 31.
    pub fn day(self) -> u8 {
        self.day
    }
}

/// `yyyymmdd`.
impl fmt::Display for BillDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}{:02}{:02}", self.year, self.month, self.day)
    }
}

/// The billno `mch_id` + `yyyymmdd` + `sequence` on 10 digits: the same inputs always give
/// the same billno, so a caller can derive it from a persisted counter (or a row number) and
/// store it before the first send.
///
/// ```
/// use wxpay_proto::MchId;
/// use wxpay_redpack::{BillDate, billno};
///
/// let date = BillDate::new(2014, 11, 11).unwrap();
/// let billno = billno(&MchId::new("10000098")?, date, 1_234_567_890)?;
/// assert_eq!(billno.as_str(), "10000098201411111234567890");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Unsupported`] when `sequence` has more than 10 digits, or when the `mch_id` is so
/// long (over 10 digits) that the billno would exceed 28 characters.
pub fn billno(mch_id: &MchId, date: BillDate, sequence: u64) -> Result<MchBillno, Error> {
    if sequence > MAX_SEQUENCE {
        return Err(Error::Unsupported {
            field: "mch_billno",
            reason: "needs a sequence of at most 10 digits",
        });
    }
    if mch_id.as_str().len() + 18 > MchBillno::MAX_CHARS {
        return Err(Error::Unsupported {
            field: "mch_billno",
            reason: "cannot hold an mch_id over 10 digits with a date and 10 digits",
        });
    }
    MchBillno::new(format!("{}{date}{sequence:010}", mch_id.as_str())).map_err(Error::invalid)
}

fn is_leap(year: u16) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The civil date of day `days` after 1970-01-01 (H. Hinnant's `civil_from_days`, for
/// non-negative days).
fn civil_from_days(days: u64) -> (u16, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    // day ≤ 31 and month ≤ 12 by construction; years beyond u16 are clamped (year 65535).
    (
        u16::try_from(year).unwrap_or(u16::MAX),
        u8::try_from(month).unwrap_or(12),
        u8::try_from(day).unwrap_or(31),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn the_documented_example_billno_is_reproduced() {
        // Arrange
        let mch_id = MchId::new("10000098").unwrap();
        let date = BillDate::new(2014, 11, 11).unwrap();

        // Act
        let billno = billno(&mch_id, date, 1_234_567_890).unwrap();

        // Assert
        assert_eq!(billno.as_str(), "10000098201411111234567890");
    }

    #[test]
    fn a_ten_digit_mch_id_gives_exactly_28_characters_with_zero_padding() {
        let mch_id = MchId::new("1900000109").unwrap();
        let date = BillDate::new(2026, 1, 5).unwrap();
        let billno = billno(&mch_id, date, 7).unwrap();
        assert_eq!(billno.as_str(), "1900000109202601050000000007");
        assert_eq!(billno.as_str().len(), 28);
    }

    #[test]
    fn the_same_inputs_always_give_the_same_billno() {
        let mch_id = MchId::new("1900000109").unwrap();
        let date = BillDate::new(2026, 6, 30).unwrap();
        assert_eq!(
            billno(&mch_id, date, 42).unwrap(),
            billno(&mch_id, date, 42).unwrap()
        );
        assert_ne!(
            billno(&mch_id, date, 42).unwrap(),
            billno(&mch_id, date, 43).unwrap()
        );
    }

    #[test]
    fn an_eleven_digit_sequence_or_mch_id_is_refused() {
        let date = BillDate::new(2026, 6, 30).unwrap();
        let short = MchId::new("10000098").unwrap();
        let long = MchId::new("12345678901").unwrap();
        let err = billno(&short, date, MAX_SEQUENCE + 1).unwrap_err();
        assert_eq!(err.field(), Some("mch_billno"));
        assert!(billno(&short, date, MAX_SEQUENCE).is_ok());
        assert_eq!(
            billno(&long, date, 1).unwrap_err().field(),
            Some("mch_billno")
        );
    }

    #[test]
    fn beijing_dates_change_at_16_00_utc() {
        // 2014-11-10 15:59:59 UTC is 23:59:59 in Beijing; a second later it is the 11th.
        assert_eq!(BillDate::beijing(at(1_415_635_199)).to_string(), "20141110");
        assert_eq!(BillDate::beijing(at(1_415_635_200)).to_string(), "20141111");
    }

    #[test]
    fn leap_days_and_year_ends_are_dated_correctly() {
        // 2024-02-29 00:00 Beijing = 2024-02-28 16:00 UTC.
        assert_eq!(BillDate::beijing(at(1_709_136_000)).to_string(), "20240229");
        // 2025-12-31 23:00 Beijing, then 2026-01-01 00:00 Beijing.
        assert_eq!(BillDate::beijing(at(1_767_193_200)).to_string(), "20251231");
        assert_eq!(BillDate::beijing(at(1_767_196_800)).to_string(), "20260101");
        assert_eq!(BillDate::beijing(at(0)).to_string(), "19700101");
    }

    #[test]
    fn a_date_reads_back_from_its_yyyymmdd_form() {
        let date = BillDate::new(2026, 2, 28).unwrap();
        assert_eq!(BillDate::from_yyyymmdd(&date.to_string()), Some(date));
        for bad in [
            "",
            "2026022",
            "20260230",
            "2026-2-8",
            "２０２６０２２８",
            "+0260228",
        ] {
            assert_eq!(BillDate::from_yyyymmdd(bad), None, "{bad}");
        }
    }

    #[test]
    fn impossible_dates_are_refused() {
        assert!(BillDate::new(2023, 2, 29).is_none());
        assert!(BillDate::new(2024, 2, 29).is_some());
        assert!(BillDate::new(2100, 2, 29).is_none());
        assert!(BillDate::new(2000, 2, 29).is_some());
        assert!(BillDate::new(2024, 4, 31).is_none());
        assert!(BillDate::new(2024, 13, 1).is_none());
        assert!(BillDate::new(999, 1, 1).is_none());
    }
}
