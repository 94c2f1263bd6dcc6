//! The retry policy of the reliable send as data, and the pure function that decides each next
//! step. No I/O, no clock: the loop in
//! [`RedpackClient::send_reliably`](crate::RedpackClient::send_reliably) records what each
//! step observed in a [`History`] and asks [`decide`] what to do next.
//!
//! The rules (spec §7.2, §4.4, §1.1):
//!
//! - every send reuses the same billno and the same bytes; sends that may have reached the
//!   server are at least [`RetryPolicy::min_delay`] (≥ 1 s) apart;
//! - an unknown outcome is settled with a query (after a back-off delay): a record that was
//!   issued or failed ends the loop; "not found" or a failed query leads to a resend;
//!   `SENDING` to another query;
//! - a send that provably never left is retried at once;
//! - `FREQ_LIMIT` (and the legacy `SECOND_OVER_LIMITED`) is retried after a back-off, with the
//!   same billno; every other definitive code ends the loop, after a query if an earlier send
//!   may have reached the server (that earlier send may have issued the packet). Unless that
//!   query finds the record, the outcome is then unknown
//!   ([`UnknownCause::RefusedAfterUnknown`](crate::UnknownCause::RefusedAfterUnknown)), not a
//!   rejection: only `SEND_FAILED` speaks for every attempt of the billno;
//! - sends, queries and total time are bounded; when they run out the loop stops, so it always
//!   ends.

use std::time::Duration;

use wxpay_proto::{ErrCode, HandlingClass, Status};

use crate::error::Error;
use crate::outcome::{QueryOutcome, SendOutcome};

/// The shortest delay between two sends of the same billno ("同笔订单最短重试时间: 1s").
pub const MIN_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The bounds and delays of the reliable send.
///
/// ```
/// use std::time::Duration;
/// use wxpay_redpack::RetryPolicy;
///
/// let mut policy = RetryPolicy::default();
/// policy.max_attempts = 3;
/// policy.max_total = Duration::from_secs(20);
/// policy.validate()?;
/// # Ok::<(), wxpay_redpack::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Most sends in total, the first included (at least 1).
    pub max_attempts: u32,
    /// Most `gethbinfo` queries.
    pub max_queries: u32,
    /// The first back-off delay, and the least time between two sends that may have reached
    /// the server (at least [`MIN_RETRY_DELAY`]).
    pub min_delay: Duration,
    /// The longest back-off delay.
    pub max_delay: Duration,
    /// Each back-off delay is the previous one times this (1 = constant delays).
    pub backoff_factor: u32,
    /// The first delay after `FREQ_LIMIT` (at least `min_delay`).
    pub rate_limit_delay: Duration,
    /// No step starts after this much time since the first send, except one last query to
    /// settle an unknown outcome.
    pub max_total: Duration,
}

impl RetryPolicy {
    /// The defaults: 5 sends, 6 queries, delays from 1 s doubling up to 16 s, 2 s after
    /// `FREQ_LIMIT`, 60 s in total.
    pub const DEFAULT: Self = Self {
        max_attempts: 5,
        max_queries: 6,
        min_delay: MIN_RETRY_DELAY,
        max_delay: Duration::from_secs(16),
        backoff_factor: 2,
        rate_limit_delay: Duration::from_secs(2),
        max_total: Duration::from_secs(60),
    };

    /// Checks the rules stated on each field.
    ///
    /// # Errors
    ///
    /// [`Error::Policy`] naming the broken rule.
    pub fn validate(&self) -> Result<(), Error> {
        let problem = if self.max_attempts == 0 {
            "max_attempts must be at least 1"
        } else if self.min_delay < MIN_RETRY_DELAY {
            "min_delay must be at least 1 s (the same billno is never resent sooner)"
        } else if self.max_delay < self.min_delay {
            "max_delay must be at least min_delay"
        } else if self.backoff_factor == 0 {
            "backoff_factor must be at least 1"
        } else if self.rate_limit_delay < self.min_delay {
            "rate_limit_delay must be at least min_delay"
        } else {
            return Ok(());
        };
        Err(Error::Policy { problem })
    }

    /// The back-off delay after `n` earlier delays: `min_delay × backoff_factor^n`, at most
    /// `max_delay`.
    pub fn delay(&self, n: u32) -> Duration {
        scaled(self.min_delay, self.backoff_factor, n).min(self.max_delay)
    }

