//! Snapshots of the decode of every testdata frame: the codec's typed message, and the events the client
//! session makes of it.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::Instant;

use feedwire_core::{Frame, Session};
use feedwire_igratech::client::{Client, Config, Event};
use feedwire_igratech::codec::{ClientMessage, ServerMessage};

#[derive(Debug)]
#[allow(dead_code)] // read through Debug
enum Codec {
    ToClient(Result<ServerMessage, String>),
    ToServer(Result<ClientMessage, String>),
}

#[derive(Debug)]
#[allow(dead_code)] // read through Debug
struct Decoded {
    codec: Codec,
    client_events: Vec<Event>,
    checked_client_events: Vec<Event>,
}

fn client_events(text: &str, checked: bool) -> Vec<Event> {
    let now = Instant::now();
    let mut c = Client::new(Config::default().with_checked_payloads(checked));
    c.connect(now);
    let _ = c.poll_transmit();
    c.handle_open(now, None);
    while c.poll_transmit().is_some() {}
    c.handle_frame(now, Frame::from(text.to_owned()));
    std::iter::from_fn(|| c.poll_event()).collect()
}

#[test]
fn decode_every_frame() {
    insta::glob!("../testdata/frames", "*.json", |path| {
        let text = std::fs::read_to_string(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        let decoded = if name.starts_with("to_server_") {
            Decoded {
                codec: Codec::ToServer(
                    ClientMessage::decode(&Frame::from(text.clone())).map_err(|e| e.to_string()),
                ),
                client_events: Vec::new(),
                checked_client_events: Vec::new(),
            }
        } else {
            Decoded {
                codec: Codec::ToClient(
                    ServerMessage::decode(&Frame::from(text.clone())).map_err(|e| e.to_string()),
                ),
                client_events: client_events(&text, false),
                checked_client_events: client_events(&text, true),
            }
        };
        insta::assert_debug_snapshot!(decoded);
    });
}
