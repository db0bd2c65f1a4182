//! Channel identifiers (opaque JSON strings) and metasmoke's `ApiChannel` helper.
//!
//! The server keys subscriptions by the raw identifier string and never canonicalises it, so an [`Identifier`]
//! is built once, from ordered params with `channel` first (as `JSON.stringify` in @rails/actioncable does),
//! and kept as an opaque string. Incoming frames are matched by comparing the decoded string byte for byte.
//!
//! ```
//! use feedwire_actioncable::identifier::{ApiChannel, Identifier, ModelEvent};
//!
//! let id = Identifier::builder("ChatChannel").param("id", 42).unwrap().build();
//! assert_eq!(id.as_str(), r#"{"channel":"ChatChannel","id":42}"#);
//! assert_eq!(id.channel().as_deref(), Some("ChatChannel"));
//!
//! let api = ApiChannel::new("s3cr3t")
//!     .with_events("statistics", &[ModelEvent::Create, ModelEvent::Update]).unwrap()
//!     .with_events("posts", &[ModelEvent::Create]).unwrap();
//! assert_eq!(api.events_filter(), "statistics#create,update;posts#create");
//! let id = api.identifier().unwrap();
//! assert_eq!(id.as_str(), r#"{"channel":"ApiChannel","key":"s3cr3t","events":"statistics#create,update;posts#create"}"#);
//! assert!(!format!("{id:?}").contains("s3cr3t"));
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use feedwire_core::Secret;

/// Why an identifier could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentifierError {
    /// A param value could not be serialized to JSON.
    #[error("param `{0}` cannot be serialized to JSON")]
    Param(String),
    /// `channel` must be given once, first, by [`Identifier::builder`].
    #[error("`channel` is set by the builder and cannot be a param")]
    DuplicateChannel,
    /// A raw identifier is not a JSON object with a string `channel`.
    #[error("identifier is not a JSON object with a string `channel`")]
    NotAChannelObject,
    /// A metasmoke model name is empty or not snake_case (`[a-z_]+`).
    #[error("metasmoke model name {0:?} is not plural snake_case")]
    BadModel(String),
    /// An empty event list would make `model#`, which crashes metasmoke's channel (no confirm, no reject).
    #[error("model {0:?} has an empty event list (`{0}#` crashes the server)")]
    EmptyEvents(String),
    /// The filter has no segment at all.
    #[error("the events filter is empty")]
    NoEvents,
}

/// A channel identifier: the exact JSON text sent in `subscribe`, kept opaque. Cloning is cheap (shared).
///
/// `Debug` and `Display` redact the values of params that look secret (`key`, `api_key`, `token`, `secret`,
/// `password`, `auth`...): metasmoke echoes its API key in every frame.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier(Arc<str>);

impl Identifier {
    /// Starts an identifier for `channel`; params follow in insertion order.
    pub fn builder(channel: &str) -> IdentifierBuilder {
        let mut text = String::with_capacity(channel.len() + 32);
        text.push_str("{\"channel\":");
        feedwire_core::json::write_string(&mut text, channel);
        IdentifierBuilder { text }
    }

    /// An identifier with only `channel`.
    pub fn channel_only(channel: &str) -> Identifier {
        Identifier::builder(channel).build()
    }

    /// Takes an identifier text as is (for example one built by another client) after checking that it is a
    /// JSON object with a string `channel`. The text is kept byte for byte (no re-serialisation).
    pub fn from_raw(text: impl Into<String>) -> Result<Identifier, IdentifierError> {
        let text = text.into();
        let fields = parse_fields(&text).ok_or(IdentifierError::NotAChannelObject)?;
        let ok = fields
            .iter()
            .any(|(k, v)| k == "channel" && v.get().starts_with('"'));
        if !ok {
            return Err(IdentifierError::NotAChannelObject);
        }
        Ok(Identifier(Arc::from(text)))
    }

    /// An identifier text received from a peer, kept as is (not validated: the server must accept whatever
    /// Rails accepts and report it).
    pub(crate) fn from_wire(text: String) -> Identifier {
        Identifier(Arc::from(text))
    }

