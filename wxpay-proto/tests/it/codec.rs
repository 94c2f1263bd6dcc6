//! The XML codec: what it reads, what it refuses, and that it never panics.

use proptest::prelude::*;
use wxpay_proto::{
    DecodeLimits, ErrCode, Error, FieldProblem, RawMessage, RawValue, SendResponse, XmlError,
    XmlMessage, gethbinfo, sendredpack,
};

fn xml_error(bytes: &[u8]) -> XmlError {
    match RawMessage::parse(bytes) {
        Err(Error::Xml(e)) => e,
        other => panic!("expected an XML error, got {other:?}"),
    }
}

#[test]
fn cdata_escaped_text_and_entities_read_the_same() {
    let xml = "<xml><a><![CDATA[x<&>y]]></a><b>x&lt;&amp;&gt;y</b><c>x&#60;&#x26;&gt;y</c>\
               <d>x<![CDATA[<&]]>&gt;y</d></xml>";

    let raw = RawMessage::parse(xml.as_bytes()).unwrap();

    for name in ["a", "b", "c", "d"] {
        assert_eq!(raw.text(name), Some("x<&>y"), "field {name}");
    }
}

#[test]
fn a_split_cdata_section_joins_back_into_one_value() {
    let xml = "<xml><a><![CDATA[p]]]]><![CDATA[>q]]></a></xml>";

    let raw = RawMessage::parse(xml.as_bytes()).unwrap();

    assert_eq!(raw.text("a"), Some("p]]>q"));
}

#[test]
fn integers_read_bare_or_in_cdata() {
    let bare = "<xml><return_code>SUCCESS</return_code><total_amount>100</total_amount></xml>";
    let cdata =
        "<xml><return_code>SUCCESS</return_code><total_amount><![CDATA[100]]></total_amount></xml>";

    for xml in [bare, cdata] {
        let r = SendResponse::from_xml(xml.as_bytes()).unwrap();
        assert_eq!(r.total_amount.map(|f| f.get()), Some(100));
    }
}

#[test]
fn non_canonical_integers_are_field_errors_not_guesses() {
    for value in [
        "0100",
        "+1",
        "-1",
        "1.0",
        " 1",
        "1e3",
        "99999999999999999999999",
    ] {
        let xml = format!(
            "<xml><return_code>SUCCESS</return_code><total_amount>{value}</total_amount></xml>"
        );
        let err = SendResponse::from_xml(xml.as_bytes()).unwrap_err();
        assert_eq!(err.field_name(), Some("total_amount"), "value {value:?}");
        assert_eq!(err.err_code(), ErrCode::ParamError);
    }
}

#[test]
fn a_declaration_comments_and_a_bom_are_accepted() {
    let xml = "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- hi -->\n<xml>\n  <a>1</a>\n</xml>\n";

    let raw = RawMessage::parse(xml.as_bytes()).unwrap();

    assert_eq!(raw.text("a"), Some("1"));
    assert_eq!(raw.len(), 1);
}

#[test]
fn an_empty_element_is_the_same_as_an_absent_one() {
    let xml = "<xml><return_code>SUCCESS</return_code><return_msg/><mch_id></mch_id></xml>";

    let r = SendResponse::from_xml(xml.as_bytes()).unwrap();

    assert_eq!(r.header.return_msg, None);
    assert_eq!(r.mch_id, None);
}

#[test]
fn unknown_fields_are_kept_and_written_back() {
    let xml = "<xml><return_code>SUCCESS</return_code><new_field><![CDATA[v]]></new_field>\
               <nested><x>1</x><y>2</y></nested></xml>";

    let r = SendResponse::from_xml(xml.as_bytes()).unwrap();
    let again = SendResponse::from_xml(r.to_xml().as_bytes()).unwrap();

    assert_eq!(
        r.unknown.get("new_field"),
        Some(&RawValue::Text("v".to_owned()))
    );
    assert_eq!(
        r.unknown.get("nested"),
        Some(&RawValue::Elements(vec![
            ("x".to_owned(), RawValue::Text("1".to_owned())),
            ("y".to_owned(), RawValue::Text("2".to_owned())),
        ]))
    );
    assert_eq!(again, r);
}

