//! The Pusher hub's fan-out: one `publish` to 10,000 subscribed in-memory connections, and draining every
//! transmit (what a server loop does), beside encoding the frame alone.
#![allow(clippy::disallowed_methods, missing_docs)]

use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedwire_core::{ConnId, Frame, Hub as _, OpenRequest, RawJson};
use feedwire_pusher::codec::ServerMessage;
use feedwire_pusher::server::{Hub, HubConfig};

fn fan_out(c: &mut Criterion) {
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default());
    for conn in 0..10_000 {
        hub.handle_open(now, ConnId(conn), &OpenRequest::new("/app/app-key?protocol=7"));
        hub.handle_frame(
            now,
            ConnId(conn),
            Frame::from(r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#),
        );
    }
    while hub.poll_transmit().is_some() {}
    while hub.poll_event().is_some() {}
    let data = RawJson::from_json_str(
        r#""{\"asset_id\":\"29418923512\",\"app_id\":730,\"name\":\"AK-47 | Redline (Field-Tested)\",\"price\":12.5,\"suggested_price\":13.1}""#,
    )
    .unwrap();
    let frame_len = ServerMessage::encode_channel_event("listed", "inventory_changes", &data).len() as u64;

    let mut g = c.benchmark_group("pusher_hub_fan_out");
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("publish_and_drain_10000", |b| {
        b.iter(|| {
            let n = hub
                .publish(&["inventory_changes"], "listed", &data, None)
                .unwrap();
            let mut bytes = 0;
            while let Some((_, t)) = hub.poll_transmit() {
                if let feedwire_core::HubTransmit::Send(f) = t {
                    bytes += f.len();
                }
            }
            assert_eq!(bytes as u64, frame_len * n as u64);
        })
    });
    g.finish();
    let mut g = c.benchmark_group("pusher_hub_encode");
    g.throughput(Throughput::Bytes(frame_len));
    g.bench_function("encode_one_frame", |b| {
        b.iter(|| ServerMessage::encode_channel_event("listed", "inventory_changes", &data))
    });
    g.finish();
}

criterion_group!(benches, fan_out);
criterion_main!(benches);
