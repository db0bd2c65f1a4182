//! Igratech: the `bet` frame (4 bets) and the `stats` frame, each four ways in one run: serde_json skipping
//! it (`IgnoredAny`), `serde_json::Value`, the feedwire codec decode (phase 1, the envelope split, and the
//! full typed decode), and the client path (`handle_frame` + draining `poll_event`; payloads parsed on
//! demand by default, and with `checked_payloads`, which parses each payload on arrival).
#![allow(missing_docs)]
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock origin

#[path = "shared/baselines.rs"]
mod baselines;
use baselines::serde_baselines;

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedwire_core::{Frame, Session};
use feedwire_igratech::client::{Client, Config};
use feedwire_igratech::codec::ServerMessage;
use feedwire_igratech::envelope::{Envelope, NestEnvelope};

const BET: &str = include_str!("../../crates/feedwire-igratech/testdata/frames/bet.json");
const STATS: &str = include_str!("../../crates/feedwire-igratech/testdata/frames/stats.json");

fn connected_client(checked: bool) -> Client {
    let now = Instant::now();
    let mut c = Client::new(Config::default().with_checked_payloads(checked));
    c.connect(now);
    while c.poll_transmit().is_some() {}
    c.handle_open(now, None);
    c.handle_frame(
        now,
        Frame::from(r#"{"event":"connected","data":{"status":"ok","userId":"u-1","sessionId":"s-1"}}"#),
    );
    while c.poll_transmit().is_some() {}
    while c.poll_event().is_some() {}
    c
}

fn four_ways(c: &mut Criterion, name: &str, text: &'static str) {
    let frame = Frame::from(text.to_owned());
    drop(frame.clone()); // share the buffer once, as a transport's frames are
    let mut g = c.benchmark_group(format!("igratech/{name}_{}B", text.len()));
    g.throughput(Throughput::Bytes(text.len() as u64));
    serde_baselines(&mut g, frame.as_str());
    g.bench_function("codec_split", |b| {
        b.iter(|| {
            NestEnvelope
                .split(black_box(frame.as_str()))
                .unwrap()
                .data
                .get()
                .len()
        })
    });
    g.bench_function("codec_decode_typed", |b| {
        b.iter(|| ServerMessage::decode(black_box(&frame)).unwrap())
    });
    let now = Instant::now();
    for (label, checked) in [("client_path", false), ("client_path_checked", true)] {
        let mut client = connected_client(checked);
        g.bench_function(label, |b| {
            b.iter(|| {
                client.handle_frame(now, black_box(frame.clone()));
                while let Some(ev) = client.poll_event() {
                    black_box(ev);
                }
            })
        });
    }
    g.finish();
}

fn bench(c: &mut Criterion) {
    four_ways(c, "bet", BET);
    four_ways(c, "stats", STATS);
}

criterion_group!(benches, bench);
criterion_main!(benches);
