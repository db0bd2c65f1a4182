//! What a Doshii server sends: [`ServerMessage`], decoded and encoded.

use std::borrow::Cow;

use bytestring::ByteString;
use feedwire_core::{Frame, RawJson};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::envelope::{BorrowedStr, EmitField, Envelope, emit_fast_parts};
use super::error::DecodeError;
use super::event::{Event, EventKind, EventShape};
use super::heartbeat::{
    Beat, Heartbeat, PRIMUS_PING_PREFIX, PRIMUS_PONG_PREFIX, PRIMUS_SERVER_CLOSE, PRIMUS_SERVER_CLOSE_TEXT,
    Stamp, decode_heartbeat, encode_primus,
};

/// A frame from the server: heartbeats, Primus strings, events.
///
/// ```
/// use feedwire_core::Frame;
/// use feedwire_doshii::codec::{EventKind, ServerMessage};
///
/// let frame = Frame::from(r#"{"emit":["order_updated",{"id":"123","status":"accepted"}]}"#);
/// let ServerMessage::Event(event) = ServerMessage::decode(&frame).unwrap() else { panic!() };
/// assert_eq!(event.kind, EventKind::OrderUpdated);
/// assert_eq!(event.data.status().as_deref(), Some("accepted"));
/// assert_eq!(ServerMessage::Event(event).encode(), frame);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerMessage {
    /// `{"doshii":{"ping":..}}`: the server pings (answer with a pong carrying the same stamp).
    Ping(Heartbeat),
    /// `{"doshii":{"pong":..}}`: the answer to the client's ping.
    Pong(Heartbeat),
    /// `"primus::ping::<ms>"`: a legacy Primus heartbeat; answer with
    /// [`ClientMessage::PrimusPong`](super::ClientMessage::PrimusPong).
    PrimusPing(Stamp),
    /// `"primus::pong::<ms>"`.
    PrimusPong(Stamp),
    /// `"primus::server::close"`: the server is closing on purpose; do not reconnect.
    PrimusServerClose,
    /// An event, in the `emit` shape or the docs' fallback shapes.
    Event(Event),
    /// Valid JSON that is none of the above (kept whole, never an error).
    Unknown(RawJson),
}

impl ServerMessage {
    /// Decodes one frame. Never panics; unknown shapes are [`ServerMessage::Unknown`], not errors. The
    /// payloads share the frame's buffer (no copy).
    ///
    /// Doshii's exact wire shape, `{"emit":["<name>",<data>]}`, takes a fast path that validates only the
    /// data; every other frame goes through a borrowed serde envelope. Both give the same result (the fuzz
    /// targets check it).
    pub fn decode(frame: &Frame) -> Result<ServerMessage, DecodeError> {
        match emit_fast_parts(frame.as_str()) {
            Some((name, raw)) => Ok(ServerMessage::Event(Event::new(
                kind_in(frame, Cow::Borrowed(name)),
                RawJson::from_raw_in(frame, raw),
            ))),
            None => decode_general(frame),
        }
    }

    /// The client path's fast variant, for a frame the caller is done with: the event of a frame in Doshii's
    /// exact wire shape, its data keeping the frame's buffer itself ([`RawJson::take_from_frame`]: no
    /// reference-count traffic for sharing it); any other frame comes back untouched, for
    /// [`ServerMessage::decode`]. Where it gives an event, `decode` gives the same one.
    ///
    /// ```
    /// use feedwire_core::Frame;
    /// use feedwire_doshii::codec::{EventKind, ServerMessage};
    ///
    /// let event = ServerMessage::take_event(Frame::from(r#"{"emit":["order_created",{"id":"1"}]}"#)).unwrap();
    /// assert_eq!(event.kind, EventKind::OrderCreated);
    /// let pong = Frame::from(r#"{"doshii":{"pong":5}}"#);
    /// assert_eq!(ServerMessage::take_event(pong.clone()), Err(pong));
    /// ```
    #[inline]
    pub fn take_event(frame: Frame) -> Result<Event, Frame> {
        RawJson::take_from_frame(frame, |f| {
            let (name, raw) = emit_fast_parts(f.as_str())?;
            Some((kind_in(f, Cow::Borrowed(name)), raw))
        })
        .map(|(kind, data)| Event::new(kind, data))
    }

    /// Encodes the message. Every message decodes back to itself, except that an
    /// [`Unknown`](ServerMessage::Unknown) whose JSON happens to be a known shape decodes as that shape.
    pub fn encode(&self) -> Frame {
        match self {
            ServerMessage::Ping(h) => h.encode("ping"),
            ServerMessage::Pong(h) => h.encode("pong"),
            ServerMessage::PrimusPing(s) => encode_primus(PRIMUS_PING_PREFIX, s),
            ServerMessage::PrimusPong(s) => encode_primus(PRIMUS_PONG_PREFIX, s),
            ServerMessage::PrimusServerClose => Frame::from(PRIMUS_SERVER_CLOSE),
            ServerMessage::Event(e) => e.encode(),
            ServerMessage::Unknown(raw) => Frame::from(raw.to_byte_string()),
        }
    }

