//! Walks `tests/data/<case>/` and checks every stage of every case.

use std::fs;
use std::path::{Path, PathBuf};

use wxpay_sign::{ApiKey, SignType, Signer, canonical_string_redacted, sign, string_a, verify};

/// Reads a vector file, stripping exactly the one trailing newline it is written with.
fn read(dir: &Path, name: &str) -> Option<String> {
    let path = dir.join(name);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("{}: {e}", path.display()),
    };
    let text = text
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{} must end with one newline", path.display()));
    assert!(
        !text.ends_with('\n') && !text.ends_with('\r'),
        "{} has more than one line ending at its end",
        path.display()
    );
    Some(text.to_owned())
}

fn required(dir: &Path, name: &str) -> String {
    read(dir, name).unwrap_or_else(|| panic!("{} is missing", dir.join(name).display()))
}

/// `name=value` lines, split at the first `=`.
fn parse_params(text: &str) -> Vec<(String, String)> {
    text.split('\n')
        .map(|line| {
            let (name, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("params line without '=': {line:?}"));
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

fn case_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn check_case(dir: &Path) {
    let case = dir.file_name().unwrap().to_string_lossy();
    let params = parse_params(&required(dir, "params.txt"));
    let pairs = || params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let key = ApiKey::new(required(dir, "key.txt")).unwrap();
    let signer = Signer::new(key.clone());

    assert_eq!(
        string_a(pairs()).unwrap(),
        required(dir, "string-a.txt"),
        "{case}: string A"
    );
    assert_eq!(
        canonical_string_redacted(pairs()).unwrap(),
        required(dir, "string-to-sign-redacted.txt"),
        "{case}: redacted string to sign"
    );

    let expected = [
        (SignType::Md5, read(dir, "sign-md5.txt")),
        (SignType::HmacSha256, read(dir, "sign-hmac-sha256.txt")),
    ];
    assert!(expected[0].1.is_some(), "{case}: sign-md5.txt is required");
    for (sign_type, expected) in expected {
        let Some(expected) = expected else { continue };
        let signature = sign(sign_type, &key, pairs()).unwrap();
        assert_eq!(signature.as_str(), expected, "{case}: {sign_type}");
        assert_eq!(
            signer.sign(sign_type, pairs()).unwrap(),
            signature,
            "{case}: {sign_type} signer"
        );
        verify(sign_type, &key, pairs(), &expected).unwrap();
        verify(sign_type, &key, pairs(), &expected.to_ascii_lowercase()).unwrap();
        signer.verify(sign_type, pairs(), &expected).unwrap();
    }
}

#[test]
fn every_vector_case_passes_every_stage() {
    let dirs = case_dirs();
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for required_case in [
        "official",
        "sendredpack-example",
        "sendredpack-with-sign-type",
        "gethbinfo-example",
        "bench-fixture",
        "empty-value",
        "sign-present",
        "non-ascii",
        "key-byte-order",
        "value-with-ampersand-and-equals",
    ] {
        assert!(
            names.iter().any(|n| n == required_case),
            "missing case {required_case}"
        );
    }
    for dir in &dirs {
        check_case(dir);
    }
}

#[test]
fn params_lines_split_at_the_first_equals_sign() {
    assert_eq!(
        parse_params("a=b=c\nempty=\nsp= x "),
        [
            ("a".to_owned(), "b=c".to_owned()),
            ("empty".to_owned(), String::new()),
            ("sp".to_owned(), " x ".to_owned()),
        ]
    );
}
