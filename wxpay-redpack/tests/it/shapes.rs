//! What goes on the wire: exactly the endpoint's fields, signed with MD5.

use wiremock::MockServer;
use wxpay_proto::{Fen, RawMessage, RiskInfo, SceneId};
use wxpay_redpack::{Error, RedPacket, SendOutcome};

use crate::support::*;

#[tokio::test]
async fn a_normal_send_posts_exactly_the_documented_fields_signed_with_md5() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Sent).await;
    let (client, _) = client(&server);

    // Act
    let outcome = client.send(&packet(1)).await.unwrap();

    // Assert
    assert!(outcome.is_sent(), "{outcome:?}");
    let requests = requests(&server).await;
    assert_eq!(requests.len(), 1);
    let body = &requests[0].body;
    assert_eq!(
        field_names(body),
        names(&[
            "act_name",
            "client_ip",
            "mch_billno",
            "mch_id",
            "nonce_str",
            "re_openid",
            "remark",
            "send_name",
            "sign",
            "total_amount",
            "total_num",
            "wishing",
            "wxappid",
        ])
    );
    assert_signed(body);
    let raw = RawMessage::parse(body).unwrap();
    assert_eq!(raw.text("wxappid"), Some(APPID));
    assert_eq!(raw.text("mch_id"), Some(MCH_ID));
    assert_eq!(raw.text("client_ip"), Some("192.168.0.1"));
    assert_eq!(raw.text("send_name"), Some("天虹百货"));
    assert_eq!(raw.text("total_amount"), Some("1000"));
    assert_eq!(raw.text("total_num"), Some("1"));
    assert_eq!(raw.text("sign").map(str::len), Some(32));
}

#[tokio::test]
async fn optional_fields_are_sent_and_signed_only_when_set() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Sent).await;
    let (client, _) = client(&server);
    let mut packet = packet(2).with_scene_id(SceneId::Product8).with_risk_info(
        RiskInfo::builder()
            .posttime("123123412")
            .client_version("234134")
            .build()
            .unwrap(),
    );
    packet.total_amount = Fen::new(30_000);

    // Act
    client.send(&packet).await.unwrap();

    // Assert
    let body = &requests(&server).await[0].body;
    let fields = field_names(body);
    assert!(fields.contains("scene_id") && fields.contains("risk_info"));
    assert!(!fields.contains("sign_type") && !fields.contains("appid"));
    assert_signed(body);
    let raw = RawMessage::parse(body).unwrap();
    assert_eq!(
        raw.text("risk_info"),
        Some("posttime%3d123123412%26clientversion%3d234134")
    );
    assert_eq!(raw.text("scene_id"), Some("PRODUCT_8"));
}

#[tokio::test]
#[allow(
    deprecated,
    reason = "the retired group API is still tested against servers that serve it"
)]
async fn a_group_send_has_amt_type_and_no_client_ip() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, GROUP, vec![], Reply::Sent).await;
    let (client, _) = client(&server);
    let mut packet = packet(3).with_total_num(5);
    packet.total_amount = Fen::new(1500);

    // Act
    let outcome = client.send_group(&packet).await.unwrap();

    // Assert
    assert!(outcome.is_sent(), "{outcome:?}");
    let body = &requests_to(&server, GROUP).await[0].body;
    assert_eq!(
        field_names(body),
        names(&[
            "act_name",
            "amt_type",
            "mch_billno",
            "mch_id",
            "nonce_str",
            "re_openid",
            "remark",
            "send_name",
            "sign",
            "total_amount",
            "total_num",
            "wishing",
            "wxappid",
        ])
    );
    assert_signed(body);
    let raw = RawMessage::parse(body).unwrap();
    assert_eq!(raw.text("amt_type"), Some("ALL_RAND"));
    assert_eq!(raw.text("total_num"), Some("5"));
}

#[tokio::test]
async fn a_mini_program_send_uses_the_mini_program_appid_and_has_no_client_ip() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, MINI, vec![], Reply::Sent).await;
    let (client, _) = client(&server);

    // Act
    let outcome = client.send_mini_program(&packet(4)).await.unwrap();

    // Assert
    let SendOutcome::Sent { package, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(package.as_deref(), Some(PACKAGE));
    let body = &requests_to(&server, MINI).await[0].body;
    assert_eq!(
        field_names(body),
        names(&[
            "act_name",
            "mch_billno",
            "mch_id",
            "nonce_str",
            "notify_way",
            "re_openid",
            "remark",
            "send_name",
            "sign",
            "total_amount",
            "total_num",
            "wishing",
            "wxappid",
        ])
    );
    assert_signed(body);
    let raw = RawMessage::parse(body).unwrap();
    assert_eq!(raw.text("wxappid"), Some(MINI_APPID));
    assert_eq!(raw.text("notify_way"), Some("MINI_PROGRAM_JSAPI"));

    // The page's parameters are signed for the mini-program appid.
    let params = client
        .biz_red_packet_params(package.as_deref().unwrap())
        .unwrap();
    assert_eq!(params.time_stamp, NOW.to_string());
    assert_eq!(params.sign_type, "MD5");
    assert!(params.package.contains("%3D") && params.package.contains("%26"));
    let expected = wxpay_redpack::biz_red_packet_params(
        &wxpay_proto::AppId::new(MINI_APPID).unwrap(),
        &key(),
        PACKAGE,
        NOW,
        &wxpay_proto::NonceStr::new(params.nonce_str.clone()).unwrap(),
    )
    .unwrap();
    assert_eq!(params, expected);
}

