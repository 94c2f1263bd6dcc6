//! The rules of spec §5, in its order, with their error codes and answer shapes.

use std::time::Duration;

use wxpay_mock::{AmountMismatch, Behaviour, Fen, Limits, MerchantConfig, MockServer};
use wxpay_proto::{ResultCode, ReturnCode, SceneId};
use wxpay_sign::SignType;

use crate::support::{Answer, Client, GROUP, MINI, Merchant, QUERY, SEND, start, start_with};

/// `<xml>` with each field as CDATA, in the given order.
pub(crate) fn xml_of(fields: &[(String, String)]) -> String {
    let mut out = String::from("<xml>");
    for (k, v) in fields {
        out.push_str(&format!("<{k}><![CDATA[{v}]]></{k}>"));
    }
    out.push_str("</xml>");
    out
}

/// The fields of a valid `sendredpack` request (unsigned).
pub(crate) fn normal_fields(m: &Merchant, billno: &str) -> Vec<(String, String)> {
    [
        ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
        ("mch_billno", billno),
        ("mch_id", &m.creds.mch_id),
        ("wxappid", &m.creds.appid),
        ("send_name", "天虹百货"),
        ("re_openid", "oxTWIuGaIt6gTKsQRLau2M0yL16E"),
        ("total_amount", "1000"),
        ("total_num", "1"),
        ("wishing", "祝您元宵节快乐"),
        ("client_ip", "192.168.0.1"),
        ("act_name", "猜灯谜抢红包活动"),
        ("remark", "快来抢"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Sets (or adds) a field.
pub(crate) fn set(fields: &mut Vec<(String, String)>, name: &str, value: &str) {
    match fields.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value.to_owned(),
        None => fields.push((name.to_owned(), value.to_owned())),
    }
}

/// Removes a field.
pub(crate) fn unset(fields: &mut Vec<(String, String)>, name: &str) {
    fields.retain(|(k, _)| k != name);
}

/// Signs over the fields named in `signed` (all of them when `None`) and adds `sign`.
pub(crate) fn signed_xml(
    m: &Merchant,
    mut fields: Vec<(String, String)>,
    signed: Option<&[&str]>,
) -> String {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .filter(|(k, _)| signed.is_none_or(|names| names.contains(&k.as_str())))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let sign = wxpay_sign::sign(SignType::Md5, &m.key, pairs).unwrap();
    fields.push(("sign".to_owned(), sign.as_str().to_owned()));
    xml_of(&fields)
}

/// Asserts a business failure: HTTP 200, `return_code=SUCCESS`, `result_code=FAIL`, the code,
/// `return_msg` = `err_code_des`, no `send_listid`.
#[track_caller]
pub(crate) fn assert_fail(answer: &Answer, code: &str) -> String {
    assert_eq!(answer.status, 200, "{}", answer.body);
    let r = answer.send();
    assert_eq!(r.header.return_code, ReturnCode::Success, "{}", answer.body);
    assert_eq!(
        r.header.result_code,
        Some(ResultCode::Fail),
        "{}",
        answer.body
    );
    assert_eq!(answer.code(), code, "{}", answer.body);
    assert_eq!(r.header.return_msg, r.header.err_code_des);
    assert!(r.send_listid.is_none());
    assert!(r.sign.is_none());
    r.header.err_code_des.unwrap_or_default()
}

#[tokio::test]
async fn bad_documents_are_xml_error_on_every_endpoint() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let oversized = format!("<xml><remark>{}</remark></xml>", "x".repeat(70 * 1024));
    let bodies = [
        String::new(),
        "   ".to_owned(),
        "<xml><mch_id>1</mch_id>".to_owned(),
        "<!DOCTYPE xml [<!ENTITY x \"y\">]><xml><mch_id>&x;</mch_id></xml>".to_owned(),
        "<root><a>1</a></root>".to_owned(),
        "not xml at all".to_owned(),
        oversized,
    ];

    for path in [SEND, GROUP, MINI, QUERY] {
        for body in &bodies {
            // Act
            let answer = m.client.answer(path, body.clone()).await;

            // Assert
            assert_eq!(answer.status, 200);
            let header = if path == QUERY {
                answer.query().header
            } else {
                answer.send().header
            };
            assert_eq!(header.return_code, ReturnCode::Success);
            assert_eq!(
                header.err_code.map(|c| c.as_str().to_owned()).as_deref(),
                Some("XML_ERROR")
            );
            assert_eq!(header.err_code_des.as_deref(), Some("输入xml参数格式错误"));
        }
    }
    assert_eq!(mock.ledger().packet_count(), 0);
}

/// A change to a request's fields.
type Edit = dyn Fn(&mut Vec<(String, String)>);

#[tokio::test]
async fn field_problems_are_param_error_with_the_documented_texts_and_echoes() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let cases: Vec<(&str, Box<Edit>, &str)> = vec![
        (
            "missing wishing",
            Box::new(|f| unset(f, "wishing")),
            "参数错误:wishing字段为必填,并且少于128个字符",
        ),
        (
            "long send_name",
            Box::new(|f| set(f, "send_name", &"名".repeat(33))),
            "参数错误:send_name字段为必填并且少于32字符",
        ),
        (
            "bad client_ip",
            Box::new(|f| set(f, "client_ip", "300.1.1.1")),
            "参数错误:client_ip必须是合法的IP字符串",
        ),
        (
            "long billno",
            Box::new(|f| set(f, "mch_billno", &"1".repeat(29))),
            "参数错误:订单号字段必填,最长为28个字符",
        ),
        (
            "total_num 2",
            Box::new(|f| set(f, "total_num", "2")),
            "参数错误:total_num必须等于1",
        ),
        (
            "unknown merchant",
            Box::new(|f| set(f, "mch_id", "1234567")),
            "参数错误:找不到对应的商户号",
        ),
        (
            "no scene under 1 yuan",
            Box::new(|f| set(f, "total_amount", "50")),
            "参数错误:红包金额小于1元或大于200元时scene_id字段必填",
        ),
        (
            "msgappid missing in partner mode",
            Box::new(|f| set(f, "sub_mch_id", "1900000200")),
            "参数错误:授理模式下msgappid字段必填,并且最长32字符.",
        ),
    ];

    for (name, change, text) in cases {
        let mut fields = normal_fields(&m, "param1");
        change(&mut fields);

        // Act
        let answer = m
            .client
            .answer(SEND, signed_xml(&m, fields.clone(), None))
            .await;

        // Assert
        let des = assert_fail(&answer, "PARAM_ERROR");
        assert_eq!(des, text, "{name}");
        let r = answer.send();
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(
            r.mch_billno,
            get("mch_billno").map(|b| b.chars().take(64).collect()),
            "{name}"
        );
        assert_eq!(r.mch_id, get("mch_id"), "{name}");
        assert_eq!(r.wxappid, get("wxappid"), "{name}");
        assert_eq!(r.re_openid, get("re_openid"), "{name}");
        assert_eq!(
            r.total_amount.map(|a| a.get().to_string()),
            get("total_amount"),
            "{name}"
        );
        if name == "total_num 2" {
            assert_eq!(r.total_num, Some(2), "the offending total_num is echoed");
        } else {
            assert_eq!(r.total_num, None, "{name}");
        }
    }
    assert_eq!(mock.ledger().packet_count(), 0);
}

