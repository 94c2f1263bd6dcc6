//! The crate's one error type.

use std::borrow::Cow;
use std::fmt;

use crate::ErrCode;

/// Why a message could not be decoded, or a value or request is not acceptable.
///
/// Each error knows which WeChat Pay error code the server answers for it
/// ([`Error::err_code`]) and the description text it uses ([`Error::wire_description`]), so a
/// server (the mock) and a client describe the same rule violation the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not an acceptable XML document (the server answers `XML_ERROR`).
    #[error("invalid XML document")]
    Xml(#[source] XmlError),
    /// A field is missing or its value is malformed (the server answers `PARAM_ERROR`).
    #[error("invalid field `{field}`")]
    Field {
        /// The wire name of the field.
        field: &'static str,
        /// What is wrong with it.
        #[source]
        problem: FieldProblem,
    },
    /// Every field is well formed, but a business rule of the API rejects the combination
    /// (for example `total_num` for the endpoint, or the amount range).
    #[error("field `{field}` breaks rule {code}: {message}")]
    Rule {
        /// The wire name of the field the rule is about.
        field: &'static str,
        /// The error code the server answers.
        code: ErrCode,
        /// The server's description text for the violation.
        message: Cow<'static, str>,
    },
}

impl Error {
    pub(crate) fn field(field: &'static str, problem: FieldProblem) -> Self {
        Self::Field { field, problem }
    }

    pub(crate) fn rule(
        field: &'static str,
        code: ErrCode,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::Rule {
            field,
            code,
            message: message.into(),
        }
    }

    /// The error code a WeChat Pay server answers for this problem: `XML_ERROR` for documents,
    /// `PARAM_ERROR` for fields, the rule's own code for rules.
    pub fn err_code(&self) -> ErrCode {
        match self {
            Self::Xml(_) => ErrCode::XmlError,
            Self::Field { .. } => ErrCode::ParamError,
            Self::Rule { code, .. } => code.clone(),
        }
    }

    /// The wire name of the field at fault, if the problem is about one field.
    pub fn field_name(&self) -> Option<&'static str> {
        match self {
            Self::Xml(_) => None,
            Self::Field { field, .. } | Self::Rule { field, .. } => Some(field),
        }
    }

    /// The `err_code_des` text a WeChat Pay server uses for this problem (Chinese, as observed
    /// on the wire; spec §7.2). Never contains a secret: only field names and limits.
    pub fn wire_description(&self) -> Cow<'static, str> {
        match self {
            Self::Xml(_) => Cow::Borrowed("输入xml参数格式错误"),
            Self::Rule { message, .. } => message.clone(),
            Self::Field { field, problem } => Cow::Owned(field_description(field, problem)),
        }
    }
}

/// The documented `PARAM_ERROR` texts (old official list, spec §7.2), or a generic one.
fn field_description(field: &str, problem: &FieldProblem) -> String {
    let documented = match field {
        "act_name" => Some("act_name字段必填,并且少于32个字符"),
        "appid" => Some("appid字段必填,最长为32个字符"),
        "mch_billno" => Some("订单号字段必填,最长为28个字符"),
        "client_ip" => Some("client_ip必须是合法的IP字符串"),
        "mch_id" => Some("输入的商户号有误"),
        "nonce_str" => Some("nonce_str字段必填,并且少于32字符"),
        "re_openid" => Some("re_openid字段为必填并且少于32个字符"),
        "remark" => Some("remark字段为必填,并且少于256字符"),
        "send_name" => Some("send_name字段为必填并且少于32字符"),
        "wishing" => Some("wishing字段为必填,并且少于128个字符"),
        "total_amount" => Some("红包金额参数错误"),
        _ => None,
    };
    match documented {
        Some(text) => format!("参数错误:{text}"),
        None => format!("参数错误:{field}字段错误({problem})"),
    }
}

