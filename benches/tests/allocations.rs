//! Heap allocations per operation of the micro benchmarks, on the fixtures: the counts the
//! benchmark table reports beside the times.
//!
//! Its own test binary: `allocation-counter` installs a counting global allocator (per
//! thread, so parallel tests do not disturb a measurement).

use allocation_counter::measure;
use benches::{Fixture, RESPONSE_GETHBINFO_XML};
use wxpay_proto::{ApiRequest, XmlMessage, gethbinfo};
use wxpay_sign::{SignType, Signer, sign};

fn count(run: impl FnOnce()) -> u64 {
    measure(run).count_total
}

#[test]
fn signing_the_fixture_allocates_nothing() {
    let fixture = Fixture::load().unwrap();
    let key = fixture.key().unwrap();
    let pairs = fixture.pairs();
    let request = fixture.request().unwrap();
    let signer = Signer::new(key.clone());

    // (a) and (b), from the raw pairs and from the typed request.
    assert_eq!(
        count(|| drop(sign(SignType::Md5, &key, pairs.iter().copied()))),
        0
    );
    assert_eq!(
        count(|| drop(sign(SignType::Md5, &key, request.sign_fields().pairs()))),
        0
    );
    assert_eq!(
        count(|| drop(signer.sign(SignType::HmacSha256, pairs.iter().copied()))),
        0
    );
    assert_eq!(
        count(|| drop(sign(SignType::HmacSha256, &key, pairs.iter().copied()))),
        0
    );
}

#[test]
fn encoding_the_signed_request_allocates_its_output_buffer_only() {
    let fixture = Fixture::load().unwrap();
    let key = fixture.key().unwrap();
    let mut request = fixture.request().unwrap();
    request.set_sign(
        sign(SignType::Md5, &key, request.sign_fields().pairs())
            .unwrap()
            .as_str()
            .to_owned(),
    );

    let mut bytes = 0;
    let allocations = count(|| bytes = request.to_xml().len());

    // (c): one allocation, never a regrowth.
    assert_eq!(allocations, 1);
    assert!(bytes > 700, "{bytes}");
}

#[test]
fn decoding_the_query_response_allocates_a_bounded_number_of_times() {
    let mut decoded = None;
    let allocations = count(|| {
        decoded = Some(gethbinfo::Response::from_xml(RESPONSE_GETHBINFO_XML.as_bytes()).unwrap());
    });

    // (d): reported in BENCHMARKS.md; the bound catches a regression.
    eprintln!("gethbinfo decode: {allocations} allocations");
    assert!(decoded.is_some_and(|r| r.hblist.len() == 1));
    assert!(allocations <= 64, "{allocations} allocations");
}
