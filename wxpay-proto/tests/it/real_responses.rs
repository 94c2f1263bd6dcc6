//! The real responses of spec §3 decode field for field.

use wxpay_proto::{
    ErrCode, Fen, HbType, ReturnCode, ReturnStatus, SendResponse, SendType, Status, XmlMessage,
    gethbinfo,
};

const GETHBINFO_RECEIVED: &str = include_str!("data/gethbinfo_received.xml");
const SENDREDPACK_SUCCESS: &str = include_str!("data/sendredpack_success.xml");
const SENDREDPACK_SIGN_ERROR: &str = include_str!("data/sendredpack_sign_error.xml");
const BENCH_GETHBINFO: &str = include_str!("../../../benches/fixtures/response_gethbinfo.xml");

#[test]
fn a_real_gethbinfo_response_decodes_field_for_field() {
    // Act
    let r = gethbinfo::Response::from_xml(GETHBINFO_RECEIVED.as_bytes()).unwrap();

    // Assert
    assert_eq!(r.header.status(), ReturnStatus::Success);
    assert_eq!(r.header.return_msg.as_deref(), Some("OK"));
    assert_eq!(r.header.err_code, Some(ErrCode::Success));
    assert_eq!(r.header.err_code_des.as_deref(), Some("OK"));
    assert_eq!(
        r.mch_billno.as_deref(),
        Some("1473919402201801230145075410")
    );
    assert_eq!(r.mch_id.as_deref(), Some("1497236182"));
    assert_eq!(
        r.detail_id.as_deref(),
        Some("1000041701201801233000139830103")
    );
    assert_eq!(r.status, Some(Status::Received));
    assert_eq!(r.send_type, Some(SendType::Api));
    assert_eq!(r.hb_type, Some(HbType::Normal));
    assert_eq!(r.total_num, Some(1));
    assert_eq!(r.total_amount, Some(Fen::new(100)));
    assert_eq!(r.send_time.as_deref(), Some("2018-01-23 13:45:08"));
    assert_eq!(r.hblist.len(), 1);
    assert_eq!(r.hblist[0].openid, "o3yHF0uHuckI3yE6lwWiFQBQdVDI");
    assert_eq!(r.hblist[0].amount, Fen::new(100));
    assert_eq!(r.hblist[0].rcv_time.as_deref(), Some("2018-01-23 13:45:31"));
    assert!(r.sign.is_none());
    assert!(r.unknown.is_empty());
    assert!(!r.is_not_found());
}

#[test]
fn the_bench_fixture_gethbinfo_response_decodes_with_its_texts() {
    let r = gethbinfo::Response::from_xml(BENCH_GETHBINFO.as_bytes()).unwrap();

    assert_eq!(r.status, Some(Status::Received));
    assert_eq!(r.total_amount, Some(Fen::new(1000)));
    assert_eq!(
        r.wishing.as_deref(),
        Some("感谢您参加猜灯谜活动，祝您元宵节快乐！")
    );
    assert_eq!(r.act_name.as_deref(), Some("猜灯谜抢红包活动"));
    assert_eq!(r.hblist.len(), 1);
    assert_eq!(r.hblist[0].amount, Fen::new(1000));
}

#[test]
fn a_real_sendredpack_success_decodes_field_for_field() {
    let r = SendResponse::from_xml(SENDREDPACK_SUCCESS.as_bytes()).unwrap();

    assert_eq!(r.header.status(), ReturnStatus::Success);
    assert_eq!(r.header.return_msg.as_deref(), Some("发放成功"));
    assert_eq!(r.mch_billno.as_deref(), Some("131643710120170214S212S1"));
    assert_eq!(r.mch_id.as_deref(), Some("1316437101"));
    assert_eq!(r.wxappid.as_deref(), Some("wx2840dda77e835ba0"));
    assert_eq!(r.re_openid.as_deref(), Some("oI8-IwCgppnBJzlXvHU4tODnbkwI"));
    assert_eq!(r.total_amount, Some(Fen::new(100)));
    assert_eq!(
        r.send_listid.as_deref(),
        Some("1000041701201702143000036640284")
    );
    assert!(r.total_num.is_none());
    assert!(r.sign.is_none());
    assert!(r.unknown.is_empty());
}

#[test]
fn a_real_sign_error_is_a_business_error_with_its_echoes_and_no_listid() {
    let r = SendResponse::from_xml(SENDREDPACK_SIGN_ERROR.as_bytes()).unwrap();

    assert_eq!(r.header.return_code, ReturnCode::Success);
    match r.header.status() {
        ReturnStatus::Business(e) => {
            assert_eq!(e.code, ErrCode::SignError);
            assert_eq!(e.description, "签名错误");
        }
        other => panic!("expected a business error, got {other:?}"),
    }
    // Echoes that are not valid ids still decode: the error must not be lost.
    assert_eq!(r.mch_id.as_deref(), Some("xxxx"));
    assert_eq!(
        r.mch_billno.as_deref(),
        Some("1495694052201905068731399849")
    );
    assert_eq!(r.re_openid.as_deref(), Some("oQizz0JB4rnM6c6qgWptFOr7Yjws"));
    assert_eq!(r.total_amount, Some(Fen::new(100)));
    assert!(r.send_listid.is_none());
}

