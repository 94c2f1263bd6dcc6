//! The canonical parameter list (spec §2.1 steps 1–3) and the diagnostic strings built from it.

use crate::SignError;
use crate::hash::{Compress, Stream};

/// How many signed fields are sorted on the stack; more spill into a `Vec`. Every red-packet
/// request has fewer than 20.
pub(crate) const INLINE_FIELDS: usize = 32;

/// What the string to sign ends with, with the key itself left out.
const KEY_PREFIX: &str = "key=";
/// How diagnostics show the key.
const REDACTED_KEY: &str = "***";

/// The signed parameters: without `sign`, without empty values, sorted by the bytes of their
/// names, names unique.
pub(crate) struct Canonical<'a> {
    inline: [(&'a str, &'a str); INLINE_FIELDS],
    len: usize,
    /// Used instead of `inline` once there are more than [`INLINE_FIELDS`] fields.
    spill: Vec<(&'a str, &'a str)>,
}

impl<'a> Canonical<'a> {
    /// Filters, sorts and checks `pairs`. Allocates only above [`INLINE_FIELDS`] signed fields
    /// (and for the error).
    pub(crate) fn new(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, SignError> {
        let mut this = Self {
            inline: [("", ""); INLINE_FIELDS],
            len: 0,
            spill: Vec::new(),
        };
        for (key, value) in pairs {
            if key == "sign" || value.is_empty() {
                continue;
            }
            if !this.spill.is_empty() {
                this.spill.push((key, value));
            } else if this.len < INLINE_FIELDS {
                this.inline[this.len] = (key, value);
                this.len += 1;
            } else {
                this.spill.reserve(INLINE_FIELDS * 2);
                this.spill.extend_from_slice(&this.inline);
                this.spill.push((key, value));
            }
        }
        let fields = if this.spill.is_empty() {
            &mut this.inline[..this.len]
        } else {
            this.spill.as_mut_slice()
        };
        // `str`'s order is the order of its bytes: case-sensitive, `Z` < `_` < `a`.
        // Callers that already pass names in that order (wxpay-proto's requests do) skip the
        // sort: strictly increasing names are sorted and unique in one pass.
        if !fields.windows(2).all(|pair| pair[0].0 < pair[1].0) {
            // Unstable sort never allocates, and with unique names its result is unique too.
            fields.sort_unstable_by_key(|&(key, _)| key);
            if let Some(pair) = fields.windows(2).find(|pair| pair[0].0 == pair[1].0) {
                return Err(SignError::DuplicateKey {
                    key: pair[0].0.to_owned(),
                });
            }
        }
        Ok(this)
    }

    /// The fields in signing order.
    pub(crate) fn fields(&self) -> &[(&'a str, &'a str)] {
        if self.spill.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spill
        }
    }

    /// Writes the string to sign into `stream`: `k1=v1&…&kn=vn&key=` followed by `key`. With
    /// no fields at all it is just `key=` and the key.
    pub(crate) fn feed<H: Compress>(&self, key: &[u8], stream: &mut Stream<H>) {
        for &(name, value) in self.fields() {
            stream.field(name.as_bytes(), value.as_bytes());
        }
        stream.write(KEY_PREFIX.as_bytes());
        stream.write_secret(key);
    }

    /// `k1=v1&…&kn=vn`, with no key (the spec's "stringA").
    pub(crate) fn string_a(&self) -> String {
        let len = self
            .fields()
            .iter()
            .map(|(name, value)| name.len() + value.len() + 2)
            .sum();
        let mut out = String::with_capacity(len);
        for &(name, value) in self.fields() {
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(name);
            out.push('=');
            out.push_str(value);
        }
        out
    }

    /// The string to sign with the key shown as `***`.
    pub(crate) fn redacted(&self) -> String {
        let mut out = self.string_a();
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(KEY_PREFIX);
        out.push_str(REDACTED_KEY);
        out
    }
}

