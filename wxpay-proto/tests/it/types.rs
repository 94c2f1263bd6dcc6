//! Value types: parsed once, with typed errors.

use wxpay_proto::{
    ActName, AppId, ClientIp, ErrCode, Error, Fen, FieldProblem, MchBillno, MchId, NonceStr,
    OpenId, Remark, RiskInfo, SendName, Wishing,
};

fn problem(err: Error) -> FieldProblem {
    match err {
        Error::Field { problem, .. } => problem,
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn yuan_amounts_parse_exactly_into_fen() {
    let cases = [
        ("12.34", 1234),
        ("12.3", 1230),
        ("12", 1200),
        ("0.01", 1),
        ("0.30", 30),
        ("200.00", 20_000),
        ("4999", 499_900),
        ("007.5", 750),
    ];
    for (text, fen) in cases {
        assert_eq!(Fen::parse_yuan(text).unwrap(), Fen::new(fen), "{text}");
    }
}

#[test]
fn malformed_yuan_amounts_are_errors_never_rounded() {
    for text in [
        "1.005", "-1", "+1", "abc", "", ".5", "1.", "1,00", " 1", "1 ", "1e2", "0x10", "１",
    ] {
        assert_eq!(
            problem(Fen::parse_yuan(text).unwrap_err()),
            FieldProblem::NotAYuanAmount,
            "{text:?}"
        );
    }
    assert_eq!(
        problem(Fen::parse_yuan("184467440737095516.16").unwrap_err()),
        FieldProblem::Overflow
    );
    assert_eq!(
        problem(Fen::parse_yuan("99999999999999999999").unwrap_err()),
        FieldProblem::Overflow
    );
}

#[test]
fn fen_displays_as_yuan_with_two_decimals() {
    assert_eq!(Fen::new(1234).to_string(), "12.34");
    assert_eq!(Fen::new(5).to_string(), "0.05");
    assert_eq!(Fen::new(20_000).to_string(), "200.00");
    assert_eq!(
        Fen::parse_yuan(&Fen::new(98_765).to_string()).unwrap(),
        Fen::new(98_765)
    );
}

#[test]
fn fen_arithmetic_is_checked() {
    assert_eq!(Fen::new(1).checked_add(Fen::new(2)), Some(Fen::new(3)));
    assert_eq!(Fen::new(u64::MAX).checked_add(Fen::new(1)), None);
    assert_eq!(Fen::new(1).checked_sub(Fen::new(2)), None);
    assert_eq!(Fen::new(u64::MAX).checked_mul(2), None);
    assert_eq!(Fen::from_yuan(3), Some(Fen::new(300)));
    assert_eq!(Fen::from_yuan(u64::MAX), None);
}

#[test]
fn billno_allows_up_to_28_letters_and_digits() {
    assert!(MchBillno::new("10000098201411111234567890").is_ok());
    assert!(MchBillno::new("131643710120170214S212S1").is_ok());
    assert!(MchBillno::new("a".repeat(28)).is_ok());
    assert_eq!(
        problem(MchBillno::new("a".repeat(29)).unwrap_err()),
        FieldProblem::TooLong {
            max: 28,
            actual: 29
        }
    );
    assert!(matches!(
        problem(MchBillno::new("1000-0098").unwrap_err()),
        FieldProblem::Charset { found: '-', .. }
    ));
    assert_eq!(
        problem(MchBillno::new("").unwrap_err()),
        FieldProblem::Missing
    );
}

#[test]
fn ids_check_their_character_sets() {
    assert!(MchId::new("1497236182").is_ok());
    assert!(MchId::new("14972x").is_err());
    assert!(AppId::new("wx8888888888888888").is_ok());
    assert!(AppId::new("wx 8888").is_err());
    assert!(OpenId::new("oI8-IwCgppnBJzlXvHU4tODnbkwI").is_ok());
    assert!(OpenId::new("o<script>").is_err());
    assert!(OpenId::new("o".repeat(33)).is_err());
    assert!(NonceStr::new("ibuaiVcKdpRxkhJA").is_ok());
    assert!(NonceStr::new("ibuai VcKdpRxkhJA").is_err());
}

#[test]
fn text_lengths_count_characters_not_bytes() {
    // 32 CJK characters are 96 bytes and still fit a 32-character field.
    let cjk32 = "红".repeat(32);
    assert!(SendName::new(cjk32.clone()).is_ok());
    assert!(ActName::new(cjk32).is_ok());
    assert_eq!(
        problem(SendName::new("红".repeat(33)).unwrap_err()),
        FieldProblem::TooLong {
            max: 32,
            actual: 33
        }
    );
    assert!(Wishing::new("🧧".repeat(128)).is_ok());
    assert!(Wishing::new("🧧".repeat(129)).is_err());
    assert!(Remark::new("x".repeat(256)).is_ok());
    assert!(Remark::new("x".repeat(257)).is_err());
}

#[test]
fn text_refuses_control_characters_but_keeps_whitespace_and_markup() {
    assert!(Wishing::new("line one\nline two\t<b>&amp;</b> ]]>").is_ok());
    // A carriage return too: XML parsers read `\r\n` as `\n`, so the text signed would not
    // be the text the server verifies.
    for bad in [
        "a\u{0}b",
        "a\u{1b}b",
        "a\u{7f}b",
        "a\u{85}b",
        "\u{FFFF}",
        "恭喜发财\r\n大吉",
        "a\rb",
    ] {
        assert!(
            matches!(
                problem(Wishing::new(bad).unwrap_err()),
                FieldProblem::Charset { .. }
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn client_ip_is_a_dotted_quad_ipv4() {
    assert_eq!(
        ClientIp::new("192.168.0.1").unwrap().addr().octets(),
        [192, 168, 0, 1]
    );
    for bad in [
        "",
        "256.1.1.1",
        "1.2.3",
        "::1",
        "1.2.3.4.5",
        "localhost",
        "1.2.3.4 ",
    ] {
        assert!(ClientIp::new(bad).is_err(), "{bad:?}");
    }
    let err = ClientIp::new("::1").unwrap_err();
    assert_eq!(err.err_code(), ErrCode::ParamError);
    assert_eq!(
        err.wire_description(),
        "参数错误:client_ip必须是合法的IP字符串"
    );
}

#[test]
fn risk_info_builder_reproduces_the_official_example() {
    let built = RiskInfo::builder()
        .posttime("123123412")
        .client_version("234134")
        .mobile("122344545")
        .device_id("IOS")
        .build()
        .unwrap();

    assert_eq!(
        built.as_str(),
        "posttime%3d123123412%26clientversion%3d234134%26mobile%3d122344545%26deviceid%3dIOS"
    );
}

#[test]
fn risk_info_encodes_reserved_characters_in_values_and_skips_empty_keys() {
    let built = RiskInfo::builder()
        .mobile("86-138 0013&8000")
        .device_id("")
        .build()
        .unwrap();

    assert_eq!(built.as_str(), "mobile%3d86-138%200013%268000");
    assert!(RiskInfo::builder().build().is_err());
    assert!(
        RiskInfo::builder()
            .device_id("x".repeat(200))
            .build()
            .is_err()
    );
}

#[test]
fn field_errors_name_the_wire_field_and_the_documented_text() {
    let err = SendName::new("").unwrap_err();

    assert_eq!(err.field_name(), Some("send_name"));
    assert_eq!(err.err_code(), ErrCode::ParamError);
    assert_eq!(
        err.wire_description(),
        "参数错误:send_name字段为必填并且少于32字符"
    );
}

#[test]
fn short_ids_keep_their_longest_values_whole_and_refuse_one_more() {
    // These types keep their value inline (no allocation): the longest value must still
    // fit exactly, and one character more must be a typed error, not a cut.
    let at_max = |max: usize| "7".repeat(max);
    assert_eq!(MchBillno::new(at_max(28)).unwrap().as_str(), at_max(28));
    assert_eq!(MchId::new(at_max(32)).unwrap().as_str(), at_max(32));
    assert_eq!(AppId::new(at_max(32)).unwrap().as_str(), at_max(32));
    assert_eq!(OpenId::new(at_max(32)).unwrap().as_str(), at_max(32));
    assert_eq!(NonceStr::new(at_max(32)).unwrap().into_string(), at_max(32));
    for (result, max) in [
        (MchId::new(at_max(33)).map(drop), 32),
        (AppId::new(at_max(33)).map(drop), 32),
        (OpenId::new(at_max(33)).map(drop), 32),
        (NonceStr::new(at_max(33)).map(drop), 32),
    ] {
        assert_eq!(
            problem(result.unwrap_err()),
            FieldProblem::TooLong {
                max,
                actual: max + 1
            }
        );
    }
    // The widest dotted quad fills the address type exactly.
    let widest = ClientIp::from(std::net::Ipv4Addr::new(255, 255, 255, 255));
    assert_eq!(widest.as_str(), "255.255.255.255");
    assert_eq!(widest, ClientIp::new("255.255.255.255").unwrap());
    // Values are taken from borrowed and owned strings alike.
    let owned = String::from("10000098");
    assert_eq!(
        MchId::new(&owned).unwrap(),
        MchId::new(owned.clone()).unwrap()
    );
    assert_eq!(
        MchId::new(std::borrow::Cow::Borrowed("10000098")).unwrap(),
        MchId::try_from(owned).unwrap()
    );
}