#[tokio::test]
async fn group_and_mini_program_field_rules_are_param_error() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let mut few = m.group("grp2", "o1", 300, 3);
    few.total_num = 2;
    let mut many = m.group("grp21", "o1", 2100, 3);
    many.total_num = 21;
    let mut mini_two = m.mini("mini2", "o1", 100);
    mini_two.total_num = 2;
    let mut bad_amt = signed_fields_of_group(&m);
    set(&mut bad_amt, "amt_type", "NOT_RAND");
    let mut bad_notify = mini_fields(&m);
    set(&mut bad_notify, "notify_way", "JSAPI");

    // Act
    let few = m.client.answer(GROUP, m.sign(few)).await;
    let many = m.client.answer(GROUP, m.sign(many)).await;
    let mini_two = m.client.answer(MINI, m.sign(mini_two)).await;
    let bad_amt = m.client.answer(GROUP, signed_xml(&m, bad_amt, None)).await;
    let bad_notify = m
        .client
        .answer(MINI, signed_xml(&m, bad_notify, None))
        .await;

    // Assert
    assert_eq!(
        assert_fail(&few, "PARAM_ERROR"),
        "参数错误:total_num必须介于(包括)3到20之间."
    );
    assert_eq!(few.send().total_num, Some(2));
    assert_eq!(
        assert_fail(&many, "PARAM_ERROR"),
        "参数错误:total_num必须介于(包括)3到20之间."
    );
    assert_eq!(
        assert_fail(&mini_two, "PARAM_ERROR"),
        "参数错误:total_num必须等于1"
    );
    assert_eq!(
        assert_fail(&bad_amt, "PARAM_ERROR"),
        "参数错误:amt_type只能为ALL_RAND"
    );
    assert_eq!(
        bad_amt.send().total_num,
        Some(3),
        "group failures echo total_num"
    );
    assert_eq!(
        assert_fail(&bad_notify, "PARAM_ERROR"),
        "参数错误:notify_way只能为MINI_PROGRAM_JSAPI"
    );
}

fn signed_fields_of_group(m: &Merchant) -> Vec<(String, String)> {
    let mut f = normal_fields(m, "grpamt");
    unset(&mut f, "client_ip");
    set(&mut f, "total_num", "3");
    set(&mut f, "amt_type", "ALL_RAND");
    f
}

fn mini_fields(m: &Merchant) -> Vec<(String, String)> {
    let mut f = normal_fields(m, "mininotify");
    unset(&mut f, "client_ip");
    set(&mut f, "wxappid", &m.creds.mini_program_appid);
    set(&mut f, "notify_way", "MINI_PROGRAM_JSAPI");
    f
}

#[tokio::test]
async fn a_missing_scene_id_can_be_left_to_the_amount_range() {
    // Arrange
    let mut behaviour = Behaviour::default();
    behaviour.require_scene_id = false;
    let mock = start_with(MockServer::builder().behaviour(behaviour)).await;
    let m = Merchant::default_of(&mock);

    // Act
    let answer = m.send("noscene1", "o1", 50).await;

    // Assert
    assert_eq!(
        assert_fail(&answer, "MONEY_LIMIT"),
        "每个红包的平均金额必须在1.00元到200.00元之间."
    );
}

