//! The XML codec: one `<xml>` root, one child element per field, nested `hblist/hbinfo`.
//!
//! Decoding goes through a raw tree first ([`RawMessage`]), so a server can verify a
//! signature over the values exactly as received before anything is interpreted, and unknown
//! fields survive a decode/encode round trip. Encoding writes strings as CDATA (splitting any
//! `]]>`) and integers bare, as WeChat Pay does.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, FieldProblem, XmlError};
use crate::sign_fields::{Digits, SignValue};
use crate::wire_struct::WireView;

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
    /// Most elements accepted in one document (the root included); 65,534 at the most,
    /// whatever is set.
    pub max_elements: usize,
    /// Deepest accepted nesting (`<xml>` is depth 1); 64 at the most, whatever is set.
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

/// Elements by name. A known name whose value is one piece of the document's text (almost
/// every field) has a slot of its own, found by its index; other elements of a known name
/// are found through an index into a list in document order, and unknown names by a scan
/// of the few there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fields<'a> {
    /// The text of each known name given as one piece of the document, by its place in
    /// [`KNOWN_NAMES`] (`None` when absent, taken, or in `entries`); allocated at the first.
    texts: Option<Box<[Option<&'a str>; KNOWN]>>,
    /// For each known name in `entries`, 1 + its place there; 0 when not there (or taken).
    index: [u16; KNOWN],
    /// The other elements in document order; a taken one is `None`.
    entries: Vec<(&'a str, Option<Node<'a>>)>,
    /// How many elements are not taken.
    live: usize,
    /// Every name of `entries`, once more than [`FEW_UNKNOWN`] are unknown ones: a document
    /// with many unknown fields (under raised limits) finds a repeated name without a scan.
    names: Option<BTreeSet<&'a str>>,
    /// How many of `entries` have an unknown name.
    unknown: usize,
}

/// How many unknown names a scan of the entries checks for repeats before a set does.
const FEW_UNKNOWN: usize = 16;

impl<'a> Fields<'a> {
    /// The fields of a list of elements; the first name given twice is an error.
    pub(crate) fn from_elements(children: Vec<(&'a str, Node<'a>)>) -> Result<Self, XmlError> {
        let mut fields = Fields::new();
        for (name, value) in children {
            fields
                .insert(name, value)
                .map_err(|name| XmlError::DuplicateElement {
                    name: truncate(name),
                })?;
        }
        Ok(fields)
    }

    pub(crate) fn new() -> Self {
        Self {
            texts: None,
            index: [0; KNOWN],
            entries: Vec::new(),
            live: 0,
            names: None,
            unknown: 0,
        }
    }

