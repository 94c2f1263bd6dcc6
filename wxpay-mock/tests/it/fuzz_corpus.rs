//! Replays the committed corpus of the request-handler fuzz target (`fuzz/corpus/mock_handler`)
//! through the target's own function, so CI covers it without a fuzzer.

use std::path::PathBuf;

use wxpay_mock::fuzzing::FuzzHarness;

#[test]
fn the_mock_handler_corpus_replays_without_a_broken_property() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/mock_handler");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{} files", files.len());
    let harness = FuzzHarness::new();

    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let replay = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| harness.run(&bytes)));
        assert!(replay.is_ok(), "{} broke a property", path.display());
    }
}

#[test]
fn a_resigned_valid_request_reaches_the_ledger() {
    // The corpus's `send_ok` is re-signed by the harness and commits a packet: the target gets
    // past the signature check into the business rules.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/mock_handler");
    let harness = FuzzHarness::new();

    harness.run(&std::fs::read(dir.join("send_ok")).unwrap());

    assert_eq!(harness.packet_count(), 1);
}
