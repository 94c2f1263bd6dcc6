//! The canonical parameter list (spec §2.1 steps 1–3) and the diagnostic strings built from it.

use crate::SignError;

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

    /// Feeds the string to sign into `update`: `k1=v1&…&kn=vn&key=` followed by `key`. With no
    /// fields at all it is just `key=` and the key.
    ///
    /// The parameters are gathered in a stack buffer and handed over in a few large chunks (a
    /// digest's per-call cost dwarfs a copy of a few bytes); the key is handed over last, on
    /// its own, so it never sits in that buffer.
    pub(crate) fn feed(&self, key: &[u8], update: impl FnMut(&[u8])) {
        let mut sink = FnSink(update);
        let mut out = Chunker::new();
        for &(name, value) in self.fields() {
            out.write(name.as_bytes(), &mut sink);
            out.byte(b'=', &mut sink);
            out.write(value.as_bytes(), &mut sink);
            out.byte(b'&', &mut sink);
        }
        out.write(KEY_PREFIX.as_bytes(), &mut sink);
        out.flush(&mut sink);
        // The key goes to the digest directly, never through the buffer: nothing to wipe.
        sink.update(key);
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

/// How much [`Chunker`] gathers before a field is written: a typical red-packet string to
/// sign (about 450 bytes) goes to the digest in one call.
const CHUNK: usize = 512;

/// Names and values up to this long take the fast path of [`Chunker::field`]. One less than
/// a power of two, so that one test covers both lengths: `(n | v) <= SHORT`.
const SHORT: usize = 63;

/// Size of the stack buffer of [`Chunker`]: [`CHUNK`] and room for one more field of
/// [`SHORT`] name and value past it.
const BUF: usize = CHUNK + 2 * SHORT + 2;

/// Gathers small writes into [`CHUNK`]-byte pieces for a digest.
///
/// The digest is passed to each call rather than owned, so that neither the buffer nor the
/// digest state is ever moved (a move of the whole buffer costs a `memcpy` of it).
struct Chunker {
    buf: [u8; BUF],
    len: usize,
}

/// A closure as a [`Sink`].
struct FnSink<F: FnMut(&[u8])>(F);

impl<F: FnMut(&[u8])> Sink for FnSink<F> {
    fn update(&mut self, bytes: &[u8]) {
        (self.0)(bytes);
    }
}

impl Chunker {
    fn new() -> Self {
        Self {
            buf: [0; BUF],
            len: 0,
        }
    }

    #[inline]
    fn byte(&mut self, byte: u8, sink: &mut impl Sink) {
        if self.len == BUF {
            self.flush(sink);
        }
        self.buf[self.len] = byte;
        self.len += 1;
    }

    /// Writes `name=value&`. A short name and value (the usual case) are written in one step
    /// after at most one flush: starting at or before [`CHUNK`], the field ends within the
    /// buffer, which the compiler can see from the bounds on the lengths, so the copies carry
    /// no length checks of their own.
    #[inline(always)]
    fn field(&mut self, name: &[u8], value: &[u8], sink: &mut impl Sink) {
        let (n, v) = (name.len(), value.len());
        if n | v <= SHORT {
            let at = if self.len > CHUNK {
                self.flush(sink);
                0
            } else {
                self.len
            };
            let buf = &mut self.buf;
            copy_short(&mut buf[at..at + n], name);
            buf[at + n] = b'=';
            let value_at = at + n + 1;
            copy_short(&mut buf[value_at..value_at + v], value);
            buf[value_at + v] = b'&';
            self.len = value_at + v + 1;
        } else {
            self.write(name, sink);
            self.byte(b'=', sink);
            self.write(value, sink);
            self.byte(b'&', sink);
        }
    }

    #[inline]
    fn write(&mut self, bytes: &[u8], sink: &mut impl Sink) {
        if bytes.len() > BUF - self.len {
            self.flush(sink);
            if bytes.len() >= BUF {
                sink.update(bytes);
                return;
            }
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Hands over what is buffered.
    fn flush(&mut self, sink: &mut impl Sink) {
        if self.len > 0 {
            sink.update(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

/// Copies `src` into `dst` (of the same length). Names and most values are a few to a few
/// dozen bytes: copying them with fixed-size, overlapping moves inline beats a call into the
/// general `memcpy` for each.
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    let dst = &mut dst[..n];
    if n >= 16 {
        if n < 32 {
            dst[..16].copy_from_slice(&src[..16]);
            dst[n - 16..].copy_from_slice(&src[n - 16..]);
        } else if n <= 64 {
            dst[..32].copy_from_slice(&src[..32]);
            dst[n - 32..].copy_from_slice(&src[n - 32..]);
        } else {
            dst.copy_from_slice(src);
        }
    } else if n >= 8 {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..].copy_from_slice(&src[n - 4..]);
    } else {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
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

/// A digest being fed.
pub(crate) trait Sink {
    fn update(&mut self, bytes: &[u8]);
}

impl<T: hmac::digest::Update> Sink for T {
    #[inline]
    fn update(&mut self, bytes: &[u8]) {
        hmac::digest::Update::update(self, bytes);
    }
}

/// Hashes the string to sign of `pairs` and `key` into `sink`, a fresh digest; `fresh` makes
/// another one should it have to start over.
///
/// One pass when the signed names arrive in strictly increasing byte order (wxpay-proto's
/// requests give them so): each pair is written into the digest's buffer as it comes, its
/// name checked against the previous one. At the first name out of order (or repeated), it
/// starts over with a fresh sink through the sorting path ([`Canonical`]), from a copy of the
/// iterator taken before the first pair.
///
/// The digest is fed in place, never moved: it is a few hundred bytes for HMAC-SHA256.
pub(crate) fn hash_pairs<'a, I, S>(
    pairs: I,
    key: &[u8],
    sink: &mut S,
    fresh: impl FnOnce() -> S,
) -> Result<(), SignError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
    I::IntoIter: Clone,
    S: Sink,
{
    let pairs = pairs.into_iter();
    let mut out = Chunker::new();
    // Every name follows "" but "" itself: a first name that is empty takes the sorting path,
    // which accepts it.
    let mut previous: &[u8] = b"";
    for (name, value) in pairs.clone() {
        if value.is_empty() || name == "sign" {
            continue;
        }
        if !precedes(previous, name.as_bytes()) {
            let canonical = Canonical::new(pairs)?;
            *sink = fresh();
            canonical.feed(key, |piece| sink.update(piece));
            return Ok(());
        }
        previous = name.as_bytes();
        out.field(name.as_bytes(), value.as_bytes(), sink);
    }
    out.write(KEY_PREFIX.as_bytes(), sink);
    out.flush(sink);
    // The key goes to the digest directly, never through the buffer: nothing to wipe.
    sink.update(key);
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
    use super::{BUF, CHUNK, Canonical, Chunker, FnSink, copy_short};

    #[test]
    fn the_chunker_hands_over_exactly_the_bytes_written_in_few_calls() {
        // Around and across the buffer size: small pieces, one that fills it exactly, and ones
        // longer than the buffer.
        for sizes in [
            vec![1, 2, 3],
            vec![CHUNK],
            vec![CHUNK - 1, 1, 1],
            vec![BUF],
            vec![BUF - 1, 1, 1],
            vec![CHUNK + 1, BUF - CHUNK, 1],
            vec![10, CHUNK + 7, 3],
            vec![300, 300, 300],
            vec![3 * CHUNK],
        ] {
            let pieces: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(i, &n)| (0..n).map(|j| (i * 31 + j) as u8).collect())
                .collect();
            let mut seen = Vec::new();
            let mut calls = 0;
            {
                let mut sink = FnSink(|bytes: &[u8]| {
                    calls += 1;
                    seen.extend_from_slice(bytes);
                });
                let mut chunker = Chunker::new();
                for piece in &pieces {
                    chunker.write(piece, &mut sink);
                }
                chunker.flush(&mut sink);
            }
            assert_eq!(seen, pieces.concat(), "sizes {sizes:?}");
            assert!(calls <= pieces.len() + 1, "{calls} calls for {sizes:?}");
        }
    }

    #[test]
    fn short_copies_are_exact_at_every_length_around_each_move_size() {
        let src: Vec<u8> = (1..=200).collect();
        for n in 0..=src.len() {
            let mut dst = [0_u8; 256];
            copy_short(&mut dst[..n], &src[..n]);
            assert_eq!(&dst[..n], &src[..n], "length {n}");
            assert!(
                dst[n..].iter().all(|&b| b == 0),
                "length {n} wrote past the end"
            );
        }
    }

    /// What [`hash_pairs`] feeds, as bytes.
    #[derive(Default)]
    struct Collect(Vec<u8>);

    impl Sink for Collect {
        fn update(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
    }

    fn hashed<'a>(pairs: &[(&'a str, &'a str)]) -> Result<String, SignError> {
        let mut sink = Collect::default();
        hash_pairs(pairs.iter().copied(), b"K", &mut sink, Collect::default)?;
        Ok(String::from_utf8(sink.0).unwrap())
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
            let expected = Canonical::new(pairs.iter().copied()).map(|c| fed(&c, "K"));
            assert_eq!(hashed(pairs), expected, "{pairs:?}");
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
                    let expected = Canonical::new(pairs).map(|c| fed(&c, "K"));
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
        let mut seen = Vec::new();
        canonical.feed(b"KEY", |bytes| seen.extend_from_slice(bytes));
        assert_eq!(seen, format!("a=1&b={long}&c=x&key=KEY").into_bytes());
    }

    #[test]
    fn names_already_in_byte_order_are_accepted_and_duplicates_still_caught() {
        let sorted = [("a", "1"), ("b", "2"), ("c", "3")];
        assert_eq!(Canonical::new(sorted).unwrap().fields(), &sorted);
        assert!(Canonical::new([("a", "1"), ("a", "2")]).is_err());
        assert!(Canonical::new([("b", "1"), ("a", "2"), ("b", "3")]).is_err());
    }

    use super::*;

    fn fed(canonical: &Canonical<'_>, key: &str) -> String {
        let mut bytes = Vec::new();
        canonical.feed(key.as_bytes(), |piece| bytes.extend_from_slice(piece));
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn fed_pieces_are_string_a_then_the_key() {
        let c = Canonical::new([("b", "2"), ("a", "1"), ("sign", "X"), ("c", "")]).unwrap();
        assert_eq!(c.string_a(), "a=1&b=2");
        assert_eq!(fed(&c, "K"), "a=1&b=2&key=K");
        assert_eq!(c.redacted(), "a=1&b=2&key=***");
    }

    #[test]
    fn no_signed_fields_leaves_only_the_key() {
        let c = Canonical::new([("sign", "X"), ("attach", "")]).unwrap();
        assert_eq!(c.string_a(), "");
        assert_eq!(fed(&c, "K"), "key=K");
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
