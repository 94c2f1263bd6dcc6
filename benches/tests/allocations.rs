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
fn building_the_request_allocates_only_its_free_texts() {
    let fixture = Fixture::load().unwrap();
    let values = fixture.values().unwrap();

    // The round's first step: the short ids (nonce, billno, mch_id, appid, openid,
    // client_ip) are kept inline; `send_name`, `wishing`, `act_name` and `remark` have a
    // String each.
    let allocations = count(|| drop(values.build().unwrap()));
    assert_eq!(allocations, 4);
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

#[test]
fn the_borrowed_view_of_the_query_response_copies_no_text() {
    let mut owned = 0;
    let view_allocations = count(|| {
        let view = gethbinfo::ResponseView::from_xml(RESPONSE_GETHBINFO_XML.as_bytes()).unwrap();
        assert_eq!(view.hblist.len(), 1);
        owned = view.to_owned().hblist.len();
    });
    let owned_allocations = count(|| {
        drop(gethbinfo::Response::from_xml(RESPONSE_GETHBINFO_XML.as_bytes()).unwrap());
    });
    let view_only = count(|| {
        drop(gethbinfo::ResponseView::from_xml(RESPONSE_GETHBINFO_XML.as_bytes()).unwrap());
    });
    eprintln!(
        "gethbinfo decode: owned {owned_allocations} allocations, view {view_only}, view then owned {view_allocations}"
    );
    assert_eq!(owned, 1);
    // The fixture has 11 texts (the header's `return_msg` and `err_code_des`, 7 of the
    // record, the claim's `openid` and `rcv_time`): the view allocates only the document's
    // scratch (the open-element stack, the root's field slots and list, the claim list's
    // and the claim's elements, the claim's fields, the list of claims), never one per text.
    assert!(
        view_only + 10 <= owned_allocations,
        "{view_only} vs {owned_allocations}"
    );
    assert!(view_only <= 8, "{view_only}");
}

#[test]
fn the_whole_round_allocates_what_its_steps_do() {
    let fixture = Fixture::load().unwrap();
    let key = fixture.key().unwrap();
    let values = fixture.values().unwrap();
    let round = |view: bool| {
        count(|| {
            let mut request = values.build().unwrap();
            let signature = sign(SignType::Md5, &key, request.sign_fields().pairs()).unwrap();
            request.set_sign(signature.as_str().to_owned());
            let body = request.to_xml();
            if view {
                drop(gethbinfo::ResponseView::from_xml(RESPONSE_GETHBINFO_XML.as_bytes()).unwrap());
            } else {
                drop(gethbinfo::Response::from_xml(RESPONSE_GETHBINFO_XML.as_bytes()).unwrap());
            }
            drop(body);
        })
    };
    let (with_view, owned) = (round(true), round(false));
    eprintln!("round: {with_view} allocations with the view, {owned} owned");
    // The request's 4 free texts, the signature's copy, the body, then the decode's.
    assert!(with_view <= 6 + 8, "{with_view}");
    assert!(owned >= with_view + 10, "{owned} vs {with_view}");
}
