//! Wire enums: string values of the API that keep values this crate does not know yet.
//!
//! Each enum converts from any string without failing (`From<&str>`, `FromStr` with
//! `Err = Infallible`); a value it does not know lands in a hidden catch-all variant and keeps
//! its exact text, which [`as_str`](ErrCode::as_str) returns. Match known values by variant
//! and anything else by string: `other if other.as_str() == "NEW_CODE"`.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

/// An owned string whose type is private: the payload of the catch-all variants.
#[doc(hidden)]
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PrivOwnedStr(Box<str>);

impl fmt::Debug for PrivOwnedStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
            #[doc(hidden)]
            _Custom(PrivOwnedStr),
        }

        impl $name {
            /// Every value this crate knows, in variant order.
            pub const KNOWN: &'static [$name] = &[$(Self::$variant),+];

            /// The value as written on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::_Custom(s) => &s.0,
                }
            }

            /// Whether this is a value this crate knows (not a catch-all).
            pub fn is_known(&self) -> bool {
                !matches!(self, Self::_Custom(_))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                match s {
                    $($wire => Self::$variant,)+
                    other => Self::_Custom(PrivOwnedStr(other.into())),
                }
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self::from(s.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Infallible;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(s))
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.as_str())
            }
        }

        impl crate::wire_struct::WireView for $name {
            type View<'a> = Self;

            fn from_wire_view(
                field: &'static str,
                raw: std::borrow::Cow<'_, str>,
            ) -> Result<Self, crate::Error> {
                <Self as crate::codec::WireValue>::from_wire(field, raw)
            }

            fn own(view: &Self) -> Self {
                view.clone()
            }
        }

        impl crate::codec::WireValue for $name {
            fn from_wire(
                field: &'static str,
                raw: std::borrow::Cow<'_, str>,
            ) -> Result<Self, crate::Error> {
                let _ = field;
                Ok(Self::from(&*raw))
            }

            fn write_wire(&self, out: &mut crate::codec::ValueSink<'_>) {
                out.text(self.as_str());
            }

            fn sign_value(&self) -> crate::sign_fields::SignValue<'_> {
                crate::sign_fields::SignValue::Str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// `err_code`: the business error codes of the red-packet APIs (spec §7.2, §7.3).
    ///
    /// [`handling_class`](Self::handling_class) says what a sender must do about each one.
    pub enum ErrCode {
        /// `ACCEPTMODE_ERROR`: the service-provider / sub-merchant relation is invalid.
        AcceptmodeError => "ACCEPTMODE_ERROR",
        /// `API_METHOD_CLOSED`: API sending is switched off for the merchant.
        ApiMethodClosed => "API_METHOD_CLOSED",
        /// `CA_ERROR`: no, a wrong or an expired client certificate.
        CaError => "CA_ERROR",
        /// `DAY_OVER_LIMITED`: legacy (2015–2016) daily sending limit.
        DayOverLimited => "DAY_OVER_LIMITED",
        /// `FATAL_ERROR`: the billno was reused with a different openid or amount.
        FatalError => "FATAL_ERROR",
        /// `FREQ_LIMIT`: rate limit.
        FreqLimit => "FREQ_LIMIT",
        /// `ILLEGAL_APPID`: wrong kind of appid for this API.
        IllegalAppid => "ILLEGAL_APPID",
        /// `MONEY_LIMIT`: amount outside the allowed range.
        MoneyLimit => "MONEY_LIMIT",
        /// `MSGAPPID_ERROR`: `msgappid` not bound to the merchant.
        MsgappidError => "MSGAPPID_ERROR",
        /// `NO_AUTH`: caller IP not whitelisted, or the request was stopped by risk control.
        NoAuth => "NO_AUTH",
        /// `NOT_FOUND`: `gethbinfo` found no record for the billno (not a failure).
        NotFound => "NOT_FOUND",
        /// `NOTENOUGH`: the merchant's balance is too low.
        Notenough => "NOTENOUGH",
        /// `OPENID_ERROR`: the openid does not belong to the appid.
        OpenidError => "OPENID_ERROR",
        /// `PARAM_ERROR`: a missing or invalid parameter.
        ParamError => "PARAM_ERROR",
        /// `PAYER_ACCOUNT_ABNORMAL`: the merchant is frozen (one peer only; unconfirmed).
        PayerAccountAbnormal => "PAYER_ACCOUNT_ABNORMAL",
        /// `PROCESSING`: accepted, still being processed: query later with the same billno.
        Processing => "PROCESSING",
        /// `PRODUCT_AUTHORITY_UNOPEN`: the red-packet product is not enabled.
        ProductAuthorityUnopen => "PRODUCT_AUTHORITY_UNOPEN",
        /// `RCVDAMOUNT_LIMIT`: the user's daily received amount is exhausted.
        RcvdamountLimit => "RCVDAMOUNT_LIMIT",
        /// `SECOND_OVER_LIMITED`: legacy (2015–2016) per-minute sending limit.
        SecondOverLimited => "SECOND_OVER_LIMITED",
        /// `SEND_FAILED`: this billno's send failed; only a new billno can retry.
        SendFailed => "SEND_FAILED",
        /// `SENDAMOUNT_LIMIT`: the merchant's daily amount is exhausted.
        SendamountLimit => "SENDAMOUNT_LIMIT",
        /// `SENDNUM_LIMIT`: the user's daily packet count is exhausted.
        SendnumLimit => "SENDNUM_LIMIT",
        /// `SIGN_ERROR`: the signature does not verify.
        SignError => "SIGN_ERROR",
        /// `SUCCESS`: what real responses put in `err_code` on success (2017+).
        Success => "SUCCESS",
        /// `SYSTEMERROR`: no definite result: retry with the same billno or query.
        Systemerror => "SYSTEMERROR",
        /// `XML_ERROR`: the body is empty or not valid XML.
        XmlError => "XML_ERROR",
    }
}

