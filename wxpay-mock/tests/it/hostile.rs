//! Hostile input (issue 8): entity tricks, bombs, deep nesting, a 10 MB body, invalid UTF-8,
//! duplicates, CDATA tricks, and every field at, one past and far past its limit. Each is a
//! typed answer within a bounded time; nothing is read from disk and nothing is committed.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::rules::{normal_fields, set, signed_xml, xml_of};
use crate::support::{Merchant, QUERY, SEND, start};

/// A bound far above what each answer takes, for a loaded machine.
const PROMPT: Duration = Duration::from_secs(5);

fn code_of(body: &str) -> String {
    let raw = wxpay_proto::RawMessage::parse(body.as_bytes())
        .unwrap_or_else(|e| panic!("not XML ({e}): {body}"));
    raw.text("err_code").unwrap_or("SUCCESS").to_owned()
}

#[tokio::test]
async fn entity_bombs_deep_nesting_and_broken_text_are_xml_error_and_read_no_file() {
    // Arrange: a file the external entity points at, holding a marker.
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "MARKER-7f3a-do-not-read").unwrap();
    let valid = signed_xml(&m, normal_fields(&m, "hostile1"), None);
    let mut lol = String::from("<!DOCTYPE xml [<!ENTITY l0 \"lol\">");
    for n in 1..10 {
        let prev = format!("&l{};", n - 1).repeat(10);
        lol.push_str(&format!("<!ENTITY l{n} \"{prev}\">"));
    }
    lol.push_str("]><xml><remark>&l9;</remark></xml>");
    let mut invalid_utf8 = valid.clone().into_bytes();
    let at = invalid_utf8
        .windows(3)
        .position(|w| w == "快".as_bytes())
        .unwrap();
    invalid_utf8[at] = 0xff;
    let bodies: Vec<(&str, Vec<u8>)> =
        vec![
        (
            "file:// entity",
            format!(
                "<!DOCTYPE xml [<!ENTITY x SYSTEM \"file://{}\">]><xml><mch_id>&x;</mch_id></xml>",
                secret.display()
            )
            .into_bytes(),
        ),
        (
            "parameter entity",
            format!(
                "<!DOCTYPE xml [<!ENTITY % p SYSTEM \"file://{}\"> %p;]><xml/>",
                secret.display()
            )
            .into_bytes(),
        ),
        ("billion laughs", lol.into_bytes()),
        (
            "deep nesting",
            format!("<xml>{}x{}</xml>", "<a>".repeat(10_000), "</a>".repeat(10_000)).into_bytes(),
        ),
        ("invalid UTF-8", invalid_utf8),
        ("empty", Vec::new()),
        ("truncated", valid.as_bytes()[..valid.len() / 2].to_vec()),
        (
            "unterminated CDATA",
            b"<xml><mch_id><![CDATA[1900000109</mch_id></xml>".to_vec(),
        ),
        (
            "NUL by reference",
            b"<xml><mch_id>1900000109&#0;</mch_id></xml>".to_vec(),
        ),
        (
            "a second root",
            format!("{valid}<xml><total_amount>1</total_amount></xml>").into_bytes(),
        ),
        (
            "duplicate field",
            valid
                .replace("</xml>", "<total_amount>1</total_amount></xml>")
                .into_bytes(),
        ),
    ];

    for path in [SEND, QUERY] {
        for (name, body) in &bodies {
            // Act
            let started = Instant::now();
            let answer = m.client.answer(path, body.clone()).await;
            let took = started.elapsed();

            // Assert
            assert_eq!(answer.status, 200, "{name}");
            assert_eq!(
                code_of(&answer.body),
                "XML_ERROR",
                "{name}: {}",
                answer.body
            );
            assert!(!answer.body.contains("MARKER"), "{name}: {}", answer.body);
            assert!(took < PROMPT, "{name} took {took:?}");
        }
    }
    assert_eq!(mock.ledger().packet_count(), 0);
}

