//! Serving: zero configuration, certificates, TLS refusals, paths, shutdown, the spec example.

use std::path::Path;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};
use wxpay_mock::{MerchantConfig, MockServer};
use wxpay_proto::ReturnCode;
use wxpay_sign::SignType;

use crate::support::{Client, GENEROUS, GROUP, Merchant, NoAnswer, SEND, start, start_with};

#[tokio::test]
async fn zero_config_start_writes_certificates_and_merchant_toml() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();

    // Act
    let mock = MockServer::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();

    // Assert
    let root = std::fs::canonicalize(dir.path()).unwrap();
    for file in [
        "ca.pem",
        "ca_key.pem",
        "server_cert.pem",
        "apiclient_cert.pem",
        "apiclient_key.pem",
        "apiclient_cert.p12",
        "merchant.toml",
        "ledger.sqlite3",
    ] {
        assert!(root.join(file).exists(), "{file} missing");
    }
    let m = mock.default_merchant();
    assert_eq!(m.mch_id, "1900000109");
    assert!(mock.base_url().starts_with("https://127.0.0.1:"));
    assert!(mock.admin_url().starts_with("http://127.0.0.1:"));
    assert_eq!(m.api_key.len(), 32);
    for appid in [&m.appid, &m.mini_program_appid] {
        assert_eq!(appid.len(), 18);
        assert!(appid.starts_with("wx"));
        assert!(appid[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    }
    assert_ne!(m.appid, m.mini_program_appid);
    let toml: toml::Table = std::fs::read_to_string(&m.merchant_toml_path)
        .unwrap()
        .parse()
        .unwrap();
    let keys: Vec<&str> = toml.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "api_key",
            "appid",
            "ca_pem",
            "cert_pem",
            "endpoint",
            "key_pem",
            "mch_id",
            "mini_program_appid",
            "p12"
        ]
    );
    assert_eq!(toml["endpoint"].as_str(), Some(mock.base_url()));
    assert_eq!(toml["api_key"].as_str(), Some(m.api_key.as_str()));
    for key in ["cert_pem", "key_pem", "p12", "ca_pem"] {
        assert!(Path::new(toml[key].as_str().unwrap()).is_absolute());
    }
}

#[tokio::test]
async fn pkcs12_opens_with_the_mch_id_and_holds_the_client_certificate() {
    // Arrange
    let mock = start().await;
    let m = mock.default_merchant();

    // Act
    let p12 = std::fs::read(&m.p12_path).unwrap();
    let store = p12_keystore::KeyStore::from_pkcs12(
        &p12,
        &m.mch_id,
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .unwrap();

    // Assert
    let (_, chain) = store.private_key_chain().expect("a key chain");
    assert!(chain.certs()[0].subject().contains("1900000109"));
    assert!(
        p12_keystore::KeyStore::from_pkcs12(
            &p12,
            "wrong",
            p12_keystore::Pkcs12ImportPolicy::Relaxed
        )
        .is_err()
    );
}

#[tokio::test]
async fn a_second_start_on_the_same_data_dir_reuses_key_and_certificates() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let first = MockServer::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    let creds = first.default_merchant().clone();
    let cert = std::fs::read(&creds.cert_pem_path).unwrap();
    let ca = std::fs::read(first.ca_pem_path()).unwrap();
    first.shutdown().await;

    // Act
    let second = MockServer::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();

    // Assert
    let again = second.default_merchant();
    assert_eq!(again.api_key, creds.api_key);
    assert_eq!(again.appid, creds.appid);
    assert_eq!(again.mini_program_appid, creds.mini_program_appid);
    assert_eq!(std::fs::read(&again.cert_pem_path).unwrap(), cert);
    assert_eq!(std::fs::read(second.ca_pem_path()).unwrap(), ca);
    // The old certificate still works against the new server.
    let answer = Merchant::default_of(&second)
        .send("reuse1", "openid_reuse", 100)
        .await;
    assert_eq!(answer.code(), "SUCCESS");
}

#[tokio::test]
async fn a_request_without_client_certificate_is_refused_at_the_handshake() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let client = Client::without_certificate(&mock);

    // Act
    let result = client
        .post(SEND, m.sign(m.normal("nocert1", "o1", 100)))
        .await;

    // Assert
    assert!(
        matches!(result, Err(NoAnswer::Connect(_) | NoAnswer::Closed(_))),
        "{result:?}"
    );
    assert_eq!(mock.ledger().packet_count(), 0);
}

fn foreign_identity() -> (String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "another CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "1900000109");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused_at_the_handshake() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let (cert, key) = foreign_identity();
    let client = Client::with_pem(
        mock.base_url(),
        mock.ca_pem_path(),
        cert.as_bytes(),
        key.as_bytes(),
    );

    // Act
    let result = client
        .post(SEND, m.sign(m.normal("foreign1", "o1", 100)))
        .await;

    // Assert
    assert!(
        matches!(result, Err(NoAnswer::Connect(_) | NoAnswer::Closed(_))),
        "{result:?}"
    );
    assert_eq!(mock.ledger().packet_count(), 0);
}

