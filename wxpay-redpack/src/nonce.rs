//! Randomness as an input: where `nonce_str` (and the `nonceStr` of `wx.sendBizRedPacket`)
//! come from.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::distr::{Alphanumeric, SampleString as _};
use wxpay_proto::NonceStr;

/// Length of the nonces [`RandomNonce`] makes: the most the API accepts.
const NONCE_LEN: usize = 32;

/// Makes the `nonce_str` of each request.
///
/// The nonce is not business data: it only makes each signed request distinct. [`RandomNonce`]
/// is the real source; [`FixedNonce`] and [`CountingNonce`] make requests reproducible in
/// tests.
pub trait NonceSource: Send + Sync + fmt::Debug {
    /// A fresh nonce.
    fn nonce(&self) -> NonceStr;
}

/// 32 random ASCII letters and digits from the thread-local cryptographic generator.
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct RandomNonce;

impl RandomNonce {
    /// The random source.
    pub fn new() -> Self {
        Self
    }
}

impl NonceSource for RandomNonce {
    fn nonce(&self) -> NonceStr {
        let value = Alphanumeric.sample_string(&mut rand::rng(), NONCE_LEN);
        // 32 ASCII letters and digits are always a valid nonce; the fallback is never taken.
        NonceStr::new(value).unwrap_or_else(|_| fallback())
    }
}

/// The same nonce every time.
#[derive(Debug, Clone)]
pub struct FixedNonce(NonceStr);

impl FixedNonce {
    /// Always `nonce`.
    pub fn new(nonce: NonceStr) -> Self {
        Self(nonce)
    }
}

impl NonceSource for FixedNonce {
    fn nonce(&self) -> NonceStr {
        self.0.clone()
    }
}

/// `nonce0000000001`, `nonce0000000002`…: distinct and reproducible.
#[derive(Debug, Default)]
pub struct CountingNonce {
    next: AtomicU64,
}

impl CountingNonce {
    /// Starts at `nonce0000000001`.
    pub fn new() -> Self {
        Self::default()
    }
}

impl NonceSource for CountingNonce {
    fn nonce(&self) -> NonceStr {
        let n = self.next.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        // "nonce" and at most 20 digits: 25 ASCII letters and digits, always valid.
        NonceStr::new(format!("nonce{n:010}")).unwrap_or_else(|_| fallback())
    }
}

fn fallback() -> NonceStr {
    // A literal that satisfies the nonce rules (ASCII letters, at most 32).
    NonceStr::new("nonce").expect("a valid literal nonce")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_nonces_are_32_letters_or_digits_and_differ() {
        let source = RandomNonce::new();
        let a = source.nonce();
        let b = source.nonce();
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn counting_nonces_are_reproducible() {
        let source = CountingNonce::new();
        assert_eq!(source.nonce().as_str(), "nonce0000000001");
        assert_eq!(source.nonce().as_str(), "nonce0000000002");
    }

    #[test]
    fn a_fixed_nonce_never_changes() {
        let source = FixedNonce::new(NonceStr::new("abc").unwrap());
        assert_eq!(source.nonce(), source.nonce());
    }
}