    /// Fuzzing only (unstable): whether the fast path agrees with the general decoder on `frame`, and
    /// [`take_event`](ServerMessage::take_event) with [`decode`](ServerMessage::decode).
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn check_fast_path(frame: &Frame) -> Result<(), String> {
        let general = decode_general(frame);
        if emit_fast_parts(frame.as_str()).is_some() {
            let fast = ServerMessage::decode(frame);
            if fast != general {
                return Err(format!(
                    "fast path {fast:?} but general {general:?} for {frame:?}"
                ));
            }
        }
        match ServerMessage::take_event(frame.clone()) {
            Ok(event) if general != Ok(ServerMessage::Event(event.clone())) => Err(format!(
                "take_event {event:?} but decode {general:?} for {frame:?}"
            )),
            Err(back) if back != *frame => Err(format!("take_event gave back {back:?} for {frame:?}")),
            _ => Ok(()),
        }
    }
}

/// Every shape, through serde.
pub(super) fn decode_general(frame: &Frame) -> Result<ServerMessage, DecodeError> {
    let text = frame.as_str();
    match text.trim_start().as_bytes().first() {
        Some(b'{') => decode_object(frame, text),
        Some(b'"') => decode_string(frame, text),
        _ => {
            let raw: &RawValue = serde_json::from_str(text)?;
            Ok(ServerMessage::Unknown(RawJson::from_raw_in(frame, raw)))
        }
    }
}

/// The kind for `name`: a known one, or [`EventKind::Other`] sharing `frame` when `name` borrows from it.
#[inline]
fn kind_in(frame: &Frame, name: Cow<'_, str>) -> EventKind {
    match EventKind::known(&name) {
        Some(k) => k,
        None => EventKind::Other(match name {
            Cow::Borrowed(b) => share(frame, b),
            Cow::Owned(o) => ByteString::from(o),
        }),
    }
}

/// The text of `s` as a [`ByteString`] sharing `frame` when `s` borrows from it.
fn share(frame: &Frame, s: &str) -> ByteString {
    frame.slice_ref(s).into_byte_string()
}

fn decode_string(frame: &Frame, text: &str) -> Result<ServerMessage, DecodeError> {
    let raw: &RawValue = serde_json::from_str(text)?;
    let s: BorrowedStr<'_> = serde_json::from_str(raw.get())?;
    let s = s.0;
    let stamp = |rest: &str| Stamp::shared(share(frame, rest));
    if let Some(rest) = s.strip_prefix(PRIMUS_PING_PREFIX) {
        Ok(ServerMessage::PrimusPing(stamp(rest)))
    } else if let Some(rest) = s.strip_prefix(PRIMUS_PONG_PREFIX) {
        Ok(ServerMessage::PrimusPong(stamp(rest)))
    } else if s == PRIMUS_SERVER_CLOSE_TEXT {
        Ok(ServerMessage::PrimusServerClose)
    } else {
        Ok(ServerMessage::Unknown(RawJson::from_raw_in(frame, raw)))
    }
}

fn beat(b: Beat) -> ServerMessage {
    match b {
        Beat::Ping(h) => ServerMessage::Ping(h),
        Beat::Pong(h) => ServerMessage::Pong(h),
    }
}

fn decode_object(frame: &Frame, text: &str) -> Result<ServerMessage, DecodeError> {
    let env: Envelope<'_> = serde_json::from_str(text)?;
    if let Some(d) = env.doshii
        && let Some(b) = decode_heartbeat(frame, d)?
    {
        return Ok(beat(b));
    }
    if let Some(emit) = env.emit {
        let args = match emit {
            EmitField::Args(a) => a,
            EmitField::Bad(reason) => return Err(DecodeError::Emit { reason }),
        };
        let data = match args.data {
            Some(d) => RawJson::from_raw_in(frame, d),
            None => RawJson::null(),
        };
        let mut event = Event::new(kind_in(frame, args.name), data);
        event.extra_args = args
            .extra
            .into_iter()
            .map(|v| RawJson::from_raw_in(frame, v))
            .collect();
        return Ok(ServerMessage::Event(event));
    }
    let named = match (env.event, env.type_) {
        (Some(n), _) => Some((n, EventShape::Event)),
        (None, Some(n)) => Some((n, EventShape::Type)),
        (None, None) => None,
    };
    if let Some((name, shape)) = named
        && let Ok(name) = serde_json::from_str::<BorrowedStr<'_>>(name.get())
    {
        // The browser MessageEvent the docs log wraps heartbeats too: {"type":"message","data":{"doshii":..}}.
        if name.0 == "message"
            && let Some(data) = env.data
            && let Some(m) = decode_wrapped_heartbeat(frame, data)
        {
            return Ok(m);
        }
        let data = match env.data {
            Some(d) => RawJson::from_raw_in(frame, d),
            None => RawJson::null(),
        };
        let event = Event::new(kind_in(frame, name.0), data).with_shape(shape);
        return Ok(ServerMessage::Event(event));
    }
    let raw: &RawValue = serde_json::from_str(text)?;
    Ok(ServerMessage::Unknown(RawJson::from_raw_in(frame, raw)))
}

