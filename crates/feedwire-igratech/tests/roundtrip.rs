//! proptest: encode -> decode round trips of every message type; decoding arbitrary text never panics.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

mod common;

use std::time::Instant;

use common::*;
use feedwire_core::{Frame, Session};
use feedwire_igratech::client::{Client, Config, Event};
use feedwire_igratech::codec::*;
use feedwire_igratech::envelope::{Envelope, NestEnvelope};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn server_messages_round_trip(msg in arb_server_message()) {
        let frame = msg.encode();
        prop_assert_eq!(ServerMessage::decode(&frame).unwrap(), msg);
    }

    #[test]
    fn unknown_channels_round_trip(msg in arb_other_server_message()) {
        let frame = msg.encode();
        prop_assert_eq!(ServerMessage::decode(&frame).unwrap(), msg);
    }

    #[test]
    fn client_messages_round_trip(msg in arb_client_message()) {
        let frame = msg.encode();
        prop_assert_eq!(ClientMessage::decode(&frame).unwrap(), msg);
    }

    /// The client hands out the exact payload text, and it parses back to the message sent.
    #[test]
    fn server_messages_reach_the_client_typed(msg in arb_server_message()) {
        let frame = msg.encode();
        let text = frame.as_str();
        let now = Instant::now();
        let mut c = Client::new(Config::default().with_checked_payloads(true));
        c.connect(now);
        let _ = c.poll_transmit();
        c.handle_open(now, None);
        c.handle_frame(now, frame.clone());
        let ev = c.poll_event().unwrap();
        let split = NestEnvelope.split(text).unwrap();
        let raw = split.data.get();
        let ok = match (&msg, ev) {
            (ServerMessage::Connected(m), Event::Connected { status: p }) => p.raw().as_str() == raw && &p.parse().unwrap() == m,
            (ServerMessage::Settings(m), Event::Settings(p)) => p.raw().as_str() == raw && &p.parse().unwrap() == m,
            (ServerMessage::Incident(m), Event::Incident(p)) => p.raw().as_str() == raw && &p.parse().unwrap() == m,
            (ServerMessage::Bet(m), Event::Bet(p)) => p.raw().as_str() == raw && &p.parse().unwrap() == m,
            (ServerMessage::BetsResult(m), Event::BetsResult(p)) => p.raw().as_str() == raw && &p.parse().unwrap() == m,
            (ServerMessage::Balance(m), Event::Balance(p)) => p.raw().as_str() == raw && &p.parse().unwrap() == m,
            (ServerMessage::Stats(m), Event::Stats(p)) => p.raw().as_str() == raw && &p.parse().unwrap() == m,
            (ServerMessage::Logout(m), Event::LoggedOut(p)) => p.raw().as_str() == raw && &p.parse().unwrap() == m,
            (ServerMessage::Pong(m), Event::Pong { echoed_unix_ms, .. }) => echoed_unix_ms == Some(m.pong),
            _ => false,
        };
        prop_assert!(ok, "{}", text);
    }

    #[test]
    fn decoding_arbitrary_text_never_panics(text in "\\PC{0,64}") {
        let frame = Frame::from(text.clone());
        let _ = ServerMessage::decode(&frame);
        let _ = ClientMessage::decode(&frame);
        let _ = NestEnvelope.split(&text);
    }

    #[test]
    fn decoding_json_like_text_never_panics(text in r#"\{("event":"(bet|stats|ping-pong|settings|x)",)?("data":)?[\[\]{}",:0-9a-z.eE+-]{0,40}\}?"#) {
        let frame = Frame::from(text);
        let _ = ServerMessage::decode(&frame);
        let _ = ClientMessage::decode(&frame);
    }

    /// Payloads of the right channel but the wrong shape still reach the application, with the reason.
    #[test]
    fn misfits_are_delivered_raw(data in prop_oneof![Just("1".to_owned()), Just("[]".to_owned()), Just("\"x\"".to_owned()), Just("{\"gameId\":true}".to_owned())],
                                 event in prop::sample::select(vec!["connected", "ping-pong", "incident", "bet", "bets-result", "balance", "stats"])) {
        let text = format!(r#"{{"event":"{event}","data":{data}}}"#);
        prop_assert!(ServerMessage::decode(&Frame::from(text.clone())).is_err());
        let now = Instant::now();
        let mut c = Client::new(Config::default().with_checked_payloads(true));
        c.connect(now);
        let _ = c.poll_transmit();
        c.handle_open(now, None);
        c.handle_frame(now, Frame::from(text.clone()));
        match c.poll_event() {
            Some(Event::Mismatch { event: e, data: d, reason }) => {
                prop_assert_eq!(e, event);
                prop_assert_eq!(d.as_str(), data.as_str());
                prop_assert!(!reason.is_empty());
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}