/// Whether `a` sorts strictly before `b` by bytes. Signed names are short and mostly differ
/// in their first byte: that is tested first, then an inline loop beats a call into `memcmp`.
#[inline]
fn precedes(a: &[u8], b: &[u8]) -> bool {
    if let (Some(x), Some(y)) = (a.first(), b.first())
        && x != y
    {
        return x < y;
    }
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

/// Writes the string to sign of `pairs` and `key` into `stream`, a fresh one; `fresh`
/// makes another should it have to start over.
///
/// One pass when the signed names arrive in strictly increasing byte order (wxpay-proto's
/// requests give them so): each pair is written into the hash's buffer as it comes, its
/// name checked against the previous one. At the first name out of order (or repeated), it
/// starts over with a fresh stream through the sorting path ([`Canonical`]), from a copy of
/// the iterator taken before the first pair.
pub(crate) fn hash_pairs<'a, I, H>(
    pairs: I,
    key: &[u8],
    stream: &mut Stream<H>,
    fresh: impl FnOnce() -> Stream<H>,
) -> Result<(), SignError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
    I::IntoIter: Clone,
    H: Compress,
{
    let pairs = pairs.into_iter();
    // Every name follows "" but "" itself: a first name that is empty takes the sorting path,
    // which accepts it.
    let mut previous: &[u8] = b"";
    for (name, value) in pairs.clone() {
        if value.is_empty() || name == "sign" {
            continue;
        }
        if !precedes(previous, name.as_bytes()) {
            let canonical = Canonical::new(pairs)?;
            *stream = fresh();
            canonical.feed(key, stream);
            return Ok(());
        }
        previous = name.as_bytes();
        stream.field(name.as_bytes(), value.as_bytes());
    }
    stream.write(KEY_PREFIX.as_bytes());
    stream.write_secret(key);
    Ok(())
}

/// The spec's "stringA": the signed parameters sorted and joined as `k1=v1&k2=v2`, raw values,
/// without `sign`, empty values or the key.
///
/// For tests and diagnostics; [`sign`](crate::sign) does not build it.
///
/// ```
/// let a = wxpay_sign::string_a([("mch_id", "10000100"), ("attach", ""), ("appid", "wx1")])?;
/// assert_eq!(a, "appid=wx1&mch_id=10000100");
/// # Ok::<(), wxpay_sign::SignError>(())
/// ```
///
/// # Errors
///
/// [`SignError::DuplicateKey`] if a signed parameter name occurs twice.
pub fn string_a<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<String, SignError> {
    Ok(Canonical::new(pairs)?.string_a())
}

