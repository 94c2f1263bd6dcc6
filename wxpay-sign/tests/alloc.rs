//! Signing allocates nothing up to 32 signed fields, with either algorithm.
//!
//! Its own test binary: the `allocation-counter` crate installs a counting global allocator.
//! Counts are per thread, so the test harness running other tests in parallel does not
//! disturb a measurement.

use allocation_counter::measure;
use std::hint::black_box;
use wxpay_sign::{ApiKey, SignType, Signer, sign};

const KEY: &str = "192006250b4c09247ec02edce69f6a2d";

/// The 13 fields of `shared/bench-fixtures/request_params.json`.
const THIRTEEN: [(&str, &str); 13] = [
    ("mch_billno", "10000098201411111234567890"),
    ("mch_id", "10000098"),
    ("wxappid", "wx8888888888888888"),
    ("send_name", "天虹百货"),
    ("re_openid", "oxTWIuGaIt6gTKsQRLau2M0yL16E"),
    ("total_amount", "1000"),
    ("total_num", "1"),
    ("wishing", "感谢您参加猜灯谜活动，祝您元宵节快乐！"),
    ("client_ip", "192.168.0.1"),
    ("act_name", "猜灯谜抢红包活动"),
    ("remark", "猜越多得越多，快来抢！"),
    ("scene_id", "PRODUCT_2"),
    ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
];

/// `n` distinct names in reverse order, so that sorting has work to do.
fn names(n: usize) -> Vec<String> {
    (0..n).rev().map(|i| format!("field_{i:02}")).collect()
}

fn allocations(run: impl FnOnce()) -> u64 {
    measure(run).count_total
}

#[test]
fn signing_thirteen_fields_allocates_nothing() {
    let key = ApiKey::new(KEY).unwrap();
    let signer = Signer::new(key.clone());
    for sign_type in [SignType::Md5, SignType::HmacSha256] {
        let count = allocations(|| {
            let sig = sign(sign_type, &key, black_box(THIRTEEN)).unwrap();
            black_box(sig);
            let sig = signer.sign(sign_type, black_box(THIRTEEN)).unwrap();
            black_box(sig);
        });
        assert_eq!(count, 0, "{sign_type}");
    }
}

#[test]
fn signing_exactly_thirty_two_fields_allocates_nothing() {
    let key = ApiKey::new(KEY).unwrap();
    let signer = Signer::new(key.clone());
    let names = names(32);
    // Padding that is skipped (empty values, `sign`) does not count towards the 32.
    let pairs: Vec<(&str, &str)> = names
        .iter()
        .map(|n| (n.as_str(), "value"))
        .chain([("sign", "X"), ("attach", "")])
        .collect();
    for sign_type in [SignType::Md5, SignType::HmacSha256] {
        let count = allocations(|| {
            let sig = sign(sign_type, &key, black_box(pairs.iter().copied())).unwrap();
            black_box(sig);
            let sig = signer
                .sign(sign_type, black_box(pairs.iter().copied()))
                .unwrap();
            black_box(sig);
        });
        assert_eq!(count, 0, "{sign_type}");
    }
}

#[test]
fn verifying_allocates_nothing() {
    let key = ApiKey::new(KEY).unwrap();
    for sign_type in [SignType::Md5, SignType::HmacSha256] {
        let expected = sign(sign_type, &key, THIRTEEN).unwrap();
        let count = allocations(|| {
            wxpay_sign::verify(sign_type, &key, black_box(THIRTEEN), expected.as_str()).unwrap();
        });
        assert_eq!(count, 0, "{sign_type}");
    }
}

#[test]
fn the_counter_does_see_allocations() {
    // Controls: without them a broken counter would make the tests above pass vacuously.
    let key = ApiKey::new(KEY).unwrap();
    let formatted = allocations(|| {
        black_box(format!("{}", black_box(13)));
    });
    assert!(formatted > 0);
    // Thirty-three fields spill the inline buffer into a Vec.
    let names = names(33);
    let spilled = allocations(|| {
        let pairs = names.iter().map(|n| (n.as_str(), "value"));
        black_box(sign(SignType::Md5, &key, black_box(pairs)).unwrap());
    });
    assert!(spilled > 0);
}
