//! Properties of the pure decision function over random worlds.

use std::time::Duration;

use proptest::prelude::*;
use wxpay_proto::HandlingClass;
use wxpay_redpack::retry::{History, Observation, QueryObservation, SendObservation};
use wxpay_redpack::{Decision, RetryPolicy, decide};

fn send_observation() -> impl Strategy<Value = SendObservation> {
    prop_oneof![
        Just(SendObservation::Sent),
        Just(SendObservation::Unknown),
        Just(SendObservation::Unknown),
        Just(SendObservation::NotSent),
        Just(SendObservation::Rejected {
            class: HandlingClass::A,
            rate_limited: false
        }),
        Just(SendObservation::Rejected {
            class: HandlingClass::B,
            rate_limited: true
        }),
    ]
}

fn query_observation() -> impl Strategy<Value = QueryObservation> {
    prop_oneof![
        Just(QueryObservation::Issued),
        Just(QueryObservation::Failed),
        Just(QueryObservation::Sending),
        Just(QueryObservation::NotFound),
        Just(QueryObservation::NotFound),
        Just(QueryObservation::Unknown),
    ]
}

fn policy() -> impl Strategy<Value = RetryPolicy> {
    (1u32..8, 0u32..8, 1u64..4, 1u32..4, 5u64..120).prop_map(
        |(attempts, queries, min_delay, factor, total)| {
            let mut policy = RetryPolicy::default();
            policy.max_attempts = attempts;
            policy.max_queries = queries;
            policy.min_delay = Duration::from_secs(min_delay);
            policy.max_delay = Duration::from_secs(min_delay * 8);
            policy.rate_limit_delay = Duration::from_secs(min_delay * 2);
            policy.backoff_factor = factor;
            policy.max_total = Duration::from_secs(total);
            policy
        },
    )
}

proptest! {
    #[test]
    fn every_world_ends_within_the_bounds_with_sends_at_least_min_delay_apart(
        policy in policy(),
        sends in proptest::collection::vec(send_observation(), 1..20),
        queries in proptest::collection::vec(query_observation(), 1..20),
        step_ms in 0u64..3000,
    ) {
        // Arrange
        let step = Duration::from_millis(step_ms);
        let mut history = History::new();
        let mut now = Duration::ZERO;
        let mut landed_starts = Vec::new();

        // Act
        let mut steps = 0;
        loop {
            steps += 1;
            prop_assert!(steps < 100, "did not end");
            match decide(&policy, &history) {
                Decision::Stop => break,
                Decision::RetryAfter(wait) => {
                    now += wait;
                    let observation = sends[history.sends as usize % sends.len()];
                    if observation != SendObservation::NotSent {
                        landed_starts.push(now);
                    }
                    now += step;
                    history.record_send(observation, now);
                }
                Decision::QueryAfter(wait) => {
                    now += wait + step;
                    history.record_query(queries[history.queries as usize % queries.len()], now);
                }
            }
        }

        // Assert
        prop_assert!(history.sends >= 1 && history.sends <= policy.max_attempts);
        prop_assert!(history.queries <= policy.max_queries);
        for pair in landed_starts.windows(2) {
            prop_assert!(pair[1] - pair[0] >= policy.min_delay);
        }
        // The loop never gives up on an unknown send while it may still query.
        if history.last == Some(Observation::Send(SendObservation::Unknown)) {
            prop_assert_eq!(history.queries, policy.max_queries);
        }
        // A sent answer or a settled record ends it at once.
        let decided_sent = history.last == Some(Observation::Send(SendObservation::Sent));
        let settled = matches!(
            history.last,
            Some(Observation::Query(QueryObservation::Issued | QueryObservation::Failed))
        );
        // (The next back-off delay is never shorter than the spacing of a resend.)
        let out_of_budget = history.sends == policy.max_attempts
            || history.queries == policy.max_queries
            || history.elapsed + policy.delay(history.queries) > policy.max_total;
        let rejected = matches!(history.last_send, Some(SendObservation::Rejected { .. }));
        prop_assert!(decided_sent || settled || out_of_budget || rejected);
    }
}
