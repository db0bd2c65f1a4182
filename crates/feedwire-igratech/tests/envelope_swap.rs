//! Changing the envelope is one module: this file writes a second frame shape (socket.io-style arrays,
//! `["<channel>",<payload>]`) as one `impl Envelope`, and the codec, the client and the hub run on it
//! unchanged, with the same events as under the default shape.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::borrow::Cow;
use std::time::{Duration, Instant};

use feedwire_core::UnixAnchor;
use feedwire_core::testing::Pair;
use feedwire_igratech::client::{Client, Config, Event};
use feedwire_igratech::codec::*;
use feedwire_igratech::envelope::{Envelope, EnvelopeError, NestEnvelope, RawMessage};
use feedwire_igratech::server::{Hub, HubConfig};
use serde_json::value::RawValue;

/// The whole change: `["<channel>",<payload>]`.
#[derive(Debug, Clone, Copy, Default)]
struct ArrayEnvelope;

impl Envelope for ArrayEnvelope {
    fn split<'a>(&self, text: &'a str) -> Result<RawMessage<'a>, EnvelopeError> {
        let (event, data): (Cow<'a, str>, &'a RawValue) = serde_json::from_str(text)?;
        Ok(RawMessage::new(event, data))
    }

    fn join(&self, event: &str, data: &str, out: &mut String) {
        out.push('[');
        feedwire_core::json::write_string(out, event);
        out.push(',');
        out.push_str(data);
        out.push(']');
    }
}

fn settings() -> Settings {
    Settings {
        lang: Some("en".into()),
        odds_format: None,
        game_ids: Some(vec![Id::Int(1)]),
        extra: Default::default(),
    }
}

fn stats() -> ServerMessage {
    ServerMessage::Stats(StatsData {
        game_id: Id::Int(1),
        stats: [("corners".to_owned(), 4.0)].into_iter().collect(),
        extra: Default::default(),
    })
}

/// Runs the same session under envelope `E`: connect, settings, a published stats message, a ping.
fn run<E: Envelope + Copy>(envelope: E) -> (Vec<String>, Vec<String>, Vec<Event>) {
    let start = Instant::now();
    let config = Config::default()
        .with_token("alice")
        .with_settings(settings())
        .with_unix_anchor(UnixAnchor::new(start, 1_000));
    let mut client = Client::with_envelope(config, envelope);
    client.connect(start);
    let mut p = Pair::new(client, Hub::with_envelope(HubConfig::default(), envelope), start);
    p.run_until_quiet();
    p.hub_mut().publish(&stats()).unwrap();
    p.advance(Duration::from_secs(25));
    let to_hub = p.frames_to_hub().into_iter().map(str::to_owned).collect();
    let to_client = p.frames_to_client().into_iter().map(str::to_owned).collect();
    (to_hub, to_client, p.take_client_events())
}

#[test]
fn the_codec_speaks_the_new_shape() {
    let frame = stats().encode_with(&ArrayEnvelope);
    assert_eq!(
        frame.as_str(),
        r#"["stats",{"gameId":1,"stats":{"corners":4.0}}]"#
    );
    assert_eq!(
        ServerMessage::decode_with(&frame, &ArrayEnvelope).unwrap(),
        stats()
    );
    // and the default shape is not accepted by it, nor the other way round
    assert!(ServerMessage::decode_with(&stats().encode(), &ArrayEnvelope).is_err());
    assert!(ServerMessage::decode(&frame).is_err());
}

#[test]
fn client_and_hub_run_unchanged_on_the_new_shape() {
    let (nest_hub, nest_client, nest_events) = run(NestEnvelope);
    let (arr_hub, arr_client, arr_events) = run(ArrayEnvelope);
    assert_eq!(
        arr_hub,
        vec![
            r#"["settings",{"lang":"en","gameIds":[1]}]"#.to_owned(),
            r#"["ping-pong",{"ping":26000}]"#.to_owned(),
        ]
    );
    assert_eq!(
        arr_client,
        vec![
            r#"["connected",{"status":"ok","userId":"alice","sessionId":"1"}]"#.to_owned(),
            r#"["settings",{"lang":"en","gameIds":[1]}]"#.to_owned(),
            r#"["stats",{"gameId":1,"stats":{"corners":4.0}}]"#.to_owned(),
            r#"["ping-pong",{"pong":26000}]"#.to_owned(),
        ]
    );
    // the same messages in the other shape ...
    let reshape = |frames: &[String]| -> Vec<String> {
        frames
            .iter()
            .map(|f| {
                let m = NestEnvelope.split(f).unwrap();
                let mut out = String::new();
                ArrayEnvelope.join(&m.event, m.data.get(), &mut out);
                out
            })
            .collect()
    };
    assert_eq!(reshape(&nest_hub), arr_hub);
    assert_eq!(reshape(&nest_client), arr_client);
    // ... and the very same events for the application
    assert_eq!(arr_events, nest_events);
    assert_eq!(arr_events.len(), 4, "{arr_events:?}");
    let Event::Stats(s) = &arr_events[2] else {
        panic!("{arr_events:?}")
    };
    assert_eq!(s.raw().as_str(), r#"{"gameId":1,"stats":{"corners":4.0}}"#);
}
