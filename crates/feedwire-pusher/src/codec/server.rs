//! Server -> client messages: what a Pusher server sends, decoded and encoded.

use bytestring::ByteString;
use feedwire_core::json::{to_string_literal, write_string};
use feedwire_core::{Frame, RawJson, StringOrJson};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::envelope::{Envelope, UserId, head, need, parse_data, share, user_id_text};
use super::error::DecodeError;
use super::events;
use super::names::is_socket_id;

/// `pusher:connection_established`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionEstablished {
    /// The socket id (`^\d+\.\d+$`).
    pub socket_id: ByteString,
    /// The server's activity timeout in seconds (at least 1).
    pub activity_timeout: u64,
}

/// `pusher:error`: `{"message":..,"code":n|null}`, maybe with a `channel`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ErrorMessage {
    /// The code; `None` for `null` or absent.
    pub code: Option<i64>,
    /// The message (empty when absent).
    pub message: ByteString,
    /// The channel of the envelope or of the data, if any.
    pub channel: Option<ByteString>,
    /// The raw data.
    pub data: Option<StringOrJson>,
}

/// Which wire shape a subscription error came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubscriptionErrorShape {
    /// `pusher:subscription_error` (soketi with `{type,error,status}` and a channel; poxa with `{}`, no channel).
    PusherEvent,
    /// `pusher_internal:subscription_error` (pusher-fake).
    InternalEvent,
    /// `pusher:error` naming a channel or refusing a signature (hosted Pusher, Reverb); produced by the client.
    ErrorEvent,
    /// The application refused to authorize (`fail_auth`); produced by the client.
    AuthFailed,
}

/// `pusher:subscription_error` / `pusher_internal:subscription_error`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SubscriptionErrorMessage {
    /// The wire shape.
    pub shape: SubscriptionErrorShape,
    /// The channel (envelope or data), absent on poxa.
    pub channel: Option<ByteString>,
    /// `type` (soketi: "AuthError").
    pub kind: Option<ByteString>,
    /// `error` or `message`.
    pub error: Option<ByteString>,
    /// `status` (soketi: 401).
    pub status: Option<u16>,
    /// The raw data.
    pub data: Option<StringOrJson>,
}

/// One entry of `pusher_internal:watchlist_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchlistEvent {
    /// "online" or "offline".
    pub name: ByteString,
    /// The users concerned.
    pub user_ids: Vec<ByteString>,
}

/// Any event that is not one of the protocol's own: channel events, client events relayed by the server,
/// server-to-user events, and unknown `pusher:*` events (kept, never an error).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChannelEvent {
    /// The event name.
    pub event: ByteString,
    /// The channel, if any.
    pub channel: Option<ByteString>,
    /// The payload, raw: a string-encoded JSON, an object, anything, or absent.
    pub data: Option<StringOrJson>,
    /// The sender of a client event on a presence channel.
    pub user_id: Option<ByteString>,
}

impl ChannelEvent {
    /// The receive path's fast decode of a channel event, for a caller that owns the frame and is done with
    /// it (the client session): the event's `data` keeps the frame's buffer itself
    /// ([`RawJson::take_from_frame`]), sparing the reference-count increment and decrement of sharing it. The
    /// same event as [`ServerMessage::decode`] gives in [`ServerMessage::Event`]. Any other frame (a protocol
    /// event, an event without `data`, anything that does not decode) comes back untouched, for
    /// [`ServerMessage::decode`].
    ///
    /// ```
    /// use feedwire_core::Frame;
    /// use feedwire_pusher::codec::ChannelEvent;
    /// let e = ChannelEvent::take_from_frame(Frame::from(r#"{"event":"listed","channel":"c","data":"{}"}"#)).unwrap();
    /// assert_eq!((&*e.event, e.data.unwrap().raw().as_str()), ("listed", r#""{}""#));
    /// assert!(ChannelEvent::take_from_frame(Frame::from(r#"{"event":"pusher:ping","data":{}}"#)).is_err());
    /// ```
    pub fn take_from_frame(frame: Frame) -> Result<ChannelEvent, Frame> {
        type Names = (ByteString, Option<ByteString>, Option<ByteString>);
        fn pick(f: &Frame) -> Option<(Names, &RawValue)> {
            let env = Envelope::parse(f.as_str()).ok()?;
            if events::is_protocol_event(&env.event) {
                return None;
            }
            let data = env.data?;
            let names = (
                share(f, &env.event),
                env.channel.as_ref().map(|c| share(f, c)),
                env.user_id.and_then(user_id_text),
            );
            Some((names, data))
        }
        let ((event, channel, user_id), data) = RawJson::take_from_frame(frame, pick)?;
        Ok(ChannelEvent {
            event,
            channel,
            data: Some(StringOrJson::new(data)),
            user_id,
        })
    }
}

