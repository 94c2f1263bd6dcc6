//! Validated value types, parsed once at the boundary.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::net::Ipv4Addr;

use arrayvec::ArrayString;

use crate::codec::{ValueSink, WireValue, is_xml_char, parse_canonical_u64};
use crate::error::{Error, FieldProblem};
use crate::sign_fields::SignValue;

/// An amount of money in fen (1/100 yuan). Never a float.
///
/// On the wire it is an integer number of fen (`total_amount=1000` is 10.00 yuan).
/// [`Fen::parse_yuan`] reads the human form strictly ("12.34"); `Display` writes it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fen(u64);

impl Fen {
    /// Zero fen.
    pub const ZERO: Self = Self(0);

    /// An amount of `fen` fen.
    pub const fn new(fen: u64) -> Self {
        Self(fen)
    }

    /// An amount of whole yuan, or `None` if it overflows.
    pub const fn from_yuan(yuan: u64) -> Option<Self> {
        match yuan.checked_mul(100) {
            Some(fen) => Some(Self(fen)),
            None => None,
        }
    }

    /// The amount in fen.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Parses yuan with at most two decimals: `"12"`, `"12.3"`, `"12.34"`.
    ///
    /// Signs, spaces, exponents, a bare or trailing `.`, a third decimal (`"1.005"`) and
    /// overflow are errors; nothing is rounded.
    pub fn parse_yuan(s: &str) -> Result<Self, Error> {
        let bad = || Error::field("total_amount", FieldProblem::NotAYuanAmount);
        let (int, frac) = match s.split_once('.') {
            Some((int, frac)) => (int, Some(frac)),
            None => (s, None),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let frac_fen = match frac {
            None => 0,
            Some(f) if f.is_empty() || f.len() > 2 || !f.bytes().all(|b| b.is_ascii_digit()) => {
                return Err(bad());
            }
            Some(f) => {
                let digits: u64 = f.bytes().fold(0, |acc, b| acc * 10 + u64::from(b - b'0'));
                if f.len() == 1 { digits * 10 } else { digits }
            }
        };
        let overflow = || Error::field("total_amount", FieldProblem::Overflow);
        let yuan: u64 = int.parse().map_err(|_| overflow())?;
        yuan.checked_mul(100)
            .and_then(|f| f.checked_add(frac_fen))
            .map(Self)
            .ok_or_else(overflow)
    }

    /// `self + other`, or `None` on overflow.
    pub const fn checked_add(self, other: Self) -> Option<Self> {
        match self.0.checked_add(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self - other`, or `None` if `other` is larger.
    pub const fn checked_sub(self, other: Self) -> Option<Self> {
        match self.0.checked_sub(other.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// `self * n`, or `None` on overflow.
    pub const fn checked_mul(self, n: u64) -> Option<Self> {
        match self.0.checked_mul(n) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }
}

/// Yuan with two decimals, e.g. `12.34`.
impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl WireValue for Fen {
    fn from_wire(field: &'static str, raw: Cow<'_, str>) -> Result<Self, Error> {
        parse_canonical_u64(field, &raw).map(Self)
    }

    fn write_wire(&self, out: &mut ValueSink<'_>) {
        out.integer(self.0);
    }

    fn sign_value(&self) -> SignValue<'_> {
        SignValue::Number(self.0)
    }
}

/// The character set of a validated string type.
#[derive(Clone, Copy)]
enum Charset {
    /// `0-9`.
    Digits,
    /// `0-9a-zA-Z`.
    Alnum,
    /// `0-9a-zA-Z_-`.
    Token,
    /// Printable ASCII (what a URL-encoded value holds).
    PrintableAscii,
    /// Any character XML can carry except control characters other than tab and newlines.
    Text,
}

impl Charset {
    /// Whether every character of `s` is allowed, on bytes: for the ASCII sets a byte test
    /// (any byte of 0x80 and above is refused there), for text the single-byte refusals plus
    /// the two multi-byte ones (U+0080–U+009F are `C2 80`–`C2 9F`; U+FFFE/U+FFFF start with
    /// `EF`), looked for only when such a lead byte occurs. Each test is a fold without early
    /// exit and without `&&`/`||`, which the compiler vectorises.
    fn allows_all(self, s: &str) -> bool {
        let bytes = s.as_bytes();
        let refused = |test: fn(u8) -> bool| bytes.iter().fold(false, |seen, &b| seen | test(b));
        match self {
            Self::Digits => !refused(|b| !b.is_ascii_digit()),
            Self::Alnum => !refused(|b| !b.is_ascii_alphanumeric()),
            Self::Token => !refused(|b| !(b.is_ascii_alphanumeric() | (b == b'_') | (b == b'-'))),
            Self::PrintableAscii => !refused(|b| !b.is_ascii_graphic()),
            Self::Text => {
                let bad = refused(|b| ((b < 0x20) & (b != b'\t') & (b != b'\n')) | (b == 0x7F));
                let lead = refused(|b| (b == 0xC2) | (b == 0xEF));
                !bad && (!lead || !has_c1_or_nonchar(bytes))
            }
        }
    }

    fn allows(self, c: char) -> bool {
        match self {
            Self::Digits => c.is_ascii_digit(),
            Self::Alnum => c.is_ascii_alphanumeric(),
            Self::Token => c.is_ascii_alphanumeric() || c == '_' || c == '-',
            Self::PrintableAscii => c.is_ascii_graphic(),
            // No carriage return: every XML parser reads `\r\n` and `\r` as `\n` (XML 1.0
            // §2.11), so the server would verify the signature over other text than was signed.
            Self::Text => is_xml_char(c) && !matches!(c, '\r' | '\u{7F}'..='\u{9F}'),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Digits => "ASCII digits",
            Self::Alnum => "ASCII letters and digits",
            Self::Token => "ASCII letters, digits, `_` and `-`",
            Self::PrintableAscii => "printable ASCII",
            Self::Text => "text without control characters (line breaks as `\\n`, not `\\r`)",
        }
    }
}

/// Whether a C1 control (U+0080–U+009F: `C2 80`–`C2 9F`) or U+FFFE / U+FFFF (`EF BF BE`,
/// `EF BF BF`) occurs in valid UTF-8: folds over neighbouring bytes without early exit, which
/// the compiler vectorises (a byte after `C2` is a continuation byte, so below `A0` means
/// `80`–`9F`).
fn has_c1_or_nonchar(bytes: &[u8]) -> bool {
    let second = bytes.get(1..).unwrap_or_default();
    let third = bytes.get(2..).unwrap_or_default();
    let c1 = bytes
        .iter()
        .zip(second)
        .fold(false, |seen, (&a, &b)| seen | ((a == 0xC2) & (b < 0xA0)));
    let nonchar = bytes
        .iter()
        .zip(second)
        .zip(third)
        .fold(false, |seen, ((&a, &b), &c)| {
            seen | ((a == 0xEF) & (b == 0xBF) & (c >= 0xBE))
        });
    c1 | nonchar
}

/// Checks a required string: non-empty, at most `max` characters, all in `charset`.
fn check(field: &'static str, s: &str, max: usize, charset: Charset) -> Result<(), Error> {
    if s.is_empty() {
        return Err(Error::field(field, FieldProblem::Missing));
    }
    if charset.allows_all(s) {
        // The common case, checked on bytes; the loop below finds the character to report.
    } else if let Some(found) = s.chars().find(|&c| !charset.allows(c)) {
        return Err(Error::field(
            field,
            FieldProblem::Charset {
                found,
                expected: charset.describe(),
            },
        ));
    }
    let actual = match charset {
        // Only ASCII got this far: a byte is a character.
        Charset::Digits | Charset::Alnum | Charset::Token | Charset::PrintableAscii => s.len(),
        // A character has at least one byte: no need to count when the bytes fit.
        Charset::Text if s.len() <= max => s.len(),
        Charset::Text => s.chars().count(),
    };
    if actual > max {
        return Err(Error::field(field, FieldProblem::TooLong { max, actual }));
    }
    Ok(())
}

/// How a validated string type keeps its value: in a `String`, or inline (no allocation)
/// for the short ASCII ones.
trait Storage: Sized {
    /// Keeps a value already checked to fit (or gives it back if it does not, which the
    /// checks rule out).
    fn keep(value: Cow<'_, str>) -> Result<Self, Cow<'_, str>>;
    /// The value.
    fn text(&self) -> &str;
    /// The value as a `String`.
    fn into_text(self) -> String;
}

impl Storage for String {
    fn keep(value: Cow<'_, str>) -> Result<Self, Cow<'_, str>> {
        Ok(value.into_owned())
    }

    fn text(&self) -> &str {
        self
    }

    fn into_text(self) -> String {
        self
    }
}

impl<const N: usize> Storage for ArrayString<N> {
    fn keep(value: Cow<'_, str>) -> Result<Self, Cow<'_, str>> {
        ArrayString::from(&value).map_err(|_| value.clone())
    }

    fn text(&self) -> &str {
        self
    }

    fn into_text(self) -> String {
        self.as_str().to_owned()
    }
}

macro_rules! string_type {
    (
        $(#[$meta:meta])*
        $name:ident, field = $field:literal, max = $max:literal, charset = $charset:ident
    ) => {
        string_type! {
            $(#[$meta])*
            $name, field = $field, max = $max, storage = String,
            check = |field, value| check(field, value, $max, Charset::$charset)
        }
    };
    (
        $(#[$meta:meta])*
        $name:ident, field = $field:literal, max = $max:literal, inline, charset = $charset:ident
    ) => {
        string_type! {
            $(#[$meta])*
            $name, field = $field, max = $max, storage = ArrayString<$max>,
            check = |field, value| check(field, value, $max, Charset::$charset)
        }
    };
    (
        $(#[$meta:meta])*
        $name:ident, field = $field:literal, max = $max:literal, storage = $storage:ty,
        check = $check:expr
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name($storage);

        impl $name {
            /// The longest accepted value, in characters.
            pub const MAX_CHARS: usize = $max;

            #[doc = concat!("Validates a value for the `", $field, "` field.")]
            pub fn new<'v>(value: impl Into<Cow<'v, str>>) -> Result<Self, Error> {
                Self::for_field($field, value.into())
            }

            fn for_field(field: &'static str, value: Cow<'_, str>) -> Result<Self, Error> {
                let check: fn(&'static str, &str) -> Result<(), Error> = $check;
                check(field, &value)?;
                <$storage as Storage>::keep(value).map(Self).map_err(|value| {
                    Error::field(
                        field,
                        FieldProblem::TooLong {
                            max: $max,
                            actual: value.chars().count(),
                        },
                    )
                })
            }

            /// The value as sent on the wire.
            pub fn as_str(&self) -> &str {
                self.0.text()
            }

            /// The owned value.
            pub fn into_string(self) -> String {
                self.0.into_text()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl TryFrom<&str> for $name {
            type Error = Error;

            fn try_from(value: &str) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;

            fn try_from(value: String) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;

            fn from_str(value: &str) -> Result<Self, Error> {
                Self::new(value)
            }
        }

        impl WireValue for $name {
            fn from_wire(field: &'static str, raw: Cow<'_, str>) -> Result<Self, Error> {
                Self::for_field(field, raw)
            }

            fn write_wire(&self, out: &mut ValueSink<'_>) {
                // Validated on construction: only characters XML can carry.
                out.text_valid(self.as_str());
            }

            fn sign_value(&self) -> SignValue<'_> {
                SignValue::Str(self.as_str())
            }
        }
    };
}

string_type! {
    /// `mch_billno`: the merchant's order number, the idempotency key of a send.
    ///
    /// 1 to 28 ASCII letters and digits, unique per merchant. The documented shape
    /// (mch_id + `yyyymmdd` + 10 digits) is a suggestion the server does not enforce.
    MchBillno, field = "mch_billno", max = 28, inline, charset = Alnum
}

string_type! {
    /// `mch_id` (also `sub_mch_id`, `consume_mch_id`): a merchant id, 1 to 32 digits.
    MchId, field = "mch_id", max = 32, inline, charset = Digits
}

string_type! {
    /// `wxappid` / `appid` / `msgappid`: an Official Account or mini-program appid,
    /// 1 to 32 ASCII letters, digits, `_` or `-`.
    AppId, field = "wxappid", max = 32, inline, charset = Token
}

string_type! {
    /// `re_openid`: a user's openid under an appid, 1 to 32 ASCII letters, digits, `_`
    /// or `-`.
    OpenId, field = "re_openid", max = 32, inline, charset = Token
}

string_type! {
    /// `nonce_str`: the request's random string, 1 to 32 ASCII letters, digits, `_` or `-`.
    /// Chosen by the caller (this crate has no randomness).
    NonceStr, field = "nonce_str", max = 32, inline, charset = Token
}

string_type! {
    /// `send_name`: the sender's name shown to the user, at most 32 characters.
    SendName, field = "send_name", max = 32, charset = Text
}

string_type! {
    /// `wishing`: the blessing text, at most 128 characters.
    Wishing, field = "wishing", max = 128, charset = Text
}

string_type! {
    /// `act_name`: the activity name, at most 32 characters.
    ActName, field = "act_name", max = 32, charset = Text
}

string_type! {
    /// `remark`: the remark, at most 256 characters.
    Remark, field = "remark", max = 256, charset = Text
}

string_type! {
    /// `client_ip`: the IPv4 address of the machine calling the API, in dotted-quad form
    /// (at most 15 characters).
    ClientIp, field = "client_ip", max = 15, storage = ArrayString<15>, check = check_ipv4
}

fn check_ipv4(field: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::field(field, FieldProblem::Missing));
    }
    if value.len() > 15 || value.parse::<Ipv4Addr>().is_err() {
        return Err(Error::field(field, FieldProblem::NotIpv4));
    }
    Ok(())
}

impl ClientIp {
    /// The parsed address.
    pub fn addr(&self) -> Ipv4Addr {
        // Only strings that parse are ever accepted.
        self.0.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)
    }
}

impl From<Ipv4Addr> for ClientIp {
    fn from(addr: Ipv4Addr) -> Self {
        let mut text = ArrayString::new();
        // A dotted quad has at most 15 characters: the write cannot run out of room.
        let _ = write!(text, "{addr}");
        Self(text)
    }
}

string_type! {
    /// `risk_info`: risk-control hints, sent and signed URL-encoded (at most 128 printable
    /// ASCII characters).
    ///
    /// Build it from its four documented keys with [`RiskInfo::builder`], or take an already
    /// encoded value with [`RiskInfo::new`].
    RiskInfo, field = "risk_info", max = 128, charset = PrintableAscii
}

impl RiskInfo {
    /// Starts a builder.
    pub fn builder() -> RiskInfoBuilder {
        RiskInfoBuilder::default()
    }

    /// Takes a value that is already URL-encoded, as it goes on the wire (same as
    /// [`RiskInfo::new`]).
    pub fn from_encoded<'v>(value: impl Into<Cow<'v, str>>) -> Result<Self, Error> {
        Self::new(value)
    }
}

/// Builds a [`RiskInfo`] from its documented keys: `urlencode("posttime=…&clientversion=…&
/// mobile=…&deviceid=…")` with the keys that are set, in that order (the order of the
/// official example).
#[derive(Debug, Clone, Default)]
pub struct RiskInfoBuilder {
    posttime: Option<String>,
    clientversion: Option<String>,
    mobile: Option<String>,
    deviceid: Option<String>,
}

impl RiskInfoBuilder {
    /// `posttime`: when the user acted (a Unix timestamp in seconds).
    pub fn posttime(mut self, value: impl Into<String>) -> Self {
        self.posttime = Some(value.into());
        self
    }

    /// `clientversion`: the version of the user's client.
    pub fn client_version(mut self, value: impl Into<String>) -> Self {
        self.clientversion = Some(value.into());
        self
    }

    /// `mobile`: the user's phone number, country code then number, without `+`.
    pub fn mobile(mut self, value: impl Into<String>) -> Self {
        self.mobile = Some(value.into());
        self
    }

    /// `deviceid`: a MAC address or device id.
    pub fn device_id(mut self, value: impl Into<String>) -> Self {
        self.deviceid = Some(value.into());
        self
    }

    /// Encodes the keys that are set (empty values are left out). At least one is required
    /// and the result must fit 128 characters.
    pub fn build(self) -> Result<RiskInfo, Error> {
        let mut plain = String::new();
        for (key, value) in [
            ("posttime", &self.posttime),
            ("clientversion", &self.clientversion),
            ("mobile", &self.mobile),
            ("deviceid", &self.deviceid),
        ] {
            let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
                continue;
            };
            if !plain.is_empty() {
                plain.push('&');
            }
            plain.push_str(key);
            plain.push('=');
            plain.push_str(value);
        }
        RiskInfo::from_encoded(percent_encode(&plain))
    }
}

/// Percent-encodes everything but ASCII letters, digits and `-_.~`, with lowercase hex as in
/// the official `risk_info` example.
fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Charset;

    #[test]
    fn the_byte_checks_agree_with_the_character_rules() {
        let sets = [
            Charset::Digits,
            Charset::Alnum,
            Charset::Token,
            Charset::PrintableAscii,
            Charset::Text,
        ];
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let one = c.to_string();
            let within = format!("ab{c}cd");
            for set in sets {
                assert_eq!(set.allows_all(&one), set.allows(c), "{c:?}");
                let expected = within.chars().all(|c| set.allows(c));
                assert_eq!(set.allows_all(&within), expected, "{c:?} within");
            }
        }
    }
}