    /// Adds an element; gives the name back if it is already there.
    pub(crate) fn insert(&mut self, name: &'a str, node: Node<'a>) -> Result<(), &'a str> {
        self.insert_with_id(known_id(name), name, node)
    }

    /// Adds the text of the known name `id` given as one piece of the document (what
    /// [`Self::insert_with_id`] does with it, without a node); gives the name back if it is
    /// already there.
    #[inline]
    pub(crate) fn put_text(
        &mut self,
        id: usize,
        name: &'a str,
        text: &'a str,
    ) -> Result<(), &'a str> {
        if self.index.get(id).is_none_or(|&at| at != 0) {
            return Err(name);
        }
        let texts = self.texts.get_or_insert_with(|| Box::new([None; KNOWN]));
        match texts.get_mut(id) {
            Some(slot @ None) => {
                *slot = Some(text);
                self.live += 1;
                Ok(())
            }
            _ => Err(name),
        }
    }

    /// [`Self::insert`] with the name's [`known_id`] already worked out.
    pub(crate) fn insert_with_id(
        &mut self,
        id: Option<usize>,
        name: &'a str,
        node: Node<'a>,
    ) -> Result<(), &'a str> {
        match id {
            Some(id) => {
                let in_texts = self.texts.as_ref().is_some_and(|texts| texts[id].is_some());
                if in_texts || self.index[id] != 0 {
                    return Err(name);
                }
                if let Node::Text(Cow::Borrowed(text)) = node {
                    self.texts.get_or_insert_with(|| Box::new([None; KNOWN]))[id] = Some(text);
                    self.live += 1;
                    // A borrowed text owns nothing: skip the call to its drop glue.
                    std::mem::forget(node);
                    return Ok(());
                }
                // The scanner stops a document at `scan::MAX_ELEMENTS`, below `u16::MAX`:
                // the fallback is never taken.
                self.index[id] = u16::try_from(self.entries.len() + 1).unwrap_or(0);
                self.entries.push((name, Some(node)));
                self.live += 1;
                return Ok(());
            }
            None => match &mut self.names {
                Some(names) => {
                    if !names.insert(name) {
                        return Err(name);
                    }
                }
                None if self.entries.iter().any(|(n, _)| *n == name) => return Err(name),
                None => {
                    self.unknown += 1;
                    if self.unknown > FEW_UNKNOWN {
                        let mut names: BTreeSet<&'a str> =
                            self.entries.iter().map(|(n, _)| *n).collect();
                        names.insert(name);
                        self.names = Some(names);
                    }
                }
            },
        }
        self.entries.push((name, Some(node)));
        self.live += 1;
        Ok(())
    }

    fn get(&self, name: &str) -> Option<Found<'_, 'a>> {
        let at = match known_id(name) {
            Some(id) => {
                if let Some(text) = self.texts.as_ref().and_then(|texts| texts[id]) {
                    return Some(Found::Text(text));
                }
                usize::from(self.index[id]).checked_sub(1)?
            }
            None => self.entries.iter().position(|(n, _)| *n == name)?,
        };
        self.entries.get(at)?.1.as_ref().map(Found::Node)
    }

    /// Takes the element named `name`.
    fn take(&mut self, name: Name) -> Option<Node<'a>> {
        let at = match name.id {
            Some(id) => {
                if let Some(text) = self.texts.as_mut().and_then(|texts| texts[id].take()) {
                    self.live -= 1;
                    return Some(Node::Text(Cow::Borrowed(text)));
                }
                usize::from(std::mem::take(&mut self.index[id])).checked_sub(1)?
            }
            None => self.entries.iter().position(|(n, _)| *n == name.text)?,
        };
        let node = self.entries.get_mut(at)?.1.take()?;
        self.live -= 1;
        Some(node)
    }

    /// Every element not taken, sorted by name.
    fn sorted(&self) -> Vec<(&str, Found<'_, 'a>)> {
        let mut all: Vec<(&str, Found<'_, 'a>)> =
            self.own_texts()
                .map(|(name, text)| (name, Found::Text(text)))
                .chain(self.entries.iter().filter_map(|(name, node)| {
                    node.as_ref().map(|node| (*name, Found::Node(node)))
                }))
                .collect();
        all.sort_unstable_by(|a, b| a.0.cmp(b.0));
        all
    }

    /// The texts in their own slots that are not taken, with their names.
    fn own_texts(&self) -> impl Iterator<Item = (&'static str, &'a str)> + '_ {
        self.texts.iter().flat_map(|texts| {
            KNOWN_NAMES
                .iter()
                .zip(texts.iter())
                .filter_map(|(name, text)| text.map(|text| (*name, text)))
        })
    }

    fn len(&self) -> usize {
        self.live
    }
}

/// An element found in [`Fields`]: a text in its own slot, or a node of the list.
#[derive(Debug, Clone, Copy)]
enum Found<'s, 'a> {
    Text(&'a str),
    Node(&'s Node<'a>),
}

impl<'s> Found<'s, '_> {
    /// The text, if the element is one.
    fn text(self) -> Option<&'s str> {
        match self {
            Found::Text(text) => Some(text),
            Found::Node(Node::Text(text)) => Some(text),
            Found::Node(Node::Elements(_)) => None,
        }
    }

    /// The value, copied out of the document.
    fn to_raw(self) -> RawValue {
        match self {
            Found::Text(text) => RawValue::Text(text.to_owned()),
            Found::Node(node) => node.clone().into_owned(),
        }
    }
}

/// An element of a parsed document, borrowing from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node<'a> {
    Text(Cow<'a, str>),
    Elements(Vec<(&'a str, Node<'a>)>),
}