#[tokio::test]
async fn a_certificate_of_another_merchant_is_ca_error() {
    // Arrange
    let mock = start_with(MockServer::builder().merchant(MerchantConfig::new("1900000110"))).await;
    let own = Merchant::of(&mock, mock.merchant("1900000110").unwrap());
    let mut borrowed = own.clone();
    borrowed.client = Client::for_merchant(&mock, mock.default_merchant());

    // Act
    let answer = borrowed.send("ca1", "o1", 100).await;
    let query = borrowed.query_answer("ca1").await;

    // Assert
    assert_eq!(
        assert_fail(&answer, "CA_ERROR"),
        "CA证书出错，请登录微信支付商户平台下载证书"
    );
    assert_eq!(
        query
            .query()
            .header
            .err_code
            .map(|c| c.as_str().to_owned())
            .as_deref(),
        Some("CA_ERROR")
    );
    assert_eq!(mock.ledger().packet_count(), 0);
}

#[tokio::test]
async fn an_expired_certificate_on_the_virtual_clock_is_ca_error() {
    // Arrange: the merchant certificate is valid five years of real time.
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("beforeexpiry", "o1", 100).await.code(), "SUCCESS");

    // Act
    mock.advance_clock(Duration::from_secs(6 * 366 * 86_400));
    let answer = m.send("afterexpiry", "o1", 100).await;

    // Assert
    assert_eq!(assert_fail(&answer, "CA_ERROR"), "证书已过期");
}

#[tokio::test]
async fn signatures_cover_exactly_the_known_fields() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let known: Vec<&str> = normal_fields(&m, "x")
        .iter()
        .map(|(k, _)| leak(k))
        .collect();
    let mut wrong_key = m.clone();
    wrong_key.key = wxpay_sign::ApiKey::new("00000000000000000000000000000000").unwrap();

    // Act
    let bad_key = wrong_key.send("sig1", "o1", 100).await;
    let mut with_type = normal_fields(&m, "sig2");
    set(&mut with_type, "sign_type", "MD5");
    let type_signed = m
        .client
        .answer(SEND, signed_xml(&m, with_type.clone(), None))
        .await;
    let type_unsigned = m
        .client
        .answer(SEND, signed_xml(&m, with_type, Some(&known)))
        .await;
    let mut extra = normal_fields(&m, "sig3");
    set(&mut extra, "appid", &m.creds.appid);
    let extra_signed = m
        .client
        .answer(SEND, signed_xml(&m, extra.clone(), None))
        .await;
    let extra_unsigned = m
        .client
        .answer(SEND, signed_xml(&m, extra, Some(&known)))
        .await;
    let missing = m
        .client
        .answer(SEND, xml_of(&normal_fields(&m, "sig4")))
        .await;
    let lower = {
        let fields = normal_fields(&m, "sig5");
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let sign = wxpay_sign::sign(SignType::Md5, &m.key, pairs)
            .unwrap()
            .to_lowercase_string();
        let mut fields = fields.clone();
        fields.push(("sign".to_owned(), sign));
        m.client.answer(SEND, xml_of(&fields)).await
    };
    let mut bad_query = m.query("sig1");
    bad_query.sign = Some("0".repeat(32));
    let bad_query = m
        .client
        .answer(QUERY, wxpay_proto::XmlMessage::to_xml(&bad_query))
        .await;

    // Assert
    assert_eq!(assert_fail(&bad_key, "SIGN_ERROR"), "签名错误");
    assert_fail(&type_signed, "SIGN_ERROR");
    assert_eq!(type_unsigned.code(), "SUCCESS");
    assert_fail(&extra_signed, "SIGN_ERROR");
    assert_eq!(extra_unsigned.code(), "SUCCESS");
    assert_fail(&missing, "SIGN_ERROR");
    assert_eq!(lower.code(), "SUCCESS");
    let q = bad_query.query();
    assert_eq!(
        q.header.err_code.map(|c| c.as_str().to_owned()).as_deref(),
        Some("SIGN_ERROR")
    );
    assert_eq!(q.header.err_code_des.as_deref(), Some("商户签名错误"));
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

#[tokio::test]
async fn client_ip_on_mini_program_packets_is_signed_only_when_configured() {
    for signs_client_ip in [false, true] {
        // Arrange
        let mut behaviour = Behaviour::default();
        behaviour.mini_program_signs_client_ip = signs_client_ip;
        let mock = start_with(MockServer::builder().behaviour(behaviour)).await;
        let m = Merchant::default_of(&mock);
        let mut fields = mini_fields(&m);
        set(&mut fields, "client_ip", "10.0.0.1");
        let documented: Vec<&str> = mini_fields(&m).iter().map(|(k, _)| leak(k)).collect();

        // Act
        set(&mut fields, "mch_billno", "miniip1");
        let signed = m
            .client
            .answer(MINI, signed_xml(&m, fields.clone(), None))
            .await;
        set(&mut fields, "mch_billno", "miniip2");
        let unsigned = m
            .client
            .answer(MINI, signed_xml(&m, fields, Some(&documented)))
            .await;

        // Assert
        if signs_client_ip {
            assert_eq!(signed.code(), "SUCCESS");
            assert_fail(&unsigned, "SIGN_ERROR");
        } else {
            assert_fail(&signed, "SIGN_ERROR");
            assert_eq!(unsigned.code(), "SUCCESS");
        }
    }
}

