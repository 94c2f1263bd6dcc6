//! Encode → decode round trips for every request and response type, with hostile values.

use std::collections::BTreeMap;

use proptest::prelude::*;
use wxpay_proto::{
    ActName, AppId, BusinessError, ClientIp, ErrCode, Fen, HbType, MchBillno, MchId, NonceStr,
    OpenId, RawValue, Remark, ReturnHeader, ReturnStatus, RiskInfo, SceneId, SendName,
    SendResponse, SendType, Status, Wishing, XmlMessage, gethbinfo, sendgroupredpack,
    sendminiprogramhb, sendredpack,
};

/// Text made of pieces that break naive XML writers: CDATA terminators, markup, entities,
/// CJK, emoji and whitespace (no `\r`, which the text types refuse).
fn hostile(max_chars: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop::sample::select(vec![
            "]]>",
            "]]",
            "]",
            "<",
            ">",
            "&",
            "&amp;",
            "&#60;",
            "<![CDATA[",
            "天",
            "虹",
            "🧧",
            "😀",
            " ",
            "\t",
            "\n",
            "a",
            "Z",
            "'",
            "\"",
            "%3d",
            "<xml>",
            "</xml>",
        ]),
        1..24,
    )
    .prop_map(move |pieces| {
        let text: String = pieces.concat();
        text.chars().take(max_chars).collect()
    })
}

fn token(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[A-Za-z0-9_-]{{1,{max}}}")).unwrap()
}

fn opt<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
    proptest::option::of(s)
}

fn unknown_fields() -> impl Strategy<Value = BTreeMap<String, RawValue>> {
    proptest::collection::btree_map(
        proptest::string::string_regex("zz_[a-z]{1,6}").unwrap(),
        hostile(40).prop_map(RawValue::Text),
        0..3,
    )
}

fn scene() -> impl Strategy<Value = SceneId> {
    prop_oneof![
        prop::sample::select(SceneId::KNOWN.to_vec()),
        hostile(32).prop_map(|s| SceneId::from(s.as_str())),
    ]
}

fn err_code() -> impl Strategy<Value = ErrCode> {
    prop_oneof![
        prop::sample::select(ErrCode::KNOWN.to_vec()),
        token(32).prop_map(ErrCode::from),
    ]
}

prop_compose! {
    fn common_ids()(
        nonce in token(32),
        billno in proptest::string::string_regex("[A-Za-z0-9]{1,28}").unwrap(),
        mch_id in proptest::string::string_regex("[0-9]{1,32}").unwrap(),
        appid in token(32),
        openid in token(32),
    ) -> (NonceStr, MchBillno, MchId, AppId, OpenId) {
        (
            NonceStr::new(nonce).unwrap(),
            MchBillno::new(billno).unwrap(),
            MchId::new(mch_id).unwrap(),
            AppId::new(appid).unwrap(),
            OpenId::new(openid).unwrap(),
        )
    }
}

prop_compose! {
    fn texts()(
        send_name in hostile(32),
        wishing in hostile(128),
        act_name in hostile(32),
        remark in hostile(256),
    ) -> (SendName, Wishing, ActName, Remark) {
        (
            SendName::new(send_name).unwrap(),
            Wishing::new(wishing).unwrap(),
            ActName::new(act_name).unwrap(),
            Remark::new(remark).unwrap(),
        )
    }
}

prop_compose! {
    fn sendredpack_request()(
        (nonce, billno, mch_id, appid, openid) in common_ids(),
        (send_name, wishing, act_name, remark) in texts(),
        amount in any::<u64>(),
        total_num in any::<u32>(),
        ip in any::<[u8; 4]>(),
        sign in opt(hostile(32)),
        sub_mch_id in opt(proptest::string::string_regex("[0-9]{1,32}").unwrap()),
        msgappid in opt(token(32)),
        scene_id in opt(scene()),
        risk in opt(proptest::string::string_regex("[!-~]{1,128}").unwrap()),
        unknown in unknown_fields(),
    ) -> sendredpack::Request {
        let mut r = sendredpack::Request::new(
            nonce, billno, mch_id, appid, send_name, openid, Fen::new(amount), wishing,
            ClientIp::from(std::net::Ipv4Addr::from(ip)), act_name, remark,
        );
        r.total_num = total_num;
        r.sign = sign;
        r.sub_mch_id = sub_mch_id.map(|s| MchId::new(s).unwrap());
        r.msgappid = msgappid.map(|s| AppId::new(s).unwrap());
        r.consume_mch_id = r.sub_mch_id.clone();
        r.scene_id = scene_id;
        r.risk_info = risk.map(|s| RiskInfo::from_encoded(s).unwrap());
        r.unknown = unknown;
        r
    }
}

