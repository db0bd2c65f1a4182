//! The client against the mock hub through the core `Pair`, on a virtual clock: exact frames and events.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::{Duration, Instant};

use feedwire_core::testing::{Pair, Wire};
use feedwire_core::{BackoffConfig, Close, CloseCode, ConnId, Frame, Limits, RawJson, UnixAnchor};
use feedwire_doshii::client::{CatchUp, Client, Config, DisconnectReason, Event, StopReason};
use feedwire_doshii::codec::{DecodeError, EventKind, PosStatus, Stamp};
use feedwire_doshii::server::{DeviceFilter, Hub, HubConfig, HubEvent, Peer};

const T0_MS: u64 = 1_700_000_000_000;
const CLIENT_ID: &str = "client-id"; // base64 "Y2xpZW50LWlk"

fn config(t0: Instant) -> Config {
    Config::app(CLIENT_ID, UnixAnchor::new(t0, T0_MS))
        .with_app_version("1.2.3")
        .with_backoff(BackoffConfig::default().with_jitter(0.0))
}

/// A client that was asked to connect at `t0` (`new` never dials).
fn started(config: Config, t0: Instant) -> Client {
    let mut client = Client::new(config);
    client.connect(t0);
    client
}

fn pair_with(config: Config, hub: Hub, t0: Instant) -> Pair<Client, Hub> {
    Pair::new(started(config, t0), hub, t0)
}

fn pair() -> Pair<Client, Hub> {
    let t0 = Instant::now();
    pair_with(config(t0), Hub::default(), t0)
}

/// The wire record as text: "<ms> <what> <detail>".
fn log(p: &Pair<Client, Hub>) -> Vec<String> {
    p.wire()
        .iter()
        .map(|w| match w {
            Wire::Connect {
                at, request, conn, ..
            } => {
                format!(
                    "{} connect {} {:?}",
                    at.as_millis(),
                    request.path_and_query(),
                    conn.map(|c| c.0)
                )
            }
            Wire::ToHub { at, frame, .. } => format!("{} >hub {}", at.as_millis(), frame),
            Wire::ToClient { at, frame, .. } => format!("{} >client {}", at.as_millis(), frame),
            Wire::ClientClosed { at, close, .. } => format!("{} client-close {close}", at.as_millis()),
            Wire::HubClosed { at, close, .. } => format!("{} hub-close {close}", at.as_millis()),
            Wire::Dropped { at, .. } => format!("{} dropped", at.as_millis()),
            other => format!("{other:?}"),
        })
        .collect()
}

fn ping(ms: u64) -> String {
    format!(r#"{{"doshii":{{"ping":{ms},"version":"1.2.3"}}}}"#)
}
fn pong(ms: u64) -> String {
    format!(r#"{{"doshii":{{"pong":{ms},"version":"3.2.123"}}}}"#)
}
fn pong_event(ms: u64) -> Event {
    Event::Pong {
        stamp: Stamp::from_millis(ms),
        version: Some("3.2.123".into()),
    }
}
fn data(json: &str) -> RawJson {
    RawJson::from_json_str(json).unwrap()
}
fn publish(p: &mut Pair<Client, Hub>, name: &str, json: &str) -> usize {
    let now = p.now();
    p.hub_mut()
        .publish_to_app(now, CLIENT_ID, name, &data(json))
        .unwrap()
}
fn doshii_events(evs: &[Event]) -> Vec<(EventKind, String)> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Doshii(d) => Some((d.kind.clone(), d.data.as_str().to_owned())),
            _ => None,
        })
        .collect()
}

