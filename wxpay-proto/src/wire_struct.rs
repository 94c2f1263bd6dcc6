//! One field table per message: the struct, its decoding, its encoding and (for requests)
//! its signed field set all come from the same list, so they cannot drift apart.

use std::borrow::Cow;

use crate::codec::{FieldReader, Name, Tag, WireValue, XmlWriter};
use crate::error::Error;
use crate::sign_fields::SignFields;

/// The [`Tag`](crate::codec::Tag) of an element name given as a literal (or `stringify!`):
/// its tags are spelled out at compile time, so writing them is one copy each.
macro_rules! tag {
    ($name:expr) => {
        $crate::codec::Tag {
            open: concat!("<", $name, ">"),
            close: concat!("</", $name, ">"),
            open_cdata: concat!("<", $name, "><![CDATA["),
            close_cdata: concat!("]]></", $name, ">"),
        }
    };
}

/// How a struct field is read from and written to the message (a required value, an
/// optional one, or a group of fields flattened into the message).
pub(crate) trait Slot: Sized {
    fn read(r: &mut FieldReader<'_>, name: Name) -> Result<Self, Error>;
    fn write(&self, w: &mut XmlWriter, tag: &Tag);
}

/// A wire value as a borrowed view reads it: text stays a [`Cow`] of the document (borrowed
/// unless entities or several pieces had to be joined); values without text of their own
/// (numbers, enums) are themselves.
pub(crate) trait WireView: Sized {
    /// The value in a view of a document that lives for `'a`.
    type View<'a>;
    /// Reads the text of field `field` (never empty: empty means absent).
    fn from_wire_view<'a>(field: &'static str, raw: Cow<'a, str>) -> Result<Self::View<'a>, Error>;
    /// The owned value.
    fn own(view: &Self::View<'_>) -> Self;
}

impl WireView for String {
    type View<'a> = Cow<'a, str>;

    fn from_wire_view<'a>(_field: &'static str, raw: Cow<'a, str>) -> Result<Cow<'a, str>, Error> {
        Ok(raw)
    }

    fn own(view: &Cow<'_, str>) -> Self {
        view.to_string()
    }
}

/// Types without text of their own are their own view.
macro_rules! view_as_itself {
    ($($t:ty),+) => {$(
        impl WireView for $t {
            type View<'a> = Self;

            fn from_wire_view(field: &'static str, raw: Cow<'_, str>) -> Result<Self, Error> {
                <Self as WireValue>::from_wire(field, raw)
            }

            fn own(view: &Self) -> Self {
                *view
            }
        }
    )+};
}

view_as_itself!(u32, crate::types::Fen);

/// How a struct field is read into a borrowed view of the message (see [`Slot`]).
pub(crate) trait ViewSlot: Sized {
    /// The field in a view of a document that lives for `'a`.
    type View<'a>;
    #[doc(hidden)]
    fn read_view<'a>(r: &mut FieldReader<'a>, name: Name) -> Result<Self::View<'a>, Error>;
    /// The owned field.
    fn own_view(view: &Self::View<'_>) -> Self;
}

impl<T: WireView> ViewSlot for T {
    type View<'a> = T::View<'a>;

    fn read_view<'a>(r: &mut FieldReader<'a>, name: Name) -> Result<Self::View<'a>, Error> {
        r.required_view::<T>(name)
    }

    fn own_view(view: &Self::View<'_>) -> Self {
        T::own(view)
    }
}

impl<T: WireView> ViewSlot for Option<T> {
    type View<'a> = Option<T::View<'a>>;

    fn read_view<'a>(r: &mut FieldReader<'a>, name: Name) -> Result<Self::View<'a>, Error> {
        r.optional_view::<T>(name)
    }

    fn own_view(view: &Self::View<'_>) -> Self {
        view.as_ref().map(T::own)
    }
}

/// How a request field enters the signature.
pub(crate) trait SignSlot {
    fn sign<'a>(&'a self, f: &mut SignFields<'a>, name: &'static str);
}

impl<T: WireValue> Slot for T {
    fn read(r: &mut FieldReader<'_>, name: Name) -> Result<Self, Error> {
        r.required(name)
    }

