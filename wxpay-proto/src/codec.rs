//! The XML codec: one `<xml>` root, one child element per field, nested `hblist/hbinfo`.
//!
//! Decoding goes through a raw tree first ([`RawMessage`]), so a server can verify a
//! signature over the values exactly as received before anything is interpreted, and unknown
//! fields survive a decode/encode round trip. Encoding writes strings as CDATA (splitting any
//! `]]>`) and integers bare, as WeChat Pay does.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::error::{Error, FieldProblem, XmlError};
use crate::sign_fields::{Digits, SignValue};

/// The value of one element: text, or nested elements (in document order).
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "an element holds text or elements; XML has no third shape we accept"
)]
pub enum RawValue {
    /// Text content (CDATA and escaped text joined, entities resolved).
    Text(String),
    /// Child elements, in document order.
    Elements(Vec<(String, RawValue)>),
}

/// Limits applied while decoding, so a hostile body cannot exhaust memory or time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeLimits {
    /// Largest accepted body, in bytes.
    pub max_bytes: usize,
    /// Most elements accepted in one document (the root included).
    pub max_elements: usize,
    /// Deepest accepted nesting (`<xml>` is depth 1).
    pub max_depth: usize,
}

impl DecodeLimits {
    /// The defaults: 64 KiB, 512 elements, depth 8. A real response with the largest claim
    /// list (20 `hbinfo`) is under 5 KiB and about 110 elements.
    pub const DEFAULT: Self = Self {
        max_bytes: 64 * 1024,
        max_elements: 512,
        max_depth: 8,
    };
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A decoded document before interpretation: the root's child elements by name.
///
/// Text borrows from the input wherever it can (one CDATA section or one text run), so parsing
/// copies only what it must. Every name appears once at the top level (a duplicate is an
/// [`XmlError::DuplicateElement`]: it would make the signed value ambiguous).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawMessage<'a> {
    fields: Fields<'a>,
}

/// Elements by name: a slot per known name (no string comparison to find one), the others in
/// document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fields<'a> {
    known: [Option<Node<'a>>; KNOWN],
    /// How many of `known` are set.
    known_set: usize,
    other: Vec<(Cow<'a, str>, Node<'a>)>,
}

impl<'a> Fields<'a> {
    fn new() -> Self {
        Self {
            known: [const { None }; KNOWN],
            known_set: 0,
            other: Vec::new(),
        }
    }

    /// Adds an element; gives the name back if it is already there.
    fn insert(&mut self, name: Cow<'a, str>, node: Node<'a>) -> Result<(), Cow<'a, str>> {
        match known_id(&name) {
            Some(id) if self.known[id].is_some() => Err(name),
            Some(id) => {
                self.known[id] = Some(node);
                self.known_set += 1;
                Ok(())
            }
            None if self.other.iter().any(|(n, _)| *n == name) => Err(name),
            None => {
                self.other.push((name, node));
                Ok(())
            }
        }
    }

    fn get(&self, name: &str) -> Option<&Node<'a>> {
        match known_id(name) {
            Some(id) => self.known[id].as_ref(),
            None => self.other.iter().find(|(n, _)| n == name).map(|(_, v)| v),
        }
    }

    fn remove(&mut self, name: &str) -> Option<Node<'a>> {
        match known_id(name) {
            Some(id) => {
                let node = self.known[id].take()?;
                self.known_set -= 1;
                Some(node)
            }
            None => {
                let at = self.other.iter().position(|(n, _)| n == name)?;
                Some(self.other.remove(at).1)
            }
        }
    }

    /// Every element, sorted by name.
    fn sorted(&self) -> Vec<(&str, &Node<'a>)> {
        let mut all: Vec<(&str, &Node<'a>)> = KNOWN_NAMES
            .iter()
            .zip(&self.known)
            .filter_map(|(name, node)| node.as_ref().map(|node| (*name, node)))
            .chain(self.other.iter().map(|(n, v)| (&**n, v)))
            .collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all
    }

    fn len(&self) -> usize {
        self.known_set + self.other.len()
    }
}

/// An element of a parsed document, borrowing from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node<'a> {
    Text(Cow<'a, str>),
    Elements(Vec<(Cow<'a, str>, Node<'a>)>),
}

impl Node<'_> {
    fn into_owned(self) -> RawValue {
        match self {
            Node::Text(t) => RawValue::Text(t.into_owned()),
            Node::Elements(children) => RawValue::Elements(
                children
                    .into_iter()
                    .map(|(name, node)| (name.into_owned(), node.into_owned()))
                    .collect(),
            ),
        }
    }
}