#[tokio::test]
async fn hmac_sha256_is_refused_unless_configured() {
    for accept in [false, true] {
        // Arrange
        let mut behaviour = Behaviour::default();
        behaviour.accept_hmac_sha256 = accept;
        let mock = start_with(MockServer::builder().behaviour(behaviour)).await;
        let m = Merchant::default_of(&mock);
        let mut fields = normal_fields(&m, "hmac1");
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let sign = wxpay_sign::sign(SignType::HmacSha256, &m.key, pairs).unwrap();
        set(&mut fields, "sign_type", "HMAC-SHA256");
        set(&mut fields, "sign", sign.as_str());

        // Act
        let answer = m.client.answer(SEND, xml_of(&fields)).await;

        // Assert
        if accept {
            assert_eq!(answer.code(), "SUCCESS");
        } else {
            assert_fail(&answer, "SIGN_ERROR");
        }
    }
}

#[tokio::test]
async fn merchant_switches_and_ip_whitelist_answer_their_codes() {
    // Arrange
    let mock = start_with(
        MockServer::builder()
            .merchant(MerchantConfig::new("1900000201").product_enabled(false))
            .merchant(MerchantConfig::new("1900000202").api_method_enabled(false))
            .merchant(MerchantConfig::new("1900000203").ip_whitelist(["10.1.2.3".parse().unwrap()]))
            .merchant(
                MerchantConfig::new("1900000204").ip_whitelist(["127.0.0.1".parse().unwrap()]),
            ),
    )
    .await;
    let m = |id: &str| Merchant::of(&mock, mock.merchant(id).unwrap());

    // Act
    let product = m("1900000201").send("sw1", "o1", 100).await;
    let closed = m("1900000202").send("sw1", "o1", 100).await;
    let outside = m("1900000203").send("sw1", "o1", 100).await;
    let outside_query = m("1900000203").query_answer("sw1").await;
    let inside = m("1900000204").send("sw1", "o1", 100).await;

    // Assert
    assert!(
        assert_fail(&product, "PRODUCT_AUTHORITY_UNOPEN").starts_with("你的商户号未开通该产品权限")
    );
    assert_eq!(
        assert_fail(&closed, "API_METHOD_CLOSED"),
        "你的商户号API发放方式已关闭，请联系管理员在商户平台开启"
    );
    assert_eq!(
        assert_fail(&outside, "NO_AUTH"),
        "IP地址非你在商户平台设置的可用IP地址"
    );
    assert_eq!(
        outside_query
            .query()
            .header
            .err_code
            .map(|c| c.as_str().to_owned())
            .as_deref(),
        Some("NO_AUTH")
    );
    assert_eq!(inside.code(), "SUCCESS");
}

#[tokio::test]
async fn appids_of_the_wrong_kind_are_illegal_appid() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let mut normal_with_mini = m.normal("app1", "o1", 100);
    normal_with_mini.wxappid = wxpay_proto::AppId::new(m.creds.mini_program_appid.clone()).unwrap();
    let mut group_with_mini = m.group("app2", "o1", 300, 3);
    group_with_mini.wxappid = normal_with_mini.wxappid.clone();
    let mut mini_with_oa = m.mini("app3", "o1", 100);
    mini_with_oa.wxappid = wxpay_proto::AppId::new(m.creds.appid.clone()).unwrap();
    let mut unbound = m.normal("app4", "o1", 100);
    unbound.wxappid = wxpay_proto::AppId::new("wx0000000000000000").unwrap();

    // Act
    let a = m.client.answer(SEND, m.sign(normal_with_mini)).await;
    let b = m.client.answer(GROUP, m.sign(group_with_mini)).await;
    let c = m.client.answer(MINI, m.sign(mini_with_oa)).await;
    let d = m.client.answer(SEND, m.sign(unbound)).await;

    // Assert
    assert_eq!(
        assert_fail(&a, "ILLEGAL_APPID"),
        "非法appid,请确认是否为公众号的appid"
    );
    assert_fail(&b, "ILLEGAL_APPID");
    assert_eq!(
        assert_fail(&c, "ILLEGAL_APPID"),
        "非法appid,请确认是否为小程序的appid"
    );
    assert_eq!(
        assert_fail(&d, "PARAM_ERROR"),
        "参数错误:商户号和wxappid不匹配"
    );
    assert_eq!(mock.ledger().packet_count(), 0);
}

