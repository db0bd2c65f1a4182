//! The hub's indexes and stream events (issues 19 and 20): subscriptions by identifier, subscribers by stream,
//! `StreamStarted` / `StreamStopped` for a broker, and `streams()`, checked against a model.
#![allow(clippy::disallowed_methods)] // one real Instant as the clock origin

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use feedwire_actioncable::codec::{ClientMessage, IdentifierStr};
use feedwire_actioncable::server::{Hub, HubConfig, HubEvent};
use feedwire_core::{ConnId, Frame, Hub as _, HubTransmit, Limits, OpenRequest};
use proptest::prelude::*;

fn subscribe(id: &str) -> Frame {
    ClientMessage::Subscribe {
        identifier: IdentifierStr::new(id),
        history: None,
    }
    .encode()
}

fn unsubscribe(id: &str) -> Frame {
    ClientMessage::Unsubscribe {
        identifier: IdentifierStr::new(id),
    }
    .encode()
}

fn open(hub: &mut Hub, now: Instant, conn: u64, ext: bool, path: &str) {
    let offered = if ext {
        vec!["actioncable-v1-ext-json".to_string()]
    } else {
        vec!["actioncable-v1-json".to_string()]
    };
    let proto = hub.select_subprotocol(&offered);
    hub.handle_open(now, ConnId(conn), &OpenRequest::new(path).with_subprotocol(proto));
}

fn transmits(hub: &mut Hub) -> Vec<(ConnId, String)> {
    std::iter::from_fn(|| hub.poll_transmit())
        .map(|(c, t)| match t {
            HubTransmit::Send(f) => (c, f.as_str().to_owned()),
            HubTransmit::Close(close) => (c, format!("close {}", close.code.0)),
        })
        .collect()
}

/// `(started, stopped)` stream names among the queued events, in order, as `+s` / `-s`.
fn stream_events(hub: &mut Hub) -> Vec<String> {
    std::iter::from_fn(|| hub.poll_event())
        .filter_map(|e| match e {
            HubEvent::StreamStarted { stream } => Some(format!("+{stream}")),
            HubEvent::StreamStopped { stream } => Some(format!("-{stream}")),
            _ => None,
        })
        .collect()
}

