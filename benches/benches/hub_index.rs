//! Issue 19: a broadcast costs the matching subscribers only. One broadcast (ActionCable `Hub::broadcast`) or
//! publish (Pusher `Hub::publish`) to a stream/channel with one subscriber, drained, with 100,000 subscriptions
//! on other streams/channels (1,000 connections x 100) and with none: the two times should be about equal.
//! Then one ActionCable connection subscribing to 20,000 channels (the issue's other figure).
#![allow(clippy::disallowed_methods, missing_docs)]

use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use feedwire_actioncable::codec::{ClientMessage, IdentifierStr};
use feedwire_core::{ConnId, Frame, Hub as _, HubTransmit, OpenRequest, RawJson};

const CONNS: u64 = 1_000;
const PER_CONN: u64 = 100;

/// Drains every transmit; returns how many frames were sent.
fn drain<H: feedwire_core::Hub>(hub: &mut H) -> usize {
    let mut n = 0;
    while let Some((_, t)) = hub.poll_transmit() {
        if matches!(t, HubTransmit::Send(_)) {
            n += 1;
        }
    }
    n
}

fn actioncable_hub(others: bool) -> feedwire_actioncable::server::Hub {
    use feedwire_actioncable::server::{Hub, HubConfig};
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default());
    let open = |hub: &mut Hub, conn: u64| {
        hub.handle_open(
            now,
            ConnId(conn),
            &OpenRequest::new("/cable").with_subprotocol(Some("actioncable-v1-json".into())),
        )
    };
    let sub = |hub: &mut Hub, conn: u64, id: &str, stream: &str| {
        let f = ClientMessage::Subscribe {
            identifier: IdentifierStr::new(id),
            history: None,
        }
        .encode();
        hub.handle_frame(now, ConnId(conn), f);
        hub.confirm(ConnId(conn), id).unwrap();
        hub.stream_from(ConnId(conn), id, stream).unwrap();
    };
    if others {
        for c in 0..CONNS {
            open(&mut hub, c);
            for k in 0..PER_CONN {
                let id = format!(r#"{{"channel":"FeedChannel","id":{k}}}"#);
                sub(&mut hub, c, &id, &format!("feed:{c}:{k}"));
            }
            drain(&mut hub);
            while hub.poll_event().is_some() {}
        }
    }
    open(&mut hub, CONNS);
    sub(&mut hub, CONNS, r#"{"channel":"ChatChannel"}"#, "target");
    drain(&mut hub);
    while hub.poll_event().is_some() {}
    hub
}

fn pusher_hub(others: bool) -> feedwire_pusher::server::Hub {
    use feedwire_pusher::server::{Hub, HubConfig};
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default());
    let open = |hub: &mut Hub, conn: u64| {
        hub.handle_open(now, ConnId(conn), &OpenRequest::new("/app/app-key?protocol=7"))
    };
    let sub = |hub: &mut Hub, conn: u64, channel: &str| {
        hub.handle_frame(
            now,
            ConnId(conn),
            Frame::from(format!(
                r#"{{"event":"pusher:subscribe","data":{{"auth":"","channel":"{channel}"}}}}"#
            )),
        )
    };
    if others {
        for c in 0..CONNS {
            open(&mut hub, c);
            for k in 0..PER_CONN {
                sub(&mut hub, c, &format!("feed-{c}-{k}"));
            }
            drain(&mut hub);
            while hub.poll_event().is_some() {}
        }
    }
    open(&mut hub, CONNS);
    sub(&mut hub, CONNS, "target");
    drain(&mut hub);
    while hub.poll_event().is_some() {}
    assert_eq!(hub.subscriber_count("target"), 1);
    hub
}

fn one_subscriber(c: &mut Criterion) {
    let mut g = c.benchmark_group("hub_index_broadcast_to_1");
    for others in [false, true] {
        let label = if others { "100000_others" } else { "0_others" };
        let mut hub = actioncable_hub(others);
        g.bench_function(BenchmarkId::new("actioncable", label), |b| {
            b.iter(|| {
                let n = hub.broadcast("target", r#"{"text":"hi"}"#).unwrap();
                assert_eq!((n, drain(&mut hub)), (1, 1));
            })
        });
        drop(hub);
        let mut hub = pusher_hub(others);
        let data = RawJson::from_json_str(r#""{\"text\":\"hi\"}""#).unwrap();
        g.bench_function(BenchmarkId::new("pusher", label), |b| {
            b.iter(|| {
                let n = hub.publish(&["target"], "message", &data, None).unwrap();
                assert_eq!((n, drain(&mut hub)), (1, 1));
            })
        });
    }
    g.finish();
}

/// The issue's other figure: one connection subscribing (subscribe frame, confirm, stream_from) to 20,000
/// channels, each on its own stream.
fn subscribe_20000(c: &mut Criterion) {
    use feedwire_actioncable::server::{Hub, HubConfig};
    let now = Instant::now();
    let ids: Vec<(String, Frame, String)> = (0..20_000u32)
        .map(|k| {
            let id = format!(r#"{{"channel":"FeedChannel","id":{k}}}"#);
            let f = ClientMessage::Subscribe {
                identifier: IdentifierStr::new(&id),
                history: None,
            }
            .encode();
            (id, f, format!("feed:{k}"))
        })
        .collect();
    let mut g = c.benchmark_group("hub_index_subscribe");
    g.sample_size(10);
    g.bench_function("actioncable_one_connection_20000", |b| {
        b.iter_batched(
            || {
                let mut hub = Hub::new(HubConfig::default());
                hub.handle_open(
                    now,
                    ConnId(1),
                    &OpenRequest::new("/cable").with_subprotocol(Some("actioncable-v1-json".into())),
                );
                hub
            },
            |mut hub| {
                for (i, (id, f, stream)) in ids.iter().enumerate() {
                    hub.handle_frame(now, ConnId(1), f.clone());
                    hub.confirm(ConnId(1), id).unwrap();
                    hub.stream_from(ConnId(1), id, stream).unwrap();
                    if i % 256 == 0 {
                        drain(&mut hub);
                        while hub.poll_event().is_some() {}
                    }
                }
                hub
            },
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, one_subscriber, subscribe_20000);
criterion_main!(benches);