#[tokio::test]
async fn partner_fields_are_checked_against_the_merchant() {
    // Arrange
    let mock = start_with(
        MockServer::builder()
            .merchant(MerchantConfig::new("1900000109").sub_mch_ids(["1900000300"])),
    )
    .await;
    let m = Merchant::default_of(&mock);
    let with = |billno: &str, sub: &str, msgappid: &str| {
        let mut r = m.normal(billno, "o1", 100);
        r.sub_mch_id = Some(wxpay_proto::MchId::new(sub).unwrap());
        r.msgappid = Some(wxpay_proto::AppId::new(msgappid).unwrap());
        m.sign(r)
    };

    // Act
    let foreign_sub = m
        .client
        .answer(SEND, with("pt1", "1900000999", &m.creds.appid))
        .await;
    let foreign_msgappid = m
        .client
        .answer(SEND, with("pt2", "1900000300", "wx1111111111111111"))
        .await;
    let fine = m
        .client
        .answer(SEND, with("pt3", "1900000300", &m.creds.appid))
        .await;

    // Assert
    assert_eq!(
        assert_fail(&foreign_sub, "ACCEPTMODE_ERROR"),
        "主、子商户号关系校验失败"
    );
    assert_eq!(
        assert_fail(&foreign_msgappid, "MSGAPPID_ERROR"),
        "触达消息给用户appid有误"
    );
    assert_eq!(fine.code(), "SUCCESS");
}

#[tokio::test]
async fn amounts_outside_the_ranges_are_money_limit_and_scenes_must_be_enabled() {
    // Arrange
    let mock = start_with(
        MockServer::builder()
            .merchant(MerchantConfig::new("1900000109").enabled_scenes(["PRODUCT_1", "PRODUCT_2"])),
    )
    .await;
    let m = Merchant::default_of(&mock);
    let with_scene = |billno: &str, amount: u64, scene: &str| {
        let mut r = m.normal(billno, "o1", amount);
        r.scene_id = Some(SceneId::from(scene));
        m.sign(r)
    };

    // Act
    let tiny = m
        .client
        .answer(SEND, with_scene("ml1", 20, "PRODUCT_1"))
        .await;
    let small_ok = m
        .client
        .answer(SEND, with_scene("ml2", 50, "PRODUCT_1"))
        .await;
    let huge = m
        .client
        .answer(SEND, with_scene("ml3", 500_000, "PRODUCT_1"))
        .await;
    let not_enabled = m
        .client
        .answer(SEND, with_scene("ml4", 50, "PRODUCT_8"))
        .await;
    let mut below = m.group("ml5", "o1", 299, 3);
    below.scene_id = Some(SceneId::Product1);
    let group_average = m.client.answer(GROUP, m.sign(below)).await;
    let group_ok = m
        .client
        .answer(GROUP, m.sign(m.group("ml6", "o1", 300, 3)))
        .await;

    // Assert
    assert_eq!(
        assert_fail(&tiny, "MONEY_LIMIT"),
        "每个红包的平均金额必须在0.30元到4999.00元之间."
    );
    assert_eq!(small_ok.code(), "SUCCESS");
    assert_fail(&huge, "MONEY_LIMIT");
    assert_eq!(
        assert_fail(&not_enabled, "PARAM_ERROR"),
        "参数错误:该场景未开通，请登陆商户平台：产品中心-现金红包-产品设置-使用场景 进行开通"
    );
    assert_eq!(
        assert_fail(&group_average, "MONEY_LIMIT"),
        "每个红包的平均金额必须在1.00元到200.00元之间."
    );
    assert_eq!(group_average.send().total_num, Some(3));
    assert_eq!(group_ok.code(), "SUCCESS");
    assert_eq!(group_ok.send().total_num, Some(3));
}

#[tokio::test]
async fn line_breaks_are_read_as_an_xml_parser_reads_them_before_the_signature_is_checked() {
    // Arrange: a wishing sent with CRLF and a lone CR. An XML parser reads both as LF (XML
    // 1.0 §2.11), so a signature over the LF text is right and one over the CRLF text is not.
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let body = |billno: &str, signed_wishing: &str| {
        let mut fields = normal_fields(&m, billno);
        set(&mut fields, "wishing", signed_wishing);
        signed_xml(&m, fields, None).replace("元宵\n节\n快乐", "元宵\r\n节\r快乐")
    };

    // Act
    let over_lf = m
        .client
        .answer(SEND, body("crlf1", "祝您元宵\n节\n快乐"))
        .await;
    let over_crlf = m
        .client
        .answer(SEND, {
            let mut fields = normal_fields(&m, "crlf2");
            set(&mut fields, "wishing", "祝您元宵\r\n节\r快乐");
            signed_xml(&m, fields, None)
        })
        .await;

    // Assert
    assert_eq!(over_lf.code(), "SUCCESS", "{}", over_lf.body);
    assert_fail(&over_crlf, "SIGN_ERROR");
    assert_eq!(mock.ledger().packet_count(), 1);
}

