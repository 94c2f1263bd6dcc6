//! The XML codec: one `<xml>` root, one child element per field, nested `hblist/hbinfo`.
//!
//! Decoding goes through a raw tree first ([`RawMessage`]), so a server can verify a
//! signature over the values exactly as received before anything is interpreted, and unknown
//! fields survive a decode/encode round trip. Encoding writes strings as CDATA (splitting any
//! `]]>`) and integers bare, as WeChat Pay does.

use std::collections::BTreeMap;

use quick_xml::events::Event;

use crate::error::{Error, FieldProblem, XmlError};
use crate::sign_fields::SignValue;

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
/// Every name appears once at the top level (a duplicate is an [`XmlError::DuplicateElement`]:
/// it would make the signed value ambiguous).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawMessage {
    fields: BTreeMap<String, RawValue>,
}

impl RawMessage {
    /// Parses a document with the default [`DecodeLimits`].
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        Self::parse_with_limits(bytes, &DecodeLimits::DEFAULT)
    }

    /// Parses a document with the given limits.
    pub fn parse_with_limits(bytes: &[u8], limits: &DecodeLimits) -> Result<Self, Error> {
        let children = parse_document(bytes, limits)?;
        Ok(Self::from_elements(children)?)
    }

    fn from_elements(children: Vec<(String, RawValue)>) -> Result<Self, XmlError> {
        let mut fields = BTreeMap::new();
        for (name, value) in children {
            if fields.contains_key(&name) {
                return Err(XmlError::DuplicateElement {
                    name: truncate(&name),
                });
            }
            fields.insert(name, value);
        }
        Ok(Self { fields })
    }

    /// The text of a top-level field, if present and textual.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.fields.get(name) {
            Some(RawValue::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// A top-level field's raw value.
    pub fn get(&self, name: &str) -> Option<&RawValue> {
        self.fields.get(name)
    }

    /// All top-level fields, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The top-level textual fields as `(name, value)` pairs, sorted by name: what a signature
    /// over the received values covers.
    pub fn text_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().filter_map(|(k, v)| match v {
            RawValue::Text(t) => Some((k.as_str(), t.as_str())),
            RawValue::Elements(_) => None,
        })
    }

    /// The textual fields among `names`, as `(name, value)` pairs: a signature over an
    /// endpoint's known field set, with the values as received.
    pub fn text_pairs_of<'a>(
        &'a self,
        names: &'a [&'a str],
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
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
        self.fields.is_empty()
    }

    pub(crate) fn into_reader(self) -> FieldReader {
        FieldReader {
            fields: self.fields,
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

fn is_xml_whitespace(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Whether XML 1.0 allows the character in a document.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

struct Frame {
    name: String,
    text: String,
    has_text: bool,
    children: Vec<(String, RawValue)>,
}

impl Frame {
    fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            text: String::new(),
            has_text: false,
            children: Vec::new(),
        }
    }

    fn finish(self) -> Result<(String, RawValue), XmlError> {
        if self.children.is_empty() {
            Ok((self.name, RawValue::Text(self.text)))
        } else if self.has_text {
            Err(XmlError::MixedContent)
        } else {
            Ok((self.name, RawValue::Elements(self.children)))
        }
    }
}

/// Parses `<xml>…</xml>` into the root's children.
fn parse_document(
    bytes: &[u8],
    limits: &DecodeLimits,
) -> Result<Vec<(String, RawValue)>, XmlError> {
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

    let mut reader = quick_xml::Reader::from_str(text);
    let config = reader.config_mut();
    config.expand_empty_elements = true;
    config.check_end_names = true;

    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Vec<(String, RawValue)>> = None;
    let mut elements = 0usize;

    loop {
        let event = reader.read_event().map_err(|e| XmlError::Malformed {
            offset: reader.error_position(),
            reason: e.to_string().chars().take(120).collect(),
        })?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::Start(start) => {
                if root.is_some() {
                    return Err(XmlError::TrailingContent);
                }
                let name = start.name();
                let name = name.as_ref();
                if stack.is_empty() && name != "xml" {
                    return Err(XmlError::WrongRoot);
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(XmlError::TooManyElements {
                        limit: limits.max_elements,
                    });
                }
                if stack.len() >= limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: limits.max_depth,
                    });
                }
                stack.push(Frame::new(name));
            }
            Event::Empty(_) => {
                // `expand_empty_elements` turns `<a/>` into Start + End; an Empty event would
                // mean the configuration was lost.
                return Err(XmlError::Malformed {
                    offset: reader.buffer_position(),
                    reason: "unexpected empty element".to_owned(),
                });
            }
            Event::End(_) => {
                let Some(frame) = stack.pop() else {
                    return Err(XmlError::TrailingContent);
                };
                let (name, value) = frame.finish()?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push((name, value)),
                    None => match value {
                        RawValue::Elements(children) => root = Some(children),
                        RawValue::Text(t) if t.is_empty() || is_xml_whitespace(&t) => {
                            root = Some(Vec::new());
                        }
                        RawValue::Text(_) => return Err(XmlError::MixedContent),
                    },
                }
            }
            Event::Text(t) => {
                let content: &str = &t;
                match stack.last_mut() {
                    Some(frame) => {
                        if !is_xml_whitespace(content) {
                            frame.has_text = true;
                        }
                        frame.text.push_str(content);
                    }
                    None if is_xml_whitespace(content) => {}
                    None => return Err(XmlError::TrailingContent),
                }
            }
            Event::CData(c) => {
                let Some(frame) = stack.last_mut() else {
                    return Err(XmlError::TrailingContent);
                };
                frame.has_text = true;
                frame.text.push_str(&c);
            }
            Event::GeneralRef(r) => {
                let Some(frame) = stack.last_mut() else {
                    return Err(XmlError::TrailingContent);
                };
                let c = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) if is_xml_char(c) => c,
                        _ => return Err(XmlError::InvalidCharRef),
                    }
                } else {
                    match &*r {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(XmlError::UnknownEntity {
                                name: truncate(other),
                            });
                        }
                    }
                };
                frame.has_text = true;
                frame.text.push(c);
            }
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(XmlError::Malformed {
                        offset: reader.buffer_position(),
                        reason: "unexpected end of document".to_owned(),
                    });
                }
                return root.ok_or(XmlError::WrongRoot);
            }
        }
    }
}

