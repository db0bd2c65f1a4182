//! ActionCable: the 320-byte data frame (identifier with Rails' `\u003c` escapes) four ways in one run: serde_json
//! skipping it (`IgnoredAny`), `serde_json::Value`, the feedwire codec decode, and the full client path
//! (`handle_frame` + draining `poll_event`); plus the ping and confirm frames through the codec.
#![allow(missing_docs)]
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock origin

#[path = "shared/baselines.rs"]
mod baselines;
use baselines::serde_baselines;

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use feedwire_actioncable::codec::ServerMessage;

use feedwire_core::{Frame, Session};

use feedwire_benches::actioncable::DATA;
const PING: &str = include_str!("../../crates/feedwire-actioncable/testdata/frames/server_ping.json");
use feedwire_benches::actioncable::CONFIRM;

fn bench(c: &mut Criterion) {
    let data = DATA.trim_end();
    let frame = Frame::from(data.to_owned());
    drop(frame.clone()); // share the buffer once, as a transport's frames are
    let mut g = c.benchmark_group("actioncable/data_frame_320B");
    g.throughput(Throughput::Bytes(data.len() as u64));
    serde_baselines(&mut g, frame.as_str());
    g.bench_function("codec_decode", |b| {
        b.iter(|| ServerMessage::decode(black_box(&frame)).unwrap())
    });
    let mut client = feedwire_benches::actioncable::connected_client();
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

    for (name, text) in [("ping", PING.trim_end()), ("confirm", CONFIRM)] {
        let mut g = c.benchmark_group(format!("actioncable/{name}_{}B", text.len()));
        g.throughput(Throughput::Bytes(text.len() as u64));
        serde_baselines(&mut g, text);
        g.bench_function("codec_decode", |b| {
            b.iter(|| ServerMessage::decode_str(black_box(text)).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
