//! Fuzzing entry points (feature `fuzzing`): **unstable**, for cargo-fuzz (`fuzz/`, which turns the feature on)
//! and the chaos tests, not covered by semver. [`decode`], [`session`] and [`hub`] drive the codec, the client
//! and the hub with arbitrary input (read with [`arbitrary::Unstructured`], one byte per choice) and check
//! invariants after every step, the sessions' own included (`check_invariants`). They panic on a broken
//! invariant, which is what a fuzzer wants; the library itself never panics.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use feedwire_core::{Close, Frame, Session, Transmit};

use crate::client::{ChannelAuth, Client, Config, Event, UserAuth};
use crate::codec::{ClientMessage, ServerMessage};

/// The next byte (0 once the input is used up).
fn byte(u: &mut Unstructured<'_>) -> u8 {
    u.arbitrary().unwrap_or(0)
}

/// Two bytes, big-endian; `None` (the close has no code) when fewer are left.
fn u16(u: &mut Unstructured<'_>) -> Option<u16> {
    if u.is_empty() {
        return None;
    }
    let hi = byte(u);
    if u.is_empty() {
        return None;
    }
    Some(u16::from(hi) << 8 | u16::from(byte(u)))
}

/// Up to `n` bytes (fewer when the input ends), as text.
fn take_text(u: &mut Unstructured<'_>, n: usize) -> String {
    let t = u.bytes(n.min(u.len())).unwrap_or_default();
    String::from_utf8_lossy(t).into_owned()
}

/// Decodes `data` as a server and as a client frame; whatever decodes must re-encode to a frame that decodes
/// to the same message.
pub fn decode(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let frame = Frame::from(text.to_owned());
    if let Ok(m) = ServerMessage::decode(&frame) {
        let again = ServerMessage::decode(&m.encode());
        assert!(again.is_ok(), "re-encoded {m:?} does not decode: {again:?}");
    }
    if let Ok(m) = ClientMessage::decode(&frame) {
        let enc = m.encode();
        let again = ClientMessage::decode(&enc);
        assert!(again.is_ok(), "re-encoded {m:?} does not decode: {again:?}");
    }
}

const CHANNELS: [&str; 6] = [
    "inventory_changes",
    "private-a",
    "presence-p",
    "private-encrypted-e",
    "cache-c",
    "bad name",
];

const SECRET_B64: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// What the driver fed: the frame, its kind (the `% 16` selector) and its channel.
struct Fed {
    frame: Frame,
    kind: u8,
    channel: &'static str,
}

