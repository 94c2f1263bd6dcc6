//! Replays the committed fuzz corpus `fuzz/corpus/sign` through the fuzz target's own
//! function, so CI covers it without a fuzzer.

use std::path::PathBuf;

#[test]
fn the_sign_corpus_replays_without_a_broken_property() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/sign");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{} files", files.len());
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let replay = std::panic::catch_unwind(|| wxpay_sign::fuzzing::sign_and_verify(&bytes));
        assert!(replay.is_ok(), "{} broke a property", path.display());
    }
}