/// The string to sign exactly as it is hashed, except that the key reads `***`:
/// `k1=v1&…&kn=vn&key=***`. The one form of it that may be shown or logged.
///
/// With no signed parameters at all it is `key=***`.
///
/// ```
/// let s = wxpay_sign::canonical_string_redacted([("body", "test"), ("appid", "wx1")])?;
/// assert_eq!(s, "appid=wx1&body=test&key=***");
/// # Ok::<(), wxpay_sign::SignError>(())
/// ```
///
/// # Errors
///
/// [`SignError::DuplicateKey`] if a signed parameter name occurs twice.
pub fn canonical_string_redacted<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<String, SignError> {
    Ok(Canonical::new(pairs)?.redacted())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{BUF, CHUNK, Md5, SHORT};

    /// The MD5 of `text`, computed whole by the `md-5` crate.
    fn md5_of(text: &str) -> [u8; 16] {
        <md5::Md5 as md5::Digest>::digest(text.as_bytes()).into()
    }

    /// The MD5 of what [`hash_pairs`] writes for `pairs` and the key `K`.
    fn hashed<'a>(pairs: &[(&'a str, &'a str)]) -> Result<[u8; 16], SignError> {
        let mut stream = Stream::md5();
        hash_pairs(pairs.iter().copied(), b"K", &mut stream, Stream::md5)?;
        Ok(Md5::output(&stream.finish()))
    }

    /// The MD5 of the string to sign of `canonical` with the key `K`, built as a string.
    fn model(canonical: &Canonical<'_>) -> [u8; 16] {
        let a = canonical.string_a();
        if a.is_empty() {
            md5_of("key=K")
        } else {
            md5_of(&format!("{a}&key=K"))
        }
    }

    /// The MD5 of what [`Canonical::feed`] writes.
    fn fed(canonical: &Canonical<'_>, key: &str) -> [u8; 16] {
        let mut stream = Stream::md5();
        canonical.feed(key.as_bytes(), &mut stream);
        Md5::output(&stream.finish())
    }

    #[test]
    fn the_one_pass_order_check_agrees_with_sorting_on_shared_prefixes_and_empty_names() {
        let cases: &[&[(&str, &str)]] = &[
            &[("mch_billno", "1"), ("mch_id", "2")],
            &[("mch_id", "2"), ("mch_billno", "1")],
            &[("ab", "1"), ("abc", "2")],
            &[("abc", "2"), ("ab", "1")],
            &[("", "1"), ("a", "2")],
            &[("a", "2"), ("", "1")],
            &[("", "1")],
            &[("a", "1"), ("b", "2"), ("a", "3")],
            &[("ab", "1"), ("ab", "2")],
            &[("", "1"), ("", "2")],
        ];
        for pairs in cases {
            let canonical = Canonical::new(pairs.iter().copied());
            if let Ok(c) = &canonical {
                assert_eq!(fed(c, "K"), model(c), "{pairs:?}");
            }
            assert_eq!(hashed(pairs), canonical.map(|c| model(&c)), "{pairs:?}");
        }
    }

    #[test]
    fn fields_around_the_short_limit_and_the_chunk_end_are_fed_exactly() {
        // A first field moves the write position to just before, at and past CHUNK; the
        // fields after it have names and values on both sides of SHORT.
        let text = "x".repeat(2 * BUF);
        let lengths = [
            0,
            1,
            15,
            16,
            SHORT - 1,
            SHORT,
            SHORT + 1,
            SHORT + 2,
            2 * SHORT,
        ];
        for position in (CHUNK - 2 * SHORT - 4..=CHUNK + 4).chain([BUF - 3, BUF, BUF + 1]) {
            // "a=" + value + "&" puts the next field at `position`.
            let first = &text[..position - 3];
            for &n in &lengths[1..] {
                for &v in &lengths {
                    let name = format!("b{}", &text[..n - 1]);
                    let pairs = [
                        ("a", first),
                        (name.as_str(), &text[..v]),
                        ("c", "1"),
                        ("d", &text[..v]),
                    ];
                    let expected = Canonical::new(pairs).map(|c| model(&c));
                    assert_eq!(
                        hashed(&pairs),
                        expected,
                        "at {position}, name {n}, value {v}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_long_string_to_sign_is_fed_whole_and_in_order() {
        let long = "长".repeat(400);
        let pairs = [("b", long.as_str()), ("a", "1"), ("c", "x")];
        let canonical = Canonical::new(pairs).unwrap();
        assert_eq!(
            fed(&canonical, "KEY"),
            md5_of(&format!("a=1&b={long}&c=x&key=KEY"))
        );
        assert_eq!(
            hashed(&pairs),
            Ok(md5_of(&format!("a=1&b={long}&c=x&key=K")))
        );
    }

    #[test]
    fn names_already_in_byte_order_are_accepted_and_duplicates_still_caught() {
        let sorted = [("a", "1"), ("b", "2"), ("c", "3")];
        assert_eq!(Canonical::new(sorted).unwrap().fields(), &sorted);
        assert!(Canonical::new([("a", "1"), ("a", "2")]).is_err());
        assert!(Canonical::new([("b", "1"), ("a", "2"), ("b", "3")]).is_err());
    }

    #[test]
    fn fed_pieces_are_string_a_then_the_key() {
        let c = Canonical::new([("b", "2"), ("a", "1"), ("sign", "X"), ("c", "")]).unwrap();
        assert_eq!(c.string_a(), "a=1&b=2");
        assert_eq!(fed(&c, "K"), md5_of("a=1&b=2&key=K"));
        assert_eq!(c.redacted(), "a=1&b=2&key=***");
    }

    #[test]
    fn no_signed_fields_leaves_only_the_key() {
        let c = Canonical::new([("sign", "X"), ("attach", "")]).unwrap();
        assert_eq!(c.string_a(), "");
        assert_eq!(fed(&c, "K"), md5_of("key=K"));
        assert_eq!(c.redacted(), "key=***");
    }

    #[test]
    fn names_sort_by_bytes() {
        let c =
            Canonical::new([("a", "1"), ("_", "2"), ("Z", "3"), ("é", "4"), ("0", "5")]).unwrap();
        assert_eq!(c.string_a(), "0=5&Z=3&_=2&a=1&é=4");
    }

    #[test]
    fn duplicate_names_are_refused_even_with_equal_values() {
        let err = Canonical::new([("a", "1"), ("b", "2"), ("a", "1")]).err();
        assert_eq!(
            err,
            Some(SignError::DuplicateKey {
                key: "a".to_owned()
            })
        );
    }

    #[test]
    fn a_repeated_name_with_an_empty_value_or_named_sign_is_not_a_duplicate() {
        let c = Canonical::new([("a", "1"), ("a", ""), ("sign", "X"), ("sign", "Y")]).unwrap();
        assert_eq!(c.string_a(), "a=1");
    }

    #[test]
    fn more_fields_than_fit_inline_spill_and_still_sort() {
        let names: Vec<String> = (0..INLINE_FIELDS + 5)
            .rev()
            .map(|i| format!("k{i:03}"))
            .collect();
        let c = Canonical::new(names.iter().map(|n| (n.as_str(), "v"))).unwrap();
        assert_eq!(c.fields().len(), INLINE_FIELDS + 5);
        assert!(c.fields().windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(c.fields()[0].0, "k000");
    }

    #[test]
    fn duplicates_are_found_after_spilling() {
        let mut names: Vec<String> = (0..INLINE_FIELDS + 1).map(|i| format!("k{i:03}")).collect();
        names.push("k007".to_owned());
        let err = Canonical::new(names.iter().map(|n| (n.as_str(), "v"))).err();
        assert_eq!(
            err,
            Some(SignError::DuplicateKey {
                key: "k007".to_owned()
            })
        );
    }
}
