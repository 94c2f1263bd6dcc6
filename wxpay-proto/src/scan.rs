//! A scanner for the XML that WeChat Pay v2 speaks: one `<xml>` root, child elements holding
//! text (escaped or CDATA) or further elements. It reads the document once, borrows every
//! text it can, and refuses what the codec refuses (any DOCTYPE, unknown entities, mixed
//! content, anything after the root).
//!
//! Works on bytes of a `str` already checked to be UTF-8: every position it slices at is next
//! to an ASCII byte, so every slice is a `str` again.

use std::borrow::Cow;

use crate::codec::{
    DecodeLimits, Fields, Frame, Node, is_xml_char, is_xml_name, is_xml_whitespace, named,
    short_eq, truncate,
};
use crate::error::XmlError;

/// Parses `<xml>…</xml>` (after the caller's size, UTF-8, BOM and emptiness checks) into
/// the root's children, by name.
///
/// The root's children go straight into [`Fields`] as they end. A name given twice there is
/// reported once the whole document has been read, so that a malformed document is reported
/// as such first whatever it repeats.
pub(crate) fn parse<'a>(text: &'a str, limits: &DecodeLimits) -> Result<Fields<'a>, XmlError> {
    let mut s = Scanner { text, pos: 0 };
    let mut stack: Vec<Frame<'a>> = Vec::with_capacity(4);
    let mut doc = Document {
        fields: Fields::new(),
        duplicate: None,
        done: false,
    };
    let mut elements = 0usize;
    let max_elements = limits.max_elements.min(MAX_ELEMENTS);
    let max_depth = limits.max_depth.min(MAX_DEPTH);

    loop {
        if !stack.is_empty() && stack.len() < max_depth {
            // Most children are `<name>` one text `</name>`, one after the other with layout
            // between them: read them in a tight loop, straight into the open element, and
            // anything else in the general one below.
            let at_root = stack.len() == 1;
            while let Some((name, id, text)) = s.simple_child() {
                elements += 1;
                if elements > max_elements {
                    return Err(XmlError::TooManyElements {
                        limit: max_elements,
                    });
                }
                match id {
                    // A known field of the message: straight into its slot.
                    Some(id) if at_root => {
                        if let Some(root) = stack.last_mut() {
                            root.adopt_child();
                        }
                        let put = doc.fields.put_text(id, name, text);
                        doc.note(put);
                    }
                    _ => attach(
                        name,
                        id,
                        Node::Text(Cow::Borrowed(text)),
                        &mut stack,
                        &mut doc,
                    ),
                }
                // The open element has a child now: whitespace is layout.
                s.skip_whitespace();
            }
        }
        let Some(byte) = s.peek() else {
            if !stack.is_empty() {
                return Err(s.malformed("unexpected end of document"));
            }
            if !doc.done {
                return Err(XmlError::WrongRoot);
            }
            return match doc.duplicate {
                Some(duplicate) => Err(duplicate),
                None => Ok(doc.fields),
            };
        };
        if byte == b'<' {
            match s.peek_at(1) {
                Some(b'/') => {
                    let Some(frame) = stack.pop() else {
                        // Read the tag anyway: a malformed one is reported as such.
                        s.end_tag()?;
                        return Err(XmlError::TrailingContent);
                    };
                    // Almost always `</name>` of the open element, checked in one comparison.
                    if !s.expected_end_tag(frame.name()) {
                        let name = s.end_tag()?;
                        if frame.name() != name {
                            return Err(s.malformed("end tag does not match the start tag"));
                        }
                    }
                    close(frame, &mut stack, &mut doc)?;
                }
                Some(b'!') => {
                    if s.starts_with("<!--") {
                        s.skip_past(4, "-->", "unterminated comment")?;
                    } else if s.starts_with("<![CDATA[") {
                        let Some(frame) = stack.last_mut() else {
                            return Err(XmlError::TrailingContent);
                        };
                        let content = s.take_until(9, "]]>", "unterminated CDATA section")?;
                        frame.has_text = true;
                        frame.push_text(Cow::Borrowed(content));
                    } else if s.starts_with_ignore_case("<!DOCTYPE") {
                        return Err(XmlError::Doctype);
                    } else {
                        return Err(s.malformed("unexpected markup declaration"));
                    }
                }
                Some(b'?') => {
                    let in_prolog = elements == 0;
                    let at = s.pos;
                    let instruction =
                        s.take_until(2, "?>", "unterminated processing instruction")?;
                    check_declaration(instruction, in_prolog, at)?;
                }
                _ => {
                    if doc.done {
                        return Err(XmlError::TrailingContent);
                    }
                    let (name, interned, id, empty) = s.start_tag()?;
                    if stack.is_empty() && name != "xml" {
                        return Err(XmlError::WrongRoot);
                    }
                    elements += 1;
                    if elements > max_elements {
                        return Err(XmlError::TooManyElements {
                            limit: max_elements,
                        });
                    }
                    if stack.len() >= max_depth {
                        return Err(XmlError::TooDeep { limit: max_depth });
                    }
                    if !empty && !stack.is_empty() {
                        // Most elements are one text and their end tag: no frame for them.
                        if let Some(text) = s.simple_text(name) {
                            attach(
                                interned,
                                id,
                                Node::Text(Cow::Borrowed(text)),
                                &mut stack,
                                &mut doc,
                            );
                            continue;
                        }
                    }
                    let frame = Frame::with_id(interned, id);
                    if empty {
                        close(frame, &mut stack, &mut doc)?;
                    } else {
                        stack.push(frame);
                    }
                }
            }
        } else if byte == b'&' {
            let Some(frame) = stack.last_mut() else {
                return Err(XmlError::TrailingContent);
            };
            let c = s.reference()?;
            frame.has_text = true;
            let mut buf = [0u8; 4];
            frame.push_text(Cow::Owned(c.encode_utf8(&mut buf).to_owned()));
        } else if matches!(byte, b'\n' | b' ' | b'\t' | b'\r')
            && stack.last().is_none_or(|frame| frame.has_children)
        {
            // Layout between elements (or around the root): no value to keep, and whatever
            // follows the whitespace is read on its own (non-whitespace text still counts as
            // text where it must not be).
            s.skip_whitespace();
        } else {
            let run = s.text_run();
            match stack.last_mut() {
                Some(frame) => {
                    if !is_xml_whitespace(run) {
                        frame.has_text = true;
                        frame.push_text(Cow::Borrowed(run));
                    } else if !frame.has_children {
                        // Whitespace matters only in an element without children (its value);
                        // between children it is layout.
                        frame.push_text(Cow::Borrowed(run));
                    }
                }
                None if is_xml_whitespace(run) => {}
                None => return Err(XmlError::TrailingContent),
            }
        }
    }
}