impl Node<'_> {
    fn into_owned(self) -> RawValue {
        match self {
            Node::Text(t) => RawValue::Text(t.into_owned()),
            Node::Elements(children) => RawValue::Elements(
                children
                    .into_iter()
                    .map(|(name, node)| (name.to_owned(), node.into_owned()))
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
        Ok(Self {
            fields: parse_document(bytes, limits)?,
        })
    }

    fn from_elements(children: Vec<(&'a str, Node<'a>)>) -> Result<Self, XmlError> {
        Ok(Self {
            fields: Fields::from_elements(children)?,
        })
    }

    /// The text of a top-level field, if present and textual.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields.get(name)?.text()
    }

    /// A top-level field's value, copied out of the document.
    pub fn value(&self, name: &str) -> Option<RawValue> {
        self.fields.get(name).map(Found::to_raw)
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
            .filter_map(|(k, v)| v.text().map(|v| (k, v)))
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

/// A field name given at compile time, with its place in [`KNOWN_NAMES`] (if it is one)
/// worked out then, so that reading a field compares no strings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Name {
    pub(crate) text: &'static str,
    id: Option<usize>,
}

impl Name {
    /// The name `text`; use in a `const` context.
    pub(crate) const fn known(text: &'static str) -> Self {
        let mut id = 0;
        while id < KNOWN {
            if bytes_eq(KNOWN_NAMES[id].as_bytes(), text.as_bytes()) {
                return Self { text, id: Some(id) };
            }
            id += 1;
        }
        // A name outside the table (a group of fields flattened into the message has one)
        // is looked up by comparison.
        Self { text, id: None }
    }
}

const fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The multiplier of [`name_hash`], chosen so that the 44 known names land in 44 different
/// slots of [`NAME_SLOTS`] (checked when the table is built, at compile time).
const NAME_HASH_MULTIPLIER: u32 = 0x56b3_0575;

/// A hash of a name, in `0..128`, from its length and its first and last four bytes (which
/// tell the known names apart: `result_code`/`return_code` differ in the first four,
/// `send_name`/`send_time` in the last four).
const fn name_hash(name: &[u8]) -> usize {
    let len = name.len();
    let (first, last) = if len >= 4 {
        (
            u32::from_le_bytes([name[0], name[1], name[2], name[3]]),
            u32::from_le_bytes([name[len - 4], name[len - 3], name[len - 2], name[len - 1]]),
        )
    } else {
        let mut short = 0u32;
        let mut i = 0;
        while i < len {
            short |= (name[i] as u32) << (8 * i);
            i += 1;
        }
        (short, short)
    };
    let key = first ^ last.rotate_left(13) ^ len as u32;
    (key.wrapping_mul(NAME_HASH_MULTIPLIER) >> 25) as usize
}

/// For each hash, 1 + the index in [`KNOWN_NAMES`] of the name with that hash, or 0.
static NAME_SLOTS: [u8; 128] = {
    let mut slots = [0u8; 128];
    let mut id = 0;
    while id < KNOWN {
        let h = name_hash(KNOWN_NAMES[id].as_bytes());
        assert!(slots[h] == 0, "two known names share a hash slot");
        slots[h] = id as u8 + 1;
        id += 1;
    }
    slots
};

/// The index of a known name in [`KNOWN_NAMES`]: one hash and one comparison.
pub(crate) fn known_id(name: &str) -> Option<usize> {
    let bytes = name.as_bytes();
    // The longest known name has 14 bytes.
    if bytes.len() > 14 {
        return None;
    }
    let hash = match (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        // The same value as `name_hash`, from two word loads.
        (Some(first), Some(last)) => {
            let key = u32::from_le_bytes(*first)
                ^ u32::from_le_bytes(*last).rotate_left(13)
                ^ bytes.len() as u32;
            (key.wrapping_mul(NAME_HASH_MULTIPLIER) >> 25) as usize
        }
        _ => name_hash(bytes),
    };
    let id = usize::from(NAME_SLOTS[hash]).checked_sub(1)?;
    short_eq(KNOWN_NAMES[id].as_bytes(), bytes).then_some(id)
}

/// `a == b` for the short strings of tag names: two overlapping word loads inline instead
/// of a call into `memcmp`.
#[inline]
pub(crate) fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&s[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    let half = |s: &[u8], at: usize| {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(&s[at..at + 4]);
        u32::from_le_bytes(bytes)
    };
    if (8..=16).contains(&len) {
        word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8)
    } else if (4..8).contains(&len) {
        half(a, 0) == half(b, 0) && half(a, len - 4) == half(b, len - 4)
    } else if len < 4 {
        a.iter().zip(b).all(|(x, y)| x == y)
    } else {
        a == b
    }
}

/// A name of the document, as the static string when it is a known one (either way
/// without a copy), with its [`known_id`].
pub(crate) fn named(name: &str) -> (&str, Option<usize>) {
    match known_id(name) {
        Some(id) => (KNOWN_NAMES[id], Some(id)),
        None => (name, None),
    }
}