#[test]
fn one_connection_with_20000_subscriptions_gets_one_frame_from_one_stream() {
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default().with_stream_events(true));
    open(&mut hub, now, 1, false, "/cable");
    open(&mut hub, now, 2, false, "/cable");
    let id = |k: u32| format!(r#"{{"channel":"FeedChannel","id":{k}}}"#);
    for k in 0..20_000u32 {
        let id = id(k);
        hub.handle_frame(now, ConnId(1), subscribe(&id));
        hub.confirm(ConnId(1), &id).unwrap();
        hub.stream_from(ConnId(1), &id, &format!("feed:{k}")).unwrap();
        if k % 512 == 0 {
            let _ = transmits(&mut hub);
            let _ = stream_events(&mut hub);
        }
    }
    let _ = transmits(&mut hub);
    let _ = stream_events(&mut hub);
    assert_eq!(hub.subscriptions_of(ConnId(1)).len(), 20_000);
    assert_eq!(
        hub.subscriptions_of(ConnId(1))[12_345],
        id(12_345),
        "subscribe order kept"
    );
    assert_eq!(hub.streams().count(), 20_000);
    // connection 2 subscribes the same identifier to another stream: the stream index tells them apart
    hub.handle_frame(now, ConnId(2), subscribe(&id(12_345)));
    hub.confirm(ConnId(2), &id(12_345)).unwrap();
    hub.stream_from(ConnId(2), &id(12_345), "other").unwrap();
    let _ = transmits(&mut hub);
    assert_eq!(stream_events(&mut hub), vec!["+other"]);

    assert_eq!(hub.broadcast("feed:12345", r#"{"n":1}"#).unwrap(), 1);
    assert_eq!(
        transmits(&mut hub),
        vec![(
            ConnId(1),
            format!(
                r#"{{"identifier":{},"message":{{"n":1}}}}"#,
                serde_json::to_string(&id(12_345)).unwrap()
            )
        )]
    );
    assert_eq!(
        hub.broadcast("feed:20000", r#"{"n":2}"#).unwrap(),
        0,
        "no such stream"
    );
    assert!(transmits(&mut hub).is_empty());

    // an unsubscribe in the middle finds its subscription and leaves the others streaming
    hub.handle_frame(now, ConnId(1), unsubscribe(&id(12_345)));
    assert_eq!(stream_events(&mut hub), vec!["-feed:12345"]);
    assert_eq!(hub.broadcast("feed:12345", r#"{"n":3}"#).unwrap(), 0);
    assert_eq!(hub.broadcast("feed:12346", r#"{"n":4}"#).unwrap(), 1);
    let _ = transmits(&mut hub);
    // a close stops every stream at once, each once
    hub.handle_close(now, ConnId(1), None);
    let evs = stream_events(&mut hub);
    assert_eq!(evs.len(), 19_999);
    assert!(evs.iter().all(|e| e.starts_with("-feed:")));
    assert_eq!(hub.streams().collect::<Vec<_>>(), vec!["other"]);
}

#[test]
fn stream_events_are_off_by_default() {
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default());
    open(&mut hub, now, 1, false, "/cable");
    let id = r#"{"channel":"ChatChannel"}"#;
    hub.handle_frame(now, ConnId(1), subscribe(id));
    hub.stream_from(ConnId(1), id, "chat").unwrap();
    hub.confirm(ConnId(1), id).unwrap();
    assert_eq!(hub.streams().collect::<Vec<_>>(), vec!["chat"]);
    hub.handle_close(now, ConnId(1), None);
    assert!(stream_events(&mut hub).is_empty());
    assert_eq!(hub.streams().count(), 0);
}

#[test]
fn a_stream_starts_when_a_broadcast_would_reach_someone_and_stops_with_its_last_subscriber() {
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default().with_stream_events(true));
    open(&mut hub, now, 1, false, "/cable");
    open(&mut hub, now, 2, false, "/cable");
    let a = r#"{"channel":"ChatChannel","room":"a"}"#;
    let b = r#"{"channel":"ChatChannel","room":"b"}"#;
    hub.handle_frame(now, ConnId(1), subscribe(a));
    hub.stream_from(ConnId(1), a, "chat").unwrap();
    assert!(
        stream_events(&mut hub).is_empty(),
        "not confirmed: a broadcast reaches nobody"
    );
    assert_eq!(hub.broadcast("chat", "1").unwrap(), 0);
    hub.confirm(ConnId(1), a).unwrap();
    assert_eq!(stream_events(&mut hub), vec!["+chat"]);
    assert_eq!(hub.broadcast("chat", "1").unwrap(), 1);
    // confirm first, then stream: the event comes with the stream
    hub.handle_frame(now, ConnId(2), subscribe(b));
    hub.confirm(ConnId(2), b).unwrap();
    hub.stream_from(ConnId(2), b, "chat").unwrap();
    hub.stream_from(ConnId(2), b, "news").unwrap();
    hub.stream_from(ConnId(2), b, "news").unwrap();
    assert_eq!(
        stream_events(&mut hub),
        vec!["+news"],
        "chat already had a subscriber"
    );
    assert_eq!(hub.streams().collect::<Vec<_>>(), vec!["chat", "news"]);
    hub.stop_stream_from(ConnId(2), b, "news").unwrap();
    hub.stop_stream_from(ConnId(2), b, "news").unwrap();
    assert_eq!(stream_events(&mut hub), vec!["-news"]);
    hub.reject(ConnId(1), a).unwrap();
    assert!(
        stream_events(&mut hub).is_empty(),
        "connection 2 still streams chat"
    );
    hub.stop_all_streams(ConnId(2), b).unwrap();
    assert_eq!(stream_events(&mut hub), vec!["-chat"]);
    assert_eq!(
        hub.subscriptions_of(ConnId(2)),
        vec![b.to_string()],
        "stop_all_streams keeps the subscription"
    );
    hub.stream_from(ConnId(2), b, "chat").unwrap();
    assert_eq!(stream_events(&mut hub), vec!["+chat"]);
    hub.disconnect(ConnId(2), None, None).unwrap();
    let evs: Vec<String> = std::iter::from_fn(|| hub.poll_event())
        .map(|e| match e {
            HubEvent::StreamStopped { stream } => format!("-{stream}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(evs, vec!["-chat"]);
    assert_eq!(hub.streams().count(), 0);
}

#[test]
fn stream_events_are_kept_when_the_host_does_not_poll() {
    let now = Instant::now();
    let mut hub = Hub::new(
        HubConfig::default()
            .with_stream_events(true)
            .with_limits(Limits::default().with_max_queued(4)),
    );
    open(&mut hub, now, 1, false, "/cable");
    let _ = transmits(&mut hub);
    let mut want = Vec::new();
    for k in 0..10 {
        let id = format!(r#"{{"channel":"C","k":{k}}}"#);
        hub.handle_frame(now, ConnId(1), subscribe(&id));
        if hub.subscriptions_of(ConnId(1)).contains(&id) {
            hub.confirm(ConnId(1), &id).unwrap();
            hub.stream_from(ConnId(1), &id, &format!("s{k}")).unwrap();
            want.push(format!("+s{k}"));
            let _ = transmits(&mut hub);
        }
    }
    hub.handle_close(now, ConnId(1), None);
    for w in want.clone() {
        want.push(w.replacen('+', "-", 1));
    }
    assert!(hub.queue_stats().dropped_events > 0, "the queue was full");
    assert_eq!(stream_events(&mut hub), want);
}

#[test]
fn an_anycable_restore_starts_the_restored_streams_and_the_close_stopped_them() {
    let now = Instant::now();
    let mut hub = Hub::new(
        HubConfig::default()
            .with_anycable(true)
            .with_stream_events(true)
            .with_seed(0xab),
    );
    open(&mut hub, now, 1, true, "/cable");
    let id = r#"{"channel":"ChatChannel"}"#;
    hub.handle_frame(now, ConnId(1), subscribe(id));
    hub.confirm(ConnId(1), id).unwrap();
    hub.stream_from(ConnId(1), id, "chat").unwrap();
    let welcome = &transmits(&mut hub)[0].1;
    assert!(welcome.contains(r#""sid":"ab-1""#), "{welcome}");
    assert_eq!(stream_events(&mut hub), vec!["+chat"]);
    hub.handle_close(now, ConnId(1), None);
    assert_eq!(stream_events(&mut hub), vec!["-chat"]);
    assert_eq!(hub.streams().count(), 0, "a remembered session streams nothing");
    open(&mut hub, now, 2, true, "/cable?sid=ab-1");
    assert_eq!(stream_events(&mut hub), vec!["+chat"]);
    assert_eq!(hub.broadcast("chat", "1").unwrap(), 1);
}

/// What the model tracks: each (connection, identifier) subscription, confirmed or not, and its streams.
#[derive(Default, Debug)]
struct Model {
    open: BTreeSet<u64>,
    subs: BTreeMap<(u64, u8), (bool, BTreeSet<u8>)>,
}

impl Model {
    fn streams(&self) -> BTreeSet<String> {
        self.subs
            .values()
            .filter(|(confirmed, _)| *confirmed)
            .flat_map(|(_, s)| s.iter().map(|s| format!("s{s}")))
            .collect()
    }
    fn forget(&mut self, c: u64) {
        self.open.remove(&c);
        self.subs.retain(|(cc, _), _| *cc != c);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Open(u64),
    Subscribe(u64, u8),
    Confirm(u64, u8),
    Reject(u64, u8),
    StreamFrom(u64, u8, u8),
    StopStream(u64, u8, u8),
    StopAll(u64, u8),
    Unsubscribe(u64, u8),
    Close(u64),
    Disconnect(u64),
    Broadcast(u8),
    Drain,
}

fn op() -> impl Strategy<Value = Op> {
    let c = 1..4u64;
    let i = 0..3u8;
    let s = 0..3u8;
    prop_oneof![
        c.clone().prop_map(Op::Open),
        (c.clone(), i.clone()).prop_map(|(c, i)| Op::Subscribe(c, i)),
        (c.clone(), i.clone()).prop_map(|(c, i)| Op::Confirm(c, i)),
        (c.clone(), i.clone()).prop_map(|(c, i)| Op::Reject(c, i)),
        (c.clone(), i.clone(), s.clone()).prop_map(|(c, i, s)| Op::StreamFrom(c, i, s)),
        (c.clone(), i.clone(), s.clone()).prop_map(|(c, i, s)| Op::StopStream(c, i, s)),
        (c.clone(), i.clone()).prop_map(|(c, i)| Op::StopAll(c, i)),
        (c.clone(), i.clone()).prop_map(|(c, i)| Op::Unsubscribe(c, i)),
        c.clone().prop_map(Op::Close),
        c.prop_map(Op::Disconnect),
        s.prop_map(Op::Broadcast),
        Just(Op::Drain),
    ]
}

fn ident(i: u8) -> String {
    format!(r#"{{"channel":"ChatChannel","id":{i}}}"#)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    /// Across any sequence of subscribes, confirms, rejects, streams, stops, unsubscribes, closes and
    /// disconnects (with a small queue the host drains only now and then), `streams()` is the model's set of
    /// streams with a confirmed subscriber, every `StreamStarted` is answered by exactly one `StreamStopped`
    /// before the next start, the announced set always matches, and a broadcast reaches the model's count.
    #[test]
    fn stream_events_pair_up_and_follow_the_model(ops in prop::collection::vec(op(), 1..120), max_queued in 2..16usize) {
        let now = Instant::now();
        let mut hub = Hub::new(
            HubConfig::default()
                .with_stream_events(true)
                .with_limits(Limits::default().with_max_queued(max_queued)),
        );
        let mut model = Model::default();
        let mut announced: BTreeSet<String> = BTreeSet::new();
        let drain = |hub: &mut Hub, announced: &mut BTreeSet<String>| -> Result<(), TestCaseError> {
            let _ = transmits(hub);
            for e in stream_events(hub) {
                let (sign, name) = e.split_at(1);
                if sign == "+" {
                    prop_assert!(announced.insert(name.to_owned()), "started twice: {}", name);
                } else {
                    prop_assert!(announced.remove(name), "stopped without a start: {}", name);
                }
            }
            Ok(())
        };
        for op in ops {
            match op {
                Op::Open(c) => {
                    if !model.open.contains(&c) {
                        open(&mut hub, now, c, false, "/cable");
                        model.open.insert(c);
                    }
                }
                Op::Subscribe(c, i) => {
                    hub.handle_frame(now, ConnId(c), subscribe(&ident(i)));
                    if hub.subscriptions_of(ConnId(c)).contains(&ident(i)) {
                        model.subs.entry((c, i)).or_default();
                    }
                }
                Op::Confirm(c, i) => {
                    if hub.confirm(ConnId(c), &ident(i)).is_ok() {
                        model.subs.get_mut(&(c, i)).expect("confirmed an unknown subscription").0 = true;
                    } else if let Some(sub) = model.subs.get(&(c, i)) {
                        // refused (for a full queue) only before the first confirm, and nothing changed
                        prop_assert!(!sub.0);
                    }
                }
                Op::Reject(c, i) => {
                    if hub.reject(ConnId(c), &ident(i)).is_ok() {
                        prop_assert!(model.subs.remove(&(c, i)).is_some());
                    }
                }
                Op::StreamFrom(c, i, s) => {
                    let r = hub.stream_from(ConnId(c), &ident(i), &format!("s{s}"));
                    prop_assert_eq!(r.is_ok(), model.subs.contains_key(&(c, i)));
                    if let Some(sub) = model.subs.get_mut(&(c, i)) {
                        sub.1.insert(s);
                    }
                }
                Op::StopStream(c, i, s) => {
                    let r = hub.stop_stream_from(ConnId(c), &ident(i), &format!("s{s}"));
                    prop_assert_eq!(r.is_ok(), model.subs.contains_key(&(c, i)));
                    if let Some(sub) = model.subs.get_mut(&(c, i)) {
                        sub.1.remove(&s);
                    }
                }
                Op::StopAll(c, i) => {
                    let r = hub.stop_all_streams(ConnId(c), &ident(i));
                    prop_assert_eq!(r.is_ok(), model.subs.contains_key(&(c, i)));
                    if let Some(sub) = model.subs.get_mut(&(c, i)) {
                        sub.1.clear();
                    }
                }
                Op::Unsubscribe(c, i) => {
                    hub.handle_frame(now, ConnId(c), unsubscribe(&ident(i)));
                    model.subs.remove(&(c, i));
                }
                Op::Close(c) => {
                    hub.handle_close(now, ConnId(c), None);
                    model.forget(c);
                }
                Op::Disconnect(c) => {
                    if hub.disconnect(ConnId(c), None, None).is_ok() {
                        model.forget(c);
                    }
                }
                Op::Broadcast(s) => {
                    let want = model
                        .subs
                        .values()
                        .filter(|(confirmed, streams)| *confirmed && streams.contains(&s))
                        .count();
                    if let Ok(n) = hub.broadcast(&format!("s{s}"), "1") {
                        prop_assert_eq!(n, want);
                    }
                }
                Op::Drain => drain(&mut hub, &mut announced)?,
            }
            let live: BTreeSet<String> = hub.streams().map(str::to_owned).collect();
            prop_assert_eq!(&live, &model.streams());
            if let Err(e) = hub.check_invariants() {
                return Err(TestCaseError::fail(e));
            }
        }
        drain(&mut hub, &mut announced)?;
        prop_assert_eq!(&announced, &model.streams());
        for c in 1..4 {
            hub.handle_close(now, ConnId(c), None);
        }
        drain(&mut hub, &mut announced)?;
        prop_assert!(announced.is_empty(), "every start stopped once all closed: {:?}", announced);
    }
}