    /// The exact identifier text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The channel class name.
    pub fn channel(&self) -> Option<String> {
        let fields = parse_fields(&self.0)?;
        fields
            .into_iter()
            .find(|(k, _)| k == "channel")
            .and_then(|(_, v)| serde_json::from_str::<String>(v.get()).ok())
    }
}

impl fmt::Debug for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identifier(")?;
        fmt_redacted(&self.0, f)?;
        f.write_str(")")
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_redacted(&self.0, f)
    }
}

/// Builds an [`Identifier`] from ordered params.
#[derive(Clone)]
pub struct IdentifierBuilder {
    text: String,
}

impl fmt::Debug for IdentifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentifierBuilder(")?;
        fmt_redacted(&format!("{}}}", self.text), f)?;
        f.write_str(")")
    }
}

impl IdentifierBuilder {
    /// Appends a param (any serializable value).
    pub fn param(mut self, name: &str, value: impl Serialize) -> Result<Self, IdentifierError> {
        if name == "channel" {
            return Err(IdentifierError::DuplicateChannel);
        }
        let v = serde_json::to_string(&value).map_err(|_| IdentifierError::Param(name.to_owned()))?;
        self.text.push(',');
        feedwire_core::json::write_string(&mut self.text, name);
        self.text.push(':');
        self.text.push_str(&v);
        Ok(self)
    }

    /// Finishes the identifier.
    pub fn build(mut self) -> Identifier {
        self.text.push('}');
        Identifier(Arc::from(self.text))
    }
}

/// The fields of a JSON object in their order, values raw; `None` when the text is not an object.
pub(crate) fn parse_fields(text: &str) -> Option<Vec<(String, &RawValue)>> {
    struct Fields;
    impl<'de> Visitor<'de> for Fields {
        type Value = Vec<(String, &'de RawValue)>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some((k, v)) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                out.push((k.into_owned(), v));
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let fields = de.deserialize_map(Fields).ok()?;
    de.end().ok()?;
    Some(fields)
}

/// Whether a param name looks like it holds a credential.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "key",
        "token",
        "secret",
        "password",
        "auth",
        "signature",
        "session",
        "cookie",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Writes an identifier text with secret-looking param values replaced by `"[redacted]"`. Text that is not a
/// JSON object is not printed at all (it could be anything).
pub(crate) fn fmt_redacted(text: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let Some(fields) = parse_fields(text) else {
        return write!(f, "<{} bytes, not a JSON object>", text.len());
    };
    f.write_str("{")?;
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            f.write_str(",")?;
        }
        write!(f, "{k:?}:")?;
        if is_secret_name(k) {
            f.write_str("\"[redacted]\"")?;
        } else {
            f.write_str(v.get())?;
        }
    }
    f.write_str("}")
}

/// One metasmoke model event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ModelEvent {
    /// `create`.
    Create,
    /// `update`.
    Update,
    /// `destroy`.
    Destroy,
}

impl ModelEvent {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelEvent::Create => "create",
            ModelEvent::Update => "update",
            ModelEvent::Destroy => "destroy",
        }
    }
}

/// Metasmoke's `ApiChannel` subscription: an API key and an `events` filter built from typed
/// (model, \[events\]) pairs, e.g. `statistics#create,update;posts#create`.
#[derive(Clone)]
pub struct ApiChannel {
    key: Secret<String>,
    segments: Vec<(String, Vec<ModelEvent>)>,
}

impl fmt::Debug for ApiChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiChannel")
            .field("key", &self.key)
            .field("events", &self.events_filter())
            .finish()
    }
}

impl ApiChannel {
    /// A subscription with `key` and no events yet.
    pub fn new(key: impl Into<String>) -> ApiChannel {
        ApiChannel {
            key: Secret::new(key.into()),
            segments: Vec::new(),
        }
    }

    /// Adds `model#e1,e2`. An empty list is refused (`model#` crashes the server channel).
    pub fn with_events(mut self, model: &str, events: &[ModelEvent]) -> Result<ApiChannel, IdentifierError> {
        check_model(model)?;
        if events.is_empty() {
            return Err(IdentifierError::EmptyEvents(model.to_owned()));
        }
        let mut evs: Vec<ModelEvent> = Vec::with_capacity(events.len());
        for e in events {
            if !evs.contains(e) {
                evs.push(*e);
            }
        }
        self.segments.push((model.to_owned(), evs));
        Ok(self)
    }