/// A message from the server to the client.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// `pusher:connection_established`.
    ConnectionEstablished(ConnectionEstablished),
    /// `pusher:error`.
    Error(ErrorMessage),
    /// `pusher:ping`.
    Ping {
        /// The payload, if any.
        data: Option<StringOrJson>,
    },
    /// `pusher:pong`.
    Pong {
        /// The payload, if any.
        data: Option<StringOrJson>,
    },
    /// `pusher_internal:subscription_succeeded`.
    SubscriptionSucceeded {
        /// The channel.
        channel: ByteString,
        /// `"{}"`, `{}`, absent, or presence data.
        data: Option<StringOrJson>,
    },
    /// A subscription error of any server shape.
    SubscriptionError(SubscriptionErrorMessage),
    /// `pusher_internal:member_added`.
    MemberAdded {
        /// The presence channel.
        channel: ByteString,
        /// The member, normalised to a string.
        user_id: ByteString,
        /// The member's info.
        user_info: Option<RawJson>,
    },
    /// `pusher_internal:member_removed`.
    MemberRemoved {
        /// The presence channel.
        channel: ByteString,
        /// The member, normalised to a string.
        user_id: ByteString,
    },
    /// `pusher_internal:subscription_count`.
    SubscriptionCount {
        /// The channel.
        channel: ByteString,
        /// Subscribers.
        count: u64,
    },
    /// `pusher:cache_miss`.
    CacheMiss {
        /// The cache channel.
        channel: ByteString,
    },
    /// `pusher:signin_success`.
    SigninSuccess {
        /// The `user_data` JSON string, as sent in `pusher:signin`.
        user_data: ByteString,
        /// The `id` inside it.
        user_id: ByteString,
    },
    /// `pusher_internal:watchlist_events`.
    WatchlistEvents(Vec<WatchlistEvent>),
    /// Anything else.
    Event(ChannelEvent),
}

#[derive(Deserialize)]
struct EstablishedData {
    socket_id: String,
    #[serde(default)]
    activity_timeout: Option<u64>,
}

#[derive(Deserialize, Default)]
struct ErrorData {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    channel: Option<String>,
}

#[derive(Deserialize, Default)]
struct SubErrData {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    channel: Option<String>,
}

