//! The two-level status every response carries: `return_code` (communication) and
//! `result_code` + `err_code` (business).

use std::borrow::Cow;

use crate::codec::{FieldReader, Name, Tag, XmlWriter};
use crate::enums::{ErrCode, ResultCode, ReturnCode};
use crate::error::Error;
use crate::wire_struct::{Slot, ViewSlot};

/// The status fields common to every response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReturnHeader {
    /// `return_code`: the communication flag.
    pub return_code: ReturnCode,
    /// `return_msg`: a human message (equals `err_code_des` on business errors).
    pub return_msg: Option<String>,
    /// `result_code`: the business flag.
    pub result_code: Option<ResultCode>,
    /// `err_code`: the business code (`SUCCESS` on success in real responses).
    pub err_code: Option<ErrCode>,
    /// `err_code_des`: a human description. Do not automate on it.
    pub err_code_des: Option<String>,
}

impl ReturnHeader {
    /// A success header, as real responses write it: `SUCCESS` everywhere, `message` as
    /// both `return_msg` and `err_code_des`.
    pub fn success(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            return_code: ReturnCode::Success,
            return_msg: Some(message.clone()),
            result_code: Some(ResultCode::Success),
            err_code: Some(ErrCode::Success),
            err_code_des: Some(message),
        }
    }

    /// A business error as real responses write it: `return_code=SUCCESS`,
    /// `result_code=FAIL`, the code, and `description` as both `return_msg` and
    /// `err_code_des`.
    pub fn business_error(code: ErrCode, description: impl Into<String>) -> Self {
        let description = description.into();
        Self {
            return_code: ReturnCode::Success,
            return_msg: Some(description.clone()),
            result_code: Some(ResultCode::Fail),
            err_code: Some(code),
            err_code_des: Some(description),
        }
    }

    /// A failure at the communication level: `return_code=FAIL` with a message and no
    /// business fields.
    pub fn protocol_failure(message: impl Into<String>) -> Self {
        Self {
            return_code: ReturnCode::Fail,
            return_msg: Some(message.into()),
            result_code: None,
            err_code: None,
            err_code_des: None,
        }
    }

    /// Classifies the header (spec §7.1):
    ///
    /// - an `err_code` other than `SUCCESS`/`0` is a business error, whatever `return_code`
    ///   says;
    /// - `return_code=SUCCESS` with `result_code=SUCCESS` is success;
    /// - anything else (`return_code=FAIL` without a code, `result_code=FAIL` without a code,
    ///   unknown flags) is a protocol failure, whose outcome is unknown.
    pub fn status(&self) -> ReturnStatus {
        if let Some(code) = self.err_code.as_ref().filter(|c| !c.is_success()) {
            return ReturnStatus::Business(BusinessError {
                code: code.clone(),
                description: self
                    .err_code_des
                    .clone()
                    .or_else(|| self.return_msg.clone())
                    .unwrap_or_default(),
            });
        }
        match (&self.return_code, &self.result_code) {
            (ReturnCode::Success, Some(ResultCode::Success)) => ReturnStatus::Success,
            _ => ReturnStatus::Protocol {
                return_msg: self.return_msg.clone(),
            },
        }
    }
}

/// The status fields are flattened into the message.
/// [`ReturnHeader`] as a borrowed view of a response reads it (see [`gethbinfo::ResponseView`]).
///
/// [`gethbinfo::ResponseView`]: crate::gethbinfo::ResponseView
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReturnHeaderView<'a> {
    /// `return_code`.
    pub return_code: ReturnCode,
    /// `return_msg`.
    pub return_msg: Option<Cow<'a, str>>,
    /// `result_code`.
    pub result_code: Option<ResultCode>,
    /// `err_code`.
    pub err_code: Option<ErrCode>,
    /// `err_code_des`.
    pub err_code_des: Option<Cow<'a, str>>,
}

impl ReturnHeaderView<'_> {
    /// The owned header.
    #[must_use]
    pub fn to_owned(&self) -> ReturnHeader {
        ReturnHeader::own_view(self)
    }
}

impl ViewSlot for ReturnHeader {
    type View<'a> = ReturnHeaderView<'a>;

    fn read_view<'a>(r: &mut FieldReader<'a>, _name: Name) -> Result<ReturnHeaderView<'a>, Error> {
        Ok(ReturnHeaderView {
            return_code: r.required_view::<ReturnCode>(const { Name::known("return_code") })?,
            return_msg: r.optional_view::<String>(const { Name::known("return_msg") })?,
            result_code: r.optional_view::<ResultCode>(const { Name::known("result_code") })?,
            err_code: r.optional_view::<ErrCode>(const { Name::known("err_code") })?,
            err_code_des: r.optional_view::<String>(const { Name::known("err_code_des") })?,
        })
    }

    fn own_view(view: &ReturnHeaderView<'_>) -> Self {
        Self {
            return_code: view.return_code.clone(),
            return_msg: view.return_msg.as_deref().map(str::to_owned),
            result_code: view.result_code.clone(),
            err_code: view.err_code.clone(),
            err_code_des: view.err_code_des.as_deref().map(str::to_owned),
        }
    }
}

impl Slot for ReturnHeader {
    fn read(r: &mut FieldReader<'_>, _name: Name) -> Result<Self, Error> {
        Ok(Self {
            return_code: r.required(const { Name::known("return_code") })?,
            return_msg: r.optional(const { Name::known("return_msg") })?,
            result_code: r.optional(const { Name::known("result_code") })?,
            err_code: r.optional(const { Name::known("err_code") })?,
            err_code_des: r.optional(const { Name::known("err_code_des") })?,
        })
    }

    fn write(&self, w: &mut XmlWriter, _tag: &Tag) {
        w.field(&tag!("return_code"), &self.return_code);
        w.optional(&tag!("return_msg"), self.return_msg.as_ref());
        w.optional(&tag!("result_code"), self.result_code.as_ref());
        w.optional(&tag!("err_code"), self.err_code.as_ref());
        w.optional(&tag!("err_code_des"), self.err_code_des.as_ref());
    }
}

/// What a response's status fields say.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReturnStatus {
    /// The call succeeded.
    Success,
    /// A business error with its code.
    Business(BusinessError),
    /// A communication-level failure without a business code: the outcome is unknown.
    Protocol {
        /// `return_msg`, if any.
        return_msg: Option<String>,
    },
}

/// A business error: `err_code` and its description.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusinessError {
    /// The code.
    pub code: ErrCode,
    /// `err_code_des` (or `return_msg` when absent). For people, not for automation.
    pub description: String,
}
