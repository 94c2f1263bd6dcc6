//! The yuan parser `Fen::parse_yuan`, against a model of its grammar.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wxpay_proto::fuzzing::yuan(data);
});