prop_compose! {
    fn group_request()(
        (nonce, billno, mch_id, appid, openid) in common_ids(),
        (send_name, wishing, act_name, remark) in texts(),
        amount in any::<u64>(),
        total_num in any::<u32>(),
        scene_id in opt(scene()),
        amt_type in hostile(32),
        unknown in unknown_fields(),
    ) -> sendgroupredpack::Request {
        let mut r = sendgroupredpack::Request::new(
            nonce, billno, mch_id, appid, send_name, openid, Fen::new(amount), total_num,
            wishing, act_name, remark,
        );
        r.scene_id = scene_id;
        r.amt_type = wxpay_proto::AmtType::from(amt_type.as_str());
        r.unknown = unknown;
        r
    }
}

prop_compose! {
    fn mini_request()(
        (nonce, billno, mch_id, appid, openid) in common_ids(),
        (send_name, wishing, act_name, remark) in texts(),
        amount in any::<u64>(),
        scene_id in opt(scene()),
        unknown in unknown_fields(),
    ) -> sendminiprogramhb::Request {
        let mut r = sendminiprogramhb::Request::new(
            nonce, billno, mch_id, appid, send_name, openid, Fen::new(amount), wishing,
            act_name, remark,
        );
        r.scene_id = scene_id;
        r.unknown = unknown;
        r
    }
}

prop_compose! {
    fn query_request()(
        (nonce, billno, mch_id, appid, _openid) in common_ids(),
        sign in opt(hostile(32)),
        unknown in unknown_fields(),
    ) -> gethbinfo::Request {
        let mut r = gethbinfo::Request::new(nonce, billno, mch_id, appid);
        r.sign = sign;
        r.unknown = unknown;
        r
    }
}

prop_compose! {
    fn header()(
        kind in 0..3u8,
        code in err_code(),
        msg in hostile(128),
    ) -> ReturnHeader {
        match kind {
            0 => ReturnHeader::success(msg),
            1 => ReturnHeader::business_error(code, msg),
            _ => ReturnHeader::protocol_failure(msg),
        }
    }
}

prop_compose! {
    fn send_response()(
        header in header(),
        echoes in proptest::collection::vec(opt(hostile(40)), 6),
        total_amount in opt(any::<u64>()),
        total_num in opt(any::<u32>()),
        unknown in unknown_fields(),
    ) -> SendResponse {
        let mut r = SendResponse::new(header);
        r.mch_billno = echoes[0].clone();
        r.mch_id = echoes[1].clone();
        r.wxappid = echoes[2].clone();
        r.re_openid = echoes[3].clone();
        r.send_listid = echoes[4].clone();
        r.send_time = echoes[5].clone();
        r.total_amount = total_amount.map(Fen::new);
        r.total_num = total_num;
        r.unknown = unknown;
        r
    }
}

prop_compose! {
    fn claim()(openid in hostile(32), amount in any::<u64>(), rcv in opt(hostile(19))) -> gethbinfo::HbInfo {
        let mut info = gethbinfo::HbInfo::new(openid, Fen::new(amount), "");
        info.rcv_time = rcv;
        info
    }
}