impl<'a> RawMessage<'a> {
    /// Parses a document with the default [`DecodeLimits`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::parse_with_limits(bytes, &DecodeLimits::DEFAULT)
    }

    /// Parses a document with the given limits.
    pub fn parse_with_limits(bytes: &'a [u8], limits: &DecodeLimits) -> Result<Self, Error> {
        let children = parse_document(bytes, limits)?;
        Ok(Self::from_elements(children)?)
    }

    fn from_elements(children: Vec<(Cow<'a, str>, Node<'a>)>) -> Result<Self, XmlError> {
        let mut fields = Fields::new();
        for (name, value) in children {
            fields
                .insert(name, value)
                .map_err(|name| XmlError::DuplicateElement {
                    name: truncate(&name),
                })?;
        }
        Ok(Self { fields })
    }

    /// The text of a top-level field, if present and textual.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.fields.get(name) {
            Some(Node::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// A top-level field's value, copied out of the document.
    pub fn value(&self, name: &str) -> Option<RawValue> {
        self.fields.get(name).cloned().map(Node::into_owned)
    }

    /// The names of the top-level fields, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.sorted().into_iter().map(|(name, _)| name)
    }

    /// The top-level textual fields as `(name, value)` pairs, sorted by name: what a signature
    /// over the received values covers.
    pub fn text_pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.fields
            .sorted()
            .into_iter()
            .filter_map(|(k, v)| match v {
                Node::Text(t) => Some((k, &**t)),
                Node::Elements(_) => None,
            })
    }

    /// The textual fields among `names`, as `(name, value)` pairs: a signature over an
    /// endpoint's known field set, with the values as received.
    pub fn text_pairs_of<'s>(
        &'s self,
        names: &'s [&'s str],
    ) -> impl Iterator<Item = (&'s str, &'s str)> + Clone + 's {
        names
            .iter()
            .filter_map(move |name| self.text(name).map(|value| (*name, value)))
    }

    /// Number of top-level fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the root has no child.
    pub fn is_empty(&self) -> bool {
        self.fields.len() == 0
    }

    pub(crate) fn into_reader(self) -> FieldReader<'a> {
        FieldReader {
            fields: self.fields,
        }
    }
}

pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

pub(crate) fn is_xml_whitespace(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Whether XML 1.0 allows the character in a document.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Every element name of the four APIs, sorted by bytes: decoding them allocates nothing.
const KNOWN_NAMES: [&str; KNOWN] = [
    "act_name",
    "amount",
    "amt_type",
    "appid",
    "bill_type",
    "client_ip",
    "consume_mch_id",
    "detail_id",
    "err_code",
    "err_code_des",
    "hb_type",
    "hbinfo",
    "hblist",
    "mch_billno",
    "mch_id",
    "msgappid",
    "nonce_str",
    "notify_way",
    "openid",
    "package",
    "rcv_time",
    "re_openid",
    "reason",
    "refund_amount",
    "refund_time",
    "remark",
    "result_code",
    "return_code",
    "return_msg",
    "risk_info",
    "scene_id",
    "send_listid",
    "send_name",
    "send_time",
    "send_type",
    "sign",
    "sign_type",
    "status",
    "sub_mch_id",
    "total_amount",
    "total_num",
    "wishing",
    "wxappid",
    "xml",
];

/// How many names [`KNOWN_NAMES`] holds.
const KNOWN: usize = 44;

/// The index of a known name in [`KNOWN_NAMES`].
pub(crate) fn known_id(name: &str) -> Option<usize> {
    Some(match name {
        "act_name" => 0,
        "amount" => 1,
        "amt_type" => 2,
        "appid" => 3,
        "bill_type" => 4,
        "client_ip" => 5,
        "consume_mch_id" => 6,
        "detail_id" => 7,
        "err_code" => 8,
        "err_code_des" => 9,
        "hb_type" => 10,
        "hbinfo" => 11,
        "hblist" => 12,
        "mch_billno" => 13,
        "mch_id" => 14,
        "msgappid" => 15,
        "nonce_str" => 16,
        "notify_way" => 17,
        "openid" => 18,
        "package" => 19,
        "rcv_time" => 20,
        "re_openid" => 21,
        "reason" => 22,
        "refund_amount" => 23,
        "refund_time" => 24,
        "remark" => 25,
        "result_code" => 26,
        "return_code" => 27,
        "return_msg" => 28,
        "risk_info" => 29,
        "scene_id" => 30,
        "send_listid" => 31,
        "send_name" => 32,
        "send_time" => 33,
        "send_type" => 34,
        "sign" => 35,
        "sign_type" => 36,
        "status" => 37,
        "sub_mch_id" => 38,
        "total_amount" => 39,
        "total_num" => 40,
        "wishing" => 41,
        "wxappid" => 42,
        "xml" => 43,
        _ => return None,
    })
}

/// The name as a static string when it is a known one, else a copy.
pub(crate) fn intern(name: &str) -> Cow<'static, str> {
    match known_id(name) {
        Some(id) => Cow::Borrowed(KNOWN_NAMES[id]),
        None => Cow::Owned(name.to_owned()),
    }
}

