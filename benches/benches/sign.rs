//! Signing the fixture request: MD5 and HMAC-SHA256, against the floor of hashing the
//! already-built string to sign.

use std::hint::black_box;

use benches::{Fixture, STRING_TO_SIGN};
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use wxpay_proto::ApiRequest;
use wxpay_sign::{SignType, Signer, sign};

fn bench_sign(c: &mut Criterion) {
    let fixture = Fixture::load().expect("fixture loads");
    let key = fixture.key().expect("fixture key");
    let pairs = fixture.pairs();
    let request = fixture.request().expect("fixture request");
    let signer = Signer::new(key.clone());

    let mut group = c.benchmark_group("sign");
    group.bench_function("md5/floor (hash the 434-byte string)", |b| {
        b.iter(|| Md5::digest(black_box(STRING_TO_SIGN.as_bytes())))
    });
    group.bench_function("md5/pairs", |b| {
        b.iter(|| sign(SignType::Md5, &key, black_box(pairs.iter().copied())))
    });
    group.bench_function("md5/typed request", |b| {
        b.iter(|| {
            sign(
                SignType::Md5,
                &key,
                black_box(&request).sign_fields().pairs(),
            )
        })
    });
    let keyed = hmac::Hmac::<sha2::Sha256>::new_from_slice(fixture.api_key.as_bytes())
        .expect("HMAC takes any key length");
    group.bench_function("hmac-sha256/floor (keyed once, hash the string)", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(black_box(STRING_TO_SIGN.as_bytes()));
            mac.finalize()
        })
    });
    group.bench_function("hmac-sha256/pairs", |b| {
        b.iter(|| sign(SignType::HmacSha256, &key, black_box(pairs.iter().copied())))
    });
    group.bench_function("hmac-sha256/pairs, keyed once (Signer)", |b| {
        b.iter(|| signer.sign(SignType::HmacSha256, black_box(pairs.iter().copied())))
    });
    group.finish();
}

criterion_group!(benches, bench_sign);
criterion_main!(benches);
