//! The mock's request handler: body in, answer out, ledger invariants after each request.
#![no_main]

use std::sync::OnceLock;

use wxpay_mock::fuzzing::FuzzHarness;

static HARNESS: OnceLock<FuzzHarness> = OnceLock::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    HARNESS.get_or_init(FuzzHarness::new).run(data);
});