prop_compose! {
    fn query_response()(
        header in header(),
        texts in proptest::collection::vec(opt(hostile(64)), 9),
        status in opt(prop_oneof![
            prop::sample::select(Status::KNOWN.to_vec()),
            token(16).prop_map(Status::from),
        ]),
        numbers in proptest::collection::vec(opt(any::<u64>()), 2),
        total_num in opt(any::<u32>()),
        hblist in proptest::collection::vec(claim(), 0..4),
        unknown in unknown_fields(),
    ) -> gethbinfo::Response {
        let mut r = gethbinfo::Response::new(header);
        r.mch_billno = texts[0].clone();
        r.mch_id = texts[1].clone();
        r.detail_id = texts[2].clone();
        r.reason = texts[3].clone();
        r.send_time = texts[4].clone();
        r.refund_time = texts[5].clone();
        r.wishing = texts[6].clone();
        r.remark = texts[7].clone();
        r.act_name = texts[8].clone();
        r.status = status;
        r.send_type = Some(SendType::Api);
        r.hb_type = Some(HbType::Group);
        r.total_amount = numbers[0].map(Fen::new);
        r.refund_amount = numbers[1].map(Fen::new);
        r.total_num = total_num;
        r.hblist = hblist;
        r.unknown = unknown;
        r
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn sendredpack_requests_round_trip(request in sendredpack_request()) {
        prop_assert_eq!(sendredpack::Request::from_xml(request.to_xml().as_bytes()).unwrap(), request);
    }

    #[test]
    fn group_requests_round_trip(request in group_request()) {
        prop_assert_eq!(sendgroupredpack::Request::from_xml(request.to_xml().as_bytes()).unwrap(), request);
    }

    #[test]
    fn mini_program_requests_round_trip(request in mini_request()) {
        prop_assert_eq!(sendminiprogramhb::Request::from_xml(request.to_xml().as_bytes()).unwrap(), request);
    }

    #[test]
    fn query_requests_round_trip(request in query_request()) {
        prop_assert_eq!(gethbinfo::Request::from_xml(request.to_xml().as_bytes()).unwrap(), request);
    }

    #[test]
    fn send_responses_round_trip(response in send_response()) {
        prop_assert_eq!(SendResponse::from_xml(response.to_xml().as_bytes()).unwrap(), response);
    }

    #[test]
    fn mini_program_responses_round_trip(mut response in send_response(), package in opt(hostile(256))) {
        response.package = package;
        prop_assert_eq!(sendminiprogramhb::Response::from_xml(response.to_xml().as_bytes()).unwrap(), response);
    }

    #[test]
    fn query_responses_round_trip(response in query_response()) {
        prop_assert_eq!(gethbinfo::Response::from_xml(response.to_xml().as_bytes()).unwrap(), response);
    }

    /// The borrowed view reads what the owned decoder reads, from the same bytes.
    #[test]
    fn query_responses_read_the_same_through_the_view(response in query_response()) {
        let xml = response.to_xml();
        let view = gethbinfo::ResponseView::from_xml(xml.as_bytes()).unwrap();
        prop_assert_eq!(view.to_owned(), response);
    }

    /// Whatever the bytes, the view and the owned decoder accept the same documents with the
    /// same result, and refuse the others with the same error.
    #[test]
    fn the_view_and_the_owned_decoder_agree_on_any_document(
        response in query_response(),
        cut in any::<prop::sample::Index>(),
        junk in prop::sample::select(vec!["", "<", "&", "&lt;", "<hblist>", "</xml>", "<x/>", "]]>", "天"]),
    ) {
        let mut xml = response.to_xml();
        let mut at = cut.index(xml.len() + 1);
        while !xml.is_char_boundary(at) {
            at -= 1;
        }
        xml.insert_str(at, junk);
        let owned = gethbinfo::Response::from_xml(xml.as_bytes());
        let view = gethbinfo::ResponseView::from_xml(xml.as_bytes()).map(|v| v.to_owned());
        prop_assert_eq!(view, owned);
    }

    #[test]
    fn the_header_status_follows_the_error_code(code in err_code(), msg in hostile(64)) {
        let status = ReturnHeader::business_error(code.clone(), msg.clone()).status();
        if code.is_success() {
            // `result_code=FAIL` with a success marker is not a success: outcome unknown.
            let is_protocol = matches!(status, ReturnStatus::Protocol { .. });
            prop_assert!(is_protocol);
        } else {
            let expected = ReturnStatus::Business(BusinessError::clone(&match status.clone() {
                ReturnStatus::Business(e) => e,
                _ => unreachable!(),
            }));
            prop_assert_eq!(&status, &expected);
            let ReturnStatus::Business(e) = status else { unreachable!() };
            prop_assert_eq!(e.code, code);
            prop_assert_eq!(e.description, msg);
        }
    }
}