/// A processing instruction's text (after `<?`): if it is the XML declaration (target
/// `xml`, any case), it must come before the root element and declare no encoding but UTF-8,
/// the only one this decoder reads. Other instructions are ignored, wherever they are.
fn check_declaration(instruction: &str, in_prolog: bool, at: usize) -> Result<(), XmlError> {
    let target_end = instruction
        .find(|c: char| c.is_ascii_whitespace())
        .unwrap_or(instruction.len());
    if !instruction[..target_end].eq_ignore_ascii_case("xml") {
        return Ok(());
    }
    let refuse = |reason: &str| XmlError::Malformed {
        offset: at as u64,
        reason: reason.to_owned(),
    };
    if !in_prolog {
        return Err(refuse("an XML declaration after the start of the document"));
    }
    let Some(after) = instruction.find("encoding").map(|i| &instruction[i + 8..]) else {
        return Ok(());
    };
    let value = after
        .trim_start()
        .strip_prefix('=')
        .map(str::trim_start)
        .and_then(|v| {
            let quote = v.chars().next().filter(|q| *q == '"' || *q == '\'')?;
            let v = &v[1..];
            v.find(quote).map(|end| &v[..end])
        });
    match value {
        Some(name) if name.eq_ignore_ascii_case("UTF-8") => Ok(()),
        Some(_) => Err(refuse("an encoding other than UTF-8")),
        None => Err(refuse("a malformed encoding declaration")),
    }
}