#[test]
fn the_2014_failure_sample_with_a_numeric_code_is_an_unknown_outcome() {
    let xml = "<xml><return_code><![CDATA[FAIL]]></return_code>\
               <return_msg><![CDATA[系统繁忙,请稍后再试.]]></return_msg>\
               <result_code><![CDATA[FAIL]]></result_code>\
               <err_code><![CDATA[268458547]]></err_code>\
               <err_code_des><![CDATA[系统繁忙,请稍后再试.]]></err_code_des></xml>";

    let r = SendResponse::from_xml(xml.as_bytes()).unwrap();

    match r.header.status() {
        ReturnStatus::Business(e) => {
            assert_eq!(e.code.as_str(), "268458547");
            assert!(!e.code.is_known());
            assert_eq!(e.code.handling_class(), Some(wxpay_proto::HandlingClass::C));
        }
        other => panic!("expected a business error, got {other:?}"),
    }
}

#[test]
fn return_code_fail_without_err_code_is_a_protocol_failure() {
    let xml = "<xml><return_code>FAIL</return_code><return_msg>签名失败</return_msg></xml>";

    let r = SendResponse::from_xml(xml.as_bytes()).unwrap();

    assert_eq!(
        r.header.status(),
        ReturnStatus::Protocol {
            return_msg: Some("签名失败".to_owned())
        }
    );
}

#[test]
fn an_old_success_with_err_code_zero_is_success() {
    let xml = "<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code>\
               <err_code>0</err_code><send_time>20150520102602</send_time></xml>";

    let r = SendResponse::from_xml(xml.as_bytes()).unwrap();

    assert_eq!(r.header.status(), ReturnStatus::Success);
    assert_eq!(r.send_time.as_deref(), Some("20150520102602"));
}

#[test]
fn the_official_not_found_sample_and_not_found_both_mean_not_found() {
    let sample = "<xml><return_code><![CDATA[FAIL]]></return_code>\
                  <return_msg><![CDATA[指定单号数据不存在]]></return_msg>\
                  <result_code><![CDATA[FAIL]]></result_code>\
                  <err_code><![CDATA[SYSTEMERROR]]></err_code>\
                  <err_code_des><![CDATA[指定单号数据不存在]]></err_code_des>\
                  <mch_id>10000098</mch_id></xml>";
    let not_found = "<xml><return_code>SUCCESS</return_code><result_code>FAIL</result_code>\
                     <err_code>NOT_FOUND</err_code><err_code_des>指定单号数据不存在</err_code_des></xml>";
    let busy = "<xml><return_code>SUCCESS</return_code><result_code>FAIL</result_code>\
                <err_code>SYSTEMERROR</err_code><err_code_des>系统繁忙，请再试。</err_code_des></xml>";

    assert!(
        gethbinfo::Response::from_xml(sample.as_bytes())
            .unwrap()
            .is_not_found()
    );
    assert!(
        gethbinfo::Response::from_xml(not_found.as_bytes())
            .unwrap()
            .is_not_found()
    );
    assert!(
        !gethbinfo::Response::from_xml(busy.as_bytes())
            .unwrap()
            .is_not_found()
    );
}

#[test]
fn a_refund_record_with_several_claims_keeps_them_in_order() {
    let xml = "<xml><return_code>SUCCESS</return_code><result_code>SUCCESS</result_code>\
               <status>RFUND_ING</status><hb_type>GROUP</hb_type><total_num>3</total_num>\
               <total_amount>900</total_amount><refund_amount>300</refund_amount>\
               <refund_time>2019-12-13 16:51:38</refund_time>\
               <hblist>\
                 <hbinfo><openid>a</openid><amount>400</amount><rcv_time>t1</rcv_time><status>RECEIVED</status></hbinfo>\
                 <hbinfo><openid>b</openid><amount>200</amount><rcv_time>t2</rcv_time></hbinfo>\
               </hblist></xml>";

    let r = gethbinfo::Response::from_xml(xml.as_bytes()).unwrap();

    assert_eq!(r.status, Some(Status::Refunding));
    assert_eq!(r.status.as_ref().map(|s| s.as_str()), Some("RFUND_ING"));
    assert_eq!(r.hb_type, Some(HbType::Group));
    assert_eq!(r.refund_amount, Some(Fen::new(300)));
    let claims: Vec<_> = r
        .hblist
        .iter()
        .map(|h| (h.openid.as_str(), h.amount.get()))
        .collect();
    assert_eq!(claims, [("a", 400), ("b", 200)]);
    // The doc example's `status` inside `hbinfo` is kept as an unknown field.
    assert!(r.hblist[0].unknown.contains_key("status"));
}

/// The recorded `gethbinfo` response through the borrowed view: the same message as the owned
/// decoder gives, with every CDATA text borrowed from the body (nothing copied).
#[test]
fn the_recorded_query_response_is_read_without_copying_its_text() {
    use std::borrow::Cow;
    use wxpay_proto::XmlMessage;
    use wxpay_proto::gethbinfo::{Response, ResponseView};

    let body = include_bytes!("data/gethbinfo_received.xml");
    let view = ResponseView::from_xml(body).unwrap();
    assert_eq!(view.to_owned(), Response::from_xml(body).unwrap());
    let texts = [
        view.header.return_msg.as_ref(),
        view.mch_billno.as_ref(),
        view.mch_id.as_ref(),
        view.detail_id.as_ref(),
        view.send_time.as_ref(),
        view.hblist[0].rcv_time.as_ref(),
    ];
    for text in texts {
        assert!(matches!(text, Some(Cow::Borrowed(_))), "{text:?}");
    }
    assert!(matches!(view.hblist[0].openid, Cow::Borrowed(_)));
    assert_eq!(
        view.mch_billno.as_deref(),
        Some("1473919402201801230145075410")
    );

    // Text that had to be joined (an entity between two pieces) is the one copy made.
    let joined = b"<xml><return_code>SUCCESS</return_code><reason>a&amp;b</reason></xml>";
    let view = ResponseView::from_xml(joined).unwrap();
    assert!(matches!(view.reason, Some(Cow::Owned(ref s)) if s == "a&b"));
}