impl ErrCode {
    /// What a sender must do about this code (spec §7.2), or `None` for [`ErrCode::Success`]
    /// (and the `0` some old responses carry), which are not errors.
    ///
    /// Any code this crate does not know is class [`HandlingClass::C`]: the official docs say
    /// never to switch to a new billno on an unknown code.
    pub fn handling_class(&self) -> Option<HandlingClass> {
        use HandlingClass::{A, B, C, D};
        let class = match self {
            Self::Success => return None,
            Self::_Custom(s) if &*s.0 == "0" => return None,
            Self::AcceptmodeError
            | Self::ApiMethodClosed
            | Self::CaError
            | Self::IllegalAppid
            | Self::MoneyLimit
            | Self::MsgappidError
            | Self::OpenidError
            | Self::ParamError
            | Self::PayerAccountAbnormal
            | Self::ProductAuthorityUnopen
            | Self::SignError
            | Self::XmlError => A,
            Self::DayOverLimited
            | Self::FreqLimit
            | Self::Notenough
            | Self::RcvdamountLimit
            | Self::SecondOverLimited
            | Self::SendamountLimit
            | Self::SendnumLimit => B,
            Self::NotFound | Self::Processing | Self::Systemerror | Self::_Custom(_) => C,
            // NO_AUTH is A when the IP is not whitelisted and D when risk control stopped the
            // request; the code alone cannot tell, so take the side that never retries blindly.
            Self::FatalError | Self::NoAuth | Self::SendFailed => D,
        };
        Some(class)
    }

    /// Whether this code marks success rather than an error (`SUCCESS`, or `0` in old
    /// responses).
    pub fn is_success(&self) -> bool {
        self.handling_class().is_none()
    }

    /// Whether the same intent may be retried under a **new** `mch_billno`. Only `SEND_FAILED`
    /// allows it; every other code keeps the billno (a new one risks paying twice).
    pub fn allows_new_billno(&self) -> bool {
        matches!(self, Self::SendFailed)
    }
}

/// What a sender must do about an error code (spec §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(
    clippy::exhaustive_enums,
    reason = "the four classes of spec §7.2 are complete"
)]
pub enum HandlingClass {
    /// Rejected, nothing issued: fix the configuration or parameters; the same billno may be
    /// retried as long as the business parameters are unchanged.
    A,
    /// A limit was hit, nothing issued: retry later with the same billno.
    B,
    /// Outcome unknown: never switch to a new billno; retry with the same billno and identical
    /// parameters (≥ 1 s apart) and/or query.
    C,
    /// Terminal for this billno or user: `SEND_FAILED` needs a new billno, `FATAL_ERROR` is a
    /// programming error, `NO_AUTH` must not be retried automatically.
    D,
}