fn server_frame(u: &mut Unstructured<'_>, seq: u64) -> Fed {
    let ch = CHANNELS[usize::from(byte(u)) % CHANNELS.len()];
    let kind = byte(u) % 16;
    let text = match kind {
        0 => r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"1.2\",\"activity_timeout\":30}"}"#.to_owned(),
        1 => format!(r#"{{"event":"pusher_internal:subscription_succeeded","channel":"{ch}","data":"{{}}"}}"#),
        2 => format!(r#"{{"event":"pusher_internal:subscription_succeeded","channel":"{ch}","data":{{"presence":{{"ids":["1",2],"hash":{{"1":{{}},"2":null}},"count":2}}}}}}"#),
        3 => format!(r#"{{"event":"pusher_internal:member_added","channel":"{ch}","data":{{"user_id":{},"user_info":{{}}}}}}"#, byte(u) % 4),
        4 => format!(r#"{{"event":"pusher_internal:member_removed","channel":"{ch}","data":"{{\"user_id\":\"{}\"}}"}}"#, byte(u) % 4),
        5 => r#"{"event":"pusher:error","data":{"code":null,"message":"Invalid signature"}}"#.to_owned(),
        6 => r#"{"event":"pusher:ping","data":{}}"#.to_owned(),
        7 => format!(r#"{{"event":"listed-{seq}","channel":"{ch}","data":"{{\"id\":1}}"}}"#),
        8 => format!(
            r#"{{"event":"secret","channel":"{ch}","data":{}}}"#,
            crate::encrypted::encrypt(
                &crate::encrypted::SharedSecret::from_base64(SECRET_B64).unwrap(),
                &[byte(u); 24],
                b"{\"x\":1}"
            )
        ),
        9 => format!(r#"{{"event":"pusher:subscription_error","channel":"{ch}","data":{{"type":"AuthError","error":"no","status":401}}}}"#),
        10 => r#"{"event":"pusher:signin_success","data":"{\"user_data\":\"{\\\"id\\\":\\\"7\\\"}\"}"}"#.to_owned(),
        11 => format!(r#"{{"event":"pusher:cache_miss","channel":"{ch}"}}"#),
        12 => r#"{"event":"pusher_internal:watchlist_events","data":{"events":[{"name":"online","user_ids":["1"]}]}}"#.to_owned(),
        13 => format!(r#"{{"event":"client-x","channel":"{ch}","data":{{}},"user_id":5}}"#),
        _ => {
            let n = usize::from(byte(u));
            take_text(u, n)
        }
    };
    Fed {
        frame: Frame::from(text),
        kind,
        channel: ch,
    }
}

/// Drives a [`Client`] with arbitrary frames, closes, timeouts (time only moves forward) and commands, checking
/// after every step: no reconnect after a terminal state, `poll_timeout` never in the past after
/// `handle_timeout`, bounded queues, backoff within its bounds, and every wanted channel re-sent (or asked to be
/// authorized) after each `connected`, never two subscribes in flight for one channel, a 4001-4099/4300+ close
/// is terminal, and every channel event fed is delivered at most once (exactly once when connected).
pub fn session(data: &[u8]) {
    let mut u = Unstructured::new(data);
    #[allow(clippy::disallowed_methods)] // the virtual clock's origin; nothing reads the clock afterwards
    let mut now = Instant::now();
    let limits = feedwire_core::Limits::default()
        .with_max_queued(64)
        .with_max_frame_size(4096);
    let config = Config::new("key")
        .with_host("127.0.0.1")
        .with_tls(byte(&mut u).is_multiple_of(2))
        .with_limits(limits)
        .with_seed(u64::from(byte(&mut u)));
    let (_, max_delay) = config.backoff.bounds();
    let mut client = Client::new(config);
    client.connect(now);
    // the first dial, before any operation (a close or open must find it already taken)
    let mut open_pending = false;
    while let Some(t) = client.poll_transmit() {
        open_pending |= matches!(t, Transmit::Connect(_));
    }
    let mut transport_open = false;
    let mut steps = 0;
    // subscribes sent and not yet answered (success, error), withdrawn (unsubscribe) or voided (new connection)
    let mut in_flight: std::collections::BTreeSet<String> = Default::default();
    // channel events fed, each with a unique name, and those delivered: every one at most once, and exactly
    // once when the client was connected
    let mut seq = 0u64;
    let mut delivered: std::collections::BTreeSet<String> = Default::default();
    while !u.is_empty() {
        let op = byte(&mut u);
        steps += 1;
        if steps > 2000 {
            break;
        }
        let terminal_before = client.is_stopped();
        let mut commanded_connect = false;
        let mut timed_out = false;
        let mut expect_event: Option<(String, bool)> = None;
        // a frame of the fuzzer's own text: whatever events it names are its own, not the driver's numbered
        // ones (it can spell "listed-2..." too), so they are not checked against the fed sequence
        let mut raw_text = false;
        let mut terminal_close = false;
        match op % 14 {
            0..=2 => {
                if !open_pending {
                    seq += 1;
                    let fed = server_frame(&mut u, seq);
                    if matches!(fed.kind, 1 | 2 | 9) {
                        in_flight.remove(fed.channel);
                    }
                    raw_text = fed.kind >= 14;
                    // what the fuzzer's own text answers, the bookkeeping answers too (see below for the
                    // channel-less error)
                    let raw_answer = match raw_text.then(|| ServerMessage::decode(&fed.frame)) {
                        Some(Ok(ServerMessage::SubscriptionSucceeded { channel, .. })) => Some(Some(channel)),
                        Some(Ok(ServerMessage::SubscriptionError(e))) => Some(e.channel),
                        Some(Ok(ServerMessage::Error(_))) => Some(None),
                        _ => None,
                    };
                    if fed.kind == 7 {
                        let must = client.is_open() && fed.channel != "private-encrypted-e";
                        expect_event = Some((format!("listed-{seq}"), must));
                    }
                    client.handle_frame(now, fed.frame);
                    if fed.kind == 5 || raw_answer == Some(None) {
                        // a `pusher:error` without a channel refuses the only pending subscription (as hosted
                        // Pusher and Reverb do): that one is answered
                        in_flight.retain(|ch| client.channels().any(|c| c == ch));
                    }
                    if let Some(Some(channel)) = raw_answer {
                        in_flight.remove(&*channel);
                    }
                }
            }
            3 => {
                let code = u16(&mut u);
                client.handle_close(now, code.map(|k| Close::new(k, "x")));
                open_pending = false;
                in_flight.clear();
                terminal_close = transport_open && matches!(code, Some(4001..=4099 | 4300..));
                transport_open = false;
            }
            4 => {
                now += Duration::from_millis(u64::from(u16(&mut u).unwrap_or(0)) * 10);
                client.handle_timeout(now);
                timed_out = true;
            }
            5 => {
                if let Some(t) = client.poll_timeout() {
                    now = now.max(t);
                }
                client.handle_timeout(now);
                timed_out = true;
            }
            6 => {
                let ch = CHANNELS[usize::from(byte(&mut u)) % CHANNELS.len()];
                let _ = client.subscribe(ch);
            }
            7 => {
                let ch = CHANNELS[usize::from(byte(&mut u)) % CHANNELS.len()];
                let _ = client.unsubscribe(ch);
            }
            8 => {
                for req in client.pending_auth() {
                    let auth = ChannelAuth::new("key:sig")
                        .with_channel_data(r#"{"user_id":1,"user_info":{}}"#)
                        .with_shared_secret(SECRET_B64);
                    let _ = client.provide_auth(&req.channel, auth);
                }
            }
            9 => {
                if let Some(req) = client.pending_auth().first() {
                    let _ = client.fail_auth(&req.channel.clone(), "no");
                }
            }
            10 => {
                let ch = CHANNELS[usize::from(byte(&mut u)) % CHANNELS.len()];
                let _ = client.trigger(now, ch, "client-x", "{}");
            }
            11 => {
                if open_pending {
                    client.handle_open(now, None);
                    open_pending = false;
                    transport_open = true;
                }
            }
            12 => {
                if byte(&mut u).is_multiple_of(2) {
                    client.disconnect(now);
                } else {
                    client.connect(now);
                    commanded_connect = true;
                }
            }
            _ => {
                client.signin();
                let _ = client.provide_user_auth(UserAuth::new("key:sig", r#"{"id":"7"}"#));
            }
        }
        // drain
        let stats = client.queue_stats();
        assert!(stats.queued_transmits <= 64 + 4, "transmit queue unbounded");
        assert!(stats.queued_events <= 64, "event queue unbounded");
        if let Err(e) = client.check_invariants() {
            panic!("client invariant broken: {e}");
        }
        let mut subscribes = Vec::new();
        while let Some(t) = client.poll_transmit() {
            match t {
                Transmit::Connect(req) => {
                    in_flight.clear();
                    transport_open = false;
                    assert!(
                        !terminal_before || commanded_connect,
                        "reconnected after a terminal state"
                    );
                    assert!(req.url.contains("/app/key?protocol=7"));
                    open_pending = true;
                }
                Transmit::Send(f) => {
                    match ClientMessage::decode(&f) {
                        Ok(ClientMessage::Subscribe { channel, .. }) => {
                            assert!(
                                in_flight.insert(channel.to_string()),
                                "two subscribes in flight for {channel}"
                            );
                            subscribes.push(channel.to_string());
                        }
                        Ok(ClientMessage::Unsubscribe { channel }) => {
                            in_flight.remove(&*channel);
                        }
                        _ => {}
                    }
                    assert!(
                        ClientMessage::decode(&f).is_ok(),
                        "sent an undecodable frame {f:?}"
                    );
                }
                Transmit::Close(_) => {
                    open_pending = false;
                    transport_open = false;
                    in_flight.clear();
                }
            }
        }
        if terminal_close {
            assert!(
                client.is_stopped(),
                "a 4001-4099/4300+ close is terminal, yet the session is not stopped"
            );
        }
        let mut connected = false;
        let mut got_expected = 0;
        while let Some(ev) = client.poll_event() {
            match ev {
                Event::Message { event, .. } if event.starts_with("listed-") && !raw_text => {
                    assert!(delivered.insert(event.to_string()), "{event} delivered twice");
                    assert!(
                        expect_event.as_ref().is_some_and(|(e, _)| *e == *event),
                        "{event} delivered in a step that did not receive it"
                    );
                    got_expected += 1;
                }
                Event::Reconnecting { after, .. } => {
                    assert!(after <= max_delay, "backoff {after:?} over {max_delay:?}");
                }
                Event::Connected { .. } => connected = true,
                _ => {}
            }
        }
        if connected {
            let pending: Vec<String> = client.pending_auth().into_iter().map(|r| r.channel).collect();
            for ch in client.channels() {
                assert!(
                    subscribes.iter().any(|s| s == ch) || pending.iter().any(|p| p == ch),
                    "wanted channel {ch} not re-sent after connect"
                );
            }
        }
        if let Some((e, true)) = &expect_event {
            assert_eq!(got_expected, 1, "{e} fed to a connected client and not delivered");
        }
        if timed_out && let Some(t) = client.poll_timeout() {
            assert!(t > now, "deadline {t:?} still due after handle_timeout({now:?})");
        }
    }
}

/// Drives the server hub with arbitrary connections, frames (well-formed and not), closes, publishes and time,
/// checking every internal invariant after each step, that no frame is queued for a connection the hub closed,
/// and that `poll_timeout` never stays in the past after `handle_timeout`. Returns how deep the run went
/// (steps, most open connections, most subscriptions at once), so tests can check the driver reaches real states.
pub fn hub(data: &[u8]) -> HubRun {
    use crate::server::{Hub, HubConfig};
    use feedwire_core::{ConnId, Hub as _, HubTransmit, OpenRequest, RawJson};

    let mut u = Unstructured::new(data);
    #[allow(clippy::disallowed_methods)] // the virtual clock's origin; nothing reads the clock afterwards
    let start = Instant::now();
    let mut now = start;
    let mut hub = Hub::new(
        HubConfig::default()
            .with_client_events(byte(&mut u).is_multiple_of(2))
            .with_subscription_count(true),
    );
    let secret = feedwire_core::Secret::new("app-secret".to_owned());
    let mut open = std::collections::BTreeSet::new();
    let paths = [
        "/app/app-key?protocol=7",
        "/app/app-key?protocol=7&client=js",
        "/app/app-key?protocol=6",
        "/app/other?protocol=7",
        "/app/app-key",
        "/app/app-key?protocol=x",
        "/x",
    ];
    let mut run = HubRun::default();
    for _ in 0..256 {
        if u.is_empty() {
            break;
        }
        let op = byte(&mut u);
        run.steps += 1;
        let conn = ConnId(u64::from(byte(&mut u) % 4));
        match op % 8 {
            0 | 7 => {
                if !open.contains(&conn) {
                    // mostly valid paths, so that deep states are reached
                    let i = usize::from(byte(&mut u));
                    let path = if i.is_multiple_of(4) {
                        paths[(i / 4) % paths.len()]
                    } else {
                        paths[0]
                    };
                    hub.handle_open(now, conn, &OpenRequest::new(path));
                    open.insert(conn);
                }
            }
            1..=3 => {
                let ch = CHANNELS[usize::from(byte(&mut u)) % CHANNELS.len()];
                let sid = hub.socket_id(conn).unwrap_or("1.1").to_owned();
                let text = match byte(&mut u) % 10 {
                    0 => format!(r#"{{"event":"pusher:subscribe","data":{{"auth":"","channel":"{ch}"}}}}"#),
                    1 => {
                        let a = crate::auth::sign_private("app-key", &secret, &sid, ch);
                        format!(
                            r#"{{"event":"pusher:subscribe","data":{{"auth":"{}","channel":"{ch}"}}}}"#,
                            a.expose()
                        )
                    }
                    2 => {
                        let cd = format!(r#"{{"user_id":{}}}"#, byte(&mut u) % 3);
                        let a = crate::auth::sign_presence("app-key", &secret, &sid, ch, &cd);
                        serde_json::json!({"event":"pusher:subscribe","data":{"auth":a.expose(),"channel":ch,"channel_data":cd}}).to_string()
                    }
                    3 => format!(r#"{{"event":"pusher:unsubscribe","data":{{"channel":"{ch}"}}}}"#),
                    4 => format!(r#"{{"event":"client-x","channel":"{ch}","data":{{}}}}"#),
                    5 => r#"{"event":"pusher:ping","data":{}}"#.to_owned(),
                    6 => {
                        let ud = r#"{"id":"u1"}"#;
                        let a = crate::auth::sign_user("app-key", &secret, &sid, ud);
                        serde_json::json!({"event":"pusher:signin","data":{"auth":a.expose(),"user_data":ud}})
                            .to_string()
                    }
                    _ => {
                        // short garbage, so one frame does not eat the whole program
                        let n = usize::from(byte(&mut u) % 48);
                        take_text(&mut u, n)
                    }
                };
                hub.handle_frame(now, conn, Frame::from(text));
            }
            4 => {
                let close = (byte(&mut u).is_multiple_of(2)).then(Close::normal);
                hub.handle_close(now, conn, close);
                open.remove(&conn);
            }
            5 => now += Duration::from_millis(u64::from(u16(&mut u).unwrap_or(0)) * 10),
            6 => {
                let ch = CHANNELS[usize::from(byte(&mut u)) % CHANNELS.len()];
                let _ = hub.publish(&[ch], "e", &RawJson::from_json_str(r#""{}""#).unwrap(), None);
            }
            _ => unreachable!(),
        }
        hub.handle_timeout(now);
        if let Some(t) = hub.poll_timeout() {
            assert!(
                t > now,
                "poll_timeout {t:?} is not after now {now:?} right after handle_timeout"
            );
        }
        let mut closed = std::collections::BTreeSet::new();
        while let Some((id, t)) = hub.poll_transmit() {
            assert!(!closed.contains(&id), "a frame for {id:?} after its close");
            if matches!(t, HubTransmit::Close(_)) {
                closed.insert(id);
                open.remove(&id);
            }
        }
        while hub.poll_event().is_some() {}
        if let Err(e) = hub.check_invariants() {
            panic!("hub invariant broken: {e}");
        }
        run.max_connections = run.max_connections.max(hub.connection_count());
        let subs: usize = CHANNELS.iter().map(|ch| hub.subscriber_count(ch)).sum();
        run.max_subscriptions = run.max_subscriptions.max(subs);
    }
    run
}

/// How deep one [`hub`] run went.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HubRun {
    /// Steps taken.
    pub steps: usize,
    /// The most connections open at once.
    pub max_connections: usize,
    /// The most subscriptions (over the fuzzed channel names) at once.
    pub max_subscriptions: usize,
}

/// Reads an auth endpoint's answer: two bytes of status, one byte choosing one channel, a batch or a user
/// answer, then the body. Never panics; a success needs a 2xx status and a non-empty `auth`.
pub fn authorizer(data: &[u8]) {
    use crate::authorizer::{parse_batch_response, parse_channel_response, parse_user_response};
    let mut u = Unstructured::new(data);
    let status = u16(&mut u).unwrap_or(200);
    let kind = byte(&mut u);
    let body = u.take_rest();
    let ok = (200..300).contains(&status);
    let max = if kind & 0x80 != 0 { 64 } else { 64 * 1024 };
    match kind % 3 {
        0 => {
            if let Ok(a) = parse_channel_response(status, body, max) {
                assert!(ok && !a.auth.expose().is_empty());
            }
        }
        1 => {
            let channels = ["private-a", "presence-b", "private-encrypted-c"];
            let v = parse_batch_response(status, body, &channels, max);
            assert_eq!(v.len(), channels.len());
            for r in v {
                match r {
                    Ok(a) => assert!(ok && !a.auth.expose().is_empty()),
                    Err(e) => drop(e.to_string()),
                }
            }
        }
        _ => {
            if let Ok(a) = parse_user_response(status, body, max) {
                assert!(ok && !a.auth.expose().is_empty());
            }
        }
    }
}