/// The name as a static string: the known one, else a copy kept for the rest of the test
/// run (for the reference decoder, whose names borrow from its events, not the input).
#[cfg(test)]
pub(crate) fn intern(name: &str) -> &'static str {
    match known_id(name) {
        Some(id) => KNOWN_NAMES[id],
        None => Box::leak(name.to_owned().into_boxed_str()),
    }
}

pub(crate) struct Frame<'a> {
    name: &'a str,
    /// The name's [`known_id`].
    pub(crate) id: Option<usize>,
    text: Option<Cow<'a, str>>,
    pub(crate) has_text: bool,
    /// Whether a child element has ended inside it (the root's children go to the document's
    /// [`Fields`], not to `children`).
    pub(crate) has_children: bool,
    pub(crate) children: Vec<(&'a str, Node<'a>)>,
}

impl<'a> Frame<'a> {
    #[cfg(test)]
    pub(crate) fn new(name: &'a str) -> Self {
        let id = known_id(name);
        Self::with_id(name, id)
    }

    /// An element named `name` (see [`named`]).
    pub(crate) fn with_id(name: &'a str, id: Option<usize>) -> Self {
        Self {
            name,
            id,
            text: None,
            has_text: false,
            has_children: false,
            children: Vec::new(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        self.name
    }

    /// Adds an ended child element.
    pub(crate) fn push_child(&mut self, name: &'a str, node: Node<'a>) {
        self.has_children = true;
        self.children.push((name, node));
    }

    /// Notes that a child element has ended inside it. Text before the first child is
    /// layout (or, if it is not whitespace, an error that `has_text` remembers).
    pub(crate) fn adopt_child(&mut self) {
        if !self.has_children {
            self.has_children = true;
            self.text = None;
        }
    }

    /// Appends text, borrowing while it is one piece of the input.
    pub(crate) fn push_text(&mut self, piece: Cow<'a, str>) {
        match &mut self.text {
            None => self.text = Some(piece),
            Some(text) => text.to_mut().push_str(&piece),
        }
    }

    pub(crate) fn finish(self) -> Result<(&'a str, Node<'a>), XmlError> {
        if !self.has_children {
            Ok((self.name, Node::Text(self.text.unwrap_or_default())))
        } else if self.has_text {
            Err(XmlError::MixedContent)
        } else {
            Ok((self.name, Node::Elements(self.children)))
        }
    }
}

/// Parses `<xml>…</xml>` into the root's children.
fn parse_document<'a>(bytes: &'a [u8], limits: &DecodeLimits) -> Result<Fields<'a>, XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            limit: limits.max_bytes,
        });
    }
    // A vectorised check first (most of a response is ASCII markup and CJK text, where the
    // standard library goes character by character); the standard one finds the offset of
    // an error.
    let text = match simdutf8::basic::from_utf8(bytes) {
        Ok(text) => text,
        Err(_) => std::str::from_utf8(bytes).map_err(|e| XmlError::NotUtf8 {
            offset: e.valid_up_to(),
        })?,
    };
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

/// An element name and its tags, spelled out at compile time by `tag!`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tag {
    /// `<name>`.
    pub(crate) open: &'static str,
    /// `</name>`.
    pub(crate) close: &'static str,
    /// `<name><![CDATA[`.
    pub(crate) open_cdata: &'static str,
    /// `]]></name>`.
    pub(crate) close_cdata: &'static str,
}

/// Where a [`WireValue`] writes itself: CDATA text or a bare integer, inside its element's
/// tags when it has a [`Tag`] (the caller writes them otherwise).
pub(crate) struct ValueSink<'a> {
    out: &'a mut String,
    tag: Option<&'a Tag>,
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
        let (open, close) = match self.tag {
            Some(tag) => (tag.open_cdata, tag.close_cdata),
            None => ("<![CDATA[", "]]>"),
        };
        self.out.push_str(open);
        let mut rest = value;
        while let Some(at) = find_cdata_end(rest) {
            self.out.push_str(&rest[..at]);
            // End the section between `]]` and `>`, and open a new one.
            self.out.push_str("]]]]><![CDATA[>");
            rest = &rest[at + 3..];
        }
        self.out.push_str(rest);
        self.out.push_str(close);
    }

    /// Writes a bare integer.
    pub(crate) fn integer(&mut self, value: u64) {
        match self.tag {
            Some(tag) => {
                self.out.push_str(tag.open);
                self.out.push_str(Digits::new(value).as_str());
                self.out.push_str(tag.close);
            }
            None => self.out.push_str(Digits::new(value).as_str()),
        }
    }
}