#[test]
fn pings_on_open_then_every_30_seconds() {
    let mut p = pair();
    p.run_until_quiet();
    assert_eq!(
        log(&p),
        vec![
            "0 connect /app/socket?auth=Y2xpZW50LWlk Some(1)".to_string(),
            format!("0 >hub {}", ping(T0_MS)),
            format!("0 >client {}", pong(T0_MS)),
        ]
    );
    assert_eq!(
        p.take_client_events(),
        vec![Event::Connected { reconnect: false }, pong_event(T0_MS)]
    );
    p.advance(Duration::from_millis(29_999));
    assert_eq!(p.frames_to_hub().len(), 1, "no ping before 30 s");
    p.advance(Duration::from_millis(1));
    p.advance(Duration::from_secs(60));
    assert_eq!(
        log(&p)[3..],
        [
            format!("30000 >hub {}", ping(T0_MS + 30_000)),
            format!("30000 >client {}", pong(T0_MS + 30_000)),
            format!("60000 >hub {}", ping(T0_MS + 60_000)),
            format!("60000 >client {}", pong(T0_MS + 60_000)),
            format!("90000 >hub {}", ping(T0_MS + 90_000)),
            format!("90000 >client {}", pong(T0_MS + 90_000)),
        ]
    );
    assert_eq!(
        p.take_client_events(),
        vec![
            pong_event(T0_MS + 30_000),
            pong_event(T0_MS + 60_000),
            pong_event(T0_MS + 90_000)
        ]
    );
    let hub_events = p.take_hub_events();
    assert!(
        matches!(&hub_events[0], HubEvent::Opened { conn: ConnId(1), peer: Peer::App { client_id, device_id: None, v3: false }, replayed: 0 } if client_id == CLIENT_ID)
    );
    assert_eq!(
        hub_events
            .iter()
            .filter(|e| matches!(e, HubEvent::Ping { .. }))
            .count(),
        4
    );
}

#[test]
fn a_missing_pong_closes_and_reconnects_with_backoff() {
    let t0 = Instant::now();
    let mut hub = Hub::default();
    hub.set_answer_pings(false);
    let mut p = pair_with(config(t0), hub, t0);
    p.run_until_quiet();
    p.advance(Duration::from_millis(9_999));
    assert_eq!(p.connection_of(0), Some(ConnId(1)), "still waiting for the pong");
    p.advance(Duration::from_millis(1));
    assert_eq!(
        log(&p),
        vec![
            "0 connect /app/socket?auth=Y2xpZW50LWlk Some(1)".to_string(),
            format!("0 >hub {}", ping(T0_MS)),
            "10000 client-close 1000: pong timeout".to_string(),
        ]
    );
    assert_eq!(
        p.take_client_events(),
        vec![
            Event::Connected { reconnect: false },
            Event::Disconnected {
                reason: DisconnectReason::PongTimeout
            },
            Event::Reconnecting {
                after: Duration::from_secs(1),
                attempt: 1
            },
        ]
    );
    // the hub answers again: the reconnect at 11 s pings, gets its pong, and reports the window
    p.hub_mut().set_answer_pings(true);
    p.advance(Duration::from_secs(1));
    assert_eq!(
        log(&p)[3..],
        [
            "11000 connect /app/socket?auth=Y2xpZW50LWlk Some(2)".to_string(),
            format!("11000 >hub {}", ping(T0_MS + 11_000)),
            format!("11000 >client {}", pong(T0_MS + 11_000)),
        ]
    );
    assert_eq!(
        p.take_client_events(),
        vec![
            Event::Connected { reconnect: true },
            Event::CatchUp(catch_up(T0_MS + 10_000, T0_MS + 11_000, false)),
            pong_event(T0_MS + 11_000),
        ]
    );
}

fn catch_up(from_ms: u64, to_ms: u64, from_last_event: bool) -> CatchUp {
    CatchUp::new(from_ms, to_ms, from_last_event)
}

