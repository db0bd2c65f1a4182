//! Event payloads: kept raw, read on demand.

use std::borrow::Cow;
use std::fmt;

use feedwire_core::{Frame, RawJson};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

use super::heartbeat::Stamp;

/// An event's payload, kept raw (a zero-copy slice of the frame) with typed accessors for the common fields.
///
/// `uri` is the full link to the entity and is what Doshii recommends referencing, rather than `id`.
///
/// ```
/// use feedwire_core::{Frame, RawJson};
/// use feedwire_doshii::codec::EventData;
/// let d = EventData::new(RawJson::from_json_str(
///     r#"{"id":"42","orderId":"7","status":"complete","posRef":"p-1","locationId":"loc","uri":"https://x/42"}"#).unwrap());
/// let c = d.common().unwrap();
/// assert_eq!((c.id.as_deref(), c.order_id.as_deref()), (Some("42"), Some("7")));
/// assert_eq!(d.location_id().as_deref(), Some("loc"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EventData(RawJson);

impl fmt::Debug for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventData({})", self.0.as_str())
    }
}

/// The common fields of an event payload, borrowed from it. Ids may arrive as strings or numbers; both are
/// given as text.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[non_exhaustive]
pub struct CommonFields<'a> {
    /// `id`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub id: Option<Cow<'a, str>>,
    /// `status`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub status: Option<Cow<'a, str>>,
    /// `uri`: the full link to the entity.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub uri: Option<Cow<'a, str>>,
    /// `locationId`.
    #[serde(borrow, default, rename = "locationId", deserialize_with = "text_or_number")]
    pub location_id: Option<Cow<'a, str>>,
    /// `orderId`.
    #[serde(borrow, default, rename = "orderId", deserialize_with = "text_or_number")]
    pub order_id: Option<Cow<'a, str>>,
    /// `posRef`.
    #[serde(borrow, default, rename = "posRef", deserialize_with = "text_or_number")]
    pub pos_ref: Option<Cow<'a, str>>,
}

/// The payload of `order_created`, `order_updated` and `order_preprocess`, borrowed.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct OrderEvent<'a> {
    /// `id`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub id: Option<Cow<'a, str>>,
    /// `status` (`pending`, `accepted`, `rejected`, `complete`, `cancelled`, ...).
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub status: Option<Cow<'a, str>>,
    /// `posRef`.
    #[serde(borrow, default, rename = "posRef", deserialize_with = "text_or_number")]
    pub pos_ref: Option<Cow<'a, str>>,
    /// `locationId`.
    #[serde(borrow, default, rename = "locationId", deserialize_with = "text_or_number")]
    pub location_id: Option<Cow<'a, str>>,
    /// `uri`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub uri: Option<Cow<'a, str>>,
    /// `appId` (`order_preprocess`).
    #[serde(borrow, default, rename = "appId", deserialize_with = "text_or_number")]
    pub app_id: Option<Cow<'a, str>>,
    /// `order` (`order_preprocess`): the whole order, raw.
    #[serde(borrow, default)]
    pub order: Option<&'a RawValue>,
}

/// The payload of `transaction_created` and `transaction_updated`, borrowed.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct TransactionEvent<'a> {
    /// `id`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub id: Option<Cow<'a, str>>,
    /// `orderId`.
    #[serde(borrow, default, rename = "orderId", deserialize_with = "text_or_number")]
    pub order_id: Option<Cow<'a, str>>,
    /// `status`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub status: Option<Cow<'a, str>>,
    /// `posRef`.
    #[serde(borrow, default, rename = "posRef", deserialize_with = "text_or_number")]
    pub pos_ref: Option<Cow<'a, str>>,
    /// `locationId`.
    #[serde(borrow, default, rename = "locationId", deserialize_with = "text_or_number")]
    pub location_id: Option<Cow<'a, str>>,
    /// `uri`.
    #[serde(borrow, default, deserialize_with = "text_or_number")]
    pub uri: Option<Cow<'a, str>>,
    /// `posTerminalId`.
    #[serde(
        borrow,
        default,
        rename = "posTerminalId",
        deserialize_with = "text_or_number"
    )]
    pub pos_terminal_id: Option<Cow<'a, str>>,
    /// `verifyData`, raw.
    #[serde(borrow, default, rename = "verifyData")]
    pub verify_data: Option<&'a RawValue>,
}

fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<Cow<'de, str>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string, a number or null")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(V)
        }
        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Borrowed(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(Cow::Owned(v.to_string())))
        }
    }
    d.deserialize_option(V)
}

impl EventData {
    /// Wraps a raw payload.
    pub fn new(raw: RawJson) -> EventData {
        EventData(raw)
    }

    /// The raw payload.
    pub fn raw(&self) -> &RawJson {
        &self.0
    }

    /// Unwraps the raw payload.
    pub fn into_raw(self) -> RawJson {
        self.0
    }

    /// The exact JSON text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Deserializes the payload into any type; `T` may borrow from it.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        self.0.parse()
    }

    /// The common fields in one pass. A payload that is not an object gives all fields `None`.
    pub fn common(&self) -> Result<CommonFields<'_>, serde_json::Error> {
        if !self.0.is_object() {
            return Ok(CommonFields::default());
        }
        self.0.parse()
    }

    fn field(&self, pick: impl FnOnce(CommonFields<'_>) -> Option<Cow<'_, str>>) -> Option<Cow<'_, str>> {
        self.common().ok().and_then(pick)
    }

    /// `id`, when present and readable.
    pub fn id(&self) -> Option<Cow<'_, str>> {
        self.field(|c| c.id)
    }
    /// `status`.
    pub fn status(&self) -> Option<Cow<'_, str>> {
        self.field(|c| c.status)
    }
    /// `uri`: the full link to the entity, the recommended reference.
    pub fn uri(&self) -> Option<Cow<'_, str>> {
        self.field(|c| c.uri)
    }
    /// `locationId`.
    pub fn location_id(&self) -> Option<Cow<'_, str>> {
        self.field(|c| c.location_id)
    }
    /// `orderId`.
    pub fn order_id(&self) -> Option<Cow<'_, str>> {
        self.field(|c| c.order_id)
    }
    /// `posRef`.
    pub fn pos_ref(&self) -> Option<Cow<'_, str>> {
        self.field(|c| c.pos_ref)
    }

    /// The payload as an order event (`order_created`, `order_updated`, `order_preprocess`).
    pub fn order(&self) -> Result<OrderEvent<'_>, serde_json::Error> {
        self.0.parse()
    }

    /// The payload as a transaction event (`transaction_created`, `transaction_updated`).
    pub fn transaction(&self) -> Result<TransactionEvent<'_>, serde_json::Error> {
        self.0.parse()
    }

    /// `health_check`'s `ping` stamp.
    pub fn health_check_stamp(&self) -> Option<Stamp> {
        #[derive(Deserialize)]
        struct Hc<'a> {
            #[serde(borrow, default)]
            ping: Option<&'a RawValue>,
        }
        if !self.0.is_object() {
            return None;
        }
        let hc: Hc<'_> = self.0.parse().ok()?;
        let p = hc.ping?;
        Some(Stamp::shared(
            Frame::from(self.0.to_byte_string())
                .slice_ref(p.get())
                .into_byte_string(),
        ))
    }
}