#[tokio::test]
async fn a_scene_id_other_than_the_eight_products_is_a_scene_not_enabled() {
    // Arrange: every scene enabled (the default).
    let mock = start_with(MockServer::builder()).await;
    let m = Merchant::default_of(&mock);
    let with_scene = |m: &Merchant, billno: &str, amount: u64, scene: &str| {
        let mut r = m.normal(billno, "o1", amount);
        r.scene_id = Some(SceneId::from(scene));
        m.sign(r)
    };
    let long = format!("PRODUCT_1{}", "X".repeat(30));

    // Act
    let mut answers = Vec::new();
    for (i, (m, scene, amount)) in [
        (&m, "PRODUCT_9", 50),
        (&m, "product_1", 1000),
        (&m, "", 50),
        (&m, long.as_str(), 50_000),
    ]
    .into_iter()
    .enumerate()
    {
        let answer = m
            .client
            .answer(SEND, with_scene(m, &format!("us{i}"), amount, scene))
            .await;
        answers.push((scene.to_owned(), answer));
    }
    let known = m
        .client
        .answer(SEND, with_scene(&m, "us9", 50, "PRODUCT_8"))
        .await;

    // Assert
    for (scene, answer) in &answers[..2] {
        assert_eq!(
            assert_fail(answer, "PARAM_ERROR"),
            "参数错误:该场景未开通，请登陆商户平台：产品中心-现金红包-产品设置-使用场景 进行开通",
            "{scene:?}"
        );
    }
    // An empty scene_id is no scene_id: 50 fen needs one.
    assert_eq!(
        assert_fail(&answers[2].1, "PARAM_ERROR"),
        "参数错误:红包金额小于1元或大于200元时scene_id字段必填"
    );
    for (scene, answer) in &answers[3..] {
        assert_eq!(
            assert_fail(answer, "PARAM_ERROR"),
            "参数错误:该场景未开通，请登陆商户平台：产品中心-现金红包-产品设置-使用场景 进行开通",
            "{scene:?}"
        );
    }
    assert_eq!(known.code(), "SUCCESS");
    assert_eq!(mock.ledger().packet_count(), 1);
}