impl HandlingClass {
    /// Whether the code proves that no packet was issued under this billno (classes A, B, D).
    pub fn is_definitive(self) -> bool {
        !matches!(self, Self::C)
    }
}

wire_enum! {
    /// `status` of a red-packet record (`gethbinfo`, spec §6).
    pub enum Status {
        /// `FAILED`: the send failed (terminal; `reason` says why).
        Failed => "FAILED",
        /// `RECEIVED`: claimed by the user (terminal).
        Received => "RECEIVED",
        /// `REFUND`: unclaimed and refunded (terminal).
        Refund => "REFUND",
        /// `RFUND_ING`: being refunded. The wire spelling is misspelled and kept as is.
        Refunding => "RFUND_ING",
        /// `SENDING`: accepted, being sent.
        Sending => "SENDING",
        /// `SENT`: sent, waiting to be claimed.
        Sent => "SENT",
    }
}

impl Status {
    /// Whether no later status can follow (`FAILED`, `RECEIVED`, `REFUND`).
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Failed | Self::Received | Self::Refund)
    }

    /// Whether the packet was issued (money left the merchant's balance at some point):
    /// everything but `SENDING` and `FAILED`.
    pub fn was_issued(&self) -> bool {
        matches!(
            self,
            Self::Sent | Self::Received | Self::Refunding | Self::Refund
        )
    }
}

wire_enum! {
    /// `hb_type`: the kind of red packet.
    pub enum HbType {
        /// `GROUP`: a group (fission) packet.
        Group => "GROUP",
        /// `NORMAL`: a normal packet.
        Normal => "NORMAL",
    }
}

wire_enum! {
    /// `send_type`: how the packet was sent.
    pub enum SendType {
        /// `ACTIVITY`: by an activity.
        Activity => "ACTIVITY",
        /// `API`: through the API.
        Api => "API",
        /// `UPLOAD`: by a file uploaded to the merchant platform.
        Upload => "UPLOAD",
    }
}

wire_enum! {
    /// `scene_id`: the usage scene, required for amounts below 1 or above 200 yuan.
    pub enum SceneId {
        /// `PRODUCT_1`: 商品促销 (product promotion).
        Product1 => "PRODUCT_1",
        /// `PRODUCT_2`: 抽奖 (lottery).
        Product2 => "PRODUCT_2",
        /// `PRODUCT_3`: 虚拟物品兑奖 (virtual goods prize).
        Product3 => "PRODUCT_3",
        /// `PRODUCT_4`: 企业内部福利 (staff welfare).
        Product4 => "PRODUCT_4",
        /// `PRODUCT_5`: 渠道分润 (channel profit sharing).
        Product5 => "PRODUCT_5",
        /// `PRODUCT_6`: 保险回馈 (insurance rebate).
        Product6 => "PRODUCT_6",
        /// `PRODUCT_7`: 彩票派奖 (lottery payout).
        Product7 => "PRODUCT_7",
        /// `PRODUCT_8`: 税务刮奖 (tax receipt scratch prize).
        Product8 => "PRODUCT_8",
    }
}

wire_enum! {
    /// `return_code`: the communication-level flag (not the business result).
    pub enum ReturnCode {
        /// `FAIL`.
        Fail => "FAIL",
        /// `SUCCESS`.
        Success => "SUCCESS",
    }
}

wire_enum! {
    /// `result_code`: the business result flag.
    pub enum ResultCode {
        /// `FAIL`.
        Fail => "FAIL",
        /// `SUCCESS`.
        Success => "SUCCESS",
    }
}

wire_enum! {
    /// `amt_type` of a group packet.
    pub enum AmtType {
        /// `ALL_RAND`: WeChat splits the total at random (the only documented value).
        AllRand => "ALL_RAND",
    }
}

wire_enum! {
    /// `notify_way` of a mini-program packet.
    pub enum NotifyWay {
        /// `MINI_PROGRAM_JSAPI`: claimed through `wx.sendBizRedPacket` (the only value).
        MiniProgramJsapi => "MINI_PROGRAM_JSAPI",
    }
}

wire_enum! {
    /// `bill_type` of a `gethbinfo` query.
    pub enum BillType {
        /// `MCHT`: look the packet up by merchant billno (the only value).
        Mcht => "MCHT",
    }
}
