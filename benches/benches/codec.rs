//! The XML codec on the fixtures: encoding the signed request, decoding the query response,
//! and a client's whole round (build the typed request, sign, encode, decode the response).

use std::hint::black_box;

use benches::{Fixture, RESPONSE_GETHBINFO_XML, STRING_TO_SIGN};
use criterion::{Criterion, criterion_group, criterion_main};
use wxpay_proto::{ApiRequest, XmlMessage, gethbinfo};
use wxpay_sign::{SignType, sign};

fn bench_codec(c: &mut Criterion) {
    let fixture = Fixture::load().expect("fixture loads");
    let key = fixture.key().expect("fixture key");
    let mut signed = fixture.request().expect("fixture request");
    let signature = sign(SignType::Md5, &key, signed.sign_fields().pairs()).expect("signs");
    signed.set_sign(signature.as_str().to_owned());

    let values = fixture.values().expect("fixture values");

    let mut group = c.benchmark_group("codec");
    // The floor the codec targets are ratios of, measured in the same run.
    group.bench_function("floor/md5 (hash the 434-byte string)", |b| {
        b.iter(|| <md5::Md5 as md5::Digest>::digest(black_box(STRING_TO_SIGN.as_bytes())))
    });
    group.bench_function("sendredpack/encode signed request", |b| {
        b.iter(|| black_box(&signed).to_xml())
    });
    group.bench_function("gethbinfo/decode response", |b| {
        b.iter(|| gethbinfo::Response::from_xml(black_box(RESPONSE_GETHBINFO_XML.as_bytes())))
    });
    group.bench_function("gethbinfo/decode response, borrowed view", |b| {
        b.iter(|| gethbinfo::ResponseView::from_xml(black_box(RESPONSE_GETHBINFO_XML.as_bytes())))
    });
    // The round's first step alone (validating and storing the request's values).
    group.bench_function("round/build the typed request (its first step)", |b| {
        b.iter(|| black_box(&values).build().expect("fixture request"))
    });
    // A client's half of the round: build the typed request from its values, sign, encode.
    let request_body = || {
        let mut request = values.build().expect("fixture request");
        let signature = sign(SignType::Md5, &key, request.sign_fields().pairs()).expect("signs");
        request.set_sign(signature.as_str().to_owned());
        request.to_xml()
    };
    group.bench_function("round/build, sign, encode (the request half)", |b| {
        b.iter(request_body)
    });
    group.bench_function(
        "round/build, sign, encode, decode response as a view",
        |b| {
            b.iter(|| {
                let body = request_body();
                let response = gethbinfo::ResponseView::from_xml(RESPONSE_GETHBINFO_XML.as_bytes())
                    .expect("decodes");
                (body.len(), response.hblist.len())
            })
        },
    );
    group.bench_function("round/build, sign, encode, decode response", |b| {
        b.iter(|| {
            let body = request_body();
            let response =
                gethbinfo::Response::from_xml(RESPONSE_GETHBINFO_XML.as_bytes()).expect("decodes");
            (body.len(), response)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_codec);
criterion_main!(benches);