    fn write(&self, w: &mut XmlWriter, tag: &Tag) {
        w.field(tag, self);
    }
}

impl<T: WireValue> Slot for Option<T> {
    fn read(r: &mut FieldReader<'_>, name: Name) -> Result<Self, Error> {
        r.optional(name)
    }

    fn write(&self, w: &mut XmlWriter, tag: &Tag) {
        if let Some(value) = self {
            w.field(tag, value);
        }
    }
}

impl<T: WireValue> SignSlot for T {
    fn sign<'a>(&'a self, f: &mut SignFields<'a>, name: &'static str) {
        f.push(name, self.sign_value());
    }
}

impl<T: WireValue> SignSlot for Option<T> {
    fn sign<'a>(&'a self, f: &mut SignFields<'a>, name: &'static str) {
        if let Some(value) = self {
            f.push(name, value.sign_value());
        }
    }
}

/// Defines a message struct from its field table. Every field's wire name is its Rust name.
///
/// `signed { … }` (requests only) lists the fields the endpoint's signature covers;
/// `fields { … }` lists the others. The struct also gets `unknown`, the fields this crate does
/// not know, written back last.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            signed { $( $(#[$smeta:meta])* $sfield:ident : $sty:ty, )+ }
            fields { $( $(#[$fmeta:meta])* $field:ident : $ty:ty, )* }
        }
    ) => {
        wire_struct!(@struct $(#[$meta])* $name
            { $( $(#[$smeta])* $sfield : $sty, )+ $( $(#[$fmeta])* $field : $ty, )* });

        impl $name {
            const SIGNED: &'static [&'static str] = &[$(stringify!($sfield)),+];

            fn signed_fields(&self) -> $crate::SignFields<'_> {
                let mut f = $crate::SignFields::new();
                $( $crate::wire_struct::SignSlot::sign(&self.$sfield, &mut f, stringify!($sfield)); )+
                f
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            fields { $( $(#[$fmeta:meta])* $field:ident : $ty:ty, )+ }
        }
    ) => {
        wire_struct!(@struct $(#[$meta])* $name { $( $(#[$fmeta])* $field : $ty, )+ });
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            fields { $( $(#[$fmeta:meta])* $field:ident : $ty:ty => $vty:ty, )+ }
        }
        $(#[$vmeta:meta])*
        view $view:ident<$lt:lifetime>;
    ) => {
        wire_struct!(@struct $(#[$meta])* $name { $( $(#[$fmeta])* $field : $ty, )+ });

        $(#[$vmeta])*
        ///
        /// Decoding it copies no text it can borrow: each text is a `Cow` of the document,
        /// borrowed unless entity references or several pieces had to be joined.
        /// [`to_owned`](Self::to_owned) gives the owned message.
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $view<$lt> {
            $( $(#[$fmeta])* pub $field: $vty, )+
            /// Fields this crate does not know, by name (copied: they are rare).
            pub unknown: ::std::collections::BTreeMap<String, $crate::RawValue>,
        }

        impl $crate::wire_struct::ViewSlot for $name {
            type View<$lt> = $view<$lt>;

            fn read_view<'a>(
                r: &mut $crate::codec::FieldReader<'a>,
                _name: $crate::codec::Name,
            ) -> Result<$view<'a>, $crate::Error> {
                Ok($view {
                    $( $field: <$ty as $crate::wire_struct::ViewSlot>::read_view(
                        r,
                        const { $crate::codec::Name::known(stringify!($field)) },
                    )?, )+
                    unknown: ::std::collections::BTreeMap::new(),
                })
            }

            fn own_view(view: &$view<'_>) -> Self {
                Self {
                    $( $field: <$ty as $crate::wire_struct::ViewSlot>::own_view(&view.$field), )+
                    unknown: view.unknown.clone(),
                }
            }
        }

        impl<'a> $view<'a> {
            /// Decodes a document with the default [`DecodeLimits`](crate::DecodeLimits),
            /// borrowing its text.
            ///
            /// # Errors
            ///
            /// As [`XmlMessage::from_xml`](crate::XmlMessage::from_xml).
            pub fn from_xml(bytes: &'a [u8]) -> Result<Self, $crate::Error> {
                Self::from_raw($crate::RawMessage::parse(bytes)?)
            }

            /// Decodes a document with the given limits, borrowing its text.
            ///
            /// # Errors
            ///
            /// As [`XmlMessage::from_xml`](crate::XmlMessage::from_xml).
            pub fn from_xml_with_limits(
                bytes: &'a [u8],
                limits: &$crate::DecodeLimits,
            ) -> Result<Self, $crate::Error> {
                Self::from_raw($crate::RawMessage::parse_with_limits(bytes, limits)?)
            }

            /// Interprets an already parsed document.
            ///
            /// # Errors
            ///
            /// As [`XmlMessage::from_raw`](crate::XmlMessage::from_raw).
            pub fn from_raw(raw: $crate::RawMessage<'a>) -> Result<Self, $crate::Error> {
                let mut r = raw.into_reader();
                let mut view = <$name as $crate::wire_struct::ViewSlot>::read_view(
                    &mut r,
                    const { $crate::codec::Name::known("xml") },
                )?;
                view.unknown = r.into_unknown();
                Ok(view)
            }

            /// The owned message.
            #[must_use]
            pub fn to_owned(&self) -> $name {
                <$name as $crate::wire_struct::ViewSlot>::own_view(self)
            }
        }
    };
    (@struct $(#[$meta:meta])* $name:ident { $( $(#[$fmeta:meta])* $field:ident : $ty:ty, )+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )+
            /// Fields this crate does not know, by name: kept when decoding, written back
            /// (unsigned) when encoding.
            pub unknown: ::std::collections::BTreeMap<String, $crate::RawValue>,
        }

        impl $crate::wire_struct::Slot for $name {
            fn read(
                r: &mut $crate::codec::FieldReader<'_>,
                _name: $crate::codec::Name,
            ) -> Result<Self, $crate::Error> {
                Ok(Self {
                    $( $field: $crate::wire_struct::Slot::read(
                        r,
                        const { $crate::codec::Name::known(stringify!($field)) },
                    )?, )+
                    unknown: ::std::collections::BTreeMap::new(),
                })
            }

            fn write(&self, w: &mut $crate::codec::XmlWriter, _tag: &$crate::codec::Tag) {
                $( $crate::wire_struct::Slot::write(
                    &self.$field,
                    w,
                    const { &tag!(stringify!($field)) },
                ); )+
                w.unknown(&self.unknown);
            }
        }

        impl $crate::XmlMessage for $name {
            fn from_raw(raw: $crate::RawMessage<'_>) -> Result<Self, $crate::Error> {
                let mut r = raw.into_reader();
                let mut message: Self = $crate::wire_struct::Slot::read(
                    &mut r,
                    const { $crate::codec::Name::known("xml") },
                )?;
                message.unknown = r.into_unknown();
                Ok(message)
            }

            fn to_xml(&self) -> String {
                let mut w = $crate::codec::XmlWriter::new();
                $crate::wire_struct::Slot::write(self, &mut w, const { &tag!("xml") });
                w.finish()
            }
        }
    };
}

/// Implements [`crate::ApiRequest`] for a request defined with `wire_struct!` (which has
/// `sign`, `mch_billno` and `mch_id` fields).
macro_rules! api_request {
    ($name:ident, response = $response:ty, path = $path:literal, validate = $validate:path) => {
        impl $crate::ApiRequest for $name {
            type Response = $response;

            const PATH: &'static str = $path;

            const SIGNED_FIELDS: &'static [&'static str] = Self::SIGNED;

            fn sign_fields(&self) -> $crate::SignFields<'_> {
                self.signed_fields()
            }

            fn sign(&self) -> Option<&str> {
                self.sign.as_deref()
            }

            fn set_sign(&mut self, sign: String) {
                self.sign = Some(sign);
            }

            fn validate(&self) -> Result<(), $crate::Error> {
                $validate(self)
            }

            fn mch_billno(&self) -> &$crate::MchBillno {
                &self.mch_billno
            }

            fn mch_id(&self) -> &$crate::MchId {
                &self.mch_id
            }
        }
    };
}
