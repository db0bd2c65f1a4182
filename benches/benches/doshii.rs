//! Doshii: an `order_updated` event in the wire shape (`{"emit":[name,data]}`), four ways in one run: serde_json
//! skipping it (`IgnoredAny`), `serde_json::Value`, the feedwire codec decode, and the full client path
//! (`handle_frame` + draining `poll_event`).
#![allow(missing_docs)]
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock origin

#[path = "shared/baselines.rs"]
mod baselines;
use baselines::serde_baselines;

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedwire_core::{Frame, Session, UnixAnchor};
use feedwire_doshii::client::{Client, Config};
use feedwire_doshii::codec::ServerMessage;

const ORDER_UPDATED: &str =
    include_str!("../../crates/feedwire-doshii/testdata/frames/event_order_updated.json");

fn connected_client(now: Instant) -> Client {
    let mut c = Client::new(Config::app("client-id", UnixAnchor::new(now, 1_700_000_000_000)));
    c.connect(now);
    while c.poll_transmit().is_some() {}
    c.handle_open(now, None);
    c.handle_frame(
        now,
        Frame::from(r#"{"doshii":{"pong":1700000000000,"version":"3.2.123"}}"#),
    );
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    c
}

fn bench(c: &mut Criterion) {
    let frame = Frame::from(ORDER_UPDATED.to_owned());
    drop(frame.clone()); // share the buffer once, as a transport's frames are
    let mut g = c.benchmark_group(format!("doshii/order_updated_{}B", ORDER_UPDATED.len()));
    g.throughput(Throughput::Bytes(ORDER_UPDATED.len() as u64));
    serde_baselines(&mut g, frame.as_str());
    g.bench_function("codec_decode", |b| {
        b.iter(|| ServerMessage::decode(black_box(&frame)).unwrap())
    });
    let now = Instant::now();
    let mut client = connected_client(now);
    g.bench_function("client_handle_frame_poll_event", |b| {
        b.iter(|| {
            client.handle_frame(now, black_box(frame.clone()));
            while let Some(ev) = client.poll_event() {
                black_box(ev);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