    /// The delay after the `n`-th rate-limit answer (counting from 1):
    /// `rate_limit_delay × backoff_factor^(n-1)`, at most `max_delay` (but never under
    /// `rate_limit_delay`).
    pub fn rate_limit_backoff(&self, n: u32) -> Duration {
        scaled(
            self.rate_limit_delay,
            self.backoff_factor,
            n.saturating_sub(1),
        )
        .min(self.max_delay)
        .max(self.rate_limit_delay)
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

fn scaled(base: Duration, factor: u32, n: u32) -> Duration {
    let multiplier = factor.checked_pow(n).unwrap_or(u32::MAX);
    base.checked_mul(multiplier).unwrap_or(Duration::MAX)
}

/// What a send observed, as far as deciding the next step goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendObservation {
    /// `SUCCESS` with matching echoes.
    Sent,
    /// A definitive code.
    Rejected {
        /// Its handling class.
        class: HandlingClass,
        /// Whether it is a short-term rate limit (`FREQ_LIMIT`, `SECOND_OVER_LIMITED`), worth
        /// waiting for.
        rate_limited: bool,
    },
    /// The outcome is unknown: the send may have issued the packet.
    Unknown,
    /// The request provably never left.
    NotSent,
}

impl SendObservation {
    /// The observation of an outcome.
    pub fn of(outcome: &SendOutcome) -> Self {
        match outcome {
            SendOutcome::Sent { .. } => Self::Sent,
            SendOutcome::Rejected { code, class, .. } => Self::Rejected {
                class: *class,
                rate_limited: matches!(code, ErrCode::FreqLimit | ErrCode::SecondOverLimited),
            },
            SendOutcome::Unknown { .. } => Self::Unknown,
        }
    }

    /// Whether the request may have reached the server.
    pub fn may_have_landed(self) -> bool {
        !matches!(self, Self::NotSent)
    }
}

/// What a `gethbinfo` query observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueryObservation {
    /// The packet was issued (`SENT`, `RECEIVED`, `RFUND_ING`, `REFUND`).
    Issued,
    /// The send failed (`FAILED`): the billno is spent.
    Failed,
    /// Still `SENDING`.
    Sending,
    /// No record (not a failure).
    NotFound,
    /// No usable answer.
    Unknown,
}

impl QueryObservation {
    /// The observation of a query's outcome.
    pub fn of(outcome: &QueryOutcome) -> Self {
        match outcome {
            QueryOutcome::Found(record) => Self::of_status(&record.status),
            QueryOutcome::NotFound => Self::NotFound,
            QueryOutcome::Refused { .. } | QueryOutcome::Unknown { .. } => Self::Unknown,
        }
    }

    /// The observation of a record's status (an unknown status tells nothing).
    pub fn of_status(status: &Status) -> Self {
        if status.was_issued() {
            Self::Issued
        } else if *status == Status::Failed {
            Self::Failed
        } else if *status == Status::Sending {
            Self::Sending
        } else {
            Self::Unknown
        }
    }
}

/// One step's observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "a step is a send or a query: the reliable send has no other"
)]
pub enum Observation {
    /// A send.
    Send(SendObservation),
    /// A query.
    Query(QueryObservation),
}

/// What the reliable send has done so far. Record each step with
/// [`record_send`](Self::record_send) / [`record_query`](Self::record_query); read it with
/// [`decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct History {
    /// Sends made (the first included).
    pub sends: u32,
    /// Queries made.
    pub queries: u32,
    /// Sends answered with a rate limit.
    pub rate_limited: u32,
    /// Time from the start to the end of the last step.
    pub elapsed: Duration,
    /// When (since the start) the last send that may have reached the server ended.
    pub last_landed_send_at: Option<Duration>,
    /// Whether a send before the last one had an unknown outcome (it may have issued the
    /// packet, even if a later send was refused), or the history began after one
    /// ([`after_unknown`](Self::after_unknown)).
    pub unknown_before_last_send: bool,
    /// What the last send observed.
    pub last_send: Option<SendObservation>,
    /// What the last step observed.
    pub last: Option<Observation>,
}