#[tokio::test]
async fn a_ten_megabyte_body_is_refused_before_the_mock_reads_it_all() {
    // Arrange: announce 10 MB, send 256 KiB of it, then nothing. A server that buffered the
    // whole body before answering would wait for the rest forever.
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let announced = 10 * 1024 * 1024;
    let mut tls = m.client.tls().await;
    let head = format!(
        "POST {SEND} HTTP/1.1\r\nhost: mock\r\ncontent-type: text/xml\r\ncontent-length: {announced}\r\n\r\n<xml><remark>"
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 16 * 1024];
    for _ in 0..16 {
        tls.write_all(&chunk).await.unwrap();
    }
    tls.flush().await.unwrap();
    let started = Instant::now();

    // Act: read the answer (the mock closes the connection after it).
    let mut answer = Vec::new();
    let read = tokio::time::timeout(PROMPT, async {
        let mut buf = [0u8; 4096];
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if answer.ends_with(b"</xml>") {
                break;
            }
        }
    })
    .await;

    // Assert
    let took = started.elapsed();
    assert!(read.is_ok(), "no answer within {PROMPT:?}");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let body = &answer[answer.find("<xml>").expect("an XML body")..];
    assert_eq!(code_of(body), "XML_ERROR", "{answer}");
    assert!(took < PROMPT, "{took:?}");
    assert_eq!(mock.ledger().packet_count(), 0);
    let journal = mock.requests();
    assert_eq!(
        journal.last().map(|e| e.outcome.as_str()),
        Some("XML_ERROR")
    );
}

#[tokio::test]
async fn cdata_cannot_smuggle_elements_into_a_signed_request() {
    // Arrange: values that look like markup, in CDATA and split around `]]>`; the signature
    // covers the text as read.
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let mut fields = normal_fields(&m, "cdata1");
    set(
        &mut fields,
        "wishing",
        "</wishing><total_amount>1</total_amount><sign>0</sign>",
    );
    let mut split = normal_fields(&m, "cdata2");
    set(&mut split, "remark", "a]]>b");
    let signed_split = signed_xml(&m, split, None).replace(
        "<remark><![CDATA[a]]>b]]></remark>",
        "<remark><![CDATA[a]]]]><![CDATA[>b]]></remark>",
    );
    let mut unsigned = normal_fields(&m, "cdata3");
    set(&mut unsigned, "sign", "C380BEC2BFD727A4B6845133519F3AD6");
    set(&mut unsigned, "remark", "<![CDATA[x");

    // Act
    let smuggled = m.client.answer(SEND, signed_xml(&m, fields, None)).await;
    let split = m.client.answer(SEND, signed_split).await;
    let nested = m.client.answer(SEND, xml_of(&unsigned)).await;

    // Assert
    assert_eq!(code_of(&smuggled.body), "SUCCESS", "{}", smuggled.body);
    assert_eq!(code_of(&split.body), "SUCCESS", "{}", split.body);
    assert_eq!(code_of(&nested.body), "SIGN_ERROR", "{}", nested.body);
    let ledger = mock.ledger();
    let amounts: Vec<u64> = ledger
        .merchants
        .iter()
        .flat_map(|m| &m.packets)
        .map(|p| p.total_amount)
        .collect();
    assert_eq!(amounts, vec![1000, 1000], "{ledger:?}");
}

