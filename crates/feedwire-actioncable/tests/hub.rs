//! Hub behaviours on their own: connection refusal, manual welcome, history buffers, redaction.
#![allow(clippy::disallowed_methods)] // one real Instant as the clock origin

use std::time::{Duration, Instant};

use feedwire_actioncable::codec::{ClientMessage, HistoryRequest, IdentifierStr, StreamPosition};
use feedwire_actioncable::server::{Hub, HubConfig, HubEvent};
use feedwire_core::json::raw_value;
use feedwire_core::{ConnId, Frame, Hub as _, HubTransmit, OpenRequest, UnixAnchor};

const ID: &str = r#"{"channel":"ApiChannel","key":"0123456789abcdef","events":"posts"}"#;

fn subscribe() -> Frame {
    ClientMessage::Subscribe {
        identifier: IdentifierStr::new(ID),
        history: None,
    }
    .encode()
}

fn history(h: &HistoryRequest) -> Frame {
    let text = h.to_json();
    ClientMessage::History {
        identifier: IdentifierStr::new(ID),
        history: raw_value(&text).unwrap(),
    }
    .encode()
}

fn drain(hub: &mut Hub) -> (Vec<(ConnId, String)>, Vec<HubEvent>) {
    let mut out = Vec::new();
    while let Some((c, t)) = hub.poll_transmit() {
        out.push((
            c,
            match t {
                HubTransmit::Send(f) => f.as_str().to_owned(),
                HubTransmit::Close(close) => format!("close {}", close.code.0),
            },
        ));
    }
    let evs = std::iter::from_fn(|| hub.poll_event()).collect();
    (out, evs)
}

fn open(hub: &mut Hub, now: Instant, conn: u64, ext: bool, path: &str) {
    let offered = if ext {
        vec![
            "actioncable-v1-ext-json".to_string(),
            "actioncable-v1-json".to_string(),
        ]
    } else {
        vec![
            "actioncable-v1-json".to_string(),
            "actioncable-unsupported".to_string(),
        ]
    };
    let proto = hub.select_subprotocol(&offered);
    hub.handle_open(now, ConnId(conn), &OpenRequest::new(path).with_subprotocol(proto));
}

#[test]
fn subprotocol_selection() {
    let rails = Hub::new(HubConfig::default());
    let any = Hub::new(HubConfig::default().with_anycable(true));
    let ext = vec![
        "actioncable-v1-ext-json".to_string(),
        "actioncable-v1-json".to_string(),
    ];
    assert_eq!(
        rails.select_subprotocol(&ext).as_deref(),
        Some("actioncable-v1-json")
    );
    assert_eq!(
        any.select_subprotocol(&ext).as_deref(),
        Some("actioncable-v1-ext-json")
    );
    assert_eq!(rails.select_subprotocol(&["x".to_string()]), None);
}