#[tokio::test]
async fn unknown_paths_get_404_and_the_sandbox_prefixes_serve_the_same_api() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);

    // Act
    let unknown = m.client.answer("/mmpaymkttransfers/nope", "<xml/>").await;
    let root = m.client.answer("/", "").await;
    let old = m
        .client
        .answer(
            "/sandboxnew/mmpaymkttransfers/sendredpack",
            m.sign(m.normal("sbx1", "o1", 100)),
        )
        .await;
    let new = m
        .client
        .answer(
            "/xdc/apiv2sandbox/mmpaymkttransfers/gethbinfo",
            m.sign(m.query("sbx1")),
        )
        .await;

    // Assert
    assert_eq!(unknown.status, 404);
    assert_eq!(root.status, 404);
    assert_eq!(old.code(), "SUCCESS");
    assert_eq!(
        new.query().status.map(|s| s.as_str().to_owned()).as_deref(),
        Some("SENT")
    );
}

#[tokio::test]
async fn group_api_can_be_switched_off() {
    // Arrange
    let mut behaviour = wxpay_mock::Behaviour::default();
    behaviour.serve_group = false;
    let mock = start_with(MockServer::builder().behaviour(behaviour)).await;
    let m = Merchant::default_of(&mock);

    // Act
    let answer = m
        .client
        .answer(GROUP, m.sign(m.group("grp1", "o1", 300, 3)))
        .await;

    // Assert
    assert_eq!(answer.status, 404);
}

#[tokio::test]
async fn dropping_the_mock_stops_both_servers() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let admin: std::net::SocketAddr = mock
        .admin_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let https: std::net::SocketAddr = mock
        .base_url()
        .trim_start_matches("https://")
        .parse()
        .unwrap();

    // Act
    drop(mock);

    // Assert
    let closed = crate::support::eventually(GENEROUS, || {
        std::net::TcpStream::connect_timeout(&admin, Duration::from_millis(200)).is_err()
            && std::net::TcpStream::connect_timeout(&https, Duration::from_millis(200)).is_err()
    })
    .await;
    assert!(closed, "a port still accepts connections");
    let result = m
        .client
        .post(SEND, m.sign(m.normal("gone1", "o1", 100)))
        .await;
    assert!(result.is_err());
}

#[tokio::test]
async fn the_admin_api_refuses_a_non_loopback_address() {
    // Arrange
    let builder = MockServer::builder().admin_listen("0.0.0.0:0".parse().unwrap());

    // Act
    let result = builder.start().await;

    // Assert
    assert!(matches!(result, Err(wxpay_mock::Error::Config { .. })));
}

/// The spec's §2.4 `sendredpack` example, written by hand, with the mock merchant's ids and
/// a signature computed here over the documented fields.
#[tokio::test]
async fn the_spec_example_written_by_hand_is_accepted() {
    // Arrange
    let mock = start().await;
    let m = mock.default_merchant();
    let key = wxpay_sign::ApiKey::new(m.api_key.clone()).unwrap();
    let fields = [
        ("nonce_str", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS"),
        ("mch_billno", "10000098201411111234567890"),
        ("mch_id", m.mch_id.as_str()),
        ("wxappid", m.appid.as_str()),
        ("send_name", "天虹百货"),
        ("re_openid", "oxTWIuGaIt6gTKsQRLau2M0yL16E"),
        ("total_amount", "1000"),
        ("total_num", "1"),
        ("wishing", "感谢您参加猜灯谜活动，祝您元宵节快乐！"),
        ("client_ip", "192.168.0.1"),
        ("act_name", "猜灯谜抢红包活动"),
        ("remark", "猜越多得越多，快来抢！"),
        ("scene_id", "PRODUCT_8"),
        (
            "risk_info",
            "posttime%3d123123412%26clientversion%3d234134%26mobile%3d122344545%26deviceid%3dIOS",
        ),
    ];
    let sign = wxpay_sign::sign(SignType::Md5, &key, fields).unwrap();
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<xml>
<sign><![CDATA[{sign}]]></sign>
<mch_billno><![CDATA[10000098201411111234567890]]></mch_billno>
<mch_id><![CDATA[{mch_id}]]></mch_id>
<wxappid><![CDATA[{appid}]]></wxappid>
<send_name><![CDATA[天虹百货]]></send_name>
<re_openid><![CDATA[oxTWIuGaIt6gTKsQRLau2M0yL16E]]></re_openid>
<total_amount><![CDATA[1000]]></total_amount>
<total_num><![CDATA[1]]></total_num>
<wishing><![CDATA[感谢您参加猜灯谜活动，祝您元宵节快乐！]]></wishing>
<client_ip><![CDATA[192.168.0.1]]></client_ip>
<act_name><![CDATA[猜灯谜抢红包活动]]></act_name>
<remark><![CDATA[猜越多得越多，快来抢！]]></remark>
<scene_id><![CDATA[PRODUCT_8]]></scene_id>
<risk_info>posttime%3d123123412%26clientversion%3d234134%26mobile%3d122344545%26deviceid%3dIOS</risk_info>
<nonce_str><![CDATA[5K8264ILTKCH16CQ2502SI8ZNMTM67VS]]></nonce_str>
</xml>"#,
        sign = sign.as_str(),
        mch_id = m.mch_id,
        appid = m.appid
    );
    let client = Client::for_merchant(&mock, m);

    // Act
    let answer = client.answer(SEND, body).await;

    // Assert: the real success shape, no `sign`, echoes as sent.
    assert_eq!(answer.status, 200);
    let r = answer.send();
    assert_eq!(r.header.return_code, ReturnCode::Success);
    assert_eq!(answer.code(), "SUCCESS");
    assert_eq!(r.mch_billno.as_deref(), Some("10000098201411111234567890"));
    assert_eq!(r.re_openid.as_deref(), Some("oxTWIuGaIt6gTKsQRLau2M0yL16E"));
    assert_eq!(r.total_amount.map(|f| f.get()), Some(1000));
    assert_eq!(r.wxappid.as_deref(), Some(m.appid.as_str()));
    assert!(r.sign.is_none());
    assert!(!answer.body.contains("<sign>"));
    let listid = r.send_listid.unwrap();
    assert_eq!(listid.len(), 31);
    assert!(listid.starts_with("1000041701"));
    assert!(listid.bytes().all(|b| b.is_ascii_digit()));
    let snapshot = mock.ledger();
    let p = snapshot
        .packet(&m.mch_id, "10000098201411111234567890")
        .unwrap();
    assert_eq!(p.send_listid, listid);
    assert_eq!(&listid[10..18], &p.send_time.replace('-', "")[..8]);
}

