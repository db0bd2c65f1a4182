//! Client -> server messages: what a Pusher client sends, encoded exactly as pusher-js writes them.

use std::borrow::Cow;

use bytestring::ByteString;
use feedwire_core::json::write_string;
use feedwire_core::{Frame, RawJson, Secret, StringOrJson};
use serde::Deserialize;

use super::envelope::{Envelope, head, need, parse_data, share};
use super::error::DecodeError;
use super::events;
use super::names::{NameError, validate_client_event_name};

/// A message from the client to the server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientMessage {
    /// `pusher:subscribe`.
    Subscribe {
        /// The channel.
        channel: ByteString,
        /// `""` for public channels, `key:signature` otherwise.
        auth: Secret<String>,
        /// Presence only: the exact JSON string that was signed.
        channel_data: Option<String>,
    },
    /// `pusher:unsubscribe`.
    Unsubscribe {
        /// The channel.
        channel: ByteString,
    },
    /// `pusher:ping`.
    Ping,
    /// `pusher:pong`.
    Pong,
    /// `pusher:signin`.
    Signin {
        /// `key:signature`.
        auth: Secret<String>,
        /// The JSON string with the user's `id`.
        user_data: String,
    },
    /// A client event (`client-*`) on a private or presence channel.
    ClientEvent {
        /// The event name.
        event: ByteString,
        /// The channel.
        channel: ByteString,
        /// The payload as written by the sender.
        data: RawJson,
    },
    /// Anything else a client sent (kept for servers).
    Other {
        /// The event name.
        event: ByteString,
        /// The channel, if any.
        channel: Option<ByteString>,
        /// The payload, if any.
        data: Option<StringOrJson>,
    },
}

#[derive(Deserialize)]
struct SubscribeData<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    channel_data: Option<String>,
}

#[derive(Deserialize)]
struct ChannelOnly<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
}

#[derive(Deserialize)]
struct SigninIn {
    auth: String,
    user_data: String,
}

impl ClientMessage {
    /// `pusher:subscribe` (no validation; the client session validates names).
    pub fn subscribe(channel: &str, auth: &str, channel_data: Option<&str>) -> Self {
        ClientMessage::Subscribe {
            channel: ByteString::from(channel.to_owned()),
            auth: Secret::new(auth.to_owned()),
            channel_data: channel_data.map(str::to_owned),
        }
    }

    /// A client event; `data` must be valid JSON and `event` must start with `client-`.
    pub fn client_event(event: &str, channel: &str, data: &str) -> Result<Self, NameError> {
        validate_client_event_name(event)?;
        let data = RawJson::from_json_str(data).map_err(|e| NameError::InvalidData {
            reason: e.to_string(),
        })?;
        Ok(ClientMessage::ClientEvent {
            event: ByteString::from(event.to_owned()),
            channel: ByteString::from(channel.to_owned()),
            data,
        })
    }

    /// Encodes the message exactly as pusher-js writes it (see the module docs).
    pub fn encode(&self) -> Frame {
        let mut out = String::with_capacity(96);
        match self {
            ClientMessage::Subscribe {
                channel,
                auth,
                channel_data,
            } => {
                head(&mut out, events::SUBSCRIBE);
                out.push_str(",\"data\":{\"auth\":");
                write_string(&mut out, auth.expose());
                if let Some(cd) = channel_data {
                    out.push_str(",\"channel_data\":");
                    write_string(&mut out, cd);
                }
                out.push_str(",\"channel\":");
                write_string(&mut out, channel);
                out.push_str("}}");
            }
            ClientMessage::Unsubscribe { channel } => {
                head(&mut out, events::UNSUBSCRIBE);
                out.push_str(",\"data\":{\"channel\":");
                write_string(&mut out, channel);
                out.push_str("}}");
            }
            ClientMessage::Ping => return Frame::from(r#"{"event":"pusher:ping","data":{}}"#),
            ClientMessage::Pong => return Frame::from(r#"{"event":"pusher:pong","data":{}}"#),
            ClientMessage::Signin { auth, user_data } => {
                head(&mut out, events::SIGNIN);
                out.push_str(",\"data\":{\"auth\":");
                write_string(&mut out, auth.expose());
                out.push_str(",\"user_data\":");
                write_string(&mut out, user_data);
                out.push_str("}}");
            }
            ClientMessage::ClientEvent { event, channel, data } => {
                head(&mut out, event);
                out.push_str(",\"data\":");
                out.push_str(data.as_str());
                out.push_str(",\"channel\":");
                write_string(&mut out, channel);
                out.push('}');
            }
            ClientMessage::Other { event, channel, data } => {
                head(&mut out, event);
                if let Some(d) = data {
                    out.push_str(",\"data\":");
                    out.push_str(d.raw().as_str());
                }
                if let Some(c) = channel {
                    out.push_str(",\"channel\":");
                    write_string(&mut out, c);
                }
                out.push('}');
            }
        }
        Frame::from(out)
    }

    /// Decodes one client -> server frame (for server hubs). Names and payloads are zero-copy slices of
    /// `frame`.
    ///
    /// ```
    /// use feedwire_core::Frame;
    /// use feedwire_pusher::codec::ClientMessage;
    /// let frame = Frame::from(r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#);
    /// let msg = ClientMessage::decode(&frame).unwrap();
    /// assert!(matches!(&msg, ClientMessage::Subscribe { channel, .. } if channel == "inventory_changes"));
    /// assert_eq!(msg.encode().as_str(), frame.as_str());
    /// ```
    pub fn decode(frame: &Frame) -> Result<ClientMessage, DecodeError> {
        let env = Envelope::parse(frame.as_str())?;
        let ev: &str = &env.event;
        let channel = env.channel.as_ref().map(|c| share(frame, c));
        Ok(match ev {
            events::SUBSCRIBE => {
                let d: SubscribeData<'_> =
                    serde_json::from_str(need(ev, env.data)?).map_err(|e| DecodeError::data(ev, e))?;
                ClientMessage::Subscribe {
                    channel: share(frame, &d.channel),
                    auth: Secret::new(d.auth.unwrap_or_default()),
                    channel_data: d.channel_data,
                }
            }
            events::UNSUBSCRIBE => {
                let d: ChannelOnly<'_> =
                    serde_json::from_str(need(ev, env.data)?).map_err(|e| DecodeError::data(ev, e))?;
                ClientMessage::Unsubscribe {
                    channel: share(frame, &d.channel),
                }
            }
            events::PING => ClientMessage::Ping,
            events::PONG => ClientMessage::Pong,
            events::SIGNIN => {
                let d: SigninIn = parse_data(need(ev, env.data)?).map_err(|e| DecodeError::data(ev, e))?;
                ClientMessage::Signin {
                    auth: Secret::new(d.auth),
                    user_data: d.user_data,
                }
            }
            e if e.starts_with("client-") => match (channel, env.data) {
                (Some(channel), Some(d)) => ClientMessage::ClientEvent {
                    event: share(frame, &env.event),
                    channel,
                    data: RawJson::from_raw_in(frame, d),
                },
                (channel, data) => ClientMessage::Other {
                    event: share(frame, &env.event),
                    channel,
                    data: data.map(|d| StringOrJson::new(RawJson::from_raw_in(frame, d))),
                },
            },
            _ => ClientMessage::Other {
                event: share(frame, &env.event),
                channel,
                data: env
                    .data
                    .map(|d| StringOrJson::new(RawJson::from_raw_in(frame, d))),
            },
        })
    }
}