#[test]
fn catch_up_window_runs_from_the_last_event_to_the_reconnect_in_seconds() {
    let mut p = pair();
    p.run_until_quiet();
    p.advance(Duration::from_millis(5_250));
    let n = publish(
        &mut p,
        "order_updated",
        r#"{"id":"1","status":"accepted","uri":"https://sandbox.doshii.co/partner/v3/orders/1"}"#,
    );
    assert_eq!(n, 1);
    p.advance(Duration::from_millis(15_250)); // 20.5 s
    p.refuse_connections(true);
    p.drop_connection();
    // published while the app is away: backlogged by the hub, replayed on reconnect
    p.advance(Duration::from_millis(300));
    publish(&mut p, "order_updated", r#"{"id":"2","status":"pending"}"#);
    assert_eq!(p.hub().backlog_len(CLIENT_ID), 1);
    p.take_client_events();
    p.advance(Duration::from_millis(700)); // 21.5 s: refused, next try after 2 s
    p.refuse_connections(false);
    p.advance(Duration::from_secs(2)); // 23.5 s: connected
    assert_eq!(p.connection_of(0), Some(ConnId(2)));
    let evs = p.take_client_events();
    assert_eq!(
        evs,
        vec![
            Event::Disconnected {
                reason: DisconnectReason::Closed(None)
            },
            Event::Reconnecting {
                after: Duration::from_secs(2),
                attempt: 2
            },
            Event::Connected { reconnect: true },
            Event::CatchUp(catch_up(T0_MS + 5_250, T0_MS + 23_500, true)),
            evs[4].clone(),
            pong_event(T0_MS + 23_500),
        ]
    );
    let Event::CatchUp(c) = &evs[3] else { panic!() };
    assert_eq!((c.from, c.to), (1_700_000_005, 1_700_000_024));
    assert_eq!(c.orders_query, "/partner/v3/orders?from=1700000005&to=1700000024");
    assert_eq!(
        c.orders_updated_query,
        "/partner/v3/orders?updatedFrom=1700000005&updatedTo=1700000024"
    );
    assert!(!c.exceeds_replay());
    assert_eq!(
        doshii_events(&evs),
        vec![(
            EventKind::OrderUpdated,
            r#"{"id":"2","status":"pending"}"#.to_string()
        )]
    );
    assert_eq!(p.hub().backlog_len(CLIENT_ID), 0);
    assert!(p.take_hub_events().contains(&HubEvent::Opened {
        conn: ConnId(2),
        peer: Peer::App {
            client_id: CLIENT_ID.into(),
            device_id: None,
            v3: false
        },
        replayed: 1
    }),);
}

#[test]
fn the_hub_replays_only_the_last_10_minutes() {
    let t0 = Instant::now();
    let cfg = config(t0).with_backoff(
        BackoffConfig::default()
            .with_jitter(0.0)
            .with_max(Duration::from_secs(60)),
    );
    let mut p = pair_with(cfg, Hub::default(), t0);
    p.run_until_quiet();
    p.refuse_connections(true);
    p.drop_connection(); // at 0 s; tries at 1, 3, 7, 15, 31, 63, 123, ..., 543, 603 s
    publish(&mut p, "order_created", r#"{"id":"old"}"#);
    p.advance(Duration::from_secs(540));
    publish(&mut p, "order_created", r#"{"id":"new"}"#);
    p.advance(Duration::from_secs(50));
    p.refuse_connections(false);
    p.take_client_events();
    p.advance(Duration::from_secs(13)); // 603 s: connected; "old" is 603 s old
    assert_eq!(p.elapsed(), Duration::from_secs(603));
    assert!(p.connection_of(0).is_some());
    let evs = p.take_client_events();
    assert_eq!(
        doshii_events(&evs),
        vec![(EventKind::OrderCreated, r#"{"id":"new"}"#.to_string())]
    );
    let Some(Event::CatchUp(c)) = evs.iter().find(|e| matches!(e, Event::CatchUp(_))) else {
        panic!("{evs:?}")
    };
    assert_eq!(
        (c.from_ms, c.to_ms, c.from_last_event),
        (T0_MS, T0_MS + 603_000, false)
    );
    assert!(
        c.exceeds_replay(),
        "more than 10 minutes: the GET queries are needed"
    );
}

#[test]
fn primus_server_close_stops_without_reconnecting() {
    let mut p = pair();
    p.run_until_quiet();
    p.take_client_events();
    let now = p.now();
    p.hub_mut().server_close(now, ConnId(1)).unwrap();
    p.run_until_quiet();
    assert_eq!(
        log(&p)[3..],
        [
            r#"0 >client "primus::server::close""#.to_string(),
            "0 hub-close 1000 (normal closure)".to_string(),
        ]
    );
    assert_eq!(
        p.take_client_events(),
        vec![
            Event::Disconnected {
                reason: DisconnectReason::ServerClose
            },
            Event::Stopped {
                reason: StopReason::ServerClose
            }
        ]
    );
    assert!(p.client().is_stopped());
    assert_eq!(p.next_deadline(), None);
    p.advance(Duration::from_secs(3600));
    assert_eq!(log(&p).len(), 5, "nothing after the server close");
}

#[test]
fn every_other_close_reconnects_with_growing_backoff() {
    let mut p = pair();
    p.run_until_quiet();
    p.take_client_events();
    // a close frame from the hub, a close from a proxy, a dropped transport, refused dials
    let now = p.now();
    p.hub_mut()
        .close(now, ConnId(1), Close::new(CloseCode::INTERNAL_ERROR, "boom"));
    p.run_until_quiet();
    p.refuse_connections(true);
    p.advance(Duration::from_secs(1)); // refused
    p.advance(Duration::from_secs(2)); // refused
    p.refuse_connections(false);
    p.advance(Duration::from_secs(4)); // connected at 7 s, pong resets the backoff
    p.close_from_server(0, Close::new(CloseCode::GOING_AWAY, "restart"));
    p.advance(Duration::from_secs(1)); // connected at 8 s
    p.drop_connection();
    p.advance(Duration::from_secs(1)); // connected at 9 s
    let evs: Vec<Event> = p
        .take_client_events()
        .into_iter()
        .filter(|e| !matches!(e, Event::Pong { .. } | Event::CatchUp(_)))
        .collect();
    let reconnecting = |s, attempt| Event::Reconnecting {
        after: Duration::from_secs(s),
        attempt,
    };
    assert_eq!(
        evs,
        vec![
            Event::Disconnected {
                reason: DisconnectReason::Closed(Some(Close::new(1011, "boom")))
            },
            reconnecting(1, 1),
            Event::Disconnected {
                reason: DisconnectReason::Closed(None)
            },
            reconnecting(2, 2),
            Event::Disconnected {
                reason: DisconnectReason::Closed(None)
            },
            reconnecting(4, 3),
            Event::Connected { reconnect: true },
            Event::Disconnected {
                reason: DisconnectReason::Closed(Some(Close::new(1001, "restart")))
            },
            reconnecting(1, 1),
            Event::Connected { reconnect: true },
            Event::Disconnected {
                reason: DisconnectReason::Closed(None)
            },
            reconnecting(1, 1),
            Event::Connected { reconnect: true },
        ]
    );
    let connects: Vec<_> = log(&p).into_iter().filter(|l| l.contains("connect /")).collect();
    assert_eq!(
        connects,
        vec![
            "0 connect /app/socket?auth=Y2xpZW50LWlk Some(1)",
            "1000 connect /app/socket?auth=Y2xpZW50LWlk None",
            "3000 connect /app/socket?auth=Y2xpZW50LWlk None",
            "7000 connect /app/socket?auth=Y2xpZW50LWlk Some(2)",
            "8000 connect /app/socket?auth=Y2xpZW50LWlk Some(3)",
            "9000 connect /app/socket?auth=Y2xpZW50LWlk Some(4)",
        ]
    );
}

#[test]
fn server_pings_and_health_checks_get_a_pong_with_the_same_stamp() {
    let t0 = Instant::now();
    let cfg = Config::pos("loc-token", UnixAnchor::new(t0, T0_MS))
        .with_app_version("1.2.3")
        .with_pos_status(Some(
            PosStatus::default()
                .with_database("online")
                .with_processor("offline"),
        ));
    let mut p = pair_with(cfg, Hub::default(), t0);
    p.run_until_quiet();
    p.hub_mut().ping(ConnId(1), 123).unwrap();
    p.hub_mut().health_check(ConnId(1), 456).unwrap();
    p.hub_mut()
        .send(ConnId(1), Frame::from(r#""primus::ping::789""#))
        .unwrap();
    p.run_until_quiet();
    assert_eq!(
        log(&p),
        vec![
            "0 connect /pos/socket?token=loc-token Some(1)".to_string(),
            format!(
                r#"0 >hub {{"doshii":{{"ping":{T0_MS},"version":"1.2.3","status":{{"database":"online","processor":"offline"}}}}}}"#
            ),
            format!("0 >client {}", pong(T0_MS)),
            r#"0 >client {"doshii":{"ping":123}}"#.to_string(),
            r#"0 >client {"emit":["health_check",{"ping":456}]}"#.to_string(),
            r#"0 >client "primus::ping::789""#.to_string(),
            r#"0 >hub {"doshii":{"pong":123,"version":"1.2.3"}}"#.to_string(),
            r#"0 >hub {"doshii":{"pong":456,"version":"1.2.3"}}"#.to_string(),
            r#"0 >hub "primus::pong::789""#.to_string(),
        ]
    );
    let evs = p.take_client_events();
    assert_eq!(
        evs[2],
        Event::ServerPing {
            stamp: Stamp::from_millis(123)
        }
    );
    assert!(matches!(&evs[3], Event::Doshii(e) if e.kind == EventKind::HealthCheck));
    assert_eq!(
        evs[4],
        Event::ServerPing {
            stamp: Stamp::from_millis(789)
        }
    );
    let pongs: Vec<_> = p
        .take_hub_events()
        .into_iter()
        .filter_map(|e| match e {
            HubEvent::Pong { stamp, .. } => stamp.millis(),
            HubEvent::Ping { heartbeat, .. } => {
                assert_eq!(
                    heartbeat.pos_status().unwrap().unwrap().processor.as_deref(),
                    Some("offline")
                );
                None
            }
            _ => None,
        })
        .collect();
    assert_eq!(pongs, vec![123, 456, 789]);
}

#[test]
fn device_registrations_filter_events() {
    let t0 = Instant::now();
    let mut hub = Hub::default();
    hub.register_device(
        "dev-1",
        DeviceFilter::default()
            .with_events(["order_updated"])
            .with_location_ids(["loc-1"]),
    );
    let filtered = Config::app_v3(CLIENT_ID, Some("dev-1".into()), UnixAnchor::new(t0, T0_MS));
    let mut p = pair_with(filtered, hub, t0);
    let all = p.add_client(started(config(t0), t0));
    p.run_until_quiet();
    assert_eq!(
        log(&p)[0],
        "0 connect /app/socket/v3?auth=Y2xpZW50LWlk&deviceId=dev-1 Some(1)"
    );
    let now = p.now();
    let sent = [
        p.hub_mut().publish_to_app(
            now,
            CLIENT_ID,
            "order_created",
            &data(r#"{"id":"a","locationId":"loc-1"}"#),
        ),
        p.hub_mut().publish_to_app(
            now,
            CLIENT_ID,
            "order_updated",
            &data(r#"{"id":"b","locationId":"loc-2"}"#),
        ),
        p.hub_mut().publish_to_app(
            now,
            CLIENT_ID,
            "order_updated",
            &data(r#"{"id":"c","locationId":"loc-1"}"#),
        ),
        p.hub_mut().publish_to_app(
            now,
            "someone-else",
            "order_updated",
            &data(r#"{"id":"d","locationId":"loc-1"}"#),
        ),
    ];
    p.run_until_quiet();
    assert_eq!(sent, [Ok(1), Ok(1), Ok(2), Ok(0)]);
    assert_eq!(
        doshii_events(&p.take_client_events()),
        vec![(
            EventKind::OrderUpdated,
            r#"{"id":"c","locationId":"loc-1"}"#.to_string()
        )]
    );
    let ids: Vec<_> = doshii_events(&p.take_events_of(all))
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert_eq!(ids.len(), 3);
    // one encoding shared by both connections
    let ptrs: Vec<*const u8> = p
        .frames_to_client()
        .iter()
        .filter(|f| f.contains(r#""id":"c""#))
        .map(|f| f.as_ptr())
        .collect();
    assert_eq!(ptrs.len(), 2);
    assert_eq!(ptrs[0], ptrs[1]);
}

#[test]
fn malformed_oversize_and_unknown_frames_are_reported_and_the_session_goes_on() {
    let t0 = Instant::now();
    let cfg = config(t0).with_limits(Limits::default().with_max_frame_size(64));
    let mut p = pair_with(cfg, Hub::default(), t0);
    p.run_until_quiet();
    p.take_client_events();
    p.inject_to_client(0, Frame::from(r#"{"emit":["order_updated",{"id":"#));
    p.inject_to_client(0, Frame::from("x".repeat(65)));
    p.inject_to_client(0, Frame::from(r#"[1,2,3]"#));
    p.inject_to_client(0, Frame::from(r#"{"type":"order_created","data":{"id":"1"}}"#));
    let evs = p.take_client_events();
    assert!(
        matches!(&evs[0], Event::Malformed { error: DecodeError::Json { .. }, frame } if frame.as_str().starts_with(r#"{"emit""#))
    );
    assert!(matches!(
        &evs[1],
        Event::Malformed {
            error: DecodeError::TooLarge { len: 65, max: 64 },
            ..
        }
    ));
    assert_eq!(evs[2], Event::Unknown(data("[1,2,3]")));
    assert_eq!(
        doshii_events(&evs[3..]),
        vec![(EventKind::OrderCreated, r#"{"id":"1"}"#.to_string())]
    );
    p.advance(Duration::from_secs(30));
    assert_eq!(p.frames_to_hub().len(), 2, "the heartbeat goes on");
    assert!(p.client().is_open());
}

#[test]
fn disconnect_stops_for_good() {
    let mut p = pair();
    p.run_until_quiet();
    p.take_client_events();
    let now = p.now();
    p.client_mut().disconnect(now);
    p.run_until_quiet();
    assert_eq!(log(&p).last().unwrap(), "0 client-close 1000 (normal closure)");
    assert_eq!(
        p.take_client_events(),
        vec![
            Event::Disconnected {
                reason: DisconnectReason::Requested
            },
            Event::Stopped {
                reason: StopReason::Requested
            }
        ]
    );
    assert!(p.client().is_stopped() && !p.client().is_open());
    // a second disconnect is a no-op: nothing sent, nothing reported
    let wire = p.wire().len();
    p.client_mut().disconnect(now);
    p.run_until_quiet();
    assert_eq!(p.wire().len(), wire);
    assert_eq!(p.take_client_events(), vec![]);
    assert_eq!(p.next_deadline(), None);
}

#[test]
fn vendor_token_refresh_is_used_on_the_next_connection() {
    let t0 = Instant::now();
    let cfg = Config::vendor("jwt-1", "acme", UnixAnchor::new(t0, T0_MS))
        .with_backoff(BackoffConfig::default().with_jitter(0.0));
    let mut p = pair_with(cfg, Hub::default(), t0);
    p.run_until_quiet();
    p.client_mut().set_token("jwt-2").unwrap();
    p.drop_connection();
    p.advance(Duration::from_secs(1));
    let connects: Vec<_> = log(&p).into_iter().filter(|l| l.contains("connect /")).collect();
    assert_eq!(
        connects,
        vec![
            "0 connect /vendor/socket?token=jwt-1&vendor=acme Some(1)",
            "1000 connect /vendor/socket?token=jwt-2&vendor=acme Some(2)",
        ]
    );
    assert_eq!(
        p.hub_mut()
            .publish_to_vendor("acme", "order_created", &data("{}")),
        Ok(1)
    );
    p.run_until_quiet();
    assert_eq!(
        log(&p).last().unwrap(),
        r#"1000 >client {"emit":["order_created",{}]}"#
    );
}

#[test]
fn the_hub_rejects_bad_sockets() {
    let t0 = Instant::now();
    let cfg = config(t0).with_client_id("");
    let mut p = pair_with(cfg, Hub::default(), t0);
    p.run_until_quiet();
    assert!(log(&p).contains(&"0 hub-close 1008: empty client id".to_string()));
    assert!(p.take_hub_events().contains(&HubEvent::Rejected {
        conn: ConnId(1),
        reason: "empty client id"
    }));
}

#[test]
fn the_hub_reads_every_socket_path() {
    use feedwire_core::{Hub as _, HubTransmit, OpenRequest};
    let now = Instant::now();
    let mut hub = Hub::new(HubConfig::default());
    let cases = [
        (
            "/app/socket?auth=Y2xpZW50LWlk",
            Ok(Peer::App {
                client_id: CLIENT_ID.into(),
                device_id: None,
                v3: false,
            }),
        ),
        (
            "/app/socket/v3?auth=Y2xpZW50LWlk&deviceId=d%201",
            Ok(Peer::App {
                client_id: CLIENT_ID.into(),
                device_id: Some("d 1".into()),
                v3: true,
            }),
        ),
        ("/pos/socket?token=a%2Bb", Ok(Peer::Pos { token: "a+b".into() })),
        (
            "/vendor/socket?token=j&vendor=v",
            Ok(Peer::Vendor {
                token: "j".into(),
                vendor: "v".into(),
            }),
        ),
        ("/app/socket", Err("missing auth")),
        ("/app/socket?auth=%%%", Err("auth is not base64")),
        ("/pos/socket", Err("missing token")),
        ("/vendor/socket?token=j", Err("missing vendor")),
        ("/nope", Err("unknown path")),
    ];
    for (i, (path, want)) in cases.into_iter().enumerate() {
        let conn = ConnId(i as u64 + 1);
        hub.handle_open(now, conn, &OpenRequest::new(path));
        let ev = hub.poll_event().unwrap();
        match want {
            Ok(peer) => assert_eq!(
                ev,
                HubEvent::Opened {
                    conn,
                    peer,
                    replayed: 0
                },
                "{path}"
            ),
            Err(reason) => {
                assert_eq!(ev, HubEvent::Rejected { conn, reason }, "{path}");
                assert_eq!(
                    hub.poll_transmit(),
                    Some((
                        conn,
                        HubTransmit::Close(Close::new(CloseCode::POLICY_VIOLATION, reason))
                    ))
                );
            }
        }
    }
    assert_eq!(hub.connections().count(), 4);
}
