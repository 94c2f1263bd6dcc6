//! Replays the committed fuzz corpora (`fuzz/corpus/xml_decode`, `fuzz/corpus/parse_yuan`)
//! through the fuzz targets' own functions, so CI covers them without a fuzzer.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_xml_decode_corpus_replays_without_a_broken_property() {
    let files = corpus("xml_decode");
    assert!(files.len() >= 10, "{} files", files.len());
    for (path, bytes) in files {
        let replay = std::panic::catch_unwind(|| wxpay_proto::fuzzing::decode(&bytes));
        assert!(replay.is_ok(), "{} broke a property", path.display());
    }
}

#[test]
fn the_parse_yuan_corpus_replays_without_a_broken_property() {
    let files = corpus("parse_yuan");
    assert!(files.len() >= 10, "{} files", files.len());
    for (path, bytes) in files {
        let replay = std::panic::catch_unwind(|| wxpay_proto::fuzzing::yuan(&bytes));
        assert!(replay.is_ok(), "{} broke a property", path.display());
    }
}