/// What is wrong with one field's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldProblem {
    /// A required field is absent or empty.
    #[error("required but missing or empty")]
    Missing,
    /// The value is longer than the API allows (counted in characters).
    #[error("{actual} characters, at most {max} allowed")]
    TooLong {
        /// The longest accepted length.
        max: usize,
        /// The length of the value received.
        actual: usize,
    },
    /// The value holds a character outside the field's character set.
    #[error("character {found:?} not allowed (expected {expected})")]
    Charset {
        /// The first offending character.
        found: char,
        /// The character set the field accepts, in words.
        expected: &'static str,
    },
    /// The value is not a non-negative integer in canonical form (digits, no sign, no leading
    /// zero).
    #[error("not a canonical non-negative integer")]
    NotAnInteger,
    /// The number does not fit the field's range.
    #[error("number out of range")]
    Overflow,
    /// The value is not an amount of yuan with at most two decimals.
    #[error("not an amount in yuan with at most two decimals")]
    NotAYuanAmount,
    /// The value is not a dotted-quad IPv4 address.
    #[error("not an IPv4 address")]
    NotIpv4,
    /// The value is not one the API accepts here.
    #[error("value not accepted (expected {expected})")]
    Unexpected {
        /// The accepted value(s), in words.
        expected: &'static str,
    },
    /// The field holds nested elements where text is expected, or text where a list is
    /// expected.
    #[error("wrong shape (text vs. nested elements)")]
    Shape,
}

/// Why bytes are not an acceptable XML document.
///
/// Holds no type of the XML library: only this crate's description of the problem and the
/// byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum XmlError {
    /// The body is empty (or only whitespace).
    Empty,
    /// The body is larger than the configured limit.
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The document has more elements than the configured limit.
    TooManyElements {
        /// The limit.
        limit: usize,
    },
    /// Elements are nested deeper than the configured limit.
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// The body is not UTF-8.
    NotUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The document declares a DTD (`<!DOCTYPE …>`), which is always refused (XXE,
    /// entity expansion).
    Doctype,
    /// A character XML 1.0 does not allow anywhere in a document (a control character other
    /// than tab, LF and CR, or U+FFFE / U+FFFF).
    ForbiddenChar {
        /// Byte offset of the character.
        offset: usize,
    },
    /// An entity reference other than the five predefined ones and character references.
    UnknownEntity {
        /// The entity's name (without `&` and `;`), truncated to 32 characters.
        name: String,
    },
    /// A character reference naming a character XML does not allow.
    InvalidCharRef,
    /// The root element is not `<xml>`.
    WrongRoot,
    /// The same element appears twice at a level where each name must be unique.
    DuplicateElement {
        /// The element's name, truncated to 32 characters.
        name: String,
    },
    /// An element holds both text and child elements.
    MixedContent,
    /// Content after the root element, or text outside it.
    TrailingContent,
    /// The document is not well formed.
    Malformed {
        /// Byte offset where the parser stopped.
        offset: u64,
        /// What the parser reported, in words.
        reason: String,
    },
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty body"),
            Self::TooLarge { limit } => write!(f, "body larger than {limit} bytes"),
            Self::TooManyElements { limit } => write!(f, "more than {limit} elements"),
            Self::TooDeep { limit } => write!(f, "elements nested deeper than {limit}"),
            Self::NotUtf8 { offset } => write!(f, "not UTF-8 (byte {offset})"),
            Self::Doctype => f.write_str("a DOCTYPE declaration is not accepted"),
            Self::ForbiddenChar { offset } => {
                write!(f, "a character XML does not allow (byte {offset})")
            }
            Self::UnknownEntity { name } => write!(f, "unknown entity `&{name};`"),
            Self::InvalidCharRef => f.write_str("invalid character reference"),
            Self::WrongRoot => f.write_str("the root element is not <xml>"),
            Self::DuplicateElement { name } => write!(f, "element <{name}> appears twice"),
            Self::MixedContent => f.write_str("an element holds both text and elements"),
            Self::TrailingContent => f.write_str("content outside the root element"),
            Self::Malformed { offset, reason } => {
                write!(f, "malformed at byte {offset}: {reason}")
            }
        }
    }
}

impl std::error::Error for XmlError {}

impl From<XmlError> for Error {
    fn from(e: XmlError) -> Self {
        Self::Xml(e)
    }
}