impl History {
    /// Nothing done yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Nothing done yet in this call, but an earlier attempt of the same billno (in another
    /// call or another process) had an unknown outcome: a refusal of the first send is then
    /// checked with a query, as after an unknown send of this call.
    pub fn after_unknown() -> Self {
        Self {
            unknown_before_last_send: true,
            ..Self::default()
        }
    }

    /// Records a send that ended `at` (time since the start).
    pub fn record_send(&mut self, observation: SendObservation, at: Duration) {
        self.unknown_before_last_send |= self.last_send == Some(SendObservation::Unknown);
        self.sends = self.sends.saturating_add(1);
        if matches!(
            observation,
            SendObservation::Rejected {
                rate_limited: true,
                ..
            }
        ) {
            self.rate_limited = self.rate_limited.saturating_add(1);
        }
        if observation.may_have_landed() {
            self.last_landed_send_at = Some(at);
        }
        self.elapsed = at;
        self.last_send = Some(observation);
        self.last = Some(Observation::Send(observation));
    }

    /// Records a query that ended `at` (time since the start).
    pub fn record_query(&mut self, observation: QueryObservation, at: Duration) {
        self.queries = self.queries.saturating_add(1);
        self.elapsed = at;
        self.last = Some(Observation::Query(observation));
    }

    /// Whether any send so far may have reached the server.
    pub fn any_landed(&self) -> bool {
        self.last_landed_send_at.is_some()
    }

    /// Time since the last send that may have reached the server.
    pub fn since_landed_send(&self) -> Option<Duration> {
        self.last_landed_send_at
            .map(|at| self.elapsed.saturating_sub(at))
    }
}

/// The next step of the reliable send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the loop must handle every decision; a new kind of step is a breaking change"
)]
pub enum Decision {
    /// Stop: the last observations are the answer.
    Stop,
    /// Wait, then send the same request again (same billno, same bytes).
    RetryAfter(Duration),
    /// Wait, then query the billno.
    QueryAfter(Duration),
}