#[test]
fn manual_welcome_and_unauthorized_rejection() {
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default().with_auto_welcome(false));
    open(&mut hub, now, 1, false, "/cable?uid=bad");
    open(&mut hub, now, 2, false, "/cable?uid=good");
    let (out, evs) = drain(&mut hub);
    assert!(out.is_empty(), "no welcome before the host decides");
    let queries: Vec<String> = evs
        .iter()
        .map(|e| match e {
            HubEvent::Opened { request, .. } => request.query().to_string(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(queries, vec!["uid=bad", "uid=good"]);
    assert!(!format!("{evs:?}").contains("uid=bad"), "Debug hides the query");
    hub.reject_connection(ConnId(1)).unwrap();
    hub.welcome(ConnId(2)).unwrap();
    hub.welcome(ConnId(2)).unwrap(); // once only
    let (out, _) = drain(&mut hub);
    assert_eq!(
        out,
        vec![
            (
                ConnId(1),
                r#"{"type":"disconnect","reason":"unauthorized","reconnect":false}"#.to_string()
            ),
            (ConnId(1), "close 1000".to_string()),
            (ConnId(2), r#"{"type":"welcome"}"#.to_string()),
        ]
    );
    assert_eq!(hub.connections().collect::<Vec<_>>(), vec![ConnId(2)]);
    assert!(hub.welcome(ConnId(1)).is_err());
}

#[test]
fn history_is_served_rejected_when_evicted_and_expires() {
    let now = Instant::now();
    let mut hub = Hub::new(
        HubConfig::default()
            .with_anycable(true)
            .with_seed(0xe)
            .with_history_limits(3, Duration::from_secs(30))
            .with_unix_anchor(UnixAnchor::new(now, 1_795_342_530_000)),
    );
    open(&mut hub, now, 1, true, "/cable");
    hub.handle_frame(now, ConnId(1), subscribe());
    hub.confirm(ConnId(1), ID).unwrap();
    hub.stream_from(ConnId(1), ID, "posts").unwrap();
    for n in 1..=5 {
        hub.broadcast("posts", &format!("{n}")).unwrap();
    }
    drain(&mut hub);
    let ask = |offset: u64, epoch: &str| {
        let mut h = HistoryRequest::default();
        h.streams.insert(
            "posts".into(),
            StreamPosition {
                epoch: epoch.into(),
                offset,
            },
        );
        history(&h)
    };
    // offsets 3..=5 are kept: a client that saw 2 or later is served; one that saw only 1 missed the evicted 2
    hub.handle_frame(now, ConnId(1), ask(3, "e"));
    let (out, evs) = drain(&mut hub);
    let texts: Vec<&str> = out.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts.len(), 3);
    assert!(
        texts[0].ends_with(r#""message":4,"stream_id":"posts","epoch":"e","offset":4}"#),
        "{texts:?}"
    );
    assert!(texts[1].ends_with(r#""offset":5}"#));
    assert!(texts[2].contains(r#""type":"confirm_history""#));
    assert!(matches!(
        &evs[..],
        [HubEvent::HistoryRequested { served: true, .. }]
    ));
    hub.handle_frame(now, ConnId(1), ask(2, "e"));
    assert_eq!(drain(&mut hub).0.len(), 4, "offsets 3, 4, 5 and the confirmation");
    hub.handle_frame(now, ConnId(1), ask(1, "e"));
    let (out, _) = drain(&mut hub);
    assert_eq!(out.len(), 1);
    assert!(out[0].1.contains("reject_history"), "offset 2 was evicted");
    hub.handle_frame(now, ConnId(1), ask(4, "other"));
    assert!(drain(&mut hub).0[0].1.contains("reject_history"), "epoch changed");
    // a `since` request, then expiry after the TTL
    let mut h = HistoryRequest::default();
    h.since = Some(1_795_342_530);
    hub.handle_frame(now, ConnId(1), history(&h));
    assert_eq!(drain(&mut hub).0.len(), 4);
    hub.handle_timeout(now + Duration::from_secs(33));
    drain(&mut hub);
    hub.handle_frame(now, ConnId(1), history(&h));
    let (out, _) = drain(&mut hub);
    assert_eq!(out.len(), 1, "expired: only the confirmation");
}

#[test]
fn events_and_debug_never_show_the_api_key() {
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default());
    open(&mut hub, now, 1, false, "/cable");
    hub.handle_frame(now, ConnId(1), subscribe());
    hub.handle_frame(now, ConnId(1), subscribe());
    hub.handle_frame(now, ConnId(1), Frame::from(format!("{{\"bad\":\"{ID}\"")));
    let (_, evs) = drain(&mut hub);
    assert_eq!(evs.len(), 4, "{evs:?}");
    match &evs[1] {
        HubEvent::SubscribeRequested { identifier, .. } => assert_eq!(identifier.as_str(), ID),
        other => panic!("{other:?}"),
    }
    let dbg = format!("{evs:?} {hub:?}");
    assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
}

/// The hub's queue policy: a broadcast is refused whole (nothing queued) while the driver has not drained
/// `max_queued` frames, then accepted whole (every subscriber's frame, past the bound); a subscribe request
/// the host will not hear of (its queue is full) is forgotten, so the client's retry asks again.
#[test]
fn broadcasts_are_refused_whole_when_the_queue_is_full() {
    use feedwire_actioncable::server::HubError;
    use feedwire_core::Limits;
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default().with_limits(Limits::default().with_max_queued(4)));
    for conn in 1..=3 {
        open(&mut hub, now, conn, false, "/cable");
        hub.handle_frame(now, ConnId(conn), subscribe());
        hub.confirm(ConnId(conn), ID).unwrap();
        hub.stream_from(ConnId(conn), ID, "posts").unwrap();
        drain(&mut hub);
    }
    assert_eq!(hub.broadcast("posts", "1").unwrap(), 3);
    assert_eq!(
        hub.broadcast("posts", "2").unwrap(),
        3,
        "3 < 4 queued: accepted, 6 queued"
    );
    let before = hub.queue_stats();
    assert_eq!(before.queued_transmits, 6);
    match hub.broadcast("posts", "3") {
        Err(HubError::QueueFull(full)) => assert_eq!(full.queued, 6),
        other => panic!("{other:?}"),
    }
    assert_eq!(hub.queue_stats(), before, "nothing queued by a refused broadcast");
    let (out, _) = drain(&mut hub);
    assert_eq!(out.len(), 6);
    assert_eq!(hub.broadcast("posts", "3").unwrap(), 3);
    drain(&mut hub);

    // the host stops polling: subscribe requests past the bound are dropped, counted, and forgotten
    open(&mut hub, now, 9, false, "/cable");
    for n in 0..6 {
        let frame = ClientMessage::Subscribe {
            identifier: IdentifierStr::new(&format!(r#"{{"channel":"C","n":{n}}}"#)),
            history: None,
        }
        .encode();
        hub.handle_frame(now, ConnId(9), frame);
    }
    let stats = hub.queue_stats();
    assert_eq!(stats.queued_events, 4, "Opened (kept) and three requests");
    assert_eq!(stats.dropped_events, 3);
    assert_eq!(
        hub.subscriptions_of(ConnId(9)).len(),
        3,
        "the dropped requests are forgotten"
    );
}

#[test]
fn a_graceful_shutdown_says_server_restart_with_reconnect_and_closes_as_rails_restart_does() {
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default());
    open(&mut hub, now, 1, false, "/cable");
    open(&mut hub, now, 2, true, "/cable");
    hub.handle_frame(now, ConnId(1), subscribe());
    drain(&mut hub);
    hub.handle_shutdown(now);
    let (out, _) = drain(&mut hub);
    let goodbye = r#"{"type":"disconnect","reason":"server_restart","reconnect":true}"#;
    assert_eq!(
        out,
        vec![
            (ConnId(1), goodbye.to_owned()),
            (ConnId(1), "close 1000".to_owned()),
            (ConnId(2), goodbye.to_owned()),
            (ConnId(2), "close 1000".to_owned()),
        ]
    );
    assert_eq!(hub.connections().count(), 0);
}
