//! The bodies of the fuzz targets in `fuzz/` (not a public API).
//!
//! Each function takes arbitrary bytes, runs them through the decoder or the yuan parser, and
//! panics only when a property breaks: whatever decodes re-encodes to an equal message, and
//! the yuan parser agrees with an independent model of its grammar. The fuzzers call them, and
//! a regular test replays the committed corpus through the same functions.

use crate::codec::RawMessage;
use crate::message::XmlMessage;
use crate::types::Fen;
use crate::{SendResponse, gethbinfo, sendgroupredpack, sendminiprogramhb, sendredpack};

/// Decodes `bytes` as every message type; each message that decodes must re-encode to bytes
/// that decode to an equal message, and the `gethbinfo` response view must agree with the
/// owned response.
///
/// # Panics
///
/// When a decoded message does not survive its own encoding.
pub fn decode(bytes: &[u8]) {
    if let Ok(raw) = RawMessage::parse(bytes) {
        // Reading every value must not panic either.
        for name in raw.names() {
            let _ = raw.value(name);
            let _ = raw.text(name);
        }
        let _ = raw.text_pairs().count();
    }
    roundtrip::<sendredpack::Request>(bytes);
    roundtrip::<sendgroupredpack::Request>(bytes);
    roundtrip::<sendminiprogramhb::Request>(bytes);
    roundtrip::<gethbinfo::Request>(bytes);
    roundtrip::<SendResponse>(bytes);
    roundtrip::<gethbinfo::Response>(bytes);
    // The borrowed view reads what the owned decoder reads, errors included.
    let view = gethbinfo::ResponseView::from_xml(bytes).map(|view| view.to_owned());
    assert_eq!(
        view,
        gethbinfo::Response::from_xml(bytes),
        "the view disagrees"
    );
}

fn roundtrip<M: XmlMessage + PartialEq + core::fmt::Debug>(bytes: &[u8]) {
    if let Ok(first) = M::from_xml(bytes) {
        let xml = first.to_xml();
        match M::from_xml(xml.as_bytes()) {
            Ok(second) => assert_eq!(second, first, "re-encoded as {xml}"),
            Err(e) => panic!("{first:?} re-encodes to {xml}, which does not decode: {e}"),
        }
    }
}

/// Parses `bytes` (when UTF-8) with [`Fen::parse_yuan`] and checks the answer against a model
/// of the grammar (`digits` or `digits.d` or `digits.dd`, within `u64` fen); an amount that
/// parses prints back to text that parses to the same amount.
///
/// # Panics
///
/// When the parser and the model disagree.
pub fn yuan(bytes: &[u8]) {
    let Ok(text) = core::str::from_utf8(bytes) else {
        return;
    };
    let parsed = Fen::parse_yuan(text).ok();
    assert_eq!(parsed, yuan_model(text), "parse_yuan({text:?})");
    if let Some(fen) = parsed {
        assert_eq!(
            Fen::parse_yuan(&fen.to_string()).ok(),
            Some(fen),
            "{fen} prints back"
        );
    }
}

/// The grammar of a yuan amount, written apart from the parser.
fn yuan_model(text: &str) -> Option<Fen> {
    let (int, frac) = match text.find('.') {
        Some(dot) => (&text[..dot], Some(&text[dot + 1..])),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) {
        return None;
    }
    let cents: u128 = match frac {
        None => 0,
        Some(f) if digits(f) && f.len() == 1 => u128::from(f.as_bytes()[0] - b'0') * 10,
        Some(f) if digits(f) && f.len() == 2 => {
            u128::from(f.as_bytes()[0] - b'0') * 10 + u128::from(f.as_bytes()[1] - b'0')
        }
        Some(_) => return None,
    };
    let significant = int.trim_start_matches('0');
    if significant.len() > 20 {
        return None;
    }
    let yuan: u128 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    u64::try_from(yuan * 100 + cents).ok().map(Fen::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_reads_the_documented_examples() {
        assert_eq!(yuan_model("12"), Some(Fen::new(1200)));
        assert_eq!(yuan_model("12.3"), Some(Fen::new(1230)));
        assert_eq!(yuan_model("0012.34"), Some(Fen::new(1234)));
        assert_eq!(
            yuan_model("184467440737095516.15"),
            Some(Fen::new(u64::MAX))
        );
        for bad in [
            "",
            ".",
            "1.",
            ".5",
            "1.005",
            "+1",
            "-1",
            " 1",
            "1e3",
            "184467440737095516.16",
        ] {
            assert_eq!(yuan_model(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_fuzz_bodies_accept_ordinary_inputs() {
        yuan(b"10.00");
        yuan(b"99999999999999999999999");
        yuan(&[0xff, 0xfe]);
        decode(b"<xml><return_code><![CDATA[SUCCESS]]></return_code></xml>");
        decode(b"");
    }
}