/// Decides the next step from the policy and what happened so far. Pure: the same inputs
/// always give the same decision.
///
/// With an empty history the answer is the first send, at once. Every other answer but
/// [`Decision::Stop`] leads to one more send or query, and both are bounded, so a loop driven
/// by this function always ends.
pub fn decide(policy: &RetryPolicy, history: &History) -> Decision {
    let Some(last) = history.last else {
        return Decision::RetryAfter(Duration::ZERO);
    };
    let can_send = history.sends < policy.max_attempts;
    let can_query = history.queries < policy.max_queries;
    let fits = |wait: Duration| history.elapsed.saturating_add(wait) <= policy.max_total;
    // What remains of the minimum spacing since the last send that may have landed.
    let spacing = history.since_landed_send().map_or(Duration::ZERO, |since| {
        policy.min_delay.saturating_sub(since)
    });
    let resend = |base: Duration| {
        let wait = base.max(spacing);
        (can_send && fits(wait)).then_some(Decision::RetryAfter(wait))
    };
    let query = |wait: Duration| (can_query && fits(wait)).then_some(Decision::QueryAfter(wait));
    let backoff = policy.delay(history.queries);
    let rate_backoff = policy.rate_limit_backoff(history.rate_limited);

    let next = match last {
        Observation::Send(SendObservation::Sent)
        | Observation::Query(QueryObservation::Issued | QueryObservation::Failed) => None,
        // An earlier send with an unknown outcome may have issued the packet: check before
        // reporting a rejection.
        Observation::Send(SendObservation::Rejected { .. })
            if history.unknown_before_last_send && can_query =>
        {
            Some(Decision::QueryAfter(Duration::ZERO))
        }
        Observation::Send(SendObservation::Rejected { rate_limited, .. }) => {
            rate_limited.then(|| resend(rate_backoff)).flatten()
        }
        Observation::Send(SendObservation::NotSent) => resend(Duration::ZERO)
            .or_else(|| history.any_landed().then(|| query(backoff)).flatten()),
        Observation::Send(SendObservation::Unknown) => query(backoff)
            // Out of time: one last query at once to settle it.
            .or_else(|| can_query.then_some(Decision::QueryAfter(Duration::ZERO)))
            .or_else(|| resend(backoff)),
        Observation::Query(QueryObservation::Sending) => query(backoff),
        Observation::Query(QueryObservation::NotFound | QueryObservation::Unknown) => {
            match history.last_send {
                Some(SendObservation::Rejected {
                    rate_limited: true, ..
                }) => resend(rate_backoff),
                Some(SendObservation::Unknown | SendObservation::NotSent) => {
                    resend(Duration::ZERO).or_else(|| query(backoff))
                }
                Some(SendObservation::Sent | SendObservation::Rejected { .. }) | None => None,
            }
        }
    };
    next.unwrap_or(Decision::Stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn policy() -> RetryPolicy {
        RetryPolicy::DEFAULT
    }

    fn rejected(class: HandlingClass) -> SendObservation {
        SendObservation::Rejected {
            class,
            rate_limited: false,
        }
    }

    const FREQ: SendObservation = SendObservation::Rejected {
        class: HandlingClass::B,
        rate_limited: true,
    };

    /// Drives `decide` against a scripted world until it stops, with no I/O: each send or
    /// query takes `step` of time, each wait its full length.
    fn simulate(
        policy: &RetryPolicy,
        step: Duration,
        mut send: impl FnMut(u32) -> SendObservation,
        mut query: impl FnMut(u32) -> QueryObservation,
    ) -> (History, Vec<Decision>) {
        let mut history = History::new();
        let mut decisions = Vec::new();
        let mut now = Duration::ZERO;
        for _ in 0..1000 {
            let decision = decide(policy, &history);
            decisions.push(decision);
            match decision {
                Decision::Stop => return (history, decisions),
                Decision::RetryAfter(wait) => {
                    now += wait + step;
                    let observation = send(history.sends);
                    history.record_send(observation, now);
                }
                Decision::QueryAfter(wait) => {
                    now += wait + step;
                    let observation = query(history.queries);
                    history.record_query(observation, now);
                }
            }
        }
        panic!("the loop did not end: {decisions:?}");
    }

    #[test]
    fn the_first_step_is_a_send_at_once() {
        assert_eq!(
            decide(&policy(), &History::new()),
            Decision::RetryAfter(Duration::ZERO)
        );
    }

    #[test]
    fn sent_issued_and_failed_stop_at_once() {
        let mut h = History::new();
        h.record_send(SendObservation::Sent, Duration::ZERO);
        assert_eq!(decide(&policy(), &h), Decision::Stop);

        for observation in [QueryObservation::Issued, QueryObservation::Failed] {
            let mut h = History::new();
            h.record_send(SendObservation::Unknown, Duration::ZERO);
            h.record_query(observation, S);
            assert_eq!(decide(&policy(), &h), Decision::Stop);
        }
    }

    #[test]
    fn an_unknown_send_is_settled_by_a_query_after_the_first_delay() {
        let mut h = History::new();
        h.record_send(SendObservation::Unknown, Duration::from_millis(30));
        assert_eq!(decide(&policy(), &h), Decision::QueryAfter(S));
    }

    #[test]
    fn not_found_after_an_unknown_send_resends_once_a_second_has_passed() {
        // Arrange: the query ran 1 s after the send.
        let mut h = History::new();
        h.record_send(SendObservation::Unknown, Duration::ZERO);
        h.record_query(QueryObservation::NotFound, S);

        // Act / Assert: the spacing is satisfied, resend at once.
        assert_eq!(decide(&policy(), &h), Decision::RetryAfter(Duration::ZERO));

        // A query that came back after only 300 ms leaves 700 ms to wait.
        let mut h = History::new();
        h.record_send(SendObservation::Unknown, Duration::ZERO);
        h.record_query(QueryObservation::NotFound, Duration::from_millis(300));
        assert_eq!(
            decide(&policy(), &h),
            Decision::RetryAfter(Duration::from_millis(700))
        );
    }

    #[test]
    fn a_failed_query_is_followed_by_a_resend_of_the_same_billno() {
        let mut h = History::new();
        h.record_send(SendObservation::Unknown, Duration::ZERO);
        h.record_query(QueryObservation::Unknown, S);
        assert_eq!(decide(&policy(), &h), Decision::RetryAfter(Duration::ZERO));
    }

    #[test]
    fn sending_is_queried_again_with_back_off_and_never_resent() {
        let mut h = History::new();
        h.record_send(SendObservation::Unknown, Duration::ZERO);
        h.record_query(QueryObservation::Sending, S);
        assert_eq!(decide(&policy(), &h), Decision::QueryAfter(2 * S));
        h.record_query(QueryObservation::Sending, 4 * S);
        assert_eq!(decide(&policy(), &h), Decision::QueryAfter(4 * S));
    }

    #[test]
    fn a_send_that_never_left_is_retried_at_once() {
        let mut h = History::new();
        h.record_send(SendObservation::NotSent, Duration::from_millis(5));
        assert_eq!(decide(&policy(), &h), Decision::RetryAfter(Duration::ZERO));
    }

    #[test]
    fn a_send_that_never_left_still_keeps_a_second_from_an_earlier_landed_send() {
        let mut h = History::new();
        h.record_send(SendObservation::Unknown, Duration::ZERO);
        h.record_send(SendObservation::NotSent, Duration::from_millis(100));
        assert_eq!(
            decide(&policy(), &h),
            Decision::RetryAfter(Duration::from_millis(900))
        );
    }

    #[test]
    fn definitive_rejections_stop_when_nothing_earlier_may_have_landed() {
        for class in [HandlingClass::A, HandlingClass::B, HandlingClass::D] {
            let mut h = History::new();
            h.record_send(rejected(class), Duration::ZERO);
            assert_eq!(decide(&policy(), &h), Decision::Stop, "{class:?}");
        }
    }

    #[test]
    fn a_rejection_after_an_unknown_send_is_checked_by_a_query_first() {
        // Arrange: the first send may have issued the packet, the resend was refused.
        let mut h = History::new();
        h.record_send(SendObservation::Unknown, Duration::ZERO);
        h.record_query(QueryObservation::NotFound, S);
        h.record_send(rejected(HandlingClass::B), S);

        // Act / Assert
        assert_eq!(decide(&policy(), &h), Decision::QueryAfter(Duration::ZERO));
        h.record_query(QueryObservation::NotFound, S);
        assert_eq!(decide(&policy(), &h), Decision::Stop);
    }

    #[test]
    fn after_an_earlier_unknown_the_first_send_goes_at_once_and_its_refusal_is_checked() {
        // Arrange: an earlier call left the billno unknown.
        let mut h = History::after_unknown();

        // Act / Assert
        assert_eq!(decide(&policy(), &h), Decision::RetryAfter(Duration::ZERO));
        h.record_send(rejected(HandlingClass::D), Duration::ZERO);
        assert_eq!(decide(&policy(), &h), Decision::QueryAfter(Duration::ZERO));
        h.record_query(QueryObservation::NotFound, S);
        assert_eq!(decide(&policy(), &h), Decision::Stop);
    }

    #[test]
    fn freq_limit_is_retried_with_the_same_billno_after_a_growing_delay() {
        let mut h = History::new();
        h.record_send(FREQ, Duration::ZERO);
        assert_eq!(decide(&policy(), &h), Decision::RetryAfter(2 * S));
        h.record_send(FREQ, 2 * S);
        assert_eq!(decide(&policy(), &h), Decision::RetryAfter(4 * S));
    }

    #[test]
    fn an_unknown_send_with_no_time_left_gets_one_last_query_at_once() {
        let mut h = History::new();
        h.record_send(SendObservation::Unknown, Duration::from_secs(60));
        assert_eq!(decide(&policy(), &h), Decision::QueryAfter(Duration::ZERO));
        h.record_query(QueryObservation::NotFound, Duration::from_secs(60));
        assert_eq!(decide(&policy(), &h), Decision::Stop);
    }

    #[test]
    fn a_world_that_never_answers_is_bounded_by_the_policy() {
        // Act
        let (history, decisions) = simulate(
            &policy(),
            Duration::from_millis(50),
            |_| SendObservation::Unknown,
            |_| QueryObservation::NotFound,
        );

        // Assert
        assert!(history.sends <= policy().max_attempts);
        assert!(history.queries <= policy().max_queries);
        assert_eq!(decisions.last(), Some(&Decision::Stop));
        // The last step settles with a query.
        assert_eq!(
            history.last,
            Some(Observation::Query(QueryObservation::NotFound))
        );
    }

    #[test]
    fn sends_that_may_have_landed_are_always_at_least_min_delay_apart() {
        // Arrange: every combination of short scripted worlds.
        let sends = [
            SendObservation::Unknown,
            SendObservation::NotSent,
            FREQ,
            SendObservation::Unknown,
        ];
        let queries = [
            QueryObservation::NotFound,
            QueryObservation::Unknown,
            QueryObservation::Sending,
        ];
        for offset in 0..sends.len() {
            for step_ms in [0, 10, 400, 1500] {
                let mut times = Vec::new();
                let mut history = History::new();
                let mut now = Duration::ZERO;
                loop {
                    match decide(&policy(), &history) {
                        Decision::Stop => break,
                        Decision::RetryAfter(wait) => {
                            now += wait;
                            let observation =
                                sends[(history.sends as usize + offset) % sends.len()];
                            if observation.may_have_landed() {
                                times.push(now);
                            }
                            now += Duration::from_millis(step_ms);
                            history.record_send(observation, now);
                        }
                        Decision::QueryAfter(wait) => {
                            now += wait + Duration::from_millis(step_ms);
                            let observation = queries[history.queries as usize % queries.len()];
                            history.record_query(observation, now);
                        }
                    }
                }
                // Assert: measured from the end of one landed send to the start of the next.
                for pair in times.windows(2) {
                    assert!(
                        pair[1] - pair[0] >= S,
                        "offset {offset}, step {step_ms} ms: {times:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn an_unknown_then_not_found_world_alternates_queries_and_resends() {
        // Act
        let (history, decisions) = simulate(
            &policy(),
            Duration::ZERO,
            |n| {
                if n == 0 {
                    SendObservation::Unknown
                } else {
                    SendObservation::Sent
                }
            },
            |_| QueryObservation::NotFound,
        );

        // Assert
        assert_eq!(
            decisions,
            vec![
                Decision::RetryAfter(Duration::ZERO),
                Decision::QueryAfter(S),
                Decision::RetryAfter(Duration::ZERO),
                Decision::Stop,
            ]
        );
        assert_eq!((history.sends, history.queries), (2, 1));
    }

    #[test]
    fn delays_grow_by_the_factor_and_are_capped() {
        let p = policy();
        assert_eq!(p.delay(0), S);
        assert_eq!(p.delay(1), 2 * S);
        assert_eq!(p.delay(4), 16 * S);
        assert_eq!(p.delay(5), 16 * S);
        assert_eq!(p.delay(u32::MAX), 16 * S);
        assert_eq!(p.rate_limit_backoff(1), 2 * S);
        assert_eq!(p.rate_limit_backoff(2), 4 * S);
        assert_eq!(p.rate_limit_backoff(40), 16 * S);
        let mut constant = policy();
        constant.backoff_factor = 1;
        assert_eq!(constant.delay(7), S);
    }

    #[test]
    fn a_policy_that_would_resend_within_a_second_is_refused() {
        let mut p = policy();
        p.min_delay = Duration::from_millis(999);
        assert!(matches!(p.validate(), Err(Error::Policy { .. })));
        let mut p = policy();
        p.max_attempts = 0;
        assert!(p.validate().is_err());
        let mut p = policy();
        p.rate_limit_delay = Duration::from_millis(500);
        assert!(p.validate().is_err());
        let mut p = policy();
        p.backoff_factor = 0;
        assert!(p.validate().is_err());
        let mut p = policy();
        p.max_delay = Duration::from_millis(10);
        assert!(p.validate().is_err());
        assert!(policy().validate().is_ok());
    }

    #[test]
    fn statuses_map_to_query_observations() {
        assert_eq!(
            QueryObservation::of_status(&Status::Sent),
            QueryObservation::Issued
        );
        assert_eq!(
            QueryObservation::of_status(&Status::Received),
            QueryObservation::Issued
        );
        assert_eq!(
            QueryObservation::of_status(&Status::Refunding),
            QueryObservation::Issued
        );
        assert_eq!(
            QueryObservation::of_status(&Status::Refund),
            QueryObservation::Issued
        );
        assert_eq!(
            QueryObservation::of_status(&Status::Failed),
            QueryObservation::Failed
        );
        assert_eq!(
            QueryObservation::of_status(&Status::Sending),
            QueryObservation::Sending
        );
        assert_eq!(
            QueryObservation::of_status(&Status::from("LOST")),
            QueryObservation::Unknown
        );
    }
}