fn decode_wrapped_heartbeat(frame: &Frame, data: &RawValue) -> Option<ServerMessage> {
    #[derive(Deserialize)]
    struct Wrapped<'a> {
        #[serde(borrow, default)]
        doshii: Option<&'a RawValue>,
    }
    let w: Wrapped<'_> = serde_json::from_str(data.get()).ok()?;
    decode_heartbeat(frame, w.doshii?).ok().flatten().map(beat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &'static str) -> ServerMessage {
        ServerMessage::decode(&Frame::from(s)).unwrap()
    }

    #[test]
    fn heartbeats() {
        let ServerMessage::Pong(p) = dec(r#"{"doshii":{"pong":1539144663417,"version":"3.2.123"}}"#) else {
            panic!()
        };
        assert_eq!(p.stamp.millis(), Some(1539144663417));
        assert_eq!(p.version().as_deref(), Some("3.2.123"));
        let ServerMessage::Ping(p) =
            dec(r#"{"doshii":{"ping":5,"status":{"database":"online","processor":"offline"}}}"#)
        else {
            panic!()
        };
        let st = p.pos_status().unwrap().unwrap();
        assert_eq!(st.database.as_deref(), Some("online"));
        assert_eq!(
            dec(r#"{"doshii":{}}"#),
            ServerMessage::Unknown(RawJson::from_json_str(r#"{"doshii":{}}"#).unwrap())
        );
    }

    #[test]
    fn primus() {
        assert_eq!(dec(PRIMUS_SERVER_CLOSE), ServerMessage::PrimusServerClose);
        let ServerMessage::PrimusPing(s) = dec(r#""primus::ping::1539144663417""#) else {
            panic!()
        };
        assert_eq!(s.millis(), Some(1539144663417));
        assert_eq!(
            ServerMessage::PrimusPong(s).encode().as_str(),
            r#""primus::pong::1539144663417""#
        );
        assert!(matches!(dec(r#""hello""#), ServerMessage::Unknown(_)));
    }

    #[test]
    fn events_and_fallbacks() {
        let ServerMessage::Event(e) = dec(r#"{"emit":["x_y",{"a":1},2,3]}"#) else {
            panic!()
        };
        assert_eq!(e.kind, EventKind::Other(ByteString::from_static("x_y")));
        assert_eq!(e.extra_args.len(), 2);
        let ServerMessage::Event(e) = dec(r#"{"type":"order_created","data":{"id":1}}"#) else {
            panic!()
        };
        assert_eq!((e.kind, e.shape), (EventKind::OrderCreated, EventShape::Type));
        assert_eq!(e.data.id().as_deref(), Some("1"));
        let ServerMessage::Event(e) = dec(r#"{"event":"health_check","data":{"ping":99}}"#) else {
            panic!()
        };
        assert_eq!(e.data.health_check_stamp().unwrap().millis(), Some(99));
        assert!(matches!(
            dec(r#"{"type":"message","data":{"doshii":{"pong":1}}}"#),
            ServerMessage::Pong(_)
        ));
        for bad in [r#"{"emit":[]}"#, r#"{"emit":[1]}"#, r#"{"emit":{}}"#, "{"] {
            assert!(ServerMessage::decode(&Frame::from(bad)).is_err(), "{bad}");
        }
        assert!(matches!(dec("[1]"), ServerMessage::Unknown(_)));
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_one() {
        let accepted = [
            r#"{"emit":["order_updated",{"id":"1","a":[1,{"b":null}]}]}"#,
            r#"{"emit":["",null]}"#,
            r#"{"emit":["x y",  "s" ]}"#,
            r#"{"emit":["mystery",[]]}"#,
        ];
        for t in accepted {
            let f = Frame::from(t);
            assert!(emit_fast_parts(t).is_some(), "{t}");
            let fast = ServerMessage::decode(&f);
            assert_eq!(fast, decode_general(&f), "{t}");
            let taken = ServerMessage::take_event(f.clone()).expect(t);
            assert_eq!(fast, Ok(ServerMessage::Event(taken)), "{t}");
        }
        let declined = [
            r#"{"emit":["a",1,2]}"#,
            r#"{"emit":["a\u0062",1]}"#,
            r#"{"emit":["a"]}"#,
            r#"{"emit":["a",{}]} "#,
            r#" {"emit":["a",{}]}"#,
            r#"{"emit":["a",{}],"x":[1]}"#,
            r#"{"emit":["a",{]}"#,
            "{\"emit\":[\"a\tb\",1]}",
        ];
        for t in declined {
            assert!(emit_fast_parts(t).is_none(), "{t}");
            assert!(ServerMessage::take_event(Frame::from(t)).is_err(), "{t}");
        }
    }

    #[test]
    fn every_known_name_round_trips() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::from_name(k.as_str()), *k);
        }
    }
}