#[test]
fn encoding_writes_strings_as_cdata_and_integers_bare() {
    let mut request = crate::support::sendredpack_example();
    request.send_name = wxpay_proto::SendName::new("a]]>b<&").unwrap();

    let xml = request.to_xml();

    assert!(xml.starts_with("<xml>") && xml.ends_with("</xml>"));
    assert!(xml.contains("<total_amount>1000</total_amount>"));
    assert!(xml.contains("<total_num>1</total_num>"));
    assert!(xml.contains("<send_name><![CDATA[a]]]]><![CDATA[>b<&]]></send_name>"));
    assert_eq!(
        sendredpack::Request::from_xml(xml.as_bytes())
            .unwrap()
            .send_name
            .as_str(),
        "a]]>b<&"
    );
}

#[test]
fn a_doctype_is_refused_whatever_it_declares() {
    let xxe = "<?xml version=\"1.0\"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\
               <xml><a>&xxe;</a></xml>";
    let laughs = "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">\
                  <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\
                  <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>\
                  <xml><a>&lol3;</a></xml>";
    let plain = "<!DOCTYPE xml><xml><a>1</a></xml>";

    for doc in [xxe, laughs, plain] {
        assert_eq!(xml_error(doc.as_bytes()), XmlError::Doctype);
    }
}

#[test]
fn an_undeclared_entity_is_refused() {
    let err = xml_error(b"<xml><a>&xxe;</a></xml>");

    assert_eq!(
        err,
        XmlError::UnknownEntity {
            name: "xxe".to_owned()
        }
    );
}

#[test]
fn a_character_reference_to_a_forbidden_character_is_refused() {
    assert_eq!(
        xml_error(b"<xml><a>&#0;</a></xml>"),
        XmlError::InvalidCharRef
    );
    assert_eq!(
        xml_error(b"<xml><a>&#x1;</a></xml>"),
        XmlError::InvalidCharRef
    );
    assert_eq!(
        xml_error(b"<xml><a>&#xD800;</a></xml>"),
        XmlError::InvalidCharRef
    );
}

#[test]
fn size_element_count_and_depth_are_capped() {
    let limits = DecodeLimits::DEFAULT;
    let big = format!("<xml><a>{}</a></xml>", "x".repeat(limits.max_bytes));
    let many = format!(
        "<xml>{}</xml>",
        "<hblist><a>1</a></hblist>".repeat(limits.max_elements)
    );
    let deep = format!(
        "<xml>{}1{}</xml>",
        "<a>".repeat(limits.max_depth),
        "</a>".repeat(limits.max_depth)
    );

    assert_eq!(
        xml_error(big.as_bytes()),
        XmlError::TooLarge {
            limit: limits.max_bytes
        }
    );
    assert!(matches!(
        xml_error(many.as_bytes()),
        XmlError::TooManyElements { .. }
    ));
    assert!(matches!(
        xml_error(deep.as_bytes()),
        XmlError::TooDeep { .. }
    ));
}

#[test]
fn custom_limits_apply() {
    let mut limits = DecodeLimits::DEFAULT;
    limits.max_bytes = 16;

    let err = gethbinfo::Response::from_xml_with_limits(
        b"<xml><return_code>SUCCESS</return_code></xml>",
        &limits,
    )
    .unwrap_err();

    assert_eq!(err, Error::Xml(XmlError::TooLarge { limit: 16 }));
}

