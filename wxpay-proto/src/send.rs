//! The response of the three send APIs.

use std::collections::BTreeMap;

use crate::codec::{FieldReader, RawMessage, RawValue, XmlWriter};
use crate::error::Error;
use crate::header::ReturnHeader;
use crate::message::XmlMessage;
use crate::types::Fen;

/// The response of `sendredpack` and `sendgroupredpack` (and the body of
/// `sendminiprogramhb`'s, which adds `package`).
///
/// Responses are not signed in practice (spec §2.5): a client checks the echoed fields
/// against its request instead. The echoes are kept as plain strings so a business error
/// about a malformed field still decodes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendResponse {
    /// The status fields.
    pub header: ReturnHeader,
    /// `mch_billno` echo (present on failures too).
    pub mch_billno: Option<String>,
    /// `mch_id` echo.
    pub mch_id: Option<String>,
    /// `wxappid` echo.
    pub wxappid: Option<String>,
    /// `re_openid` echo.
    pub re_openid: Option<String>,
    /// `total_amount` echo, in fen.
    pub total_amount: Option<Fen>,
    /// `total_num` echo (group responses, some `PARAM_ERROR` responses).
    pub total_num: Option<u32>,
    /// `send_listid`: WeChat's red-packet order id, on success only (= `detail_id` of a
    /// query).
    pub send_listid: Option<String>,
    /// `send_time` (`yyyyMMddHHmmss`, 2015-era responses only).
    pub send_time: Option<String>,
    /// `sign`, if present (real responses carry none).
    pub sign: Option<String>,
    /// Fields this crate does not know, by name.
    pub unknown: BTreeMap<String, RawValue>,
}

impl SendResponse {
    /// A response with `header` and no other field.
    pub fn new(header: ReturnHeader) -> Self {
        Self {
            header,
            mch_billno: None,
            mch_id: None,
            wxappid: None,
            re_openid: None,
            total_amount: None,
            total_num: None,
            send_listid: None,
            send_time: None,
            sign: None,
            unknown: BTreeMap::new(),
        }
    }

    pub(crate) fn read(r: &mut FieldReader) -> Result<Self, Error> {
        Ok(Self {
            header: ReturnHeader::read(r)?,
            mch_billno: r.optional("mch_billno")?,
            mch_id: r.optional("mch_id")?,
            wxappid: r.optional("wxappid")?,
            re_openid: r.optional("re_openid")?,
            total_amount: r.optional("total_amount")?,
            total_num: r.optional("total_num")?,
            send_listid: r.optional("send_listid")?,
            send_time: r.optional("send_time")?,
            sign: r.optional("sign")?,
            unknown: BTreeMap::new(),
        })
    }

    pub(crate) fn write(&self, w: &mut XmlWriter) {
        self.header.write(w);
        w.optional("mch_billno", self.mch_billno.as_ref());
        w.optional("mch_id", self.mch_id.as_ref());
        w.optional("wxappid", self.wxappid.as_ref());
        w.optional("re_openid", self.re_openid.as_ref());
        w.optional("total_amount", self.total_amount.as_ref());
        w.optional("total_num", self.total_num.as_ref());
        w.optional("send_listid", self.send_listid.as_ref());
        w.optional("send_time", self.send_time.as_ref());
        w.optional("sign", self.sign.as_ref());
    }
}

impl XmlMessage for SendResponse {
    fn from_raw(raw: RawMessage) -> Result<Self, Error> {
        let mut r = raw.into_reader();
        let mut response = Self::read(&mut r)?;
        response.unknown = r.into_unknown();
        Ok(response)
    }

    fn to_xml(&self) -> String {
        let mut w = XmlWriter::new();
        self.write(&mut w);
        w.unknown(&self.unknown);
        w.finish()
    }
}
