//! The exact fields a request's signature covers, as borrowed `(name, value)` pairs.

use std::fmt;

/// The most fields any red-packet request signs (sendredpack has 16 documented fields besides
/// `sign`).
const CAPACITY: usize = 20;

/// A short decimal number held inline.
#[derive(Clone, Copy)]
pub(crate) struct Digits {
    buf: [u8; 20],
    len: u8,
}

impl Digits {
    pub(crate) fn new(mut n: u64) -> Self {
        let mut buf = [0u8; 20];
        let mut at = buf.len();
        loop {
            at -= 1;
            // `n % 10` is below 10.
            buf[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        buf.copy_within(at.., 0);
        Self {
            buf,
            len: (20 - at) as u8,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits are ever written.
        std::str::from_utf8(&self.buf[..usize::from(self.len)]).unwrap_or("")
    }
}

#[derive(Clone, Copy)]
enum Value<'a> {
    Str(&'a str),
    Number(Digits),
}

/// A field's value as the signature sees it: text as sent, or an integer.
#[derive(Clone, Copy)]
pub(crate) enum SignValue<'a> {
    Str(&'a str),
    Number(u64),
}

/// The fields of a request that its signature covers: exactly the endpoint's documented
/// fields that are set, never `sign` and never unknown fields (so `sign_type`, an extra
/// `appid` or `client_ip` on a group packet cannot slip into a signature).
///
/// Holds everything inline: building it and iterating [`pairs`](Self::pairs) allocate nothing.
/// Feed the pairs to `wxpay_sign::sign`.
#[derive(Clone, Copy)]
pub struct SignFields<'a> {
    entries: [(&'static str, Value<'a>); CAPACITY],
    len: usize,
}

impl<'a> SignFields<'a> {
    pub(crate) fn new() -> Self {
        Self {
            entries: [("", Value::Str("")); CAPACITY],
            len: 0,
        }
    }

    /// Adds a field; an empty text value is left out (it does not take part in a signature).
    pub(crate) fn push(&mut self, name: &'static str, value: SignValue<'a>) {
        let value = match value {
            SignValue::Str("") => return,
            SignValue::Str(s) => Value::Str(s),
            SignValue::Number(n) => Value::Number(Digits::new(n)),
        };
        // Every request type has at most CAPACITY signed fields (a test checks the largest);
        // a field past it would be a bug in this crate, so it is dropped rather than panic.
        if let Some(slot) = self.entries.get_mut(self.len) {
            *slot = (name, value);
            self.len += 1;
        }
    }

    /// The `(name, value)` pairs, sorted by the bytes of their names (the signing order).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone + '_ {
        self.entries[..self.len].iter().map(|(name, value)| {
            let value = match value {
                Value::Str(s) => *s,
                Value::Number(d) => d.as_str(),
            };
            (*name, value)
        })
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for SignFields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.pairs()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::Digits;

    #[test]
    fn digits_render_like_display() {
        for n in [0u64, 7, 10, 1000, 20000, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(Digits::new(n).as_str(), n.to_string());
        }
    }
}