#[test]
fn malformed_documents_are_typed_errors() {
    type Expect = fn(&XmlError) -> bool;
    let cases: &[(&[u8], Expect)] = &[
        (b"", |e| *e == XmlError::Empty),
        (b"  \r\n ", |e| *e == XmlError::Empty),
        (b"<html><body>502</body></html>", |e| {
            *e == XmlError::WrongRoot
        }),
        (b"not xml at all", |e| {
            matches!(e, XmlError::TrailingContent | XmlError::WrongRoot)
        }),
        (b"<xml><a>1</a>", |e| {
            matches!(e, XmlError::Malformed { .. })
        }),
        (b"<xml><a>1</b></xml>", |e| {
            matches!(e, XmlError::Malformed { .. })
        }),
        (b"<xml><a>1</a></xml><xml></xml>", |e| {
            *e == XmlError::TrailingContent
        }),
        (b"<xml><a>1</a></xml>junk", |e| {
            *e == XmlError::TrailingContent
        }),
        (b"<xml><a>1</a><a>2</a></xml>", |e| {
            matches!(e, XmlError::DuplicateElement { .. })
        }),
        (b"<xml><a>t<b>1</b></a></xml>", |e| {
            *e == XmlError::MixedContent
        }),
        (b"<xml>text</xml>", |e| *e == XmlError::MixedContent),
        (b"<xml><a>\xff\xfe</a></xml>", |e| {
            matches!(e, XmlError::NotUtf8 { offset: 8 })
        }),
    ];

    for (bytes, expected) in cases {
        let err = xml_error(bytes);
        assert!(
            expected(&err),
            "{:?} gave {err:?}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn every_xml_error_maps_to_xml_error_on_the_wire() {
    let err = sendredpack::Request::from_xml(b"").unwrap_err();

    assert_eq!(err.err_code(), ErrCode::XmlError);
    assert_eq!(err.wire_description(), "输入xml参数格式错误");
    assert_eq!(err.field_name(), None);
}

#[test]
fn a_field_with_nested_elements_where_text_is_expected_is_a_shape_error() {
    let err =
        SendResponse::from_xml(b"<xml><return_code><x>1</x></return_code></xml>").unwrap_err();

    assert_eq!(
        err,
        Error::Field {
            field: "return_code",
            problem: FieldProblem::Shape
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = RawMessage::parse(&bytes);
        let _ = sendredpack::Request::from_xml(&bytes);
        let _ = gethbinfo::Response::from_xml(&bytes);
    }

    #[test]
    fn decoding_xml_like_noise_never_panics(
        pieces in proptest::collection::vec(
            prop::sample::select(vec![
                "<xml>", "</xml>", "<a>", "</a>", "<hblist>", "</hblist>", "<hbinfo>", "</hbinfo>",
                "<![CDATA[", "]]>", "&lt;", "&", ";", "&#x", "&#", "<!DOCTYPE x>", "<?xml?>",
                "<!--", "-->", "<", ">", "/", "1", "天", " ", "\n", "<amount>", "</amount>",
                "<return_code>", "</return_code>", "SUCCESS", "<b/>", "\"", "'",
            ]),
            0..64,
        )
    ) {
        let doc: String = pieces.concat();
        let _ = RawMessage::parse(doc.as_bytes());
        let _ = gethbinfo::Response::from_xml(doc.as_bytes());
        let _ = SendResponse::from_xml(doc.as_bytes());
    }

    #[test]
    fn whatever_decodes_reencodes_to_an_equal_message(
        pieces in proptest::collection::vec(
            prop::sample::select(vec![
                "<return_code>SUCCESS</return_code>", "<return_code>FAIL</return_code>",
                "<x>", "</x>", "<y>v</y>", "<![CDATA[", "]]>", "&lt;", "&amp;", "天", " ",
                "<total_num>3</total_num>", "<hblist><hbinfo><openid>o</openid><amount>1</amount></hbinfo></hblist>",
                "<status>SENT</status>", "<err_code>NOTENOUGH</err_code>",
            ]),
            0..24,
        )
    ) {
        let doc = format!("<xml>{}</xml>", pieces.concat());
        if let Ok(first) = gethbinfo::Response::from_xml(doc.as_bytes()) {
            let second = gethbinfo::Response::from_xml(first.to_xml().as_bytes()).unwrap();
            prop_assert_eq!(second, first);
        }
    }
}

#[test]
fn a_character_xml_forbids_is_refused_even_inside_cdata() {
    // A fuzz finding: NUL bytes in a CDATA section used to decode, and then re-encoded as
    // U+FFFD, so the message did not survive a round trip.
    for doc in [
        &b"<xml><return_code>SUCCESS</return_code><send_time><![CDATA[a\0\0b]]></send_time></xml>"
            [..],
        b"<xml><a>\x01</a></xml>",
        "<xml><a>\u{FFFE}</a></xml>".as_bytes(),
        b"<xml><a\x1f>1</a\x1f></xml>",
    ] {
        assert!(
            matches!(xml_error(doc), XmlError::ForbiddenChar { .. }),
            "{:?}",
            String::from_utf8_lossy(doc)
        );
    }
    assert_eq!(
        xml_error(b"<xml><a>ok\0</a></xml>"),
        XmlError::ForbiddenChar { offset: 10 }
    );
    // Tab, LF and CR are allowed.
    assert!(RawMessage::parse(b"<xml><a>\t\r\n</a></xml>").is_ok());
}

#[test]
fn text_fields_encode_in_order_and_read_back_the_same() {
    let xml = wxpay_proto::encode_text_fields([
        ("mch_id", "1900000109"),
        ("wishing", "a]]>b<&天"),
        ("1bad name", "dropped"),
        ("sign", "ABC"),
    ]);

    assert!(xml.starts_with("<xml><mch_id><![CDATA[1900000109]]></mch_id><wishing>"));
    let raw = RawMessage::parse(xml.as_bytes()).unwrap();
    assert_eq!(raw.text("wishing"), Some("a]]>b<&天"));
    assert_eq!(raw.text("sign"), Some("ABC"));
    assert_eq!(raw.len(), 3);
}

/// Found by fuzzing: an unknown field named `mch_bil|no` decoded, but the encoder (which writes
/// only plain names) left it out, so the message did not survive its own encoding. Names are
/// now read only when they can be written back.
#[test]
fn an_element_name_the_encoder_cannot_write_is_refused_and_a_plain_one_survives() {
    for name in ["mch_bil|no", "名字", "a:b", "x[1]", "-a", "1a", ".a"] {
        let doc = format!("<xml><return_code>SUCCESS</return_code><{name}>1</{name}></xml>");
        let error = xml_error(doc.as_bytes());
        assert!(
            matches!(&error, XmlError::Malformed { reason, .. } if reason.contains("name")),
            "{name}: {error:?}"
        );
    }
    let doc = "<xml><return_code>SUCCESS</return_code><new_field-2.x>1</new_field-2.x></xml>";
    let response = SendResponse::from_xml(doc.as_bytes()).unwrap();
    assert!(response.unknown.contains_key("new_field-2.x"));
    let again = SendResponse::from_xml(response.to_xml().as_bytes()).unwrap();
    assert_eq!(again, response);
}

/// However high the element limit is set, a document is stopped at 65,534 elements (the
/// field index keeps places in 16 bits), with the typed error, not a field silently lost.
#[test]
fn the_element_limit_is_capped_where_the_field_index_ends() {
    let doc = format!(
        "<xml><hblist>{}</hblist><return_code>SUCCESS</return_code></xml>",
        "<hbinfo/>".repeat(70_000)
    );
    let mut limits = DecodeLimits::DEFAULT;
    limits.max_bytes = usize::MAX;
    limits.max_elements = usize::MAX;
    assert!(matches!(
        RawMessage::parse_with_limits(doc.as_bytes(), &limits),
        Err(Error::Xml(XmlError::TooManyElements { limit: 65_534 }))
    ));
}

/// However deep the limit is set, a document is stopped at depth 64 with the typed error:
/// an unknown subtree is copied, written and dropped one call per level, and 65,000 levels
/// would overflow a worker thread's stack.
#[test]
fn the_depth_limit_is_capped_whatever_is_set() {
    // Arrange
    let nested = |depth: usize| {
        format!(
            "<xml><return_code>SUCCESS</return_code>{}{}</xml>",
            "<x>".repeat(depth - 1),
            "</x>".repeat(depth - 1)
        )
    };
    let mut limits = DecodeLimits::DEFAULT;
    limits.max_bytes = usize::MAX;
    limits.max_depth = usize::MAX;

    let (at_64, at_65, at_65_000) = (nested(64), nested(65), nested(65_000));

    // Act
    let deepest = RawMessage::parse_with_limits(at_64.as_bytes(), &limits);
    let deeper = RawMessage::parse_with_limits(at_65.as_bytes(), &limits);
    let far = RawMessage::parse_with_limits(at_65_000.as_bytes(), &limits);

    // Assert
    assert_eq!(deepest.unwrap().text("return_code"), Some("SUCCESS"));
    for result in [deeper, far] {
        assert!(
            matches!(result, Err(Error::Xml(XmlError::TooDeep { limit: 64 }))),
            "{result:?}"
        );
    }
}

/// Repeated unknown names are found by a scan while there are few of them and by a set past
/// that (which keeps a document of many unknown fields, under raised limits, from costing a
/// comparison of every name with every other): a repeat is refused either way, wherever it is.
#[test]
fn a_repeated_unknown_name_is_refused_among_few_or_many() {
    let mut limits = DecodeLimits::DEFAULT;
    limits.max_bytes = usize::MAX;
    limits.max_elements = 60_000;
    for count in [3, 16, 17, 18, 50_000] {
        let fields: String = (0..count).map(|i| format!("<f{i}>1</f{i}>")).collect();
        let doc = format!("<xml><return_code>SUCCESS</return_code>{fields}</xml>");
        let raw = RawMessage::parse_with_limits(doc.as_bytes(), &limits).unwrap();
        assert_eq!(raw.len(), count + 1);
        for repeat in [0, count / 2, count - 1] {
            let doc = format!("<xml>{fields}<f{repeat}>2</f{repeat}></xml>");
            assert_eq!(
                xml_error_with(doc.as_bytes(), &limits),
                XmlError::DuplicateElement {
                    name: format!("f{repeat}")
                },
                "{count} fields, f{repeat} repeated"
            );
        }
    }
}

fn xml_error_with(bytes: &[u8], limits: &DecodeLimits) -> XmlError {
    match RawMessage::parse_with_limits(bytes, limits) {
        Err(Error::Xml(e)) => e,
        other => panic!("expected an XML error, got {other:?}"),
    }
}

#[test]
fn a_field_reads_the_same_whether_its_text_is_borrowed_or_joined() {
    // `mch_id` as one piece of the document, `return_msg` joined from an entity and text,
    // `hblist` with elements, `extra` unknown: every accessor sees each of them.
    let doc = "<xml><mch_id>10000098</mch_id><return_msg>a&amp;b</return_msg>\
               <hblist><hbinfo><openid>o1</openid><amount>1</amount><rcv_time>t</rcv_time></hbinfo></hblist><extra>x</extra></xml>";
    let raw = RawMessage::parse(doc.as_bytes()).unwrap();
    assert_eq!(raw.len(), 4);
    assert_eq!(raw.text("mch_id"), Some("10000098"));
    assert_eq!(raw.text("return_msg"), Some("a&b"));
    assert_eq!(raw.text("extra"), Some("x"));
    assert_eq!(raw.text("hblist"), None);
    assert_eq!(
        raw.value("mch_id"),
        Some(RawValue::Text("10000098".to_owned()))
    );
    assert!(matches!(raw.value("hblist"), Some(RawValue::Elements(_))));
    assert_eq!(
        raw.names().collect::<Vec<_>>(),
        ["extra", "hblist", "mch_id", "return_msg"]
    );
    assert_eq!(
        raw.text_pairs().collect::<Vec<_>>(),
        [
            ("extra", "x"),
            ("mch_id", "10000098"),
            ("return_msg", "a&b")
        ]
    );
    // Unknown fields survive a typed decode whichever way their text was read.
    let doc = doc.replace("<xml>", "<xml><return_code>SUCCESS</return_code>");
    let response = gethbinfo::Response::from_xml(doc.as_bytes()).unwrap();
    assert_eq!(response.mch_id.as_deref(), Some("10000098"));
    assert!(response.to_xml().contains("<extra><![CDATA[x]]></extra>"));

    // A name given twice is refused in either order of the two forms.
    for doc in [
        "<xml><mch_id>1</mch_id><mch_id>&amp;</mch_id></xml>",
        "<xml><mch_id>&amp;</mch_id><mch_id>1</mch_id></xml>",
        "<xml><mch_id>1</mch_id><mch_id><a>1</a></mch_id></xml>",
    ] {
        assert_eq!(
            xml_error(doc.as_bytes()),
            XmlError::DuplicateElement {
                name: "mch_id".to_owned()
            },
            "{doc}"
        );
    }
}

/// This decoder reads UTF-8 only: a document that declares another encoding is refused, not
/// read as UTF-8 (GBK bytes can be valid UTF-8 and read as other text), and so is a
/// declaration after the start. Other processing instructions are ignored.
#[test]
fn an_encoding_other_than_utf8_or_a_late_declaration_is_refused() {
    for (doc, reason) in [
        (
            "<?xml version=\"1.0\" encoding=\"GBK\"?><xml><a>1</a></xml>",
            "an encoding other than UTF-8",
        ),
        (
            "<?XML version='1.0' encoding='ISO-8859-1' ?><xml><a>1</a></xml>",
            "an encoding other than UTF-8",
        ),
        (
            "<?xml version=\"1.0\" encoding=GBK?><xml><a>1</a></xml>",
            "a malformed encoding declaration",
        ),
        (
            "<xml><a>1</a><?xml version=\"1.0\"?></xml>",
            "an XML declaration after the start of the document",
        ),
    ] {
        match RawMessage::parse(doc.as_bytes()) {
            Err(Error::Xml(XmlError::Malformed { reason: got, .. })) => {
                assert_eq!(got, reason, "{doc}")
            }
            other => panic!("{doc}: {other:?}"),
        }
    }
    for doc in [
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xml><a>1</a></xml>",
        "<?xml version=\"1.0\" encoding = 'utf-8' standalone=\"yes\"?><xml><a>1</a></xml>",
        "<?xml version=\"1.0\"?><xml><a>1</a></xml>",
        "<xml><?php echo 1; ?><a>1</a></xml>",
        "<?xml-stylesheet href=\"a.xsl\"?><xml><a>1</a></xml>",
    ] {
        let message = RawMessage::parse(doc.as_bytes());
        assert_eq!(
            message.map(|m| m.text("a").map(str::to_owned)).ok(),
            Some(Some("1".to_owned())),
            "{doc}"
        );
    }
}

/// XML 1.0 §2.11: `\r\n` and a lone `\r` are read as `\n`, in CDATA too; a document without
/// `\r` is borrowed as it is.
#[test]
fn line_breaks_are_normalised_as_every_xml_parser_does() {
    // Arrange
    let crlf = "<xml>\r\n<a><![CDATA[x\r\ny\rz\r\r\n]]></a>\r</xml>\r\n";
    let plain = "<xml><a>x\ny</a></xml>";

    // Act
    let normalized = wxpay_proto::normalize_line_breaks(crlf.as_bytes());
    let untouched = wxpay_proto::normalize_line_breaks(plain.as_bytes());

    // Assert
    assert_eq!(
        normalized.as_ref(),
        b"<xml>\n<a><![CDATA[x\ny\nz\n\n]]></a>\n</xml>\n"
    );
    assert!(matches!(untouched, std::borrow::Cow::Borrowed(_)));
    assert_eq!(untouched.as_ref(), plain.as_bytes());
}