/// A value that has a text form on the wire.
pub(crate) trait WireValue: Sized {
    /// Parses the wire text of field `field` (never empty: empty means absent).
    fn from_wire(field: &'static str, raw: &str) -> Result<Self, Error>;
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
        self.out.push_str("<![CDATA[");
        let mut rest = value;
        while let Some(at) = rest.find("]]>") {
            push_xml_chars(self.out, &rest[..at]);
            // End the section between `]]` and `>`, and open a new one.
            self.out.push_str("]]]]><![CDATA[>");
            rest = &rest[at + 3..];
        }
        push_xml_chars(self.out, rest);
        self.out.push_str("]]>");
    }

    /// Writes a bare integer.
    pub(crate) fn integer(&mut self, value: u64) {
        use std::fmt::Write;
        // Writing to a String cannot fail.
        let _ = write!(self.out, "{value}");
    }
}

fn push_xml_chars(out: &mut String, s: &str) {
    if s.chars().all(is_xml_char) {
        out.push_str(s);
    } else {
        out.extend(
            s.chars()
                .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' }),
        );
    }
}

impl WireValue for String {
    fn from_wire(_field: &'static str, raw: &str) -> Result<Self, Error> {
        Ok(raw.to_owned())
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
    fn from_wire(field: &'static str, raw: &str) -> Result<Self, Error> {
        let n = parse_canonical_u64(field, raw)?;
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
pub(crate) struct FieldReader {
    fields: BTreeMap<String, RawValue>,
}

impl FieldReader {
    fn take_text(&mut self, name: &'static str) -> Result<Option<String>, Error> {
        match self.fields.remove(name) {
            None => Ok(None),
            Some(RawValue::Text(t)) if t.is_empty() => Ok(None),
            Some(RawValue::Text(t)) => Ok(Some(t)),
            Some(RawValue::Elements(_)) => Err(Error::field(name, FieldProblem::Shape)),
        }
    }

    /// A required field: absent or empty is [`FieldProblem::Missing`].
    pub(crate) fn required<T: WireValue>(&mut self, name: &'static str) -> Result<T, Error> {
        match self.take_text(name)? {
            Some(raw) => T::from_wire(name, &raw),
            None => Err(Error::field(name, FieldProblem::Missing)),
        }
    }

    /// An optional field: absent or empty is `None`.
    pub(crate) fn optional<T: WireValue>(
        &mut self,
        name: &'static str,
    ) -> Result<Option<T>, Error> {
        match self.take_text(name)? {
            Some(raw) => T::from_wire(name, &raw).map(Some),
            None => Ok(None),
        }
    }

    /// A list `<name><item>…</item>…</name>`; elements not named `item` are ignored.
    pub(crate) fn list(
        &mut self,
        name: &'static str,
        item: &'static str,
    ) -> Result<Vec<FieldReader>, Error> {
        match self.fields.remove(name) {
            None => Ok(Vec::new()),
            Some(RawValue::Text(t)) if is_xml_whitespace(&t) => Ok(Vec::new()),
            Some(RawValue::Text(_)) => Err(Error::field(name, FieldProblem::Shape)),
            Some(RawValue::Elements(children)) => children
                .into_iter()
                .filter(|(n, _)| n == item)
                .map(|(_, value)| match value {
                    RawValue::Elements(inner) => {
                        Ok(RawMessage::from_elements(inner)?.into_reader())
                    }
                    RawValue::Text(t) if is_xml_whitespace(&t) => Ok(FieldReader {
                        fields: BTreeMap::new(),
                    }),
                    RawValue::Text(_) => Err(Error::field(item, FieldProblem::Shape)),
                })
                .collect(),
        }
    }

    /// The fields nobody took.
    pub(crate) fn into_unknown(self) -> BTreeMap<String, RawValue> {
        self.fields
    }
}

/// Writes a document field by field.
pub(crate) struct XmlWriter {
    out: String,
}

impl XmlWriter {
    pub(crate) fn new() -> Self {
        let mut out = String::with_capacity(1024);
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

/// A conservative check for element names we write from data: ASCII letters, digits, `_`,
/// `-`, `.`, not starting with a digit, `-` or `.`.
fn is_xml_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}