#[derive(Deserialize)]
struct MemberData {
    user_id: UserId,
    #[serde(default)]
    user_info: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
struct CountData {
    subscription_count: u64,
}

#[derive(Deserialize)]
struct SigninData {
    user_data: String,
}

#[derive(Deserialize)]
struct UserDataId {
    id: UserId,
}

#[derive(Deserialize)]
struct WatchlistData {
    events: Vec<WatchlistEntry>,
}

#[derive(Deserialize)]
struct WatchlistEntry {
    name: String,
    #[serde(default)]
    user_ids: Vec<UserId>,
}

impl ServerMessage {
    /// Decodes one server -> client frame. Names and payloads are zero-copy slices of `frame`: a channel
    /// event (the hot path) allocates nothing, and its `data` is not looked inside.
    ///
    /// ```
    /// use feedwire_core::Frame;
    /// use feedwire_pusher::codec::ServerMessage;
    /// let frame = Frame::from(r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":120}"}"#);
    /// match ServerMessage::decode(&frame).unwrap() {
    ///     ServerMessage::ConnectionEstablished(c) => assert_eq!((&*c.socket_id, c.activity_timeout), ("123.456", 120)),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn decode(frame: &Frame) -> Result<ServerMessage, DecodeError> {
        let env = Envelope::parse(frame.as_str())?;
        let raw = |r: &RawValue| StringOrJson::new(RawJson::from_raw_in(frame, r));
        let data = env.data.map(raw);
        let channel = env.channel.as_ref().map(|c| share(frame, c));
        let ev: &str = &env.event;
        let need_channel =
            |ch: Option<ByteString>| ch.ok_or_else(|| DecodeError::MissingChannel { event: ev.to_owned() });
        Ok(match ev {
            events::CONNECTION_ESTABLISHED => {
                let d: EstablishedData =
                    parse_data(need(ev, env.data)?).map_err(|e| DecodeError::data(ev, e))?;
                if !is_socket_id(&d.socket_id) {
                    return Err(DecodeError::data(
                        ev,
                        format!("socket_id {:?} is not digits.digits", d.socket_id),
                    ));
                }
                let activity_timeout = match d.activity_timeout {
                    Some(t) if t > 0 => t,
                    _ => return Err(DecodeError::data(ev, "activity_timeout is missing or 0")),
                };
                ServerMessage::ConnectionEstablished(ConnectionEstablished {
                    socket_id: ByteString::from(d.socket_id),
                    activity_timeout,
                })
            }
            events::ERROR => {
                let d: ErrorData = match env.data {
                    Some(r) => parse_data(r.get()).unwrap_or_default(),
                    _ => ErrorData::default(),
                };
                ServerMessage::Error(ErrorMessage {
                    code: d.code,
                    message: ByteString::from(d.message.unwrap_or_default()),
                    channel: channel.or(d.channel.map(ByteString::from)),
                    data,
                })
            }
            events::PING => ServerMessage::Ping { data },
            events::PONG => ServerMessage::Pong { data },
            events::SUBSCRIPTION_SUCCEEDED => ServerMessage::SubscriptionSucceeded {
                channel: need_channel(channel)?,
                data,
            },
            events::SUBSCRIPTION_ERROR | events::INTERNAL_SUBSCRIPTION_ERROR => {
                let d: SubErrData = match env.data {
                    Some(r) => parse_data(r.get()).unwrap_or_default(),
                    None => SubErrData::default(),
                };
                ServerMessage::SubscriptionError(SubscriptionErrorMessage {
                    shape: if ev == events::SUBSCRIPTION_ERROR {
                        SubscriptionErrorShape::PusherEvent
                    } else {
                        SubscriptionErrorShape::InternalEvent
                    },
                    channel: channel.or(d.channel.map(ByteString::from)),
                    kind: d.kind.map(ByteString::from),
                    error: d.error.or(d.message).map(ByteString::from),
                    status: d.status,
                    data,
                })
            }
            events::MEMBER_ADDED | events::MEMBER_REMOVED => {
                let d: MemberData = parse_data(need(ev, env.data)?).map_err(|e| DecodeError::data(ev, e))?;
                let channel = need_channel(channel)?;
                let user_id = ByteString::from(d.user_id.0);
                if ev == events::MEMBER_ADDED {
                    ServerMessage::MemberAdded {
                        channel,
                        user_id,
                        user_info: d.user_info.map(|r| RawJson::from_raw_in(frame, &r)),
                    }
                } else {
                    ServerMessage::MemberRemoved { channel, user_id }
                }
            }
            events::SUBSCRIPTION_COUNT => {
                let d: CountData = parse_data(need(ev, env.data)?).map_err(|e| DecodeError::data(ev, e))?;
                ServerMessage::SubscriptionCount {
                    channel: need_channel(channel)?,
                    count: d.subscription_count,
                }
            }
            events::CACHE_MISS => ServerMessage::CacheMiss {
                channel: need_channel(channel)?,
            },
            events::SIGNIN_SUCCESS => {
                let d: SigninData = parse_data(need(ev, env.data)?).map_err(|e| DecodeError::data(ev, e))?;
                let id: UserDataId = serde_json::from_str(&d.user_data)
                    .map_err(|e| DecodeError::data(ev, format!("user_data: {e}")))?;
                ServerMessage::SigninSuccess {
                    user_data: ByteString::from(d.user_data),
                    user_id: ByteString::from(id.id.0),
                }
            }
            events::WATCHLIST_EVENTS => {
                let d: WatchlistData =
                    parse_data(need(ev, env.data)?).map_err(|e| DecodeError::data(ev, e))?;
                ServerMessage::WatchlistEvents(
                    d.events
                        .into_iter()
                        .map(|e| WatchlistEvent {
                            name: ByteString::from(e.name),
                            user_ids: e.user_ids.into_iter().map(|u| ByteString::from(u.0)).collect(),
                        })
                        .collect(),
                )
            }
            _ => ServerMessage::Event(ChannelEvent {
                event: share(frame, &env.event),
                channel,
                data,
                user_id: env.user_id.and_then(user_id_text),
            }),
        })
    }