#[tokio::test]
async fn extra_merchants_get_their_own_files() {
    // Arrange
    let builder = MockServer::builder().merchant(MerchantConfig::new("1900000110"));

    // Act
    let mock = start_with(builder).await;

    // Assert
    let other = mock.merchant("1900000110").expect("second merchant");
    assert!(other.cert_pem_path.exists());
    assert!(other.merchant_toml_path.exists());
    assert_ne!(other.api_key, mock.default_merchant().api_key);
    assert_eq!(mock.merchants().len(), 2);
    let answer = Merchant::of(&mock, other).send("m2first", "o1", 100).await;
    assert_eq!(answer.code(), "SUCCESS");
    assert!(mock.ledger().packet("1900000110", "m2first").is_some());
}

/// Every piece of `secret` of `n` characters.
fn pieces(secret: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = secret.chars().collect();
    chars.windows(n).map(|w| w.iter().collect()).collect()
}

/// The `Display` of an error and of each of its sources, then its `Debug`.
fn whole_chain(error: &wxpay_mock::Error) -> String {
    let mut out = String::new();
    let mut next: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = next {
        out.push_str(&e.to_string());
        out.push('\n');
        next = e.source();
    }
    out.push_str(&format!("{error:?}\n{error:#?}"));
    out
}

#[test]
fn a_config_file_with_an_invalid_api_key_is_located_without_showing_the_key() {
    let key = "3fA9kQ7xLm2pR8sT1vW4yZ6bC0dE5gH7";
    let digits = "12345678901234567890123456789012";
    let cases = [
        // Unquoted: read as a broken number.
        (
            key,
            format!("[[merchant]]\nmch_id = \"1900000110\"\napi_key = {key}\n"),
            3,
        ),
        // A number: the parser's reason quotes it.
        (
            digits,
            format!("[[merchant]]\nmch_id = \"1900000110\"\n\napi_key = {digits}\n"),
            4,
        ),
        // Unterminated.
        (
            key,
            format!("seed = 1\n[[merchant]]\nmch_id = \"1900000110\"\napi_key = \"{key}\n"),
            4,
        ),
        // In an inline table.
        (
            key,
            format!("merchant = [{{ mch_id = \"1900000110\", api_key = {key} }}]\n"),
            1,
        ),
        // In a multi-line string, the problem on a line of its own.
        (
            key,
            format!(
                "[[merchant]]\nmch_id = \"1900000110\"\napi_key = \"\"\"\n{}\\q{}\"\"\"\n",
                &key[..16],
                &key[16..]
            ),
            4,
        ),
    ];

    for (secret, file, line) in cases {
        // Act
        let error = wxpay_mock::MockConfig::from_toml(&file).unwrap_err();

        // Assert
        assert!(
            matches!(error, wxpay_mock::Error::Config { .. }),
            "{error:?}"
        );
        let text = whole_chain(&error);
        assert!(text.contains(&format!("line {line}, column ")), "{text}");
        for piece in pieces(secret, 6) {
            assert!(!text.contains(&piece), "{piece:?} shown in {text}");
        }
    }
}

#[test]
fn a_config_file_problem_away_from_the_key_keeps_the_parser_reason() {
    let file = "[[merchant]]\nmch_id = \"1900000110\"\napi_key = \"3fA9kQ7xLm2pR8sT1vW4yZ6bC0dE5gH7\"\nbalance_fen = \"lots\"\n";

    let error = wxpay_mock::MockConfig::from_toml(file).unwrap_err();

    let text = whole_chain(&error);
    assert!(text.contains("line 4, column 15: invalid type"), "{text}");
    assert!(!text.contains("3fA9kQ"), "{text}");
}
