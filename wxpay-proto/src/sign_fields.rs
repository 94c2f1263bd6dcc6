//! The exact fields a request's signature covers, as borrowed `(name, value)` pairs.

use std::fmt;

/// The most fields any red-packet request signs (sendredpack has 16 documented fields besides
/// `sign`).
const CAPACITY: usize = 20;

/// The longest decimal `u64` (`18446744073709551615`).
const MAX_DIGITS: usize = 20;

/// Room for the digits of the numeric fields: four of the longest, twice what any request
/// signs (`total_amount` and `total_num`).
const DIGITS_ROOM: usize = 4 * MAX_DIGITS;

/// `10`, `100`, … `10^19`: the smallest numbers of 2, 3, … 20 digits.
const POWERS_OF_TEN: [u64; MAX_DIGITS - 1] = {
    let mut powers = [10; MAX_DIGITS - 1];
    let mut i = 1;
    while i < powers.len() {
        powers[i] = powers[i - 1] * 10;
        i += 1;
    }
    powers
};

/// How many decimal digits `n` has. Signed numbers are short: a few comparisons.
fn digit_count(n: u64) -> usize {
    1 + POWERS_OF_TEN.iter().take_while(|&&p| n >= p).count()
}

/// `00` to `99`: two digits per lookup.
const DIGIT_PAIRS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Writes the decimal digits of `n` at the end of `out`, which must have room for them;
/// returns where they start.
fn write_digits(out: &mut [u8], mut n: u64) -> usize {
    let mut at = out.len();
    while n >= 100 {
        // `n % 100` is below 100.
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        out[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        at -= 2;
        out[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        // `n` is below 10.
        out[at] = b'0' + n as u8;
    }
    at
}

/// A short decimal number held inline.
#[derive(Clone, Copy)]
pub(crate) struct Digits {
    /// The digits are `buf[start..]`.
    buf: [u8; MAX_DIGITS],
    start: u8,
}

impl Digits {
    pub(crate) fn new(n: u64) -> Self {
        let mut buf = [0u8; MAX_DIGITS];
        let start = write_digits(&mut buf, n);
        Self {
            buf,
            // At most `MAX_DIGITS`.
            start: start as u8,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII digits are ever written.
        std::str::from_utf8(&self.buf[usize::from(self.start)..]).unwrap_or("")
    }
}

/// A signed value: borrowed text, or a number whose digits are `digits[start..end]` of its
/// [`SignFields`].
#[derive(Clone, Copy)]
enum Value<'a> {
    Str(&'a str),
    Number { start: u8, end: u8 },
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
///
/// `repr(C)` with the counts first: every entry and digit then lies past them, which lets the
/// compiler keep the counts in registers while the fields are pushed instead of reloading
/// them after each store into the arrays.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct SignFields<'a> {
    len: u8,
    /// How many bytes of `digits` are used.
    digits_len: u8,
    /// `Some` exactly below `len`. `None` is a null name pointer: a fresh array is written
    /// with one store per entry.
    entries: [Option<(&'static str, Value<'a>)>; CAPACITY],
    /// The digits of every numeric value, back to back: ASCII, validated as UTF-8 once per
    /// [`pairs`](Self::pairs) call rather than once per number.
    digits: [u8; DIGITS_ROOM],
}

impl<'a> SignFields<'a> {
    pub(crate) fn new() -> Self {
        Self {
            entries: [None; CAPACITY],
            len: 0,
            digits_len: 0,
            digits: [0; DIGITS_ROOM],
        }
    }

    /// Adds a field; an empty text value is left out (it does not take part in a signature).
    #[inline(always)]
    pub(crate) fn push(&mut self, name: &'static str, value: SignValue<'a>) {
        // Every request type has at most CAPACITY signed fields (a test checks the largest);
        // a field past it would be a bug in this crate, so it is dropped rather than panic.
        let Some(slot) = self.entries.get_mut(usize::from(self.len)) else {
            debug_assert!(false, "more than {CAPACITY} signed fields");
            return;
        };
        let value = match value {
            SignValue::Str("") => return,
            SignValue::Str(s) => Value::Str(s),
            SignValue::Number(n) => {
                let start = usize::from(self.digits_len);
                let end = start + digit_count(n);
                // As above: more digits than fit would be a bug in this crate.
                let Some(room) = self.digits.get_mut(start..end) else {
                    debug_assert!(false, "more than {DIGITS_ROOM} digits of numbers");
                    return;
                };
                write_digits(room, n);
                // Both at most `DIGITS_ROOM`.
                self.digits_len = end as u8;
                Value::Number {
                    start: start as u8,
                    end: end as u8,
                }
            }
        };
        *slot = Some((name, value));
        self.len += 1;
    }

    /// The `(name, value)` pairs, sorted by the bytes of their names (the signing order).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone + '_ {
        // Only ASCII digits are ever written.
        let digits =
            std::str::from_utf8(&self.digits[..usize::from(self.digits_len)]).unwrap_or("");
        self.entries[..usize::from(self.len)]
            .iter()
            .flatten()
            .map(move |&(name, value)| {
                let value = match value {
                    Value::Str(s) => s,
                    Value::Number { start, end } => digits
                        .get(usize::from(start)..usize::from(end))
                        .unwrap_or(""),
                };
                (name, value)
            })
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        usize::from(self.len)
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
    use super::{CAPACITY, Digits, SignFields, SignValue};

    /// Every digit count and the values around each power of ten.
    fn numbers() -> Vec<u64> {
        let mut numbers = vec![0, 1, 7, 42, 1000, 20000, u64::from(u32::MAX), u64::MAX];
        for power in 1..20 {
            let p = 10u64.pow(power);
            numbers.extend([p - 1, p, p + 1]);
        }
        numbers
    }

    #[test]
    fn digits_render_like_display() {
        for n in numbers() {
            assert_eq!(Digits::new(n).as_str(), n.to_string());
        }
    }

    #[test]
    fn numbers_between_texts_read_back_in_order() {
        for n in numbers() {
            let mut f = SignFields::new();
            f.push("a", SignValue::Number(n));
            f.push("b", SignValue::Str("x"));
            f.push("c", SignValue::Str(""));
            f.push("d", SignValue::Number(n / 3));
            f.push("e", SignValue::Number(u64::MAX));
            let (a, b, d, e) = (
                n.to_string(),
                "x",
                (n / 3).to_string(),
                u64::MAX.to_string(),
            );
            let expected = [
                ("a", a.as_str()),
                ("b", b),
                ("d", d.as_str()),
                ("e", e.as_str()),
            ];
            assert_eq!(f.pairs().collect::<Vec<_>>(), expected);
            assert_eq!(f.len(), 4);
        }
    }

    #[test]
    fn four_numbers_of_twenty_digits_fit() {
        let mut f = SignFields::new();
        for name in ["a", "b", "c", "d"] {
            f.push(name, SignValue::Number(u64::MAX));
        }
        let max = u64::MAX.to_string();
        assert!(f.pairs().all(|(_, value)| value == max));
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn capacity_fields_fit() {
        let names: Vec<&'static str> = (0..CAPACITY).map(|i| &*format!("f{i:02}").leak()).collect();
        let mut f = SignFields::new();
        for (i, &name) in names.iter().enumerate() {
            if i % 2 == 0 {
                f.push(name, SignValue::Str("v"));
            } else {
                f.push(name, SignValue::Number(i as u64));
            }
        }
        assert_eq!(f.len(), CAPACITY);
        for (i, (name, value)) in f.pairs().enumerate() {
            assert_eq!(name, names[i]);
            let expected = if i % 2 == 0 {
                "v".to_owned()
            } else {
                i.to_string()
            };
            assert_eq!(value, expected);
        }
    }
}
