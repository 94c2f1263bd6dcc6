//! A scanner for the XML that WeChat Pay v2 speaks: one `<xml>` root, child elements holding
//! text (escaped or CDATA) or further elements. It reads the document once, borrows every
//! text it can, and refuses what the codec refuses (any DOCTYPE, unknown entities, mixed
//! content, anything after the root).
//!
//! Works on bytes of a `str` already checked to be UTF-8: every position it slices at is next
//! to an ASCII byte, so every slice is a `str` again.

use std::borrow::Cow;

use crate::codec::{DecodeLimits, Frame, Node, intern, is_xml_char, is_xml_whitespace, truncate};
use crate::error::XmlError;

/// Parses `<xml>…</xml>` (after the caller's size, UTF-8, BOM and emptiness checks).
pub(crate) fn parse<'a>(
    text: &'a str,
    limits: &DecodeLimits,
) -> Result<Vec<(Cow<'a, str>, Node<'a>)>, XmlError> {
    let mut s = Scanner { text, pos: 0 };
    let mut stack: Vec<Frame<'a>> = Vec::new();
    let mut root: Option<Vec<(Cow<'a, str>, Node<'a>)>> = None;
    let mut elements = 0usize;

    loop {
        let Some(byte) = s.peek() else {
            if !stack.is_empty() {
                return Err(s.malformed("unexpected end of document"));
            }
            return root.ok_or(XmlError::WrongRoot);
        };
        if byte == b'<' {
            match s.peek_at(1) {
                Some(b'/') => {
                    let name = s.end_tag()?;
                    let Some(frame) = stack.pop() else {
                        return Err(XmlError::TrailingContent);
                    };
                    if frame.name() != name {
                        return Err(s.malformed("end tag does not match the start tag"));
                    }
                    close(frame, &mut stack, &mut root)?;
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
                Some(b'?') => s.skip_past(2, "?>", "unterminated processing instruction")?,
                _ => {
                    if root.is_some() {
                        return Err(XmlError::TrailingContent);
                    }
                    let (name, empty) = s.start_tag()?;
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
                    let frame = Frame::new(intern(name));
                    if empty {
                        close(frame, &mut stack, &mut root)?;
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
        } else {
            let run = s.text_run();
            match stack.last_mut() {
                Some(frame) => {
                    if !is_xml_whitespace(run) {
                        frame.has_text = true;
                        frame.push_text(Cow::Borrowed(run));
                    } else if frame.children.is_empty() {
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

/// Ends an element: hands it to its parent, or makes it the root.
fn close<'a>(
    frame: Frame<'a>,
    stack: &mut [Frame<'a>],
    root: &mut Option<Vec<(Cow<'a, str>, Node<'a>)>>,
) -> Result<(), XmlError> {
    let (name, value) = frame.finish()?;
    match stack.last_mut() {
        Some(parent) => {
            if parent.children.is_empty() {
                // A message has about twenty fields: grow once, not five times.
                parent.children.reserve(24);
                // Text before the first child is layout (or, if it is not whitespace, an
                // error that `has_text` remembers).
                parent.clear_text();
            }
            parent.children.push((name, value));
        }
        None => match value {
            Node::Elements(children) => *root = Some(children),
            Node::Text(t) if is_xml_whitespace(&t) => *root = Some(Vec::new()),
            Node::Text(_) => return Err(XmlError::MixedContent),
        },
    }
    Ok(())
}

/// Where `needle` (a short ASCII delimiter) first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(skip) = memchr::memchr(first, hay.get(from..)?) {
        let at = from + skip;
        if hay[at + 1..].starts_with(rest) {
            return Some(at);
        }
        from = at + 1;
    }
    None
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
        let len = memchr::memchr2(b'<', b'&', rest).unwrap_or(rest.len());
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
        let Some(len) = rest
            .iter()
            .position(|&b| NAME_CLASS[usize::from(b)] != NAME_PART)
        else {
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

    /// `<name attr="…" …>` or `<name …/>`: the name, and whether the element is empty.
    /// Attributes are checked for shape and ignored (the API has none).
    fn start_tag(&mut self) -> Result<(&'a str, bool), XmlError> {
        self.pos += 1;
        let name = self.name()?;
        loop {
            self.skip_whitespace();
            match self.peek() {
                None => return Err(self.malformed("unterminated start tag")),
                Some(b'>') => {
                    self.pos += 1;
                    return Ok((name, false));
                }
                Some(b'/') => {
                    if self.peek_at(1) != Some(b'>') {
                        return Err(self.malformed("`/` not followed by `>`"));
                    }
                    self.pos += 2;
                    return Ok((name, true));
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

    use super::parse;
    use crate::codec::DecodeLimits;
    use crate::error::XmlError;
    use crate::xml_reference;

    fn both(doc: &str) -> (Result<String, XmlError>, Result<String, XmlError>) {
        let limits = DecodeLimits::DEFAULT;
        let ours = parse(doc, &limits).map(|tree| format!("{tree:?}"));
        let reference =
            xml_reference::parse_document(doc.as_bytes(), &limits).map(|tree| format!("{tree:?}"));
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
