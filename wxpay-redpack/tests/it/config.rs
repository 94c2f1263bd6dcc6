//! Building clients: the builder's checks and the mock's `merchant.toml`.

use std::error::Error as _;

use wiremock::MockServer;
use wxpay_redpack::{Error, ManualClock, RedpackClient, RedpackClientBuilder};

use crate::support::*;

/// Writes a self-signed client certificate and its key into `dir`.
fn write_identity(dir: &std::path::Path) {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["merchant.example".to_owned()]).unwrap();
    std::fs::write(dir.join("apiclient_cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("apiclient_key.pem"), signing_key.serialize_pem()).unwrap();
}

#[tokio::test]
async fn a_merchant_toml_with_relative_paths_builds_a_working_client() {
    // Arrange
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Sent).await;
    let dir = tempfile::tempdir().unwrap();
    write_identity(dir.path());
    let toml = dir.path().join("merchant.toml");
    std::fs::write(
        &toml,
        format!(
            "# written by the mock\n\
             mch_id = {MCH_ID}\n\
             appid = \"{APPID}\"\n\
             mini_program_appid = \"{MINI_APPID}\"\n\
             api_key = \"{KEY}\"\n\
             cert_pem = \"apiclient_cert.pem\"\n\
             key_pem = \"apiclient_key.pem\"\n\
             endpoint = \"{}\"\n\
             send_name = \"测试商户\"\n\
             extra_key_for_someone_else = true\n",
            server.uri()
        ),
    )
    .unwrap();

    // Act
    let client = RedpackClient::from_merchant_toml(&toml).unwrap();
    let outcome = client.send(&packet(1)).await.unwrap();

    // Assert
    assert_eq!(client.mch_id().as_str(), MCH_ID);
    assert_eq!(
        client.mini_program_appid().map(|a| a.as_str()),
        Some(MINI_APPID)
    );
    assert!(outcome.is_sent(), "{outcome:?}");
    assert_signed(&requests(&server).await[0].body);
}

#[test]
fn a_merchant_toml_without_a_key_or_a_certificate_names_what_is_missing() {
    // Arrange
    let dir = tempfile::tempdir().unwrap();
    let no_key = dir.path().join("no_key.toml");
    std::fs::write(
        &no_key,
        format!("mch_id = \"{MCH_ID}\"\nappid = \"{APPID}\"\n"),
    )
    .unwrap();
    let no_cert = dir.path().join("no_cert.toml");
    std::fs::write(
        &no_cert,
        format!("mch_id = \"{MCH_ID}\"\nappid = \"{APPID}\"\napi_key = \"{KEY}\"\n"),
    )
    .unwrap();
    let bad_key = dir.path().join("bad_key.toml");
    std::fs::write(
        &bad_key,
        format!(
            "mch_id = \"{MCH_ID}\"\nappid = \"{APPID}\"\napi_key = \"{KEY}\\n\"\np12 = \"x.p12\"\n"
        ),
    )
    .unwrap();

    // Act
    let no_key = RedpackClientBuilder::from_merchant_toml(&no_key).unwrap_err();
    let no_cert = RedpackClientBuilder::from_merchant_toml(&no_cert).unwrap_err();
    let bad_key = RedpackClientBuilder::from_merchant_toml(&bad_key).unwrap_err();
    let absent =
        RedpackClientBuilder::from_merchant_toml(dir.path().join("absent.toml")).unwrap_err();

    // Assert
    assert!(
        matches!(
            no_key,
            Error::Config {
                setting: "merchant.toml",
                ..
            }
        ),
        "{no_key:?}"
    );
    assert!(
        matches!(
            no_cert,
            Error::Config {
                setting: "cert_pem",
                ..
            }
        ),
        "{no_cert:?}"
    );
    assert!(
        matches!(
            bad_key,
            Error::Config {
                setting: "api_key",
                ..
            }
        ),
        "{bad_key:?}"
    );
    assert!(matches!(
        absent,
        Error::Config {
            setting: "merchant.toml",
            ..
        }
    ));
    for error in [&no_key, &no_cert, &bad_key, &absent] {
        assert!(!format!("{error:?}").contains(KEY));
        assert!(error.source().is_some());
    }
}

/// The error's whole chain, as `Display` and as `Debug`.
fn everything_printed(error: &Error) -> String {
    let mut text = format!("{error:?}\n{error}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!("\n{cause}\n{cause:?}"));
        source = cause.source();
    }
    text
}

#[test]
fn a_merchant_toml_that_is_not_valid_toml_is_located_without_printing_any_of_its_text() {
    // Arrange: the usual mistakes, each next to a key written in full in the file. A key of
    // digits only, unquoted, is read as a number, and a number is what parsers quote back.
    let digits = "19200625049247020025000963125121";
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (format!("api_key = {KEY}\n"), KEY, 3, "`api_key`"),
        (format!("api_key = {digits}\n"), digits, 3, "`api_key`"),
        (format!("\"api_key\" = \"{KEY}\n"), KEY, 3, "`api_key`"),
        (
            format!("p12_password = {digits}\n"),
            digits,
            3,
            "`p12_password`",
        ),
        (
            format!("api_key = \"{KEY}\"\nsend_name = 天虹\n"),
            KEY,
            4,
            "line 4",
        ),
        (
            format!("api_key = \"{KEY}\"\nmch_id = [1]\n"),
            KEY,
            4,
            "line 4",
        ),
    ];

    for (tail, secret, line, named) in cases {
        let path = dir.path().join("merchant.toml");
        std::fs::write(
            &path,
            format!("mch_id = \"{MCH_ID}\"\nappid = \"{APPID}\"\n{tail}p12 = \"x.p12\"\n"),
        )
        .unwrap();

        // Act
        let error = RedpackClientBuilder::from_merchant_toml(&path).unwrap_err();

        // Assert
        let printed = everything_printed(&error);
        assert!(
            matches!(
                error,
                Error::Config {
                    setting: "merchant.toml",
                    ..
                }
            ),
            "{printed}"
        );
        assert!(
            printed.contains(&format!("line {line}, column ")),
            "{printed}"
        );
        assert!(printed.contains(named), "{printed}");
        for piece in secret.as_bytes().chunks(6) {
            let piece = std::str::from_utf8(piece).unwrap();
            assert!(
                !printed.contains(piece),
                "{piece:?} of the secret in: {printed}"
            );
        }
    }
}

