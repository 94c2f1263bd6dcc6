//! Each request exposes exactly its endpoint's documented fields for signing.

use std::collections::BTreeSet;

use wxpay_proto::{
    ApiRequest, AppId, MchId, RawValue, RiskInfo, SceneId, XmlMessage, gethbinfo, sendgroupredpack,
    sendminiprogramhb, sendredpack,
};

use crate::support::{group_example, mini_example, query_example, sendredpack_example};

fn names<R: ApiRequest>(request: &R) -> BTreeSet<String> {
    request
        .sign_fields()
        .pairs()
        .map(|(k, _)| k.to_owned())
        .collect()
}

fn documented<R: ApiRequest>() -> BTreeSet<String> {
    R::SIGNED_FIELDS.iter().map(|s| (*s).to_owned()).collect()
}

fn with_unknown<R: ApiRequest>(mut request: R, add: &[(&str, &str)]) -> R {
    // Decode a copy with extra elements, as a server receives a sloppy client's request.
    let mut xml = request.to_xml();
    xml.truncate(xml.len() - "</xml>".len());
    for (k, v) in add {
        xml.push_str(&format!("<{k}>{v}</{k}>"));
    }
    xml.push_str("</xml>");
    request = R::from_xml(xml.as_bytes()).unwrap();
    request
}

#[test]
fn a_fully_set_sendredpack_signs_exactly_its_documented_fields() {
    let mut request = sendredpack_example();
    request.sub_mch_id = Some(MchId::new("10000090").unwrap());
    request.msgappid = Some(AppId::new("wx8888888888888888").unwrap());
    request.scene_id = Some(SceneId::Product8);
    request.risk_info = Some(RiskInfo::from_encoded("posttime%3d1").unwrap());
    request.consume_mch_id = Some(MchId::new("1222000096").unwrap());

    assert_eq!(names(&request), documented::<sendredpack::Request>());
    assert_eq!(request.sign_fields().len(), 17);
}

#[test]
fn unset_optional_fields_are_not_signed() {
    let request = sendredpack_example();

    let signed = names(&request);

    for absent in [
        "sub_mch_id",
        "msgappid",
        "scene_id",
        "risk_info",
        "consume_mch_id",
    ] {
        assert!(!signed.contains(absent), "{absent}");
    }
    assert_eq!(signed.len(), 12);
}

#[test]
fn sign_sign_type_and_stray_fields_never_reach_a_signature() {
    let strays = [
        ("sign", "C3F9EB2189E55B12B14CD761D1850A77"),
        ("sign_type", "MD5"),
        ("appid", "wx8888888888888888"),
        ("sub_appid", "wx1"),
        ("trade_type", "JSAPI"),
    ];

    let normal = with_unknown(sendredpack_example(), &strays);
    let query = with_unknown(
        query_example(),
        &[
            ("sign_type", "MD5"),
            ("sub_mch_id", "1"),
            ("sub_appid", "wx1"),
        ],
    );
    let group = with_unknown(
        group_example(),
        &[("client_ip", "192.168.0.1"), ("sign_type", "MD5")],
    );
    let mini = with_unknown(
        mini_example(),
        &[("client_ip", "192.168.0.1"), ("appid", "wx1")],
    );

    for (signed, allowed) in [
        (names(&normal), documented::<sendredpack::Request>()),
        (names(&query), documented::<gethbinfo::Request>()),
        (names(&group), documented::<sendgroupredpack::Request>()),
        (names(&mini), documented::<sendminiprogramhb::Request>()),
    ] {
        assert!(signed.is_subset(&allowed), "{signed:?} ⊄ {allowed:?}");
        assert!(!signed.contains("sign") && !signed.contains("sign_type"));
    }
    // The strays are still there, sent but not signed.
    assert_eq!(
        normal.unknown.get("sign_type"),
        Some(&RawValue::Text("MD5".to_owned()))
    );
    assert_eq!(
        normal.sign.as_deref(),
        Some("C3F9EB2189E55B12B14CD761D1850A77")
    );
    assert!(group.unknown.contains_key("client_ip"));
}

#[test]
fn the_group_packet_has_no_client_ip_and_signs_amt_type() {
    let signed = names(&group_example());

    assert!(!signed.contains("client_ip"));
    assert!(!documented::<sendgroupredpack::Request>().contains("client_ip"));
    assert!(signed.contains("amt_type"));
}