pub(crate) struct Frame<'a> {
    name: Cow<'a, str>,
    text: Option<Cow<'a, str>>,
    pub(crate) has_text: bool,
    pub(crate) children: Vec<(Cow<'a, str>, Node<'a>)>,
}

impl<'a> Frame<'a> {
    pub(crate) fn new(name: Cow<'a, str>) -> Self {
        Self {
            name,
            text: None,
            has_text: false,
            children: Vec::new(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn clear_text(&mut self) {
        self.text = None;
    }

    /// Appends text, borrowing while it is one piece of the input.
    pub(crate) fn push_text(&mut self, piece: Cow<'a, str>) {
        match &mut self.text {
            None => self.text = Some(piece),
            Some(text) => text.to_mut().push_str(&piece),
        }
    }

    pub(crate) fn finish(self) -> Result<(Cow<'a, str>, Node<'a>), XmlError> {
        if self.children.is_empty() {
            Ok((self.name, Node::Text(self.text.unwrap_or_default())))
        } else if self.has_text {
            Err(XmlError::MixedContent)
        } else {
            Ok((self.name, Node::Elements(self.children)))
        }
    }
}

/// Parses `<xml>…</xml>` into the root's children.
fn parse_document<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
) -> Result<Vec<(Cow<'a, str>, Node<'a>)>, XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| XmlError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if is_xml_whitespace(text) {
        return Err(XmlError::Empty);
    }
    // Characters XML forbids are refused anywhere in the document (one vectorised pass), so
    // whatever decodes also re-encodes to itself.
    if !all_xml_chars(text) {
        let offset = text
            .char_indices()
            .find(|&(_, c)| !is_xml_char(c))
            .map_or(0, |(at, _)| at + (bytes.len() - text.len()));
        return Err(XmlError::ForbiddenChar { offset });
    }
    crate::scan::parse(text, limits)
}

/// A value that has a text form on the wire.
pub(crate) trait WireValue: Sized {
    /// Parses the wire text of field `field` (never empty: empty means absent). Types that
    /// keep the text take it over without copying when it is already owned.
    fn from_wire(field: &'static str, raw: Cow<'_, str>) -> Result<Self, Error>;
    /// Writes the wire form.
    fn write_wire(&self, out: &mut ValueSink<'_>);
    /// The value as a signature covers it (the exact wire text).
    fn sign_value(&self) -> SignValue<'_>;
}

/// Where a [`WireValue`] writes itself: CDATA text or a bare integer.
pub(crate) struct ValueSink<'a> {
    out: &'a mut String,
}

impl ValueSink<'_> {
    /// Writes a string as CDATA, splitting `]]>` and replacing characters XML cannot carry.
    pub(crate) fn text(&mut self, value: &str) {
        if all_xml_chars(value) {
            self.text_valid(value);
        } else {
            let cleaned: String = value
                .chars()
                .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
                .collect();
            self.text_valid(&cleaned);
        }
    }

    /// Writes as CDATA a string already known to hold only characters XML can carry (a
    /// validated value type), splitting `]]>`.
    pub(crate) fn text_valid(&mut self, value: &str) {
        self.out.push_str("<![CDATA[");
        let mut rest = value;
        while let Some(at) = find_cdata_end(rest) {
            self.out.push_str(&rest[..at]);
            // End the section between `]]` and `>`, and open a new one.
            self.out.push_str("]]]]><![CDATA[>");
            rest = &rest[at + 3..];
        }
        self.out.push_str(rest);
        self.out.push_str("]]>");
    }

    /// Writes a bare integer.
    pub(crate) fn integer(&mut self, value: u64) {
        self.out.push_str(Digits::new(value).as_str());
    }
}