#[test]
fn the_builder_names_each_missing_or_invalid_setting() {
    let clock = ManualClock::at_unix_secs(NOW);
    let cases: Vec<(RedpackClientBuilder, &str)> = vec![
        (
            RedpackClient::builder().appid(APPID).api_key(key()),
            "mch_id",
        ),
        (
            RedpackClient::builder().mch_id(MCH_ID).api_key(key()),
            "appid",
        ),
        (
            RedpackClient::builder().mch_id(MCH_ID).appid(APPID),
            "api_key",
        ),
        (builder(&clock).mch_id("19000x"), "mch_id"),
        (builder(&clock).appid("wx 1"), "appid"),
        (builder(&clock).mini_program_appid(""), "mini_program_appid"),
        (builder(&clock).client_ip("::1"), "client_ip"),
        (builder(&clock).send_name("x".repeat(33)), "send_name"),
        (builder(&clock), "identity"),
        (
            builder(&clock).pem_files("/nonexistent/cert.pem", "/nonexistent/key.pem"),
            "identity",
        ),
        (
            builder(&clock)
                .base_url("http://127.0.0.1:9")
                .pem_files("/a", "/b"),
            "identity",
        ),
    ];
    for (builder, setting) in cases {
        let error = builder.build().unwrap_err();
        assert!(
            matches!(&error, Error::Config { setting: s, .. } if *s == setting),
            "{setting}: {error:?}"
        );
    }
    // Plain HTTP without allow_plain_http is refused by the transport.
    let error = builder(&clock)
        .base_url("http://127.0.0.1:9")
        .identity(identity())
        .build()
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Config {
                setting: "transport",
                ..
            }
        ),
        "{error:?}"
    );
}

fn identity() -> wxpay_transport::ClientIdentity {
    let dir = tempfile::tempdir().unwrap();
    write_identity(dir.path());
    wxpay_transport::ClientIdentity::from_pem_files(
        dir.path().join("apiclient_cert.pem"),
        dir.path().join("apiclient_key.pem"),
    )
    .unwrap()
}

#[test]
fn debug_output_never_shows_the_api_key() {
    // Arrange
    let clock = ManualClock::at_unix_secs(NOW);
    let builder = builder(&clock).pkcs12_file_with_password("x.p12", "secret-password");
    let client = crate::support::builder(&clock)
        .identity(identity())
        .build()
        .unwrap();

    // Act
    let texts = [
        format!("{builder:?}"),
        format!("{client:?}"),
        format!("{client:#?}"),
    ];

    // Assert
    for text in texts {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("secret-password"), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }
}

#[tokio::test]
async fn an_api_key_given_apart_wins_over_the_file_and_replaces_a_missing_one() {
    // Arrange: one file without a key, one with a wrong key; the right key given apart.
    let server = MockServer::start().await;
    script(&server, SEND, vec![], Reply::Sent).await;
    let dir = tempfile::tempdir().unwrap();
    write_identity(dir.path());
    let common = format!(
        "mch_id = \"{MCH_ID}\"\nappid = \"{APPID}\"\ncert_pem = \"apiclient_cert.pem\"\n\
         key_pem = \"apiclient_key.pem\"\nendpoint = \"{}\"\n",
        server.uri()
    );
    let keyless = dir.path().join("keyless.toml");
    std::fs::write(&keyless, &common).unwrap();
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(&wrong, format!("{common}api_key = \"not-the-key\"\n")).unwrap();

    // Act
    let mut outcomes = Vec::new();
    for path in [&keyless, &wrong] {
        let client = RedpackClientBuilder::from_merchant_toml_with_api_key(path, key())
            .unwrap()
            .send_name_if_unset("默认商户")
            .build()
            .unwrap();
        outcomes.push(client.send(&packet(1)).await.unwrap());
    }

    // Assert: both requests are signed with the key given apart.
    assert!(outcomes.iter().all(|o| o.is_sent()), "{outcomes:?}");
    for request in requests(&server).await {
        assert_signed(&request.body);
    }
}

#[test]
fn a_p12_password_in_the_file_is_used_and_a_wrong_one_is_named() {
    // Arrange: a file naming a PKCS#12 that does not exist, with a password.
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("merchant.toml");
    std::fs::write(
        &toml,
        format!(
            "mch_id = \"{MCH_ID}\"\nappid = \"{APPID}\"\napi_key = \"{KEY}\"\n\
             p12 = \"apiclient_cert.p12\"\np12_password = \"s3cret\"\n"
        ),
    )
    .unwrap();

    // Act
    let builder = RedpackClientBuilder::from_merchant_toml(&toml).unwrap();
    let debug = format!("{builder:?}");
    let error = builder.build().unwrap_err();

    // Assert
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(matches!(
        error,
        Error::Config {
            setting: "identity",
            ..
        }
    ));
    assert!(
        error
            .source()
            .unwrap()
            .to_string()
            .contains("apiclient_cert.p12"),
        "{error:?}"
    );
}
