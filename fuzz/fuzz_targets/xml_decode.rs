//! The XML decoder: `RawMessage::parse` and every message's `from_xml`, with re-encoding.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wxpay_proto::fuzzing::decode(data);
});
