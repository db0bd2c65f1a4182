//! Encode paths: every protocol's outbound frames (what a client sends, and the Pusher hub's channel event),
//! each beside serde_json serializing the same JSON from a prebuilt `serde_json::Value` (a reference, not a
//! floor: the Value is already built).
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feedwire_core::RawJson;

fn group(c: &mut Criterion, name: &str, encode: impl Fn() -> usize) {
    let len = encode();
    let mut g = c.benchmark_group(format!("encode/{name}"));
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("feedwire", |b| b.iter(|| black_box(encode())));
    g.finish();
}

fn reference(c: &mut Criterion, name: &str, json: &str) {
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut g = c.benchmark_group(format!("encode/{name}"));
    g.throughput(Throughput::Bytes(json.len() as u64));
    g.bench_function("serde_json_value_to_string", |b| {
        b.iter(|| serde_json::to_string(black_box(&value)).unwrap())
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    use feedwire_pusher::codec::{ClientMessage, ServerMessage};
    let sub = ClientMessage::subscribe(
        "private-orders",
        "app-key:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
        None,
    );
    group(c, "pusher_subscribe", || sub.encode().len());
    reference(c, "pusher_subscribe", sub.encode().as_str());
    let data = RawJson::from_json_str(
        r#""{\"asset_id\":\"29418923512\",\"name\":\"AK-47 | Redline (Field-Tested)\",\"price\":12.5}""#,
    )
    .unwrap();
    group(c, "pusher_channel_event", || {
        ServerMessage::encode_channel_event("listed", "inventory_changes", &data).len()
    });
    reference(
        c,
        "pusher_channel_event",
        ServerMessage::encode_channel_event("listed", "inventory_changes", &data).as_str(),
    );

    let room = feedwire_benches::actioncable::room();
    // the data object is sent string-encoded: escaping it is part of the encode, as before
    let perform = || {
        let data = feedwire_core::json::to_string_literal(r#"{"action":"speak","text":"hi"}"#);
        feedwire_actioncable::codec::ClientMessage::Message {
            identifier: (&room).into(),
            data: feedwire_core::json::raw_value(&data).unwrap_or_else(|e| panic!("{e}")),
        }
        .encode()
    };
    group(c, "actioncable_perform", || perform().len());
    reference(c, "actioncable_perform", perform().as_str());

    let doshii_ping = feedwire_doshii::codec::ClientMessage::Ping(
        feedwire_doshii::codec::Heartbeat::new(1_764_300_000_000).with_version("1.0"),
    );
    group(c, "doshii_ping", || doshii_ping.encode().len());
    reference(c, "doshii_ping", doshii_ping.encode().as_str());

    let settings: feedwire_igratech::codec::Settings =
        serde_json::from_str(r#"{"lang":"en","oddsFormat":"decimal","gameIds":[1,2,3]}"#).unwrap();
    let msg = feedwire_igratech::codec::ClientMessage::Settings(settings);
    group(c, "igratech_settings", || msg.encode().len());
    reference(c, "igratech_settings", msg.encode().as_str());
}

criterion_group!(benches, bench);
criterion_main!(benches);