/// Where `]]>` first occurs.
fn find_cdata_end(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut from = 0;
    while let Some(skip) = memchr::memchr(b']', &bytes[from..]) {
        let at = from + skip;
        if bytes[at..].starts_with(b"]]>") {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Whether U+FFFE or U+FFFF (`EF BF BE`, `EF BF BF`) occurs: memchr to each `EF` lead byte
/// (rare even in Chinese text, where only full-width forms use it).
fn has_ffxx_nonchar(bytes: &[u8]) -> bool {
    let mut from = 0;
    while let Some(skip) = memchr::memchr(0xEF, &bytes[from..]) {
        let at = from + skip;
        if matches!(bytes.get(at + 1..at + 3), Some([0xBF, 0xBE | 0xBF])) {
            return true;
        }
        from = at + 1;
    }
    false
}

/// `s.chars().all(is_xml_char)`, on bytes: in UTF-8 the only characters XML refuses are the
/// C0 controls other than tab, LF and CR (single bytes below 0x20) and U+FFFE / U+FFFF
/// (`EF BF BE`, `EF BF BF`); surrogates cannot occur in a `str`.
fn all_xml_chars(s: &str) -> bool {
    let bytes = s.as_bytes();
    // In UTF-8 a byte below 0x20 is always that control character itself. One pass without
    // early exit, which the compiler vectorises; then the rare `EF` lead bytes.
    let control = bytes.iter().fold(false, |seen, &b| {
        seen | ((b < 0x20) & (b != b'\t') & (b != b'\n') & (b != b'\r'))
    });
    !control && !has_ffxx_nonchar(bytes)
}

impl WireValue for String {
    fn from_wire(_field: &'static str, raw: Cow<'_, str>) -> Result<Self, Error> {
        Ok(raw.into_owned())
    }

    fn write_wire(&self, out: &mut ValueSink<'_>) {
        out.text(self);
    }

    fn sign_value(&self) -> SignValue<'_> {
        SignValue::Str(self)
    }
}

/// Parses a canonical non-negative decimal integer: digits only, no sign, no leading zero.
///
/// Canonical form keeps decoding lossless: the value re-encodes to the very text that was
/// signed.
pub(crate) fn parse_canonical_u64(field: &'static str, raw: &str) -> Result<u64, Error> {
    let bytes = raw.as_bytes();
    let canonical = !bytes.is_empty()
        && bytes.iter().all(u8::is_ascii_digit)
        && (bytes.len() == 1 || bytes[0] != b'0');
    if !canonical {
        return Err(Error::field(field, FieldProblem::NotAnInteger));
    }
    raw.parse()
        .map_err(|_| Error::field(field, FieldProblem::Overflow))
}

impl WireValue for u32 {
    fn from_wire(field: &'static str, raw: Cow<'_, str>) -> Result<Self, Error> {
        let n = parse_canonical_u64(field, &raw)?;
        u32::try_from(n).map_err(|_| Error::field(field, FieldProblem::Overflow))
    }

    fn write_wire(&self, out: &mut ValueSink<'_>) {
        out.integer(u64::from(*self));
    }

    fn sign_value(&self) -> SignValue<'_> {
        SignValue::Number(u64::from(*self))
    }
}

/// Takes typed fields out of a decoded message; what is left is kept as unknown fields.
pub(crate) struct FieldReader<'a> {
    fields: Fields<'a>,
}

impl<'a> FieldReader<'a> {
    fn take_text(&mut self, name: &'static str) -> Result<Option<Cow<'a, str>>, Error> {
        match self.fields.remove(name) {
            None => Ok(None),
            Some(Node::Text(t)) if t.is_empty() => Ok(None),
            Some(Node::Text(t)) => Ok(Some(t)),
            Some(Node::Elements(_)) => Err(Error::field(name, FieldProblem::Shape)),
        }
    }

    /// A required field: absent or empty is [`FieldProblem::Missing`].
    pub(crate) fn required<T: WireValue>(&mut self, name: &'static str) -> Result<T, Error> {
        match self.take_text(name)? {
            Some(raw) => T::from_wire(name, raw),
            None => Err(Error::field(name, FieldProblem::Missing)),
        }
    }

    /// An optional field: absent or empty is `None`.
    pub(crate) fn optional<T: WireValue>(
        &mut self,
        name: &'static str,
    ) -> Result<Option<T>, Error> {
        match self.take_text(name)? {
            Some(raw) => T::from_wire(name, raw).map(Some),
            None => Ok(None),
        }
    }

    /// A list `<name><item>…</item>…</name>`; elements not named `item` are ignored.
    pub(crate) fn list(
        &mut self,
        name: &'static str,
        item: &'static str,
    ) -> Result<Vec<FieldReader<'a>>, Error> {
        match self.fields.remove(name) {
            None => Ok(Vec::new()),
            Some(Node::Text(t)) if is_xml_whitespace(&t) => Ok(Vec::new()),
            Some(Node::Text(_)) => Err(Error::field(name, FieldProblem::Shape)),
            Some(Node::Elements(children)) => children
                .into_iter()
                .filter(|(n, _)| n == item)
                .map(|(_, value)| match value {
                    Node::Elements(inner) => Ok(RawMessage::from_elements(inner)?.into_reader()),
                    Node::Text(t) if is_xml_whitespace(&t) => Ok(FieldReader {
                        fields: Fields::new(),
                    }),
                    Node::Text(_) => Err(Error::field(item, FieldProblem::Shape)),
                })
                .collect(),
        }
    }