#[tokio::test]
async fn every_text_field_at_one_past_and_far_past_its_limit() {
    // Arrange: (field, limit in characters, a filler character).
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let limits: [(&str, usize, char); 7] = [
        ("mch_billno", 28, '7'),
        ("nonce_str", 32, 'n'),
        ("re_openid", 32, 'o'),
        ("send_name", 32, '名'),
        ("wishing", 128, '福'),
        ("act_name", 32, '活'),
        ("remark", 256, '备'),
    ];
    let mut seq = 0u32;

    for (field, limit, filler) in limits {
        for (len, expect_ok) in [(limit, true), (limit + 1, false), (limit * 40, false)] {
            seq += 1;
            let mut fields = normal_fields(&m, &format!("lim{seq}"));
            set(&mut fields, "re_openid", &format!("oLimit{seq}"));
            let value: String = std::iter::repeat_n(filler, len).collect();
            let value = if field == "mch_billno" && expect_ok {
                // A unique billno of exactly 28 characters.
                format!("{seq:0>28}")
            } else if field == "re_openid" && expect_ok {
                format!("{:o<32}", format!("oLimit{seq}"))
            } else {
                value
            };
            set(&mut fields, field, &value);

            // Act
            let answer = m.client.answer(SEND, signed_xml(&m, fields, None)).await;

            // Assert
            let code = code_of(&answer.body);
            if expect_ok {
                assert_eq!(code, "SUCCESS", "{field} at {len}: {}", answer.body);
            } else {
                assert_eq!(code, "PARAM_ERROR", "{field} at {len}: {}", answer.body);
            }
        }
    }
    assert_eq!(mock.ledger().packet_count(), limits.len());
}

#[tokio::test]
async fn amounts_client_ips_and_billnos_at_their_edges() {
    // Arrange
    let mock = start().await;
    let m = Merchant::default_of(&mock);
    let amounts: [(&str, &str); 10] = [
        ("0", "PARAM_ERROR"),
        ("99", "PARAM_ERROR"),
        ("100", "SUCCESS"),
        ("20000", "SUCCESS"),
        ("20001", "PARAM_ERROR"),
        ("4294967295", "PARAM_ERROR"),
        ("4294967296", "PARAM_ERROR"),
        ("18446744073709551615", "PARAM_ERROR"),
        ("18446744073709551616", "PARAM_ERROR"),
        ("-1", "PARAM_ERROR"),
    ];
    let ips = [
        "::1",
        "2001:db8::1",
        "::ffff:1.2.3.4",
        "1.2.3",
        "1.2.3.4.5",
        "1.2.3.256",
        " 1.2.3.4",
        "1.2.3.4\n",
        "localhost",
        "",
    ];
    let billnos = [
        "1900000109-20260101-1",
        "1900000109 2026",
        "1900000109_2026",
        "19000001092026天",
        "1900000109&key=x",
        "1900000109%00",
        "../../etc/passwd",
    ];
    let mut seq = 0u32;
    let mut next = || {
        seq += 1;
        let mut fields = normal_fields(&m, &format!("edge{seq}"));
        set(&mut fields, "re_openid", &format!("oEdge{seq}"));
        fields
    };

    for (amount, expected) in amounts {
        let mut fields = next();
        set(&mut fields, "total_amount", amount);

        // Act
        let answer = m.client.answer(SEND, signed_xml(&m, fields, None)).await;

        // Assert
        assert_eq!(code_of(&answer.body), expected, "{amount}: {}", answer.body);
    }
    for ip in ips {
        let mut fields = next();
        set(&mut fields, "client_ip", ip);
        let answer = m.client.answer(SEND, signed_xml(&m, fields, None)).await;
        assert_eq!(
            code_of(&answer.body),
            "PARAM_ERROR",
            "{ip:?}: {}",
            answer.body
        );
    }
    for billno in billnos {
        let mut fields = next();
        set(&mut fields, "mch_billno", billno);
        let answer = m.client.answer(SEND, signed_xml(&m, fields, None)).await;
        assert_eq!(
            code_of(&answer.body),
            "PARAM_ERROR",
            "{billno:?}: {}",
            answer.body
        );
    }
    let ledger = mock.ledger();
    let amounts: Vec<u64> = ledger
        .merchants
        .iter()
        .flat_map(|m| &m.packets)
        .map(|p| p.total_amount)
        .collect();
    assert_eq!(amounts, vec![100, 20000]);
}
