//! The campaign report: what was sent, rejected (by code) and left unknown, in counts and
//! amounts, and how fast.

use std::collections::BTreeMap;
use std::time::Duration;

use wxpay_proto::Fen;

/// A count of rows and the sum of their amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Tally {
    /// How many rows.
    pub count: u64,
    /// Their total amount (saturating: a sum past `u64::MAX` fen stays there).
    pub amount: Fen,
}

impl Tally {
    /// A tally.
    pub fn new(count: u64, amount: Fen) -> Self {
        Self { count, amount }
    }

    pub(crate) fn add(&mut self, other: Self) {
        self.count = self.count.saturating_add(other.count);
        self.amount = self
            .amount
            .checked_add(other.amount)
            .unwrap_or(Fen::new(u64::MAX));
    }
}

/// How a campaign stands, from its journal.
///
/// After [`Campaign::run`](crate::campaign::Campaign::run) or
/// [`reconcile`](crate::campaign::Campaign::reconcile), `elapsed` and `settled` are those of
/// that run; from [`Campaign::report`](crate::campaign::Campaign::report), the sums over every
/// run (a run stopped by a crash counts up to its last journaled outcome).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Report {
    /// Every row of the campaign.
    pub rows: u64,
    /// Rows whose packet was issued.
    pub sent: Tally,
    /// Rows refused with a definitive code, by code (`SEND_FAILED`, `NOTENOUGH`…). Nothing
    /// was issued for them under their billno.
    pub rejected: BTreeMap<String, Tally>,
    /// Rows whose outcome is unknown: an attempt may have reached the server. They are
    /// settled by rerunning the campaign or by reconciling it, always with their billno.
    pub unknown: Tally,
    /// Rows never sent (or whose every attempt provably never left).
    pub pending: Tally,
    /// The time spent.
    pub elapsed: Duration,
    /// Rows settled (sent or rejected) in that time.
    pub settled: u64,
}

/// The one-word verdict of a [`Report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Every row was sent.
    AllSent,
    /// Every row is settled, and some were rejected.
    Rejected,
    /// Rows are unknown or not sent yet: rerun or reconcile.
    Unfinished,
}

impl Report {
    /// The rejected rows over every code.
    pub fn rejected_total(&self) -> Tally {
        let mut total = Tally::default();
        for tally in self.rejected.values() {
            total.add(*tally);
        }
        total
    }

    /// Rows a rerun would still send or settle: unknown and pending.
    pub fn remaining(&self) -> u64 {
        self.unknown.count.saturating_add(self.pending.count)
    }

    /// Rows settled per minute over `elapsed`, or `None` when no time was measured.
    pub fn rate_per_minute(&self) -> Option<f64> {
        let secs = self.elapsed.as_secs_f64();
        // Counts are far below 2^52: the conversion is exact.
        #[allow(clippy::cast_precision_loss, reason = "row counts are far below 2^52")]
        let settled = self.settled as f64;
        (secs > 0.0).then(|| settled * 60.0 / secs)
    }

    /// All sent, some rejected, or unfinished (unknown or pending rows remain).
    pub fn verdict(&self) -> Verdict {
        if self.remaining() > 0 {
            Verdict::Unfinished
        } else if self.rejected_total().count > 0 {
            Verdict::Rejected
        } else {
            Verdict::AllSent
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let mut rejected = BTreeMap::new();
        rejected.insert("NOTENOUGH".to_owned(), Tally::new(2, Fen::new(300)));
        rejected.insert("SEND_FAILED".to_owned(), Tally::new(1, Fen::new(100)));
        Report {
            rows: 10,
            sent: Tally::new(7, Fen::new(700)),
            rejected,
            unknown: Tally::default(),
            pending: Tally::default(),
            elapsed: Duration::from_secs(30),
            settled: 10,
        }
    }

    #[test]
    fn rejections_add_up_over_codes_and_decide_the_verdict() {
        let report = report();
        assert_eq!(report.rejected_total(), Tally::new(3, Fen::new(400)));
        assert_eq!(report.verdict(), Verdict::Rejected);
        assert_eq!(report.rate_per_minute(), Some(20.0));
    }

    #[test]
    fn unknown_or_pending_rows_leave_the_campaign_unfinished() {
        let mut report = report();
        report.unknown = Tally::new(1, Fen::new(100));
        assert_eq!(report.verdict(), Verdict::Unfinished);
        report.unknown = Tally::default();
        report.pending = Tally::new(1, Fen::new(100));
        assert_eq!(report.remaining(), 1);
        assert_eq!(report.verdict(), Verdict::Unfinished);
        report.pending = Tally::default();
        report.rejected.clear();
        assert_eq!(report.verdict(), Verdict::AllSent);
    }

    #[test]
    fn no_elapsed_time_means_no_rate_and_sums_saturate() {
        let mut report = report();
        report.elapsed = Duration::ZERO;
        assert_eq!(report.rate_per_minute(), None);
        let mut tally = Tally::new(u64::MAX, Fen::new(u64::MAX));
        tally.add(Tally::new(1, Fen::new(1)));
        assert_eq!(tally, Tally::new(u64::MAX, Fen::new(u64::MAX)));
    }
}