    /// The fields nobody took, copied out of the document.
    pub(crate) fn into_unknown(self) -> BTreeMap<String, RawValue> {
        let Fields {
            known,
            known_set,
            other,
        } = self.fields;
        if known_set == 0 && other.is_empty() {
            return BTreeMap::new();
        }
        KNOWN_NAMES
            .iter()
            .zip(known)
            .filter_map(|(name, node)| node.map(|node| ((*name).to_owned(), node.into_owned())))
            .chain(
                other
                    .into_iter()
                    .map(|(name, node)| (name.into_owned(), node.into_owned())),
            )
            .collect()
    }
}

/// Writes a document field by field.
pub(crate) struct XmlWriter {
    out: String,
}

impl XmlWriter {
    pub(crate) fn new() -> Self {
        // One allocation: 2 KiB holds any realistic request or response (the fixture
        // sendredpack request is about 1 KiB); only very long texts make it grow.
        let mut out = String::with_capacity(2048);
        out.push_str("<xml>");
        Self { out }
    }

    pub(crate) fn field<T: WireValue>(&mut self, name: &str, value: &T) {
        self.open(name);
        value.write_wire(&mut ValueSink { out: &mut self.out });
        self.close(name);
    }

    pub(crate) fn optional<T: WireValue>(&mut self, name: &str, value: Option<&T>) {
        if let Some(value) = value {
            self.field(name, value);
        }
    }

    pub(crate) fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    pub(crate) fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Writes unknown fields back (sorted by name).
    pub(crate) fn unknown(&mut self, fields: &BTreeMap<String, RawValue>) {
        for (name, value) in fields {
            self.raw(name, value);
        }
    }

    fn raw(&mut self, name: &str, value: &RawValue) {
        if !is_xml_name(name) {
            // A name that cannot be written would break the document: leave it out.
            return;
        }
        self.open(name);
        match value {
            RawValue::Text(t) => ValueSink { out: &mut self.out }.text(t),
            RawValue::Elements(children) => {
                for (child, v) in children {
                    self.raw(child, v);
                }
            }
        }
        self.close(name);
    }

    pub(crate) fn finish(mut self) -> String {
        self.out.push_str("</xml>");
        self.out
    }
}

/// Encodes `(name, text)` pairs as a document, in the order given: `<xml>`, each value in
/// CDATA (`]]>` split, characters XML cannot carry replaced by U+FFFD), `</xml>`.
///
/// For tools that rewrite a document field by field, such as a server's signing helper that
/// adds a `sign` to whatever it was given; typed messages use [`XmlMessage::to_xml`]. A pair
/// whose name is not a plain XML name (ASCII letters, digits, `_`, `-`, `.`) is left out.
///
/// [`XmlMessage::to_xml`]: crate::XmlMessage::to_xml
pub fn encode_text_fields<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut w = XmlWriter::new();
    for (name, value) in fields {
        if is_xml_name(name) {
            w.open(name);
            ValueSink { out: &mut w.out }.text(value);
            w.close(name);
        }
    }
    w.finish()
}

/// A conservative check for element names we write from data: ASCII letters, digits, `_`,
/// `-`, `.`, not starting with a digit, `-` or `.`.
fn is_xml_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::{all_xml_chars, is_xml_char};

    #[test]
    fn the_byte_scan_agrees_with_the_character_rule() {
        let samples = [
            "",
            "plain",
            "tab\tnl\ncr\r",
            "a\u{0}b",
            "\u{1}",
            "\u{1F}",
            "\u{7F}\u{85}",
            "天虹🧧",
            "\u{FFFD}",
            "\u{FFFE}",
            "x\u{FFFF}",
            "\u{EFBF}",
            "\u{FEFF}",
            "\u{F000}",
            "\u{EF00}\u{BF}",
            "\u{10FFFF}",
        ];
        for s in samples {
            assert_eq!(all_xml_chars(s), s.chars().all(is_xml_char), "{s:?}");
        }
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let s = c.to_string();
            assert_eq!(all_xml_chars(&s), is_xml_char(c), "{c:?}");
        }
    }
}