#[tokio::test]
async fn a_query_names_the_appid_appid_and_sends_bill_type_mcht() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, QUERY, vec![], Reply::Record("RECEIVED")).await;
    let (client, _) = client(&server);

    // Act
    let outcome = client.query(&billno(5)).await.unwrap();

    // Assert
    let wxpay_redpack::QueryOutcome::Found(record) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(record.status, wxpay_proto::Status::Received);
    assert_eq!(record.detail_id, SEND_LISTID);
    assert_eq!(record.claims.len(), 1);
    let body = &requests_to(&server, QUERY).await[0].body;
    assert_eq!(
        field_names(body),
        names(&[
            "appid",
            "bill_type",
            "mch_billno",
            "mch_id",
            "nonce_str",
            "sign"
        ])
    );
    assert_signed(body);
    let raw = RawMessage::parse(body).unwrap();
    assert_eq!(raw.text("appid"), Some(APPID));
    assert_eq!(raw.text("bill_type"), Some("MCHT"));
}

#[tokio::test]
async fn the_dry_run_shows_the_body_that_is_sent_and_the_canonical_string_without_the_key() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Sent).await;
    let (client, _) = client(&server);
    let request = client.normal(&packet(6)).unwrap();

    // Act
    let dry = client.dry_run(&request).unwrap();
    client.send_request(&request).await.unwrap();

    // Assert
    assert_eq!(dry.path, SEND);
    assert_eq!(requests(&server).await[0].body, dry.xml.as_bytes());
    assert!(
        dry.canonical_string
            .starts_with("act_name=猜灯谜抢红包活动&client_ip=192.168.0.1&")
    );
    assert!(
        dry.canonical_string
            .ends_with("&wxappid=wx8888888888888888&key=***")
    );
    assert!(!dry.canonical_string.contains(KEY));
    assert!(!dry.canonical_string.contains("sign"));
    assert_eq!(
        RawMessage::parse(dry.xml.as_bytes()).unwrap().text("sign"),
        Some(dry.sign.as_str())
    );
    let query = client.dry_run_query(&billno(6)).unwrap();
    assert!(
        query
            .canonical_string
            .starts_with("appid=wx8888888888888888&bill_type=MCHT&")
    );
    assert!(query.canonical_string.ends_with("&key=***"));
}

#[tokio::test]
async fn an_invalid_request_never_leaves_the_process() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Sent).await;
    script(&server, MINI, vec![], Reply::Sent).await;
    let (client, _) = client(&server);
    let (no_mini, _) = {
        let clock = wxpay_redpack::ManualClock::at_unix_secs(NOW);
        let client = wxpay_redpack::RedpackClient::builder()
            .mch_id(MCH_ID)
            .appid(APPID)
            .api_key(key())
            .base_url(server.uri())
            .allow_plain_http()
            .build()
            .unwrap();
        (client, clock)
    };
    let mut too_small = packet(7);
    too_small.total_amount = Fen::new(99);
    let mut too_large_with_scene = packet(8).with_scene_id(SceneId::Product1);
    too_large_with_scene.total_amount = Fen::new(500_000);
    let two = packet(9).with_total_num(2);
    let risky_mini = packet(10).with_risk_info(RiskInfo::from_encoded("a%3Db").unwrap());

    // Act
    let errors: Vec<(Error, &str)> = vec![
        (client.send(&too_small).await.unwrap_err(), "scene_id"),
        (
            client.send(&too_large_with_scene).await.unwrap_err(),
            "total_amount",
        ),
        (client.send(&two).await.unwrap_err(), "total_num"),
        (
            client.send_mini_program(&two).await.unwrap_err(),
            "total_num",
        ),
        (
            client.send_mini_program(&risky_mini).await.unwrap_err(),
            "risk_info",
        ),
        (
            no_mini.send_mini_program(&packet(11)).await.unwrap_err(),
            "wxappid",
        ),
        (no_mini.send(&packet(12)).await.unwrap_err(), "send_name"),
    ];
    let mut scene_free_but_low = packet(13).with_scene_id(SceneId::Product2);
    scene_free_but_low.total_amount = Fen::new(29);
    let low = client.send(&scene_free_but_low).await.unwrap_err();

    // Assert
    for (error, field) in errors {
        assert!(error.is_invalid_request(), "{error:?}");
        assert_eq!(error.field(), Some(field), "{error:?}");
    }
    assert!(matches!(
        low,
        Error::Invalid {
            field: "total_amount",
            ..
        }
    ));
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn a_request_for_another_merchant_is_refused_locally() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Sent).await;
    let (client, _) = client(&server);
    let mut request = client.normal(&packet(14)).unwrap();
    if let wxpay_redpack::SendRequest::Normal(r) = &mut request {
        r.mch_id = wxpay_proto::MchId::new("1900000110").unwrap();
    }

    // Act
    let error = client.send_request(&request).await.unwrap_err();

    // Assert
    assert_eq!(error.field(), Some("mch_id"));
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn a_packet_may_override_the_default_send_name() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Sent).await;
    let (client, _) = client(&server);
    let packet: RedPacket =
        packet(15).with_send_name(wxpay_proto::SendName::new("另一个名字").unwrap());

    // Act
    client.send(&packet).await.unwrap();

    // Assert
    let requests = requests(&server).await;
    let raw = RawMessage::parse(&requests[0].body).unwrap();
    assert_eq!(raw.text("send_name"), Some("另一个名字"));
}