/// The most elements a document may have whatever its [`DecodeLimits`] say: the field index
/// keeps places as `u16`.
pub(crate) const MAX_ELEMENTS: usize = u16::MAX as usize - 1;

/// The deepest a document may nest whatever its [`DecodeLimits`] say: an unknown element's
/// subtree is copied, written and dropped by recursion, one call per level, which must fit
/// any thread's stack.
pub(crate) const MAX_DEPTH: usize = 64;

/// What the document holds so far: the root's children, the first name repeated among them,
/// and whether the root has ended.
struct Document<'a> {
    fields: Fields<'a>,
    duplicate: Option<XmlError>,
    done: bool,
}

/// Ends an element: hands it to its parent (the document's fields for the root's children),
/// or ends the root.
fn close<'a>(
    frame: Frame<'a>,
    stack: &mut [Frame<'a>],
    doc: &mut Document<'a>,
) -> Result<(), XmlError> {
    let id = frame.id;
    let (name, value) = frame.finish()?;
    if stack.is_empty() {
        match value {
            Node::Elements(_) => {}
            Node::Text(t) if is_xml_whitespace(&t) => {}
            Node::Text(_) => return Err(XmlError::MixedContent),
        }
        doc.done = true;
    } else {
        attach(name, id, value, stack, doc);
    }
    Ok(())
}

/// Hands an ended element to the open one (the document's fields for the root's children).
fn attach<'a>(
    name: &'a str,
    id: Option<usize>,
    value: Node<'a>,
    stack: &mut [Frame<'a>],
    doc: &mut Document<'a>,
) {
    let at_root = stack.len() == 1;
    let Some(parent) = stack.last_mut() else {
        return;
    };
    parent.adopt_child();
    if at_root {
        let inserted = doc.fields.insert_with_id(id, name, value);
        doc.note(inserted);
    } else {
        parent.push_child(name, value);
    }
}

impl Document<'_> {
    /// Remembers the first name given twice among the root's children (reported once the
    /// whole document has been read).
    fn note(&mut self, inserted: Result<(), &str>) {
        if let Err(name) = inserted
            && self.duplicate.is_none()
        {
            self.duplicate = Some(XmlError::DuplicateElement {
                name: truncate(name),
            });
        }
    }
}

