//! MD5 and HMAC-SHA256 over a string to sign that is written straight into the hash's own
//! block buffer.
//!
//! A general-purpose digest keeps a 64-byte buffer of its own and copies whatever it is
//! given into it; a caller that gathers small pieces first copies every byte twice and pays
//! the digest's per-call bookkeeping on top. Here the string to sign is built in a
//! [`Stream`]'s blocks and the compression function (from the `md-5` and `sha2` crates) runs
//! on them in place, in one call for a usual request. The padding of RFC 1321 §3.1–3.2 and
//! FIPS 180-4 §5.1.1 is written by [`Stream::finish`], and HMAC (RFC 2104) is the two
//! precomputed key blocks of [`HmacKey`] plus one block for the outer hash.
//!
//! Nothing secret outlives its use: the key's bytes in the buffer, the working state and the
//! keyed HMAC states are wiped when they are dropped.

use zeroize::Zeroize;

/// The block size of MD5 and SHA-256.
const BLOCK: usize = 64;

/// Blocks in a [`Stream`]'s buffer.
const BLOCKS: usize = 10;

/// Bytes in a [`Stream`]'s buffer.
pub(crate) const BUF: usize = BLOCK * BLOCKS;

/// Names and values up to this long take the fast path of [`Stream::field`]. One less than
/// a power of two, so that one test covers both lengths: `(n | v) <= SHORT`.
pub(crate) const SHORT: usize = 63;

/// A short field starting at or before this position still ends within the buffer: the
/// field is at most `SHORT` bytes of name, `=`, `SHORT` bytes of value and `&`.
pub(crate) const CHUNK: usize = BUF - (2 * SHORT + 2);

/// A compression function on 64-byte blocks with Merkle–Damgård length padding.
pub(crate) trait Compress {
    /// The chaining value.
    type State: Copy + Zeroize;

    /// Runs the compression function over `blocks`.
    fn compress(state: &mut Self::State, blocks: &[[u8; BLOCK]]);

    /// The padding's message length field, in bits, in this hash's byte order.
    fn length_field(bits: u64) -> [u8; 8];
}

/// MD5 (RFC 1321).
pub(crate) enum Md5 {}

/// The initial chaining value of MD5 (RFC 1321 §3.3).
pub(crate) const MD5_INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

impl Compress for Md5 {
    type State = [u32; 4];

    fn compress(state: &mut [u32; 4], blocks: &[[u8; BLOCK]]) {
        md5::block_api::compress(state, blocks);
    }

    fn length_field(bits: u64) -> [u8; 8] {
        bits.to_le_bytes()
    }
}

impl Md5 {
    /// The digest: the chaining value's words, little-endian.
    pub(crate) fn output(state: &[u32; 4]) -> [u8; 16] {
        let mut out = [0_u8; 16];
        for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
        out
    }
}

/// SHA-256 (FIPS 180-4).
pub(crate) enum Sha256 {}

/// The initial chaining value of SHA-256 (FIPS 180-4 §5.3.3).
const SHA256_INIT: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

impl Compress for Sha256 {
    type State = [u32; 8];

    fn compress(state: &mut [u32; 8], blocks: &[[u8; BLOCK]]) {
        sha2::block_api::compress256(state, blocks);
    }

    fn length_field(bits: u64) -> [u8; 8] {
        bits.to_be_bytes()
    }
}

