//! Client against the mock hub through the core `Pair`, on a virtual clock: exact frames and events.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::{Duration, Instant};

use feedwire_core::testing::{Pair, Wire};
use feedwire_core::{BackoffConfig, Close, CloseCode, ConnId, Frame, Limits, Session, Transmit, UnixAnchor};
use feedwire_igratech::client::{Client, Config, DEFAULT_URL, DisconnectReason, Event, StopReason};
use feedwire_igratech::codec::*;
use feedwire_igratech::server::{Hub, HubEvent};

const T0_MS: u64 = 1_764_000_000_000;
const SETTINGS: &str = r#"{"event":"settings","data":{"lang":"en","oddsFormat":"decimal","gameIds":[1]}}"#;

fn settings() -> Settings {
    Settings {
        lang: Some("en".into()),
        odds_format: Some(OddsFormat::Decimal),
        game_ids: Some(vec![Id::Int(1)]),
        extra: Default::default(),
    }
}

fn config(start: Instant, user: &str) -> Config {
    Config::default()
        .with_token(user)
        .with_settings(settings())
        .with_unix_anchor(UnixAnchor::new(start, T0_MS))
        .with_backoff(BackoffConfig::default().with_jitter(0.0))
}

/// A client that has been asked to connect (`new` never dials), as a driver hands it over.
fn started(config: Config, now: Instant) -> Client {
    let mut c = Client::new(config);
    c.connect(now);
    c
}

fn pair() -> Pair<Client, Hub> {
    let start = Instant::now();
    Pair::new(started(config(start, "alice"), start), Hub::default(), start)
}

fn bet(game: i64) -> ServerMessage {
    ServerMessage::Bet(BetData {
        game_id: Id::Int(game),
        bets: vec![Bet {
            bet_id: Id::from("b-1"),
            odds: 1.85,
            market: Some("1x2".into()),
            outcome: Some("home".into()),
            stake: Some(10.0),
            status: Some(BetStatus::Open),
            extra: Default::default(),
        }],
        extra: Default::default(),
    })
}

fn connects(p: &Pair<Client, Hub>) -> Vec<(Duration, Option<ConnId>)> {
    p.wire()
        .iter()
        .filter_map(|w| match w {
            Wire::Connect { at, conn, .. } => Some((*at, *conn)),
            _ => None,
        })
        .collect()
}

fn to_hub_at(p: &Pair<Client, Hub>) -> Vec<(Duration, String)> {
    p.wire()
        .iter()
        .filter_map(|w| match w {
            Wire::ToHub { at, frame, .. } => Some((*at, frame.as_str().to_owned())),
            _ => None,
        })
        .collect()
}