    /// Adds a bare `model` segment, which metasmoke reads as `create` and `update`.
    pub fn with_model(mut self, model: &str) -> Result<ApiChannel, IdentifierError> {
        check_model(model)?;
        self.segments.push((model.to_owned(), Vec::new()));
        Ok(self)
    }

    /// The `events` filter text.
    pub fn events_filter(&self) -> String {
        let mut s = String::new();
        for (i, (model, events)) in self.segments.iter().enumerate() {
            if i > 0 {
                s.push(';');
            }
            s.push_str(model);
            for (j, e) in events.iter().enumerate() {
                s.push(if j == 0 { '#' } else { ',' });
                s.push_str(e.as_str());
            }
        }
        s
    }

    /// `{"channel":"ApiChannel","key":..,"events":..}`.
    pub fn identifier(&self) -> Result<Identifier, IdentifierError> {
        if self.segments.is_empty() {
            return Err(IdentifierError::NoEvents);
        }
        Ok(Identifier::builder("ApiChannel")
            .param("key", self.key.expose())?
            .param("events", self.events_filter())?
            .build())
    }
}

fn check_model(model: &str) -> Result<(), IdentifierError> {
    if model.is_empty() || !model.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(IdentifierError::BadModel(model.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_keeps_order_and_escapes() {
        let id = Identifier::builder("Chat\"Channel")
            .param("room", "a<b")
            .unwrap()
            .param("n", 1)
            .unwrap()
            .build();
        assert_eq!(id.as_str(), r#"{"channel":"Chat\"Channel","room":"a<b","n":1}"#);
        assert_eq!(id.channel().as_deref(), Some("Chat\"Channel"));
        assert_eq!(
            Identifier::builder("X").param("channel", "Y").unwrap_err(),
            IdentifierError::DuplicateChannel
        );
    }

    #[test]
    fn from_raw_keeps_text_byte_for_byte() {
        let t = r#"{ "room":1, "channel":"X" }"#;
        assert_eq!(Identifier::from_raw(t).unwrap().as_str(), t);
        assert_eq!(
            Identifier::from_raw("[1]").unwrap_err(),
            IdentifierError::NotAChannelObject
        );
        assert_eq!(
            Identifier::from_raw(r#"{"channel":1}"#).unwrap_err(),
            IdentifierError::NotAChannelObject
        );
    }

    #[test]
    fn api_channel_rejects_what_crashes_the_server() {
        assert_eq!(
            ApiChannel::new("k").with_events("posts", &[]).unwrap_err(),
            IdentifierError::EmptyEvents("posts".into())
        );
        assert!(matches!(
            ApiChannel::new("k").with_model("posts#"),
            Err(IdentifierError::BadModel(_))
        ));
        assert!(matches!(
            ApiChannel::new("k").with_model("Posts"),
            Err(IdentifierError::BadModel(_))
        ));
        assert!(matches!(
            ApiChannel::new("k").with_model(""),
            Err(IdentifierError::BadModel(_))
        ));
        assert_eq!(
            ApiChannel::new("k").identifier().unwrap_err(),
            IdentifierError::NoEvents
        );
        let api = ApiChannel::new("k")
            .with_events("posts", &[ModelEvent::Create])
            .unwrap()
            .with_model("feedbacks")
            .unwrap()
            .with_events(
                "flag_logs",
                &[ModelEvent::Destroy, ModelEvent::Destroy, ModelEvent::Update],
            )
            .unwrap();
        assert_eq!(
            api.events_filter(),
            "posts#create;feedbacks;flag_logs#destroy,update"
        );
    }

    #[test]
    fn debug_redacts_the_key() {
        let api = ApiChannel::new("0123abcd").with_model("posts").unwrap();
        let id = api.identifier().unwrap();
        for d in [format!("{id:?}"), id.to_string(), format!("{api:?}")] {
            assert!(!d.contains("0123abcd"), "{d}");
        }
        assert_eq!(
            format!("{id:?}"),
            r#"Identifier({"channel":"ApiChannel","key":"[redacted]","events":"posts"})"#
        );
    }
}
