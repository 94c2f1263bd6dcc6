//! Runs one benchmark operation many times, for an instruction count under callgrind, which
//! stays exact on a busy machine where wall-clock benchmarks do not:
//!
//! ```sh
//! cargo build --profile bench -p benches --example ops
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/ops md5 100000
//! ```
//!
//! Operations: `md5-floor`, `md5`, `md5-typed`, `hmac-floor`, `hmac`, `encode`, `decode`,
//! `decode-view`, `build` (the typed request from its values), `round`, `round-view` (decoding a view).

use std::hint::black_box;

use benches::{Fixture, RESPONSE_GETHBINFO_XML, STRING_TO_SIGN};
use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use wxpay_proto::{ApiRequest, XmlMessage, gethbinfo};
use wxpay_sign::{SignType, Signer, sign};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let op = args.next().ok_or("usage: ops OPERATION [ITERATIONS]")?;
    let iterations: u64 = args.next().map_or(Ok(100_000), |n| n.parse())?;

    let fixture = Fixture::load()?;
    let key = fixture.key()?;
    let pairs = fixture.pairs();
    let signer = Signer::new(key.clone());
    let values = fixture.values()?;
    let keyed = hmac::Hmac::<sha2::Sha256>::new_from_slice(fixture.api_key.as_bytes())?;
    let mut signed = fixture.request()?;
    signed.set_sign(
        sign(SignType::Md5, &key, signed.sign_fields().pairs())?
            .as_str()
            .to_owned(),
    );

    let view = op == "round-view";
    for _ in 0..iterations {
        match op.as_str() {
            "md5-floor" => drop(black_box(Md5::digest(black_box(STRING_TO_SIGN.as_bytes())))),
            "md5" => drop(black_box(sign(
                SignType::Md5,
                &key,
                black_box(&pairs).iter().copied(),
            ))),
            "md5-typed" => drop(black_box(sign(
                SignType::Md5,
                &key,
                black_box(&signed).sign_fields().pairs(),
            ))),
            "hmac-floor" => {
                let mut mac = keyed.clone();
                mac.update(black_box(STRING_TO_SIGN.as_bytes()));
                drop(black_box(mac.finalize()));
            }
            "hmac" => drop(black_box(
                signer.sign(SignType::HmacSha256, black_box(&pairs).iter().copied()),
            )),
            "encode" => drop(black_box(black_box(&signed).to_xml())),
            "decode-view" => drop(black_box(gethbinfo::ResponseView::from_xml(black_box(
                RESPONSE_GETHBINFO_XML.as_bytes(),
            )))),
            "decode" => drop(black_box(gethbinfo::Response::from_xml(black_box(
                RESPONSE_GETHBINFO_XML.as_bytes(),
            )))),
            "build" => drop(black_box(black_box(&values).build()?)),
            "round" | "round-view" => {
                let mut request = values.build()?;
                let signature = sign(SignType::Md5, &key, request.sign_fields().pairs())?;
                request.set_sign(signature.as_str().to_owned());
                drop(black_box(request.to_xml()));
                let response = RESPONSE_GETHBINFO_XML.as_bytes();
                if view {
                    drop(black_box(gethbinfo::ResponseView::from_xml(response)));
                } else {
                    drop(black_box(gethbinfo::Response::from_xml(response)));
                }
            }
            other => return Err(format!("unknown operation {other}").into()),
        }
    }
    Ok(())
}