/// Where `]]>` first occurs.
fn find_cdata_end(s: &str) -> Option<usize> {
    crate::scan::find_cdata_close(s.as_bytes())
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
pub(crate) fn all_xml_chars(s: &str) -> bool {
    let bytes = s.as_bytes();
    // In UTF-8 a byte below 0x20 is always that control character itself. First the
    // smallest byte with newlines lifted out of the control range (four vector operations
    // per sixteen bytes): at 0x20 or more, the only control characters are newlines. Only
    // a document with another byte below 0x20 (a tab or CR, or one refused) is checked
    // byte by byte. Both are folds without early exit, which the compiler vectorises; then
    // the rare `EF` lead bytes.
    let smallest = bytes
        .iter()
        .fold(0xFF_u8, |min, &b| min.min(b | (u8::from(b == b'\n') << 5)));
    let control = smallest < 0x20
        && bytes.iter().fold(false, |seen, &b| {
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
    fn take_text(&mut self, name: Name) -> Result<Option<Cow<'a, str>>, Error> {
        match self.fields.take(name) {
            None => Ok(None),
            Some(Node::Text(t)) if t.is_empty() => Ok(None),
            Some(Node::Text(t)) => Ok(Some(t)),
            Some(Node::Elements(_)) => Err(Error::field(name.text, FieldProblem::Shape)),
        }
    }

    /// A required field: absent or empty is [`FieldProblem::Missing`].
    pub(crate) fn required<T: WireValue>(&mut self, name: Name) -> Result<T, Error> {
        match self.take_text(name)? {
            Some(raw) => T::from_wire(name.text, raw),
            None => Err(Error::field(name.text, FieldProblem::Missing)),
        }
    }

    /// An optional field: absent or empty is `None`.
    pub(crate) fn optional<T: WireValue>(&mut self, name: Name) -> Result<Option<T>, Error> {
        match self.take_text(name)? {
            Some(raw) => T::from_wire(name.text, raw).map(Some),
            None => Ok(None),
        }
    }

    /// A required field as a view reads it.
    pub(crate) fn required_view<T: WireView>(&mut self, name: Name) -> Result<T::View<'a>, Error> {
        match self.take_text(name)? {
            Some(raw) => T::from_wire_view(name.text, raw),
            None => Err(Error::field(name.text, FieldProblem::Missing)),
        }
    }

    /// An optional field as a view reads it.
    pub(crate) fn optional_view<T: WireView>(
        &mut self,
        name: Name,
    ) -> Result<Option<T::View<'a>>, Error> {
        match self.take_text(name)? {
            Some(raw) => T::from_wire_view(name.text, raw).map(Some),
            None => Ok(None),
        }
    }

    /// A list `<name><item>…</item>…</name>`, item by item; elements not named `item` are
    /// ignored.
    pub(crate) fn list(
        &mut self,
        name: Name,
        item: &'static str,
    ) -> Result<impl Iterator<Item = Result<FieldReader<'a>, Error>>, Error> {
        let children = match self.fields.take(name) {
            None => Vec::new(),
            Some(Node::Text(t)) if is_xml_whitespace(&t) => Vec::new(),
            Some(Node::Text(_)) => return Err(Error::field(name.text, FieldProblem::Shape)),
            Some(Node::Elements(children)) => children,
        };
        Ok(children.into_iter().filter(move |(n, _)| *n == item).map(
            move |(_, value)| match value {
                Node::Elements(inner) => Ok(RawMessage::from_elements(inner)?.into_reader()),
                Node::Text(t) if is_xml_whitespace(&t) => Ok(FieldReader {
                    fields: Fields::new(),
                }),
                Node::Text(_) => Err(Error::field(item, FieldProblem::Shape)),
            },
        ))
    }

    /// The fields nobody took so far, copied out of the document (the reader is left
    /// empty).
    pub(crate) fn take_unknown(&mut self) -> BTreeMap<String, RawValue> {
        std::mem::replace(
            self,
            FieldReader {
                fields: Fields::new(),
            },
        )
        .into_unknown()
    }

    /// The fields nobody took, copied out of the document.
    pub(crate) fn into_unknown(self) -> BTreeMap<String, RawValue> {
        if self.fields.live == 0 {
            return BTreeMap::new();
        }
        let texts: Vec<(String, RawValue)> = self
            .fields
            .own_texts()
            .map(|(name, text)| (name.to_owned(), RawValue::Text(text.to_owned())))
            .collect();
        texts
            .into_iter()
            .chain(
                self.fields.entries.into_iter().filter_map(|(name, node)| {
                    node.map(|node| (name.to_owned(), node.into_owned()))
                }),
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
        // One allocation: 1 KiB holds a typical request or response (the fixture
        // sendredpack request is 722 bytes), and is the largest block glibc's allocator
        // keeps in its fast per-thread cache; long texts or claim lists make it grow.
        let mut out = String::with_capacity(1024);
        out.push_str("<xml>");
        Self { out }
    }

    pub(crate) fn field<T: WireValue>(&mut self, tag: &Tag, value: &T) {
        value.write_wire(&mut ValueSink {
            out: &mut self.out,
            tag: Some(tag),
        });
    }

    pub(crate) fn optional<T: WireValue>(&mut self, tag: &Tag, value: Option<&T>) {
        if let Some(value) = value {
            self.field(tag, value);
        }
    }

    pub(crate) fn open_tag(&mut self, tag: &Tag) {
        self.out.push_str(tag.open);
    }

    pub(crate) fn close_tag(&mut self, tag: &Tag) {
        self.out.push_str(tag.close);
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
            RawValue::Text(t) => ValueSink {
                out: &mut self.out,
                tag: None,
            }
            .text(t),
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

/// A document with every `\r\n` and lone `\r` read as `\n`, as XML 1.0 §2.11 asks of every
/// parser before anything else (CDATA sections included); borrowed when it has no `\r`.
///
/// [`RawMessage::parse`] borrows its texts from the bytes it is given and does not do this
/// itself: call it first where the texts must be what any XML parser reads, such as a server
/// checking a request's signature over them.
pub fn normalize_line_breaks(document: &[u8]) -> Cow<'_, [u8]> {
    if !document.contains(&b'\r') {
        return Cow::Borrowed(document);
    }
    let mut out = Vec::with_capacity(document.len());
    let mut bytes = document.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if b == b'\r' {
            out.push(b'\n');
            bytes.next_if_eq(&b'\n');
        } else {
            out.push(b);
        }
    }
    Cow::Owned(out)
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
            ValueSink {
                out: &mut w.out,
                tag: None,
            }
            .text(value);
            w.close(name);
        }
    }
    w.finish()
}