    /// Encodes the message the way hosted Pusher writes it (`data` of protocol events as a JSON-encoded string).
    pub fn encode(&self) -> Frame {
        let mut out = String::with_capacity(128);
        let tail = |out: &mut String, channel: Option<&str>, data: Option<&str>| {
            if let Some(c) = channel {
                out.push_str(",\"channel\":");
                write_string(out, c);
            }
            if let Some(d) = data {
                out.push_str(",\"data\":");
                out.push_str(d);
            }
            out.push('}');
        };
        match self {
            ServerMessage::ConnectionEstablished(c) => {
                head(&mut out, events::CONNECTION_ESTABLISHED);
                let inner = format!(
                    "{{\"socket_id\":{},\"activity_timeout\":{}}}",
                    to_string_literal(&c.socket_id),
                    c.activity_timeout
                );
                tail(&mut out, None, Some(&to_string_literal(&inner)));
            }
            ServerMessage::Error(e) => {
                head(&mut out, events::ERROR);
                let data = match &e.data {
                    Some(d) => d.raw().as_str().to_owned(),
                    None => {
                        let code = e.code.map_or("null".to_owned(), |c| c.to_string());
                        format!(
                            "{{\"code\":{code},\"message\":{}}}",
                            to_string_literal(&e.message)
                        )
                    }
                };
                tail(&mut out, e.channel.as_deref(), Some(&data));
            }
            ServerMessage::Ping { data } | ServerMessage::Pong { data } => {
                let name = if matches!(self, ServerMessage::Ping { .. }) {
                    events::PING
                } else {
                    events::PONG
                };
                head(&mut out, name);
                tail(&mut out, None, data.as_ref().map(|d| d.raw().as_str()));
            }
            ServerMessage::SubscriptionSucceeded { channel, data } => {
                head(&mut out, events::SUBSCRIPTION_SUCCEEDED);
                tail(&mut out, Some(channel), data.as_ref().map(|d| d.raw().as_str()));
            }
            ServerMessage::SubscriptionError(s) => {
                head(
                    &mut out,
                    if s.shape == SubscriptionErrorShape::InternalEvent {
                        events::INTERNAL_SUBSCRIPTION_ERROR
                    } else {
                        events::SUBSCRIPTION_ERROR
                    },
                );
                let data = match &s.data {
                    Some(d) => d.raw().as_str().to_owned(),
                    None => {
                        let mut d = String::from("{");
                        let mut sep = "";
                        if let Some(k) = &s.kind {
                            d.push_str(&format!("\"type\":{}", to_string_literal(k)));
                            sep = ",";
                        }
                        if let Some(e) = &s.error {
                            d.push_str(&format!("{sep}\"error\":{}", to_string_literal(e)));
                            sep = ",";
                        }
                        if let Some(st) = s.status {
                            d.push_str(&format!("{sep}\"status\":{st}"));
                        }
                        d.push('}');
                        d
                    }
                };
                tail(&mut out, s.channel.as_deref(), Some(&data));
            }
            ServerMessage::MemberAdded {
                channel,
                user_id,
                user_info,
            } => {
                head(&mut out, events::MEMBER_ADDED);
                let mut inner = format!("{{\"user_id\":{}", to_string_literal(user_id));
                if let Some(i) = user_info {
                    inner.push_str(",\"user_info\":");
                    inner.push_str(i.as_str());
                }
                inner.push('}');
                tail(&mut out, Some(channel), Some(&to_string_literal(&inner)));
            }
            ServerMessage::MemberRemoved { channel, user_id } => {
                head(&mut out, events::MEMBER_REMOVED);
                let inner = format!("{{\"user_id\":{}}}", to_string_literal(user_id));
                tail(&mut out, Some(channel), Some(&to_string_literal(&inner)));
            }
            ServerMessage::SubscriptionCount { channel, count } => {
                head(&mut out, events::SUBSCRIPTION_COUNT);
                let inner = format!("{{\"subscription_count\":{count}}}");
                tail(&mut out, Some(channel), Some(&to_string_literal(&inner)));
            }
            ServerMessage::CacheMiss { channel } => {
                head(&mut out, events::CACHE_MISS);
                tail(&mut out, Some(channel), None);
            }
            ServerMessage::SigninSuccess { user_data, .. } => {
                head(&mut out, events::SIGNIN_SUCCESS);
                let inner = format!("{{\"user_data\":{}}}", to_string_literal(user_data));
                tail(&mut out, None, Some(&to_string_literal(&inner)));
            }
            ServerMessage::WatchlistEvents(list) => {
                head(&mut out, events::WATCHLIST_EVENTS);
                let mut inner = String::from("{\"events\":[");
                for (i, e) in list.iter().enumerate() {
                    if i > 0 {
                        inner.push(',');
                    }
                    inner.push_str(&format!(
                        "{{\"name\":{},\"user_ids\":[",
                        to_string_literal(&e.name)
                    ));
                    for (j, u) in e.user_ids.iter().enumerate() {
                        if j > 0 {
                            inner.push(',');
                        }
                        write_string(&mut inner, u);
                    }
                    inner.push_str("]}");
                }
                inner.push_str("]}");
                tail(&mut out, None, Some(&to_string_literal(&inner)));
            }
            ServerMessage::Event(e) => {
                head(&mut out, &e.event);
                tail(
                    &mut out,
                    e.channel.as_deref(),
                    e.data.as_ref().map(|d| d.raw().as_str()),
                );
                if let Some(u) = &e.user_id {
                    out.pop();
                    out.push_str(",\"user_id\":");
                    write_string(&mut out, u);
                    out.push('}');
                }
            }
        }
        Frame::from(out)
    }

    /// A channel event to broadcast, encoded once (`{"event":..,"channel":..,"data":<data as given>}`): the
    /// same bytes as encoding a [`ServerMessage::Event`] without `user_id`, from borrowed parts, for a hub's
    /// publish (one allocation: the frame's buffer). Clone the returned [`Frame`] for every subscriber, the
    /// buffer is shared. `data` is written as is (a JSON string for the hosted form).
    ///
    /// ```
    /// use feedwire_core::RawJson;
    /// use feedwire_pusher::codec::ServerMessage;
    /// let f = ServerMessage::encode_channel_event("listed", "inventory_changes", &RawJson::from_json_str(r#""{}""#).unwrap());
    /// assert_eq!(f.as_str(), r#"{"event":"listed","channel":"inventory_changes","data":"{}"}"#);
    /// ```
    pub fn encode_channel_event(event: &str, channel: &str, data: &RawJson) -> Frame {
        let mut out = String::with_capacity(32 + event.len() + channel.len() + data.as_str().len());
        head(&mut out, event);
        out.push_str(",\"channel\":");
        write_string(&mut out, channel);
        out.push_str(",\"data\":");
        out.push_str(data.as_str());
        out.push('}');
        Frame::from(out)
    }
}