fn ping(ms: u64) -> String {
    format!(r#"{{"event":"ping-pong","data":{{"ping":{ms}}}}}"#)
}

fn pong(ms: u64) -> String {
    format!(r#"{{"event":"ping-pong","data":{{"pong":{ms}}}}}"#)
}

#[test]
fn handshake_connected_and_settings() {
    let mut p = pair();
    p.run_until_quiet();
    match &p.wire()[0] {
        Wire::Connect {
            request,
            conn: Some(ConnId(1)),
            ..
        } => {
            assert_eq!(request.url, DEFAULT_URL);
            assert_eq!(
                request.headers,
                vec![("Authorization".to_owned(), "Bearer alice".to_owned())]
            );
            assert!(
                !format!("{:?}", p.client().config()).contains("alice"),
                "the token is redacted"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.frames_to_hub(), vec![SETTINGS]);
    assert_eq!(
        p.frames_to_client(),
        vec![
            r#"{"event":"connected","data":{"status":"ok","userId":"alice","sessionId":"1"}}"#,
            SETTINGS
        ]
    );
    let evs = p.take_client_events();
    assert_eq!(evs.len(), 2, "{evs:?}");
    let Event::Connected { status } = &evs[0] else {
        panic!("{evs:?}")
    };
    assert_eq!(status.parse().unwrap().user_id, Some(Id::from("alice")));
    let Event::Settings(applied) = &evs[1] else {
        panic!("{evs:?}")
    };
    assert_eq!(applied.parse().unwrap(), settings());
    assert_eq!(p.hub().settings_of(ConnId(1)), Some(&settings()));
    assert_eq!(
        p.take_hub_events(),
        vec![
            HubEvent::Opened {
                conn: ConnId(1),
                user: "alice".into()
            },
            HubEvent::Settings {
                conn: ConnId(1),
                settings: settings()
            },
        ]
    );
}

#[test]
fn pings_every_25_seconds_with_unix_ms_and_pongs_are_echoed() {
    let mut p = pair();
    p.run_until_quiet();
    p.take_client_events();
    assert_eq!(p.next_deadline(), Some(p.now() + Duration::from_secs(25)));
    p.advance(Duration::from_millis(24_999));
    assert_eq!(p.frames_to_hub().len(), 1, "no ping before 25 s");
    p.advance(Duration::from_millis(1));
    p.advance(Duration::from_secs(25));
    assert_eq!(
        to_hub_at(&p)[1..],
        [
            (Duration::from_secs(25), ping(T0_MS + 25_000)),
            (Duration::from_secs(50), ping(T0_MS + 50_000)),
        ]
    );
    assert_eq!(
        &p.frames_to_client()[2..],
        [pong(T0_MS + 25_000), pong(T0_MS + 50_000)]
    );
    assert_eq!(
        p.take_client_events(),
        vec![
            Event::Pong {
                echoed_unix_ms: Some(T0_MS + 25_000),
                rtt: Some(Duration::ZERO)
            },
            Event::Pong {
                echoed_unix_ms: Some(T0_MS + 50_000),
                rtt: Some(Duration::ZERO)
            },
        ]
    );
    // answered pings leave no pong deadline: the next deadline is the next ping
    assert_eq!(p.next_deadline(), Some(p.now() + Duration::from_secs(25)));
    assert_eq!(p.connection_of(0), Some(ConnId(1)), "still the first connection");
}

#[test]
fn missing_pong_is_a_dead_connection_then_reconnect_resends_settings_and_reports_the_gap() {
    let mut p = pair();
    p.run_until_quiet();
    p.take_client_events();
    p.hub_mut().set_answer_pings(false);
    p.advance(Duration::from_secs(25)); // ping
    p.advance(Duration::from_millis(9_999));
    assert_eq!(
        p.connection_of(0),
        Some(ConnId(1)),
        "alive until 10 s without pong"
    );
    p.advance(Duration::from_millis(1)); // 35 s: dead
    let closed: Vec<_> = p
        .wire()
        .iter()
        .filter_map(|w| match w {
            Wire::ClientClosed { at, conn, close, .. } => Some((*at, *conn, close.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        closed,
        vec![(
            Duration::from_secs(35),
            ConnId(1),
            Close::new(4000, "pong timeout")
        )]
    );
    let start = p.now() - Duration::from_secs(35);
    assert_eq!(
        p.take_client_events(),
        vec![
            Event::Disconnected {
                reason: DisconnectReason::PongTimeout
            },
            Event::Reconnecting {
                after: Duration::from_secs(1),
                attempt: 1,
            },
        ]
    );
    assert_eq!(p.next_deadline(), Some(start + Duration::from_secs(36)));
    p.hub_mut().set_answer_pings(true);
    p.advance(Duration::from_secs(1));
    assert_eq!(
        connects(&p),
        vec![
            (Duration::ZERO, Some(ConnId(1))),
            (Duration::from_secs(36), Some(ConnId(2)))
        ]
    );
    // settings re-sent on the new connection, first thing
    assert_eq!(
        to_hub_at(&p),
        vec![
            (Duration::ZERO, SETTINGS.to_owned()),
            (Duration::from_secs(25), ping(T0_MS + 25_000)),
            (Duration::from_secs(36), SETTINGS.to_owned()),
        ]
    );
    assert_eq!(p.hub().settings_of(ConnId(2)), Some(&settings()));
    let evs = p.take_client_events();
    assert_eq!(
        evs[0],
        Event::Gap {
            from: start + Duration::from_secs(35),
            to: start + Duration::from_secs(36),
            from_unix_ms: T0_MS + 35_000,
            to_unix_ms: T0_MS + 36_000,
        }
    );
    assert!(
        matches!(evs[1], Event::Connected { .. }) && matches!(evs[2], Event::Settings(_)),
        "{evs:?}"
    );
    // the ping schedule restarts with the connection
    p.advance(Duration::from_secs(25));
    assert_eq!(
        to_hub_at(&p).last(),
        Some(&(Duration::from_secs(61), ping(T0_MS + 61_000)))
    );
}

#[test]
fn backoff_grows_while_refused_and_resets_after_connected() {
    let mut p = pair();
    p.run_until_quiet();
    p.take_client_events();
    p.refuse_connections(true);
    p.drop_connection(); // at 0 s
    p.advance(Duration::from_secs(1 + 2 + 4)); // refused at 1 s, 3 s, 7 s
    let evs = p.take_client_events();
    let delays: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Reconnecting { attempt, after } => Some((*attempt, after.as_secs())),
            _ => None,
        })
        .collect();
    assert_eq!(delays, vec![(1, 1), (2, 2), (3, 4), (4, 8)]);
    assert_eq!(
        evs.iter()
            .filter(|e| {
                **e == Event::Disconnected {
                    reason: DisconnectReason::Closed(None),
                }
            })
            .count(),
        4
    );
    p.refuse_connections(false);
    p.advance(Duration::from_secs(8)); // 15 s: connects
    assert_eq!(p.connection_of(0), Some(ConnId(2)));
    let evs = p.take_client_events();
    assert!(
        matches!(evs[0], Event::Gap { from_unix_ms, to_unix_ms, .. } if from_unix_ms == T0_MS && to_unix_ms == T0_MS + 15_000),
        "{evs:?}"
    );
    // `connected` reset the backoff: the next loss waits 1 s again
    p.drop_connection();
    assert_eq!(
        p.take_client_events(),
        vec![
            Event::Disconnected {
                reason: DisconnectReason::Closed(None)
            },
            Event::Reconnecting {
                after: Duration::from_secs(1),
                attempt: 1,
            }
        ]
    );
}

#[test]
fn server_close_reconnects() {
    let mut p = pair();
    p.run_until_quiet();
    p.take_client_events();
    p.close_from_server(0, Close::new(CloseCode::SERVICE_RESTART, "restart"));
    assert_eq!(
        p.take_client_events(),
        vec![
            Event::Disconnected {
                reason: DisconnectReason::Closed(Some(Close::new(1012, "restart")))
            },
            Event::Reconnecting {
                after: Duration::from_secs(1),
                attempt: 1,
            },
        ]
    );
    p.advance(Duration::from_secs(1));
    assert_eq!(p.connection_of(0), Some(ConnId(2)));
    assert_eq!(p.frames_to_hub().iter().filter(|f| **f == SETTINGS).count(), 2);
}

#[test]
fn logout_is_terminal() {
    let mut p = pair();
    p.run_until_quiet();
    p.take_client_events();
    assert!(p.hub_mut().logout_user("alice", "admin").unwrap());
    p.run_until_quiet();
    assert_eq!(
        p.frames_to_client().last(),
        Some(&r#"{"event":"logout","data":{"reason":"admin"}}"#)
    );
    let evs = p.take_client_events();
    // the message, then the lifecycle: the connection ended, the session stopped
    assert_eq!(evs.len(), 3, "{evs:?}");
    let Event::LoggedOut(why) = &evs[0] else {
        panic!("{evs:?}")
    };
    assert_eq!(
        evs[1..],
        [
            Event::Disconnected {
                reason: DisconnectReason::LoggedOut
            },
            Event::Stopped {
                reason: StopReason::LoggedOut
            }
        ]
    );
    assert_eq!(why.parse().unwrap().reason.as_deref(), Some("admin"));
    assert!(p.client().is_logged_out() && p.client().is_stopped());
    assert!(matches!(p.wire().last(), Some(Wire::HubClosed { close, .. }) if close.code == CloseCode(4001)));
    assert_eq!(p.client().poll_timeout(), None);
    assert!(!p.advance_to_next_deadline());
    p.advance(Duration::from_secs(3600));
    assert_eq!(connects(&p).len(), 1, "never reconnects on its own");
    assert!(p.take_client_events().is_empty());
}

#[test]
fn a_second_login_logs_the_first_out() {
    let mut p = pair();
    p.run_until_quiet();
    let start = p.now();
    let second = p.add_client(started(config(start, "alice"), start));
    let bob = p.add_client(started(config(start, "bob"), start));
    p.run_until_quiet();
    // the first client was logged out by the second login and stays out
    let first = p.take_client_events();
    assert!(
        matches!(
            &first[first.len() - 3..],
            [
                Event::LoggedOut(_),
                Event::Disconnected { .. },
                Event::Stopped {
                    reason: StopReason::LoggedOut
                }
            ]
        ),
        "{first:?}"
    );
    assert!(p.client().is_logged_out());
    assert_eq!(p.connection_of(0), None);
    assert_eq!(p.connection_of(second), Some(ConnId(2)));
    assert_eq!(p.connection_of(bob), Some(ConnId(3)));
    assert_eq!(p.hub().connection_of("alice"), Some(ConnId(2)));
    let hub_events = p.take_hub_events();
    assert!(
        hub_events.contains(&HubEvent::LoggedOut {
            conn: ConnId(1),
            user: "alice".into(),
            by: Some(ConnId(2))
        }),
        "{hub_events:?}"
    );
    let second_events = p.take_events_of(second);
    assert!(
        matches!(second_events[0], Event::Connected { .. }),
        "{second_events:?}"
    );
    assert!(!second_events.iter().any(|e| matches!(e, Event::LoggedOut(_))));
    p.advance(Duration::from_secs(600));
    assert_eq!(
        p.connection_of(0),
        None,
        "the logged-out client does not fight back"
    );
    assert_eq!(p.connection_of(second), Some(ConnId(2)));
    // on purpose, the first client can log in again, which logs the second out
    let now = p.now();
    p.client_mut().connect(now);
    p.run_until_quiet();
    assert_eq!(p.connection_of(0), Some(ConnId(4)));
    assert!(p.client_at(second).is_logged_out());
    assert!(matches!(p.take_client_events()[0], Event::Gap { .. }));
}

#[test]
fn publish_goes_to_subscribed_games_once_encoded() {
    let mut p = pair();
    let start = p.now();
    let mut other = config(start, "bob");
    other.settings = Some(Settings {
        game_ids: Some(vec![Id::Int(2)]),
        ..settings()
    });
    let bob = p.add_client(started(other, start));
    let carol = p.add_client(started(Config::default().with_token("carol"), start)); // no settings: not subscribed
    p.run_until_quiet();
    p.take_client_events();
    p.take_events_of(bob);
    p.take_wire();
    assert_eq!(p.hub_mut().publish(&bet(1)).unwrap(), 1);
    assert_eq!(p.hub_mut().publish(&bet(2)).unwrap(), 1);
    let balance = ServerMessage::Balance(Balance {
        balance: 5.0,
        currency: Some("EUR".into()),
        extra: Default::default(),
    });
    assert_eq!(p.hub_mut().publish(&balance).unwrap(), 2);
    p.run_until_quiet();
    let got: Vec<(usize, String)> = p
        .wire()
        .iter()
        .filter_map(|w| match w {
            Wire::ToClient { client, frame, .. } => Some((*client, frame.as_str().to_owned())),
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (0, bet(1).encode().as_str().to_owned()),
            (bob, bet(2).encode().as_str().to_owned()),
            (0, balance.encode().as_str().to_owned()),
            (bob, balance.encode().as_str().to_owned()),
        ]
    );
    let ptrs: Vec<*const u8> = p
        .frames_to_client()
        .iter()
        .filter(|f| f.contains("balance"))
        .map(|f| f.as_ptr())
        .collect();
    assert_eq!(ptrs.len(), 2);
    assert_eq!(ptrs[0], ptrs[1], "encoded once, shared");
    let Some(Event::Bet(b)) = p.take_client_events().into_iter().next() else {
        panic!()
    };
    assert_eq!(
        b.parse().unwrap(),
        match bet(1) {
            ServerMessage::Bet(d) => d,
            _ => unreachable!(),
        }
    );
    assert!(
        p.take_events_of(carol)
            .iter()
            .all(|e| !matches!(e, Event::Bet(_) | Event::Balance(_)))
    );
    // targeted messages
    assert!(p.hub_mut().send_to_user("carol", &balance).unwrap());
    assert!(!p.hub_mut().send_to_user("dave", &balance).unwrap());
    p.run_until_quiet();
    assert!(matches!(p.take_events_of(carol).last(), Some(Event::Balance(_))));
}

#[test]
fn malformed_unknown_and_oversize_frames_do_not_stop_the_session() {
    let start = Instant::now();
    let cfg = config(start, "alice").with_limits(Limits::default().with_max_frame_size(200));
    let mut p = Pair::new(started(cfg, start), Hub::default(), start);
    p.run_until_quiet();
    p.take_client_events();
    p.inject_to_client(0, Frame::from("not json"));
    p.inject_to_client(0, Frame::from(r#"{"event":"jackpot","data":[1,2]}"#));
    let big = format!(
        r#"{{"event":"stats","data":{{"gameId":1,"stats":{{"x":{}}}}}}}"#,
        "1".repeat(300)
    );
    p.inject_to_client(0, Frame::from(big.clone()));
    let evs = p.take_client_events();
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert!(
        matches!(&evs[0], Event::Malformed { error, frame } if error.starts_with("malformed envelope") && frame.as_str() == "not json")
    );
    assert!(
        matches!(&evs[1], Event::Unknown { event, data } if event == "jackpot" && data.as_str() == "[1,2]")
    );
    assert!(
        matches!(&evs[2], Event::Malformed { error, frame } if error.contains("exceeds") && frame.as_str() == &big[..256])
    );
    // still alive: pings go on and data flows
    p.hub_mut().publish(&bet(1)).unwrap();
    p.advance(Duration::from_secs(25));
    assert!(p.take_client_events().iter().any(|e| matches!(e, Event::Bet(_))));
    assert_eq!(p.frames_to_hub().last(), Some(&ping(T0_MS + 25_000).as_str()));
    // the hub too
    p.inject_to_hub(0, Frame::from("{"));
    p.inject_to_hub(0, Frame::from(r#"{"event":"ping-pong","data":{"ping":"soon"}}"#));
    p.inject_to_hub(0, Frame::from(r#"{"event":"subscribe-odds","data":{}}"#));
    let hub_events = p.take_hub_events();
    let n = hub_events.len();
    assert!(
        matches!(&hub_events[n - 3], HubEvent::Malformed { .. }),
        "{hub_events:?}"
    );
    assert!(matches!(&hub_events[n - 2], HubEvent::Malformed { error, .. } if error.contains("ping-pong")));
    assert!(matches!(&hub_events[n - 1], HubEvent::Unknown { event, .. } if event == "subscribe-odds"));
}

#[test]
fn settings_change_is_sent_now_and_after_reconnects() {
    let mut p = pair();
    p.run_until_quiet();
    let new = Settings {
        game_ids: Some(vec![Id::Int(2), Id::Int(3)]),
        ..settings()
    };
    p.client_mut().set_settings(new.clone()).unwrap();
    p.run_until_quiet();
    let frame = ClientMessage::Settings(new.clone()).encode();
    assert_eq!(p.frames_to_hub().last(), Some(&frame.as_str()));
    assert_eq!(p.hub().settings_of(ConnId(1)), Some(&new));
    p.drop_connection();
    p.advance(Duration::from_secs(1));
    assert_eq!(p.frames_to_hub().last(), Some(&frame.as_str()));
    assert_eq!(p.hub().settings_of(ConnId(2)), Some(&new));
}

#[test]
fn disconnect_stops_and_connect_restarts() {
    let mut p = pair();
    p.run_until_quiet();
    p.take_client_events();
    let now = p.now();
    p.client_mut().disconnect(now);
    p.run_until_quiet();
    assert!(
        matches!(p.wire().last(), Some(Wire::ClientClosed { close, .. }) if close.code == CloseCode::NORMAL)
    );
    assert!(p.client().is_stopped());
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
    assert_eq!(p.next_deadline(), None);
    p.advance(Duration::from_secs(100));
    assert_eq!(connects(&p).len(), 1);
    let now = p.now();
    p.client_mut().connect(now);
    p.run_until_quiet();
    assert_eq!(p.connection_of(0), Some(ConnId(2)));
    let evs = p.take_client_events();
    assert!(
        evs.iter().any(|e| matches!(e, Event::Gap { from_unix_ms, to_unix_ms, .. } if *from_unix_ms == T0_MS && *to_unix_ms == T0_MS + 100_000)),
        "{evs:?}"
    );
}

#[test]
fn without_an_anchor_unix_time_counts_from_the_first_instant() {
    let start = Instant::now();
    let mut c = Client::new(Config::default());
    assert_eq!(c.poll_transmit(), None, "`new` never dials");
    c.connect(start);
    assert!(matches!(c.poll_transmit(), Some(Transmit::Connect(_))));
    c.handle_open(start, None);
    c.handle_timeout(start + Duration::from_secs(25));
    let Some(Transmit::Send(f)) = c.poll_transmit() else {
        panic!()
    };
    assert_eq!(f.as_str(), ping(25_000));
}

/// Found by the chaos test: a disconnect before the driver took the dial withdraws the dial instead of
/// closing a connection that never existed. Before the first `connect` there is nothing to stop.
#[test]
fn disconnect_before_the_first_dial_withdraws_it() {
    let start = Instant::now();
    let mut c = Client::new(Config::default());
    assert!(c.is_stopped() && !c.is_open(), "stopped until the first connect");
    c.disconnect(start);
    assert_eq!(c.poll_transmit(), None);
    assert_eq!(c.poll_event(), None, "already stopped: nothing to report");
    c.connect(start);
    assert!(!c.is_stopped());
    c.disconnect(start); // the dial is still queued: withdrawn
    assert_eq!(c.poll_transmit(), None);
    assert!(c.is_stopped());
    let stopped = Event::Stopped {
        reason: StopReason::Requested,
    };
    assert_eq!(c.poll_event(), Some(stopped.clone()), "no connection ended");
    assert_eq!(c.poll_event(), None);
    c.connect(start);
    assert!(matches!(c.poll_transmit(), Some(Transmit::Connect(_))));
    c.connect(start); // already connecting: a no-op
    assert_eq!(c.poll_transmit(), None);
    c.disconnect(start); // in flight now: closed
    assert_eq!(c.poll_transmit(), Some(Transmit::Close(Close::normal())));
    let events: Vec<Event> = std::iter::from_fn(|| c.poll_event()).collect();
    assert_eq!(
        events,
        vec![
            Event::Disconnected {
                reason: DisconnectReason::Requested
            },
            stopped
        ]
    );
}

/// Commands follow core's outbox policy: refused with `QueueFull` while the driver has not drained, with
/// nothing changed; the hub's fan-out is one command, all its frames queued at once.
#[test]
fn commands_are_refused_not_lost_when_the_driver_does_not_drain() {
    use feedwire_core::{Hub as _, HubTransmit, OpenRequest, QueueFull};
    use feedwire_igratech::CommandError;
    use feedwire_igratech::server::{HubConfig, HubError};

    let start = Instant::now();
    let mut c = Client::new(Config::default().with_limits(Limits::default().with_max_queued(2)));
    c.connect(start);
    while c.poll_transmit().is_some() {}
    c.handle_open(start, None);
    c.set_settings(settings()).unwrap();
    c.set_settings(settings()).unwrap();
    let other = Settings {
        lang: Some("de".into()),
        ..settings()
    };
    assert_eq!(
        c.set_settings(other.clone()),
        Err(CommandError::QueueFull(QueueFull { queued: 2 }))
    );
    assert_eq!(c.settings(), Some(&settings()), "nothing changed");
    assert_eq!(c.queue_stats().queued_transmits, 2);
    while c.poll_transmit().is_some() {}
    c.set_settings(other.clone()).unwrap();
    assert_eq!(c.settings(), Some(&other));

    let mut hub = Hub::new(HubConfig::default().with_limits(Limits::default().with_max_queued(2)));
    for n in 1..=3 {
        hub.handle_open(
            start,
            ConnId(n),
            &OpenRequest::new(format!("/wspublic?token=u{n}")),
        );
        hub.handle_frame(start, ConnId(n), ClientMessage::Settings(settings()).encode());
    }
    // the hub's own answers (3 `connected`, 3 settings echoes) have twice the commands' room: past it
    // (a driver that does not drain at all) they are dropped and counted
    let stats = hub.queue_stats();
    assert_eq!((stats.queued_transmits, stats.dropped_transmits), (4, 2));
    let full = QueueFull { queued: 4 };
    assert_eq!(hub.publish(&bet(1)), Err(HubError::QueueFull(full)));
    assert_eq!(hub.logout_user("u1", "x"), Err(HubError::QueueFull(full)));
    assert_eq!(hub.connection_of("u1"), Some(ConnId(1)), "nothing changed");
    while hub.poll_transmit().is_some() {}
    assert_eq!(
        hub.publish(&bet(1)),
        Ok(3),
        "one command, every subscriber's frame"
    );
    let sent: Vec<_> = std::iter::from_fn(|| hub.poll_transmit()).collect();
    assert_eq!(sent.len(), 3);
    assert!(
        sent.iter()
            .all(|(_, t)| matches!(t, HubTransmit::Send(f) if *f == bet(1).encode()))
    );
}

/// A graceful shutdown closes every connection at once with 1001 (the feed has no "reconnect now" message),
/// forgets them, and tells the host each one closed.
#[test]
fn a_shutdown_closes_every_connection_with_going_away() {
    use feedwire_core::{Close, Hub as _, HubTransmit, OpenRequest};
    use feedwire_igratech::server::{HubConfig, HubEvent};

    let start = Instant::now();
    let mut hub = Hub::new(HubConfig::default());
    for n in 1..=2 {
        hub.handle_open(
            start,
            ConnId(n),
            &OpenRequest::new(format!("/wspublic?token=u{n}")),
        );
    }
    while hub.poll_transmit().is_some() {}
    while hub.poll_event().is_some() {}
    hub.handle_shutdown(start);
    let sent: Vec<_> = std::iter::from_fn(|| hub.poll_transmit()).collect();
    assert_eq!(
        sent,
        vec![
            (ConnId(1), HubTransmit::Close(Close::going_away())),
            (ConnId(2), HubTransmit::Close(Close::going_away())),
        ]
    );
    let closed: Vec<_> = std::iter::from_fn(|| hub.poll_event())
        .filter_map(|e| match e {
            HubEvent::Closed { conn, user } => Some((conn, user)),
            _ => None,
        })
        .collect();
    assert_eq!(
        closed,
        vec![(ConnId(1), "u1".to_owned()), (ConnId(2), "u2".to_owned())]
    );
    assert_eq!(hub.connection_of("u1"), None);
    assert_eq!(hub.publish(&bet(1)), Ok(0), "nobody is left");
}
