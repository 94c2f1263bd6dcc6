//! The first decoder, built on quick-xml: kept for the tests as a reference the hand-written
//! scanner must agree with (quick-xml 0.42 validates UTF-8 again for every event, which made
//! it the hot spot of decoding).

use std::borrow::Cow;

use quick_xml::events::Event;

use crate::codec::{DecodeLimits, Frame, Node, intern, is_xml_char, is_xml_whitespace, truncate};
use crate::error::XmlError;

/// Parses `<xml>…</xml>` into the root's children.
pub(crate) fn parse_document<'a>(
    bytes: &'a [u8],
    limits: &DecodeLimits,
) -> Result<Vec<(&'a str, Node<'a>)>, XmlError> {
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

    let mut stack: Vec<Frame<'a>> = Vec::new();
    let mut root: Option<Vec<(&'a str, Node<'a>)>> = None;
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
                let name = intern(start.name().as_ref());
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
                    Some(parent) => parent.push_child(name, value),
                    None => match value {
                        Node::Elements(children) => root = Some(children),
                        Node::Text(t) if is_xml_whitespace(&t) => root = Some(Vec::new()),
                        Node::Text(_) => return Err(XmlError::MixedContent),
                    },
                }
            }
            Event::Text(t) => {
                let content = t.into_inner();
                match stack.last_mut() {
                    Some(frame) => {
                        if !is_xml_whitespace(&content) {
                            frame.has_text = true;
                        }
                        frame.push_text(content);
                    }
                    None if is_xml_whitespace(&content) => {}
                    None => return Err(XmlError::TrailingContent),
                }
            }
            Event::CData(c) => {
                let Some(frame) = stack.last_mut() else {
                    return Err(XmlError::TrailingContent);
                };
                frame.has_text = true;
                frame.push_text(c.into_inner());
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
                let mut buf = [0u8; 4];
                frame.push_text(Cow::Owned(c.encode_utf8(&mut buf).to_owned()));
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
