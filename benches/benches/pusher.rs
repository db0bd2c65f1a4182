//! Pusher: the 417-byte BitSkins `listed` channel event, four ways in one run: serde_json skipping it
//! (`IgnoredAny`), `serde_json::Value`, the feedwire codec decode, and the full client path (`handle_frame` +
//! draining `poll_event`). Then `pusher:connection_established` the same four ways, its client path being the
//! handshake itself: a freshly opened client takes the frame, and the subscribe it sends and its events are
//! drained (the client's set-up is outside the timing).
#![allow(missing_docs)]
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock origin

#[path = "shared/baselines.rs"]
mod baselines;
use baselines::serde_baselines;

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use feedwire_core::{Frame, Session};

use feedwire_pusher::codec::ServerMessage;

use feedwire_benches::pusher::{ESTABLISHED, LISTED};

fn bench(c: &mut Criterion) {
    let frame = Frame::from(LISTED.to_owned());
    drop(frame.clone()); // share the buffer once, as a transport's frames are
    let mut g = c.benchmark_group("pusher/channel_event_417B");
    g.throughput(Throughput::Bytes(LISTED.len() as u64));
    serde_baselines(&mut g, frame.as_str());
    g.bench_function("codec_decode", |b| {
        b.iter(|| ServerMessage::decode(black_box(&frame)).unwrap())
    });
    let mut client = feedwire_benches::pusher::connected_client();
    let now = Instant::now();
    g.bench_function("client_handle_frame_poll_event", |b| {
        b.iter(|| {
            client.handle_frame(now, black_box(frame.clone()));
            while let Some(ev) = client.poll_event() {
                black_box(ev);
            }
        })
    });
    g.finish();

    let frame = Frame::from(ESTABLISHED.to_owned());
    drop(frame.clone());
    let mut g = c.benchmark_group(format!("pusher/connection_established_{}B", ESTABLISHED.len()));
    g.throughput(Throughput::Bytes(ESTABLISHED.len() as u64));
    serde_baselines(&mut g, frame.as_str());
    g.bench_function("codec_decode", |b| {
        b.iter(|| ServerMessage::decode(black_box(&frame)).unwrap())
    });
    g.bench_function("client_handshake", |b| {
        b.iter_batched(
            feedwire_benches::pusher::opened_client,
            |mut client| {
                client.handle_frame(now, black_box(frame.clone()));
                while let Some(t) = client.poll_transmit() {
                    black_box(t);
                }
                while let Some(ev) = client.poll_event() {
                    black_box(ev);
                }
                client
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