#[tokio::test]
async fn a_merchant_enabling_a_scene_other_than_the_eight_products_is_refused_at_start() {
    // Arrange
    let data = tempfile::tempdir().unwrap();
    let builder = MockServer::builder().data_dir(data.path()).merchant(
        MerchantConfig::new("1900000110").enabled_scenes(["PRODUCT_2", "PRODUCT_9", "product_1"]),
    );

    // Act
    let started = builder.start().await;

    // Assert
    match started {
        Err(wxpay_mock::Error::Config { what, .. }) => {
            assert!(what.contains("1900000110"), "{what}");
            assert!(
                what.contains("PRODUCT_9") && what.contains("product_1"),
                "{what}"
            );
            assert!(!what.contains("PRODUCT_2"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !data.path().join("merchants").join("1900000110").exists(),
        "nothing written for the refused merchant"
    );
}

#[tokio::test]
async fn a_group_average_minimum_under_one_yuan_is_refused_at_start_and_in_a_config_file() {
    // Arrange: 50 fen on average would split a group into shares under 1 yuan.
    let mut amount = wxpay_proto::rules::AmountLimits::DEFAULT;
    amount.group_average_min = Fen::new(50);
    let builder = MockServer::builder()
        .merchant(MerchantConfig::new("1900000110").limits(Limits::DEFAULT.amount(amount)));
    let file =
        "[[merchant]]\nmch_id = \"1900000110\"\n[merchant.limits]\ngroup_average_min_fen = 99\n";

    // Act
    let started = builder.start().await;
    let parsed = wxpay_mock::MockConfig::from_toml(file);
    let at_one_yuan = wxpay_mock::MockConfig::from_toml(&file.replace("= 99", "= 100"));

    // Assert
    match started {
        Err(wxpay_mock::Error::Config { what, .. }) => {
            assert!(what.contains("group_average_min"), "{what}");
            assert!(what.contains("1900000110"), "{what}");
        }
        other => panic!(
            "expected a config error, got {:?}",
            other.map(|_| "a running mock")
        ),
    }
    match parsed {
        Err(wxpay_mock::Error::Config { what, .. }) => {
            assert!(what.contains("group_average_min"), "{what}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    assert!(at_one_yuan.is_ok());
}

#[tokio::test]
async fn daily_limits_per_user_and_merchant_answer_their_codes() {
    // Arrange
    let limits = Limits::DEFAULT
        .sendnum_per_user_per_day(2)
        .rcvd_amount_per_user_per_day(Fen::new(500))
        .send_amount_per_day(Fen::new(1500));
    let mock = start_with(
        MockServer::builder().merchant(MerchantConfig::new("1900000109").limits(limits)),
    )
    .await;
    let m = Merchant::default_of(&mock);

    // Act
    let first = m.send("dl1", "alice", 100).await;
    let second = m.send("dl2", "alice", 100).await;
    let third = m.send("dl3", "alice", 100).await;
    let bob_big = m.send("dl4", "bob", 400).await;
    let bob_over = m.send("dl5", "bob", 200).await;
    let carol = m.send("dl6", "carol", 500).await;
    let dave = m.send("dl7", "dave", 500).await;

    // Assert
    assert_eq!(first.code(), "SUCCESS");
    assert_eq!(second.code(), "SUCCESS");
    assert_eq!(
        assert_fail(&third, "SENDNUM_LIMIT"),
        "该用户今日操作次数超过限制，如有需要请登录微信支付商户平台更改API安全配置"
    );
    assert_eq!(bob_big.code(), "SUCCESS");
    assert_eq!(
        assert_fail(&bob_over, "RCVDAMOUNT_LIMIT"),
        "该用户今日领取金额超过限制，如有需要请登录微信支付商户平台更改API安全配置"
    );
    assert_eq!(carol.code(), "SUCCESS");
    assert_eq!(
        assert_fail(&dave, "SENDAMOUNT_LIMIT"),
        "您的商户号今日发放金额超过限制，如有需要请登录微信支付商户平台更改API安全配置"
    );
    assert!(mock.invariants().ok, "{:?}", mock.invariants());
}

#[tokio::test]
async fn an_empty_balance_is_notenough_and_the_billno_stays_free() {
    // Arrange
    let mock = start_with(
        MockServer::builder().merchant(MerchantConfig::new("1900000109").balance(Fen::new(150))),
    )
    .await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("ne1", "o1", 100).await.code(), "SUCCESS");

    // Act
    let refused = m.send("ne2", "o1", 100).await;
    mock.top_up("1900000109", Fen::new(1000)).unwrap();
    let retried = m.send("ne2", "o1", 100).await;

    // Assert
    assert_eq!(
        assert_fail(&refused, "NOTENOUGH"),
        "帐号余额不足，请到商户平台充值后再重试"
    );
    assert_eq!(retried.code(), "SUCCESS");
    let ledger = mock.ledger();
    let me = ledger.merchant("1900000109").unwrap();
    assert_eq!(me.balance_fen, 150 + 1000 - 200);
    assert_eq!(me.topups_fen, 1000);
    assert!(mock.invariants().ok);
}

#[tokio::test]
async fn notenough_can_fail_the_billno_for_good() {
    // Arrange
    let mut behaviour = Behaviour::default();
    behaviour.notenough_fails_billno = true;
    let mock = start_with(
        MockServer::builder()
            .behaviour(behaviour)
            .merchant(MerchantConfig::new("1900000109").balance(Fen::new(50))),
    )
    .await;
    let m = Merchant::default_of(&mock);

    // Act
    let first = m.send("nef1", "o1", 100).await;
    mock.top_up("1900000109", Fen::new(1000)).unwrap();
    let again = m.send("nef1", "o1", 100).await;
    let query = m.query_answer("nef1").await.query();

    // Assert
    assert_fail(&first, "NOTENOUGH");
    assert_eq!(
        assert_fail(&again, "SEND_FAILED"),
        "红包发放失败,请更换单号再重试"
    );
    assert_eq!(
        query.status.map(|s| s.as_str().to_owned()).as_deref(),
        Some("FAILED")
    );
    assert_eq!(query.reason.as_deref(), Some("余额不足"));
    assert_eq!(
        mock.ledger().merchant("1900000109").unwrap().balance_fen,
        1050
    );
    assert!(mock.invariants().ok);
}

#[tokio::test]
async fn risk_control_stops_flagged_users() {
    // Arrange
    let mock = start_with(
        MockServer::builder()
            .merchant(MerchantConfig::new("1900000109").risky_openids(["risky_user"])),
    )
    .await;
    let m = Merchant::default_of(&mock);

    // Act
    let answer = m.send("risk1", "risky_user", 100).await;

    // Assert
    assert_eq!(
        assert_fail(&answer, "NO_AUTH"),
        "发放失败，此请求可能存在风险，已被微信拦截"
    );
}

#[tokio::test]
async fn billno_reentry_replays_or_refuses_per_design_6_3() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let original = m.send("re1", "alice", 100).await.send();

    // Act
    let same = m.send("re1", "alice", 100).await.send();
    let other_openid = m.send("re1", "bob", 100).await;
    let other_amount = m.send("re1", "alice", 200).await;
    let mut other_wishing = m.normal("re1", "alice", 100);
    other_wishing.wishing = wxpay_proto::Wishing::new("另一句祝福").unwrap();
    let other_wishing = m.client.answer(SEND, m.sign(other_wishing)).await.send();
    mock.claim("1900000109", "re1", None).unwrap();
    let after_claim = m.send("re1", "alice", 100).await.send();

    // Assert
    let listid = original.send_listid.clone().unwrap();
    assert_eq!(same.send_listid.as_deref(), Some(listid.as_str()));
    assert_eq!(
        assert_fail(&other_openid, "FATAL_ERROR"),
        "更换了openid，但商户单号未更新"
    );
    assert_eq!(other_openid.send().re_openid.as_deref(), Some("bob"));
    assert_eq!(
        assert_fail(&other_amount, "FATAL_ERROR"),
        "更换了金额，但商户单号未更新"
    );
    assert_eq!(other_wishing.send_listid.as_deref(), Some(listid.as_str()));
    assert_eq!(after_claim.send_listid.as_deref(), Some(listid.as_str()));
    assert_eq!(mock.ledger().packet_count(), 1);
    assert_eq!(
        mock.ledger().merchant("1900000109").unwrap().balance_fen,
        100_000_000 - 100
    );
    let outcomes: Vec<String> = mock.requests().into_iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        [
            "SUCCESS",
            "REPLAY",
            "FATAL_ERROR",
            "FATAL_ERROR",
            "REPLAY",
            "REPLAY"
        ]
    );
}

#[tokio::test]
async fn reentry_answers_are_configurable() {
    // Arrange
    let mut behaviour = Behaviour::default();
    behaviour.amount_mismatch = AmountMismatch::ParamError;
    behaviour.replay_ignores_other_fields = false;
    let mock = start_with(MockServer::builder().behaviour(behaviour)).await;
    let m = Merchant::default_of(&mock);
    assert_eq!(m.send("rc1", "alice", 100).await.code(), "SUCCESS");
    let mut other_remark = m.normal("rc1", "alice", 100);
    other_remark.remark = wxpay_proto::Remark::new("改了备注").unwrap();

    // Act
    let other_amount = m.send("rc1", "alice", 300).await;
    let other_remark = m.client.answer(SEND, m.sign(other_remark)).await;

    // Assert
    assert_eq!(
        assert_fail(&other_amount, "PARAM_ERROR"),
        "参数错误:如果是重试请求，请与原单请求的金额保持一致"
    );
    assert_fail(&other_remark, "FATAL_ERROR");
}

#[tokio::test]
async fn the_first_failing_rule_in_spec_order_answers() {
    // Arrange
    let mock =
        start_with(MockServer::builder().merchant(
            MerchantConfig::new("1900000110").ip_whitelist(["10.9.9.9".parse().unwrap()]),
        ))
        .await;
    let own = Merchant::default_of(&mock);
    let other = Merchant::of(&mock, mock.merchant("1900000110").unwrap());
    let mut wrong_key = other.clone();
    wrong_key.key = own.key.clone();
    let mut foreign_cert_bad_field = other.clone();
    foreign_cert_bad_field.client = own.client.clone();

    // Act: a bad field with a foreign certificate → PARAM_ERROR first.
    let mut fields = normal_fields(&other, "order1");
    unset(&mut fields, "remark");
    let param_first = foreign_cert_bad_field
        .client
        .answer(SEND, signed_xml(&other, fields, None))
        .await;
    // A foreign certificate with a bad signature → CA_ERROR first.
    let ca_first = {
        let mut m = wrong_key.clone();
        m.client = own.client.clone();
        m.send("order2", "o1", 100).await
    };
    // A bad signature from outside the whitelist → SIGN_ERROR first.
    let sign_first = wrong_key.send("order3", "o1", 100).await;
    // A billno replay with an amount outside the range → FATAL_ERROR before MONEY_LIMIT.
    assert_eq!(own.send("order4", "o1", 100).await.code(), "SUCCESS");
    let mut huge = own.normal("order4", "o1", 900_000);
    huge.scene_id = Some(SceneId::Product1);
    let fatal_first = own.client.answer(SEND, own.sign(huge)).await;
    // A missing scene_id is a step 9 rule (with the amount range): a bad signature without
    // one → SIGN_ERROR; a mini-program appid on sendredpack without one → ILLEGAL_APPID.
    let missing_scene_bad_sign = {
        let mut m = own.clone();
        m.key = other.key.clone();
        m.send("order5", "o1", 50).await
    };
    let mut wrong_kind = own.normal("order6", "o1", 50);
    wrong_kind.wxappid = wxpay_proto::AppId::new(own.creds.mini_program_appid.clone()).unwrap();
    let missing_scene_wrong_kind = own.client.answer(SEND, own.sign(wrong_kind)).await;
    // A replay of a committed billno that leaves out its scene_id gets the original's
    // replay (DESIGN §6.3: other fields differing replay the original).
    let mut large = own.normal("order7", "o1", 50_000);
    large.scene_id = Some(SceneId::Product1);
    let original = own.client.answer(SEND, own.sign(large)).await;
    let replay_without_scene = own.send("order7", "o1", 50_000).await;
    // A new billno without the scene it needs is refused at step 9.
    let missing_scene = own.send("order8", "o1", 50_000).await;

    // Assert
    assert_fail(&param_first, "PARAM_ERROR");
    assert_fail(&ca_first, "CA_ERROR");
    assert_fail(&sign_first, "SIGN_ERROR");
    assert_fail(&fatal_first, "FATAL_ERROR");
    assert_fail(&missing_scene_bad_sign, "SIGN_ERROR");
    assert_fail(&missing_scene_wrong_kind, "ILLEGAL_APPID");
    assert_eq!(original.code(), "SUCCESS");
    assert_eq!(
        replay_without_scene.code(),
        "SUCCESS",
        "{}",
        replay_without_scene.body
    );
    assert_eq!(
        replay_without_scene.send().send_listid,
        original.send().send_listid
    );
    let order7: Vec<String> = mock
        .requests()
        .into_iter()
        .filter(|e| e.mch_billno.as_deref() == Some("order7"))
        .map(|e| e.outcome)
        .collect();
    assert_eq!(order7, ["SUCCESS", "REPLAY"]);
    assert_eq!(
        assert_fail(&missing_scene, "PARAM_ERROR"),
        "参数错误:红包金额小于1元或大于200元时scene_id字段必填"
    );
    assert_eq!(mock.ledger().packet_count(), 2);
}
