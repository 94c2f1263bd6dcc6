//! The bench inputs are what they claim to be, and sign + proto agree on them.

use benches::{Fixture, RESPONSE_GETHBINFO_XML, STRING_TO_SIGN};
use wxpay_proto::{ApiRequest, XmlMessage, gethbinfo, sendredpack};
use wxpay_sign::{SignType, canonical_string_redacted, sign};

#[test]
fn the_typed_request_signs_the_same_string_as_the_fixture() {
    // Arrange
    let fixture = Fixture::load().unwrap();
    let request = fixture.request().unwrap();
    let key = fixture.key().unwrap();

    // Act
    let fields = request.sign_fields();
    let redacted = canonical_string_redacted(fields.pairs()).unwrap();
    let from_typed = sign(SignType::Md5, &key, fields.pairs()).unwrap();
    let from_raw = sign(SignType::Md5, &key, fixture.pairs()).unwrap();

    // Assert
    let (unkeyed, _) = STRING_TO_SIGN.rsplit_once("&key=").unwrap();
    assert_eq!(redacted, format!("{unkeyed}&key=***"));
    assert_eq!(from_typed, from_raw);
    assert_eq!(from_typed.as_str(), "004407BF2FAEBA79F19A877F83E306DA");
}

#[test]
fn the_spec_example_request_reproduces_the_derived_vector() {
    // The sendredpack vector of spec §2.4, through the typed request.
    let fixture = Fixture::load().unwrap();
    let mut request = fixture.request().unwrap();
    request.scene_id = Some(wxpay_proto::SceneId::Product8);
    request.risk_info = Some(
        wxpay_proto::RiskInfo::builder()
            .posttime("123123412")
            .client_version("234134")
            .mobile("122344545")
            .device_id("IOS")
            .build()
            .unwrap(),
    );

    let signature = sign(
        SignType::Md5,
        &fixture.key().unwrap(),
        request.sign_fields().pairs(),
    )
    .unwrap();

    assert_eq!(signature.as_str(), "C3F9EB2189E55B12B14CD761D1850A77");
    // With `sign_type` sent but left out of the signature, as the server computes it.
    request.unknown.insert(
        "sign_type".to_owned(),
        wxpay_proto::RawValue::Text("MD5".to_owned()),
    );
    request.set_sign(signature.as_str().to_owned());
    let decoded = sendredpack::Request::from_xml(request.to_xml().as_bytes()).unwrap();
    let again = sign(
        SignType::Md5,
        &fixture.key().unwrap(),
        decoded.sign_fields().pairs(),
    )
    .unwrap();
    assert_eq!(again, signature);
}

#[test]
fn the_gethbinfo_spec_example_reproduces_the_derived_vector() {
    let fixture = Fixture::load().unwrap();
    let request = gethbinfo::Request::new(
        wxpay_proto::NonceStr::new("5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap(),
        wxpay_proto::MchBillno::new("10000098201411111234567890").unwrap(),
        wxpay_proto::MchId::new("10000098").unwrap(),
        wxpay_proto::AppId::new("wxe062425f740d30d8").unwrap(),
    );

    let signature = sign(
        SignType::Md5,
        &fixture.key().unwrap(),
        request.sign_fields().pairs(),
    )
    .unwrap();

    assert_eq!(signature.as_str(), "3C2F21F0DA04C5D8BDAC3608066A3D42");
}

#[test]
fn the_response_fixture_decodes() {
    let response = gethbinfo::Response::from_xml(RESPONSE_GETHBINFO_XML.as_bytes()).unwrap();

    assert_eq!(response.hblist.len(), 1);
    assert_eq!(STRING_TO_SIGN.len(), 434);
}