impl Sha256 {
    /// The digest: the chaining value's words, big-endian.
    pub(crate) fn output(state: &[u32; 8]) -> [u8; 32] {
        let mut out = [0_u8; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

/// The two chaining values of HMAC-SHA256 for one key: SHA-256 after the block of
/// `key ⊕ ipad`, and after the block of `key ⊕ opad` (RFC 2104 §2). Either one lets anyone
/// compute MACs under the key: they are as secret as the key, and wiped on drop.
#[derive(Clone)]
pub(crate) struct HmacKey {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl HmacKey {
    /// Derives both states from `key`. A key longer than a block is hashed first, as the RFC
    /// says; a shorter one is padded with zeros.
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut block = [0_u8; BLOCK];
        if key.len() > BLOCK {
            let mut digest = sha2::Sha256::default();
            sha2::Digest::update(&mut digest, key);
            // The key's hash stands for the key: wiped like it.
            let mut hashed = sha2::Digest::finalize(digest);
            block[..32].copy_from_slice(&hashed);
            hashed.zeroize();
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let inner = Self::keyed(&block, 0x36);
        let outer = Self::keyed(&block, 0x5c);
        block.zeroize();
        Self { inner, outer }
    }

    fn keyed(block: &[u8; BLOCK], pad: u8) -> [u32; 8] {
        let mut padded = block.map(|byte| byte ^ pad);
        let mut state = SHA256_INIT;
        Sha256::compress(&mut state, &[padded]);
        padded.zeroize();
        state
    }

    /// A stream for the message, starting after the inner key block.
    pub(crate) fn stream(&self) -> Stream<Sha256> {
        Stream::new(self.inner, BLOCK as u64)
    }

    /// The MAC from what `stream` (made by [`HmacKey::stream`]) was given: the outer hash of
    /// the inner digest.
    pub(crate) fn finish(&self, stream: &mut Stream<Sha256>) -> [u8; 32] {
        let inner = Sha256::output(&stream.finish());
        let mut block = [0_u8; BLOCK];
        block[..32].copy_from_slice(&inner);
        block[32] = 0x80;
        // The outer message is the opad block and the 32-byte inner digest.
        block[56..].copy_from_slice(&Sha256::length_field(((BLOCK + 32) * 8) as u64));
        let mut state = self.outer;
        Sha256::compress(&mut state, &[block]);
        let mac = Sha256::output(&state);
        state.zeroize();
        mac
    }
}

impl Drop for HmacKey {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// A message being hashed, written into the hash's block buffer.
///
/// `buf[..len]` holds the bytes not yet compressed, always from the start of the buffer.
/// Whole blocks are compressed when a write might not fit (a field starting past [`CHUNK`],
/// a piece longer than the room left) and at the end, so a usual string to sign (the
/// fixture's is 434 bytes) is compressed in one call. The stream is never moved while in use
/// (a move copies the whole buffer).
pub(crate) struct Stream<H: Compress> {
    state: H::State,
    buf: [[u8; BLOCK]; BLOCKS],
    len: usize,
    /// Bytes compressed so far, including what the first state stands for (an HMAC key
    /// block).
    hashed: u64,
    /// The buffer positions that may hold a secret's bytes, `secret_from..secret_to`
    /// (clamped to the buffer); empty while no secret was written.
    secret_from: usize,
    secret_to: usize,
}

impl Stream<Md5> {
    /// A plain MD5 stream.
    pub(crate) fn md5() -> Self {
        Self::new(MD5_INIT, 0)
    }
}

impl<H: Compress> Stream<H> {
    /// A stream whose first state `start` stands for `prefix` bytes already hashed.
    fn new(start: H::State, prefix: u64) -> Self {
        Self {
            state: start,
            buf: [[0; BLOCK]; BLOCKS],
            len: 0,
            hashed: prefix,
            secret_from: 0,
            secret_to: 0,
        }
    }

    /// Appends one byte.
    #[inline]
    pub(crate) fn byte(&mut self, byte: u8) {
        if self.len == BUF {
            self.flush();
        }
        self.buf.as_flattened_mut()[self.len] = byte;
        self.len += 1;
    }

    /// Appends `name=value&`. A short name and value (the usual case) are written in one step
    /// after at most one flush: starting at or before [`CHUNK`], the field ends within the
    /// buffer, which the compiler can see from the bounds on the lengths, so the copies carry
    /// no length checks of their own.
    #[inline(always)]
    pub(crate) fn field(&mut self, name: &[u8], value: &[u8]) {
        let (n, v) = (name.len(), value.len());
        if n | v <= SHORT {
            if self.len > CHUNK {
                self.flush();
            }
            let at = self.len.min(CHUNK);
            let buf = self.buf.as_flattened_mut();
            copy_short(&mut buf[at..at + n], name);
            buf[at + n] = b'=';
            let value_at = at + n + 1;
            copy_short(&mut buf[value_at..value_at + v], value);
            buf[value_at + v] = b'&';
            self.len = value_at + v + 1;
        } else {
            self.write_any(name);
            self.byte(b'=');
            self.write_any(value);
            self.byte(b'&');
        }
    }

    /// Appends `bytes`. Whole blocks of a piece too long for the buffer are compressed
    /// straight from it, without a copy.
    #[inline]
    pub(crate) fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n <= SHORT && self.len <= CHUNK {
            // A short piece (`key=`, a usual key): copied inline, and it fits.
            let at = self.len.min(CHUNK);
            copy_short(&mut self.buf.as_flattened_mut()[at..at + n], bytes);
            self.len = at + n;
        } else {
            self.write_any(bytes);
        }
    }

    /// [`Stream::write`] for a piece of any length.
    fn write_any(&mut self, bytes: &[u8]) {
        if bytes.len() <= BUF - self.len {
            self.buf.as_flattened_mut()[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            // Top the buffer up to a block boundary and compress it all...
            let top = (BLOCK - self.len % BLOCK) % BLOCK;
            let (head, rest) = bytes.split_at(top);
            self.buf.as_flattened_mut()[self.len..self.len + top].copy_from_slice(head);
            self.len += top;
            self.flush();
            // ...then the piece's own whole blocks, then keep its tail.
            let (blocks, tail) = rest.as_chunks::<BLOCK>();
            H::compress(&mut self.state, blocks);
            self.hashed = self.hashed.wrapping_add((blocks.len() * BLOCK) as u64);
            self.buf.as_flattened_mut()[..tail.len()].copy_from_slice(tail);
            self.len = tail.len();
        }
    }

    /// Appends `secret` (the API key). Where its bytes land in the buffer is remembered, and
    /// they are wiped when the stream is dropped.
    pub(crate) fn write_secret(&mut self, secret: &[u8]) {
        // Marked before writing: should the write flush, `flush` sees a secret in the buffer.
        let end = self.len + secret.len();
        if self.secret_from < self.secret_to {
            self.secret_from = self.secret_from.min(self.len);
            self.secret_to = self.secret_to.max(end);
        } else {
            (self.secret_from, self.secret_to) = (self.len, end);
        }
        self.write(secret);
    }

    /// Compresses the whole blocks buffered and moves the rest (less than a block) to the
    /// start.
    fn flush(&mut self) {
        let whole = self.len / BLOCK;
        H::compress(&mut self.state, &self.buf[..whole]);
        self.hashed = self.hashed.wrapping_add((whole * BLOCK) as u64);
        let done = whole * BLOCK;
        self.buf.as_flattened_mut().copy_within(done..self.len, 0);
        self.len -= done;
        if self.secret_from < self.secret_to {
            // A secret's bytes may have been among those moved, or left behind.
            (self.secret_from, self.secret_to) = (0, BUF);
        }
    }

    /// Pads the message and compresses what is left: the final chaining value.
    pub(crate) fn finish(&mut self) -> H::State {
        let bits = self.hashed.wrapping_add(self.len as u64).wrapping_mul(8);
        if self.len + 9 > BUF {
            self.flush();
        }
        let len = self.len;
        let end = (len + 9).next_multiple_of(BLOCK);
        let buf = self.buf.as_flattened_mut();
        buf[len] = 0x80;
        buf[len + 1..end - 8].fill(0);
        buf[end - 8..end].copy_from_slice(&H::length_field(bits));
        H::compress(&mut self.state, &self.buf[..end / BLOCK]);
        self.len = 0;
        self.state
    }
}

impl<H: Compress> Stream<H> {
    /// Wipes every buffer position a secret's byte may have reached, and the states.
    fn wipe(&mut self) {
        let (from, to) = (self.secret_from.min(BUF), self.secret_to.min(BUF));
        if from < to {
            self.buf.as_flattened_mut()[from..to].zeroize();
        }
        self.state.zeroize();
    }
}

impl<H: Compress> Drop for Stream<H> {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// Copies `src` into `dst` (of the same length). Names and most values are a few to a few
/// dozen bytes: copying them with fixed-size, overlapping moves inline beats a call into the
/// general `memcpy` for each.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [u8], src: &[u8]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Pieces of `sizes` bytes, each with its own byte pattern.
    fn pieces(sizes: &[usize]) -> Vec<Vec<u8>> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|j| (i * 31 + j) as u8).collect())
            .collect()
    }

    /// Piece sizes around and across the block and buffer sizes: small pieces, pieces that
    /// fill the buffer exactly or leave 8 or 9 bytes of it (the padding's turning point), and
    /// pieces longer than the buffer.
    fn size_cases() -> Vec<Vec<usize>> {
        let mut cases = vec![
            vec![],
            vec![0],
            vec![1, 2, 3],
            vec![55],
            vec![56],
            vec![63],
            vec![64],
            vec![CHUNK],
            vec![CHUNK - 1, 1, 1],
            // Short pieces (inline copy) from just before, at and past CHUNK.
            vec![CHUNK - 1, SHORT, SHORT],
            vec![CHUNK, SHORT, SHORT + 1],
            vec![CHUNK + 1, SHORT, 1],
            vec![BUF],
            vec![BUF - 1, 1, 1],
            vec![BUF - 8],
            vec![BUF - 9],
            vec![BUF - 10, 1],
            vec![CHUNK + 1, BUF - CHUNK, 1],
            vec![10, CHUNK + 7, 3],
            vec![300, 300, 300],
            vec![3 * BUF + 5],
            vec![7, 3 * BUF + 5, 60],
        ];
        cases.extend((0..=130).map(|n| vec![n]));
        cases
    }

    #[test]
    fn md5_and_sha256_streams_agree_with_the_digest_crates_whatever_the_pieces() {
        for sizes in size_cases() {
            let pieces = pieces(&sizes);
            let whole = pieces.concat();

            let mut stream = Stream::md5();
            let mut plain = Stream::<Sha256>::new(SHA256_INIT, 0);
            for piece in &pieces {
                stream.write(piece);
                plain.write(piece);
            }
            let expected: [u8; 16] = <md5::Md5 as md5::Digest>::digest(&whole).into();
            assert_eq!(Md5::output(&stream.finish()), expected, "MD5 {sizes:?}");
            let expected: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(&whole).into();
            assert_eq!(
                Sha256::output(&plain.finish()),
                expected,
                "SHA-256 {sizes:?}"
            );
        }
    }

    #[test]
    fn the_secret_is_tracked_even_when_written_into_a_full_buffer() {
        let mut stream = Stream::md5();
        stream.write(&[b'.'; BUF]);
        stream.write_secret(b"SECRETKEY");
        assert_eq!((stream.secret_from, stream.secret_to), (0, BUF));
        let expected: [u8; 16] =
            <md5::Md5 as md5::Digest>::digest([&[b'.'; BUF][..], b"SECRETKEY"].concat()).into();
        assert_eq!(Md5::output(&stream.finish()), expected);
        stream.wipe();
        assert!(!contains(stream.buf.as_flattened(), b"SECRET"));
    }

    #[test]
    fn a_fresh_stream_replaces_one_that_was_given_data_even_after_compressing() {
        for sizes in [vec![10], vec![BUF + 100], vec![3 * BUF]] {
            let mut stream = Stream::md5();
            for piece in pieces(&sizes) {
                stream.write(&piece);
            }
            stream = Stream::md5();
            stream.write(b"abc");
            let expected: [u8; 16] = <md5::Md5 as md5::Digest>::digest(b"abc").into();
            assert_eq!(Md5::output(&stream.finish()), expected, "{sizes:?}");
        }
    }

    /// HMAC-SHA256 from the `hmac` crate.
    fn reference_hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
        use hmac::{KeyInit, Mac};
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(message);
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn hmac_agrees_with_the_hmac_crate_for_keys_of_every_length_around_a_block() {
        let messages = pieces(&[0, 1, 55, 56, 64, 434, BUF - 9, BUF + 1, 2 * BUF + 70]);
        for key_len in (0..=130).chain([BUF, BUF + 1, 2 * BUF]) {
            let key: Vec<u8> = (0..key_len).map(|i| (i * 7 + 1) as u8).collect();
            let hmac = HmacKey::new(&key);
            for message in &messages {
                let mut stream = hmac.stream();
                stream.write(message);
                assert_eq!(
                    hmac.finish(&mut stream),
                    reference_hmac(&key, message),
                    "key {key_len} bytes, message {} bytes",
                    message.len()
                );
            }
        }
    }

    #[test]
    fn hmac_of_a_message_with_a_secret_tail_agrees_and_a_cloned_key_is_the_same_key() {
        let hmac = HmacKey::new(b"192006250b4c09247ec02edce69f6a2d");
        let clone = hmac.clone();
        let mut stream = clone.stream();
        stream.write(b"a=1&key=");
        stream.write_secret(b"192006250b4c09247ec02edce69f6a2d");
        assert_eq!(
            clone.finish(&mut stream),
            reference_hmac(
                b"192006250b4c09247ec02edce69f6a2d",
                b"a=1&key=192006250b4c09247ec02edce69f6a2d"
            )
        );
    }

    /// Whether `haystack` contains `needle`.
    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn the_secrets_bytes_are_wiped_wherever_they_landed() {
        // Keys that fit after the message, that straddle a flush, and longer than the buffer;
        // each byte distinct from the message's so that any leftover is found.
        for (before, key_len) in [
            (10, 32),
            (CHUNK, 32),
            (BUF - 5, 32),
            (BUF - 40, 100),
            (3, BUF + 70),
            (BUF - 1, 2 * BUF),
        ] {
            let key: Vec<u8> = (0..key_len).map(|i| b'A' + (i % 26) as u8).collect();
            let mut stream = Stream::md5();
            stream.write(&vec![b'.'; before]);
            stream.write_secret(&key);
            stream.finish();
            // Any 8 bytes of the key in a row would be a leak.
            let flat = stream.buf.as_flattened();
            assert!(
                key.chunks(8).any(|c| contains(flat, c)) || key_len > BUF,
                "setup"
            );
            stream.wipe();
            let flat = stream.buf.as_flattened();
            for window in key.windows(8) {
                assert!(
                    !contains(flat, window),
                    "{before} + {key_len}: a piece is left"
                );
            }
            assert_eq!(stream.state, [0; 4]);
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
}