/// A conservative check for element names we write from data: ASCII letters, digits, `_`,
/// `-`, `.`, not starting with a digit, `-` or `.`.
pub(crate) fn is_xml_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::{KNOWN_NAMES, all_xml_chars, is_xml_char, known_id, name_hash, short_eq};

    #[test]
    fn short_eq_is_equality_at_every_length() {
        for len in 0..40 {
            let a: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(short_eq(&a, &a.clone()), "{len}");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!short_eq(&a, &b), "{len} {at}");
            }
            assert!(!short_eq(&a, &a[..len.saturating_sub(1)]) || len == 0);
        }
    }

    #[test]
    fn every_known_name_is_found_and_nothing_else() {
        for (id, name) in KNOWN_NAMES.iter().enumerate() {
            assert_eq!(known_id(name), Some(id), "{name}");
            // Near misses: a byte more, a byte less, another case.
            assert_eq!(known_id(&format!("{name}_")), None);
            assert_eq!(known_id(&name[..name.len() - 1]), None);
            assert_eq!(known_id(&name.to_ascii_uppercase()), None);
        }
        // Names sharing a slot with a known one (found by search) are still not known.
        let slot_of_sign = name_hash(b"sign");
        let mut shared = 0;
        for a in b'a'..=b'z' {
            for b in b'a'..=b'z' {
                for c in b'a'..=b'z' {
                    let candidate = [a, b, c];
                    if name_hash(&candidate) == slot_of_sign {
                        shared += 1;
                        let candidate = std::str::from_utf8(&candidate).unwrap();
                        assert_eq!(known_id(candidate), None, "{candidate}");
                    }
                }
            }
        }
        assert!(shared > 0);
        for other in ["", "x", "xmlx", "天", "consume_mch_id_and_more", "sign\0"] {
            assert_eq!(known_id(other), None, "{other:?}");
        }
    }

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