/// How far the word-at-a-time searches look before handing over to `memchr` (whose setup
/// costs more than a short text).
const SHORT: usize = 64;
const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each zero byte of `x` (exact up to the first zero byte; what follows it
/// may be flagged too, which the callers never look at).
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// The eight bytes at `at`, if there are eight.
fn word_at(hay: &[u8], at: usize) -> Option<u64> {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(hay.get(at..at + 8)?);
    Some(u64::from_le_bytes(bytes))
}

/// Where `byte` first occurs in `hay`.
fn find_byte(hay: &[u8], byte: u8) -> Option<usize> {
    let pattern = ONES * u64::from(byte);
    find_short(
        hay,
        |word| zero_bytes(word ^ pattern),
        |x| x == byte,
        |rest| memchr::memchr(byte, rest),
    )
}

/// Where `a` or `b` first occurs in `hay`.
fn find_either(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    let (pa, pb) = (ONES * u64::from(a), ONES * u64::from(b));
    find_short(
        hay,
        |word| zero_bytes(word ^ pa) | zero_bytes(word ^ pb),
        |x| x == a || x == b,
        |rest| memchr::memchr2(a, b, rest),
    )
}

/// The first byte of `hay` that `byte_matches`: word at a time for the first [`SHORT`]
/// bytes (`word_matches` flags the high bit of each matching byte, exact up to the first),
/// the last bytes of a short text in a loop (cheaper than a call), and `long` for the rest
/// of a long one.
#[inline(always)]
fn find_short(
    hay: &[u8],
    word_matches: impl Fn(u64) -> u64,
    byte_matches: impl Fn(u8) -> bool,
    long: impl Fn(&[u8]) -> Option<usize>,
) -> Option<usize> {
    let mut at = 0;
    while at < SHORT {
        let Some(word) = word_at(hay, at) else {
            return hay
                .get(at..)?
                .iter()
                .position(|&x| byte_matches(x))
                .map(|i| at + i);
        };
        let found = word_matches(word);
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    long(hay.get(at..)?).map(|i| at + i)
}

/// Where `needle` (a short ASCII delimiter) first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(skip) = find_byte(hay.get(from..)?, first) {
        let at = from + skip;
        // Byte by byte: the delimiters are two or three bytes, less than a call to `memcmp`.
        let follows = rest
            .iter()
            .enumerate()
            .all(|(i, b)| hay.get(at + 1 + i) == Some(b));
        if follows {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Where `]]>` first occurs in `hay`.
pub(crate) fn find_cdata_close(hay: &[u8]) -> Option<usize> {
    let mut from = 0;
    loop {
        let at = from + find_byte(hay.get(from..)?, b']')?;
        if hay.get(at + 1) == Some(&b']') && hay.get(at + 2) == Some(&b'>') {
            return Some(at);
        }
        from = at + 1;
    }
}

/// What a byte means inside a tag name: part of it, its end, or an error.
const NAME_PART: u8 = 0;
const NAME_END: u8 = 1;
const NAME_BAD: u8 = 2;

/// [`NAME_PART`], [`NAME_END`] or [`NAME_BAD`] for each byte value.
static NAME_CLASS: [u8; 256] = {
    let mut class = [NAME_PART; 256];
    let ends = b" \t\r\n/>";
    let mut i = 0;
    while i < ends.len() {
        class[ends[i] as usize] = NAME_END;
        i += 1;
    }
    let bad = b"<&=\"'!?";
    let mut i = 0;
    while i < bad.len() {
        class[bad[i] as usize] = NAME_BAD;
        i += 1;
    }
    class
};

/// Where the name at the start of `rest` ends: the first byte that is not [`NAME_PART`].
///
/// Eight bytes at a time: every byte that ends a name or is refused in one (`<>/=&!?"'`,
/// space, tab, CR, LF) is below 0x40, so the first byte below 0x40 in a word is found with
/// no loop over bytes. If it is part of a name after all (a digit, `-`, `.`, `:`), the search
/// goes on after it.
fn name_len(rest: &[u8]) -> Option<usize> {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut at = 0;
    while let Some(x) = word_at(rest, at) {
        // A byte is below 0x40 iff its two top bits are clear: the high bit of each byte
        // of `x | x << 1` is its bit 7 or bit 6 (the shift carries nothing into bit 7 of
        // the next byte), so the mask is exact for every byte.
        let low = !(x | (x << 1)) & HIGH;
        if low == 0 {
            at += 8;
            continue;
        }
        let first = at + (low.trailing_zeros() / 8) as usize;
        if NAME_CLASS[usize::from(rest[first])] != NAME_PART {
            return Some(first);
        }
        at = first + 1;
    }
    rest[at..]
        .iter()
        .position(|&b| NAME_CLASS[usize::from(b)] != NAME_PART)
        .map(|len| at + len)
}

/// A start tag: its name, the name interned with its [`known_id`](crate::codec::known_id),
/// and whether the element is empty (`<name/>`).
type StartTag<'a> = (&'a str, &'a str, Option<usize>, bool);

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<u8> {
        self.bytes().get(self.pos + ahead).copied()
    }

    fn starts_with(&self, prefix: &str) -> bool {
        self.bytes()[self.pos..].starts_with(prefix.as_bytes())
    }

    fn starts_with_ignore_case(&self, prefix: &str) -> bool {
        self.bytes()
            .get(self.pos..self.pos + prefix.len())
            .is_some_and(|b| b.eq_ignore_ascii_case(prefix.as_bytes()))
    }

    fn malformed(&self, reason: &str) -> XmlError {
        XmlError::Malformed {
            offset: self.pos as u64,
            reason: reason.to_owned(),
        }
    }

    /// The text between `pos + skip` and the next `end`; moves past `end`.
    fn take_until(&mut self, skip: usize, end: &str, missing: &str) -> Result<&'a str, XmlError> {
        let from = self.pos + skip;
        let Some(at) = self
            .bytes()
            .get(from..)
            .and_then(|rest| find(rest, end.as_bytes()))
        else {
            return Err(self.malformed(missing));
        };
        self.pos = from + at + end.len();
        // `from` follows ASCII markup and `at` is where ASCII `end` starts: both are char
        // boundaries.
        Ok(&self.text[from..from + at])
    }

    fn skip_past(&mut self, skip: usize, end: &str, missing: &str) -> Result<(), XmlError> {
        self.take_until(skip, end, missing).map(drop)
    }

    /// Text up to the next `<` or `&` (or the end).
    fn text_run(&mut self) -> &'a str {
        let rest = &self.bytes()[self.pos..];
        let len = find_either(rest, b'<', b'&').unwrap_or(rest.len());
        let run = &self.text[self.pos..self.pos + len];
        self.pos += len;
        run
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    /// A tag name at `pos`.
    fn name(&mut self) -> Result<&'a str, XmlError> {
        let start = self.pos;
        let rest = &self.bytes()[start..];
        let Some(len) = name_len(rest) else {
            return Err(self.malformed("unexpected end of document"));
        };
        self.pos = start + len;
        if NAME_CLASS[usize::from(rest[len])] == NAME_BAD {
            return Err(self.malformed("invalid character in a name"));
        }
        if len == 0 {
            return Err(self.malformed("missing name"));
        }
        Ok(&self.text[start..self.pos])
    }

    /// `<name attr="…" …>` or `<name …/>` (see [`StartTag`]); a name the encoder could not write
    /// back is refused before the attributes are read.
    /// Attributes are checked for shape and ignored (the API has none).
    fn start_tag(&mut self) -> Result<StartTag<'a>, XmlError> {
        self.pos += 1;
        let name = self.name()?;
        let (interned, id) = named(name);
        if id.is_none() && !is_xml_name(name) {
            // Only names the encoder can write back are read (so an unknown field survives a
            // decode and encode): ASCII letters, digits, `_`, `-`, `.`.
            return Err(self.malformed("invalid character in a name"));
        }
        loop {
            self.skip_whitespace();
            match self.peek() {
                None => return Err(self.malformed("unterminated start tag")),
                Some(b'>') => {
                    self.pos += 1;
                    return Ok((name, interned, id, false));
                }
                Some(b'/') => {
                    if self.peek_at(1) != Some(b'>') {
                        return Err(self.malformed("`/` not followed by `>`"));
                    }
                    self.pos += 2;
                    return Ok((name, interned, id, true));
                }
                Some(_) => self.attribute()?,
            }
        }
    }

    /// `name = "value"` or `name='value'`.
    fn attribute(&mut self) -> Result<(), XmlError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if matches!(b, b'=' | b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/') {
                break;
            }
            if matches!(b, b'<' | b'&' | b'"' | b'\'') {
                return Err(self.malformed("invalid character in an attribute name"));
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.malformed("invalid attribute"));
        }
        self.skip_whitespace();
        if self.peek() != Some(b'=') {
            return Err(self.malformed("attribute without a value"));
        }
        self.pos += 1;
        self.skip_whitespace();
        let quote = match self.peek() {
            Some(q @ (b'"' | b'\'')) => q,
            _ => return Err(self.malformed("unquoted attribute value")),
        };
        self.pos += 1;
        let rest = &self.bytes()[self.pos..];
        match rest.iter().position(|&b| b == quote || b == b'<') {
            Some(at) if rest[at] == quote => {
                self.pos += at + 1;
                Ok(())
            }
            _ => Err(self.malformed("unterminated attribute value")),
        }
    }

    /// At `<name>text</name>`, where the name has no attributes and the text is one CDATA
    /// section or one run without references: moves past it and gives the name (as
    /// [`named`] does), its [`known_id`](crate::codec::known_id) and the text. Otherwise
    /// stays put, and the general path reads what is there (errors included).
    fn simple_child(&mut self) -> Option<(&'a str, Option<usize>, &'a str)> {
        let start = self.pos;
        let rest = self.bytes().get(start..)?;
        if rest.first() != Some(&b'<') {
            return None;
        }
        let len = name_len(&rest[1..])?;
        if len == 0 || rest.get(1 + len) != Some(&b'>') {
            return None;
        }
        let (name, id) = named(&self.text[start + 1..start + 1 + len]);
        if id.is_none() && !is_xml_name(name) {
            return None;
        }
        self.pos = start + 2 + len;
        match self.simple_text(name) {
            Some(text) => Some((name, id, text)),
            None => {
                self.pos = start;
                None
            }
        }
    }

    /// After the start tag of `name`: when the element is one CDATA section or one run of
    /// text without references, then exactly `</name>`, moves past it all and gives the
    /// text. Otherwise stays put (the general path reads it, errors included).
    fn simple_text(&mut self, name: &str) -> Option<&'a str> {
        let start = self.pos;
        let rest = self.bytes().get(start..)?;
        let text = if let Some(body) = rest.strip_prefix(b"<![CDATA[") {
            let at = find_cdata_close(body)?;
            self.pos = start + 9 + at + 3;
            // After ASCII markup, up to where ASCII `]]>` starts: both char boundaries.
            self.text.get(start + 9..start + 9 + at)
        } else {
            let run = self.text_run();
            (self.peek() == Some(b'<')).then_some(run)
        };
        match text {
            Some(text) if self.starts_with("</") && self.expected_end_tag(name) => Some(text),
            _ => {
                self.pos = start;
                None
            }
        }
    }

    /// Moves past `</name>` if that is exactly what comes next.
    fn expected_end_tag(&mut self, name: &str) -> bool {
        let end = self.pos + 2 + name.len();
        let matches = self
            .bytes()
            .get(self.pos + 2..end)
            .is_some_and(|found| short_eq(found, name.as_bytes()))
            && self.bytes().get(end) == Some(&b'>');
        if matches {
            self.pos = end + 1;
        }
        matches
    }

    /// `</name>` (whitespace allowed before `>`): the name.
    fn end_tag(&mut self) -> Result<&'a str, XmlError> {
        self.pos += 2;
        let name = self.name()?;
        self.skip_whitespace();
        if self.peek() != Some(b'>') {
            return Err(self.malformed("unterminated end tag"));
        }
        self.pos += 1;
        Ok(name)
    }

    /// `&name;` or `&#…;`: the character it stands for.
    fn reference(&mut self) -> Result<char, XmlError> {
        let start = self.pos + 1;
        let rest = &self.bytes()[start..];
        // The longest reference we accept is `&#x10FFFF;`; look a little further so that an
        // unknown entity is reported by name.
        let Some(len) = rest.iter().take(34).position(|&b| b == b';') else {
            return Err(self.malformed("`&` not starting a reference"));
        };
        let name = &self.text[start..start + len];
        self.pos = start + len + 1;
        if let Some(number) = name.strip_prefix('#') {
            let code = match number.strip_prefix('x') {
                Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u32::from_str_radix(hex, 16).ok()
                }
                None if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) => {
                    number.parse::<u32>().ok()
                }
                _ => None,
            };
            return match code.and_then(char::from_u32) {
                Some(c) if is_xml_char(c) => Ok(c),
                _ => Err(XmlError::InvalidCharRef),
            };
        }
        match name {
            "lt" => Ok('<'),
            "gt" => Ok('>'),
            "amp" => Ok('&'),
            "apos" => Ok('\''),
            "quot" => Ok('"'),
            "" => Err(self.malformed("empty reference")),
            other => Err(XmlError::UnknownEntity {
                name: truncate(other),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{NAME_CLASS, NAME_PART, name_len, parse};

    #[test]
    fn the_word_at_a_time_name_end_agrees_with_the_byte_rule() {
        let naive = |rest: &[u8]| {
            rest.iter()
                .position(|&b| NAME_CLASS[usize::from(b)] != NAME_PART)
        };
        for len in 0..24 {
            for byte in 0..=255u8 {
                // Every byte value at every place of a name, then a proper end (or none).
                for end in [&b">rest of the document"[..], b" a=\"1\">", b""] {
                    let mut rest = vec![b'n'; len];
                    rest.push(byte);
                    rest.extend_from_slice(b"name_2");
                    rest.extend_from_slice(end);
                    assert_eq!(name_len(&rest), naive(&rest), "{len} {byte:#x} {end:?}");
                }
            }
        }
    }
    use crate::codec::{DecodeLimits, Fields};
    use crate::error::XmlError;
    use crate::xml_reference;

    fn both(doc: &str) -> (Result<String, XmlError>, Result<String, XmlError>) {
        let limits = DecodeLimits::DEFAULT;
        let ours = parse(doc, &limits).map(|fields| format!("{fields:?}"));
        let reference = xml_reference::parse_document(doc.as_bytes(), &limits)
            .and_then(Fields::from_elements)
            .map(|fields| format!("{fields:?}"));
        (ours, reference)
    }

    #[test]
    fn documents_of_the_api_read_the_same_as_with_quick_xml() {
        for doc in [
            include_str!("../tests/it/data/gethbinfo_received.xml"),
            include_str!("../tests/it/data/sendredpack_success.xml"),
            include_str!("../tests/it/data/sendredpack_sign_error.xml"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c --><xml><a x=\"1\" y='>'>t</a><b/></xml>\n",
            "<xml><a>x&lt;&amp;&gt;&#60;&#x26;y<![CDATA[<&]]>z</a></xml>",
            "<xml><a><![CDATA[x]]></a><b>y</b><c></c><d> </d><e><![CDATA[]]></e></xml>",
            "<xml><a><![CDATA[x]]>y</a><b>y<![CDATA[x]]></b><c>t<!--c--></c></xml>",
            "<xml><hblist><hbinfo><o><![CDATA[x]]></o><n>1</n></hbinfo></hblist></xml>",
            "<xml></xml>",
            "<xml/>",
        ] {
            let (ours, reference) = both(doc);
            assert!(ours.is_ok(), "{doc:?}: {ours:?}");
            assert_eq!(ours, reference, "{doc:?}");
        }
    }

    #[test]
    fn refusals_match_quick_xml_where_they_are_typed() {
        for doc in [
            "<!DOCTYPE x><xml/>",
            "<xml><a>&xxe;</a></xml>",
            "<xml><a>&#0;</a></xml>",
            "<html></html>",
            "<xml><a>t<b>1</b></a></xml>",
            "<xml>text</xml>",
            "<xml></xml>junk",
            "<xml></xml><xml></xml>",
        ] {
            let (ours, reference) = both(doc);
            assert!(ours.is_err(), "{doc:?}");
            assert_eq!(ours, reference, "{doc:?}");
        }
    }

    #[test]
    fn near_misses_of_a_simple_element_are_refused_by_both() {
        for doc in [
            "<xml><a><![CDATA[x]]>//a></xml>",
            "<xml><a><![CDATA[x]]><.a></xml>",
            "<xml><a>x</b></xml>",
            "<xml><a><![CDATA[x]]></ab></xml>",
            "<xml><a><![CDATA[x]]></a</xml>",
            "<xml><a><![CDATA[x]></a></xml>",
        ] {
            let (ours, reference) = both(doc);
            assert!(
                ours.is_err() && reference.is_err(),
                "{doc:?}: {ours:?} / {reference:?}"
            );
        }
    }

    /// Both accept with the same tree, or both refuse; the one difference allowed is a name
    /// holding markup characters (`<<a/>` is an element named `<a` to quick-xml), which the
    /// scanner refuses.
    fn check_agreement(doc: &str) -> Result<(), TestCaseError> {
        let (ours, reference) = both(doc);
        match (&ours, &reference) {
            (Ok(_), _) => prop_assert_eq!(&ours, &reference, "{:?}", doc),
            (Err(XmlError::Malformed { reason, .. }), Ok(_)) => {
                prop_assert!(
                    reason.contains("name"),
                    "{:?}: {:?} vs {:?}",
                    doc,
                    ours,
                    reference
                );
            }
            (Err(_), reference) => prop_assert!(reference.is_err(), "{:?}: {:?}", doc, ours),
        }
        Ok(())
    }

    proptest! {
        /// The word-at-a-time searches find what a byte-by-byte search finds, wherever it is
        /// (before, across and after the word-at-a-time stretch).
        #[test]
        fn word_searches_agree_with_the_byte_by_byte_search(
            bytes in proptest::collection::vec(
                prop_oneof![
                    8 => prop::sample::select(b"ab\x80\xff\x00".to_vec()),
                    1 => prop::sample::select(b"]<&".to_vec()),
                    1 => any::<u8>(),
                ],
                0..150,
            )
        ) {
            for needle in [b']', b'<', b'&', 0, 0x80, 0xff] {
                prop_assert_eq!(
                    super::find_byte(&bytes, needle),
                    bytes.iter().position(|&b| b == needle)
                );
            }
            prop_assert_eq!(
                super::find_either(&bytes, b'<', b'&'),
                bytes.iter().position(|&b| b == b'<' || b == b'&')
            );
        }

        /// The word-at-a-time name scan ends where the byte-by-byte rule does.
        #[test]
        fn name_len_agrees_with_the_byte_rule(
            bytes in proptest::collection::vec(
                prop_oneof![
                    4 => prop::sample::select(b"abz_AZ".to_vec()),
                    1 => any::<u8>(),
                ],
                0..40,
            )
        ) {
            let expected = bytes
                .iter()
                .position(|&b| super::NAME_CLASS[usize::from(b)] != super::NAME_PART);
            prop_assert_eq!(super::name_len(&bytes), expected);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whatever both decoders accept, they read the same; and they accept the same
        /// documents (the messages of malformed ones may differ).
        #[test]
        fn the_scanner_agrees_with_quick_xml(
            pieces in proptest::collection::vec(
                prop::sample::select(vec![
                    "<xml>", "</xml>", "<a>", "</a>", "<b>", "</b>", "<hbinfo>", "</hbinfo>",
                    "<a/>", "<a x=\"1\">", "<a x='>'>", "<![CDATA[", "]]>", "&lt;", "&amp;",
                    "&#x41;", "&#65;", "&bad;", "&", ";", "<!-- c -->", "<?pi x?>",
                    "<!DOCTYPE x>", "天", "🧧", " ", "\n", "\r\n", "t", "]]", ">", "<", "/",
                    "</a >", "<a\n>", "\"", "'", "=",
                ]),
                0..40,
            )
        ) {
            let doc: String = pieces.concat();
            check_agreement(&doc)?;
        }

        #[test]
        fn the_scanner_agrees_with_quick_xml_inside_a_root(
            pieces in proptest::collection::vec(
                prop::sample::select(vec![
                    "<a>", "</a>", "<b>", "</b>", "<a/>", "<a x=\"1\">", "<![CDATA[", "]]>",
                    "&lt;", "&amp;", "&#x41;", "&bad;", "&", "<!-- c -->", "<?pi?>", "天",
                    " ", "\n", "t", "]]", ">", "<", "/", "</a >", "=", "'",
                ]),
                0..30,
            )
        ) {
            let doc = format!("<xml>{}</xml>", pieces.concat());
            check_agreement(&doc)?;
        }
    }
}
