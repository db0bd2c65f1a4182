//! What several of this crate's test files share: a subscribed client, a hub with subscribers, the BitSkins
//! `listed` frame and the REST requests captured from the `pusher` SDK.
#![allow(dead_code)] // each test file uses its own part

use std::time::Instant;

use feedwire_core::{ConnId, Frame, Hub as _, OpenRequest, Session};
use feedwire_pusher::rest::RestRequest;
use feedwire_pusher::{Client, Config, Hub, HubConfig};

/// The server's handshake: socket id `1.2`, activity timeout 120 s.
pub const ESTABLISHED: &str =
    r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":120}"}"#;

/// A client made with `config`, connected ([`ESTABLISHED`]) and subscribed to `channel` (the server
/// confirmed); its queues are drained.
pub fn subscribed(now: Instant, config: Config, channel: &str) -> Client {
    let mut c = Client::new(config);
    c.connect(now);
    while c.poll_transmit().is_some() {}
    c.handle_open(now, None);
    c.handle_frame(now, Frame::from(ESTABLISHED));
    c.subscribe(channel).unwrap();
    c.handle_frame(
        now,
        Frame::from(format!(
            r#"{{"event":"pusher_internal:subscription_succeeded","channel":"{channel}","data":"{{}}"}}"#
        )),
    );
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    assert!(c.is_open());
    c
}

/// A hub made with `config` whose connections `0..n` each subscribed to `inventory_changes`; its queues are
/// drained.
pub fn hub_with_subscribers(now: Instant, config: HubConfig, n: u64) -> Hub {
    let mut hub = Hub::new(config);
    for conn in 0..n {
        hub.handle_open(now, ConnId(conn), &OpenRequest::new("/app/app-key?protocol=7"));
        hub.handle_frame(
            now,
            ConnId(conn),
            Frame::from(r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#),
        );
        while hub.poll_transmit().is_some() {}
    }
    while hub.poll_event().is_some() {}
    hub
}

/// The 417-byte BitSkins `listed` frame of `testdata/frames`.
pub fn bitskins_listed() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/frames/server_bitskins_listed.json"
    ))
    .unwrap()
}

/// `testdata/rest/sdk-requests.json`: requests the official `pusher` npm SDK signed, with the credentials and
/// the time they were signed at.
#[derive(serde::Deserialize)]
pub struct Vectors {
    pub app_id: String,
    pub key: String,
    pub secret: String,
    pub now_unix: u64,
    pub requests: Vec<Captured>,
}

/// One captured request.
#[derive(serde::Deserialize, Clone)]
pub struct Captured {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
}

/// The captured requests; the first is the SDK's trigger of `listed` on `inventory_changes`.
pub fn vectors() -> Vectors {
    serde_json::from_str(include_str!("../../testdata/rest/sdk-requests.json")).unwrap()
}

/// `c` as the hub and the verifier take it.
pub fn req(c: &Captured) -> RestRequest<'_> {
    RestRequest {
        method: &c.method,
        path: &c.path,
        query: &c.query,
        body: c.body.as_bytes(),
    }
}