#[test]
fn the_query_signs_appid_and_the_sends_sign_wxappid() {
    assert!(names(&query_example()).contains("appid"));
    assert!(!names(&query_example()).contains("wxappid"));
    for signed in [
        names(&sendredpack_example()),
        names(&group_example()),
        names(&mini_example()),
    ] {
        assert!(signed.contains("wxappid") && !signed.contains("appid"));
    }
}

#[test]
fn the_mini_program_packet_signs_notify_way_and_no_client_ip() {
    let signed = names(&mini_example());

    assert!(signed.contains("notify_way"));
    assert!(!signed.contains("client_ip"));
    assert_eq!(signed, {
        let mut all = documented::<sendminiprogramhb::Request>();
        all.remove("scene_id");
        all
    });
}

#[test]
fn signed_values_are_the_raw_wire_values() {
    let mut request = sendredpack_example();
    request.risk_info = Some(
        RiskInfo::from_encoded(
            "posttime%3d123123412%26clientversion%3d234134%26mobile%3d122344545%26deviceid%3dIOS",
        )
        .unwrap(),
    );
    request.scene_id = Some(SceneId::Product8);

    let pairs: Vec<(String, String)> = request
        .sign_fields()
        .pairs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };

    assert_eq!(get("total_amount"), Some("1000"));
    assert_eq!(get("total_num"), Some("1"));
    assert_eq!(get("send_name"), Some("天虹百货"));
    assert_eq!(get("scene_id"), Some("PRODUCT_8"));
    assert_eq!(
        get("risk_info"),
        Some("posttime%3d123123412%26clientversion%3d234134%26mobile%3d122344545%26deviceid%3dIOS")
    );
}

#[test]
fn a_decoded_request_signs_the_same_pairs_as_the_raw_document() {
    let mut request = sendredpack_example();
    request.set_sign("X".to_owned());
    let xml = with_unknown(request, &[("sign_type", "MD5")]).to_xml();

    let raw = wxpay_proto::RawMessage::parse(xml.as_bytes()).unwrap();
    let typed = sendredpack::Request::from_raw(raw.clone()).unwrap();

    let from_raw: BTreeSet<(String, String)> = raw
        .text_pairs_of(sendredpack::Request::SIGNED_FIELDS)
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let from_typed: BTreeSet<(String, String)> = typed
        .sign_fields()
        .pairs()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(from_raw, from_typed);
}

#[test]
fn signed_fields_come_in_byte_order_of_their_names() {
    fn assert_sorted<R: ApiRequest>(request: &R) {
        let fields = request.sign_fields();
        let names: Vec<&str> = fields.pairs().map(|(k, _)| k).collect();
        assert!(
            names.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()),
            "{names:?}"
        );
        assert!(
            R::SIGNED_FIELDS
                .windows(2)
                .all(|w| w[0].as_bytes() < w[1].as_bytes())
        );
    }
    let mut full = sendredpack_example();
    full.sub_mch_id = Some(MchId::new("10000090").unwrap());
    full.msgappid = Some(AppId::new("wx8888888888888888").unwrap());
    full.scene_id = Some(SceneId::Product8);
    full.consume_mch_id = Some(MchId::new("1222000096").unwrap());

    assert_sorted(&full);
    assert_sorted(&sendredpack_example());
    assert_sorted(&group_example());
    assert_sorted(&mini_example());
    assert_sorted(&query_example());
}

#[test]
fn the_send_requests_answer_the_same_questions_through_one_trait() {
    use wxpay_proto::{SendApiRequest, rules::SendKind};

    fn summary<R: SendApiRequest>(r: &R) -> (SendKind, String, String, u64, u32, bool) {
        (
            R::KIND,
            r.wxappid().to_string(),
            r.re_openid().to_string(),
            r.total_amount().get(),
            r.total_num(),
            r.sub_mch_id().is_some() || r.msgappid().is_some(),
        )
    }
    let mut partner = sendredpack_example();
    partner.sub_mch_id = Some(MchId::new("10000090").unwrap());

    assert_eq!(
        summary(&partner),
        (
            SendKind::Normal,
            "wx8888888888888888".into(),
            "oxTWIuGaIt6gTKsQRLau2M0yL16E".into(),
            1000,
            1,
            true
        )
    );
    assert_eq!(summary(&group_example()).0, SendKind::Group);
    assert_eq!(summary(&group_example()).4, 5);
    assert_eq!(
        summary(&mini_example()),
        (
            SendKind::MiniProgram,
            "wxd27ebc41b85ce36d".into(),
            "oxTWIuGaIt6gTKsQRLau2M0yL16E".into(),
            1000,
            1,
            false
        )
    );
}
