//! The feedwire Pusher client against the feedwire Pusher hub, both real, in memory on a virtual clock
//! (`feedwire_core::testing::Pair`): handshake, every channel kind with auth, presence across two clients,
//! publish, cache replay, client events, signin, every close class the hub produces, and resubscription with
//! fresh signatures after reconnects.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::{Duration, Instant};

use feedwire_core::testing::{Pair, Wire};
use feedwire_core::{Close, ConnId, RawJson, Secret};
use feedwire_pusher::auth;
use feedwire_pusher::client::{
    ChannelAuth, Client, CloseAction, Config, DisconnectReason, Event, StopReason, UserAuth,
};
use feedwire_pusher::server::{Hub, HubConfig, HubEvent};

fn secret() -> Secret<String> {
    Secret::new("app-secret".to_owned())
}

fn client_config(key: &str) -> Config {
    Config::new(key)
        .with_host("127.0.0.1")
        .with_tls(false)
        .with_port(6001)
        .with_seed(3)
}

fn new_client(key: &str, channels: &[&str], start: Instant) -> Client {
    let mut c = Client::new(client_config(key));
    for ch in channels {
        c.subscribe(ch).unwrap();
    }
    c.connect(start);
    c
}

fn pair(channels: &[&str], hub: HubConfig) -> Pair<Client, Hub> {
    let start = Instant::now();
    Pair::new(new_client("app-key", channels, start), Hub::new(hub), start)
}

/// Runs to quiet, answering every pending auth as an app's auth endpoint would (user `user-<i>`).
fn settle(p: &mut Pair<Client, Hub>, clients: usize) {
    for _ in 0..10 {
        p.run_until_quiet();
        let mut answered = false;
        for i in 0..clients {
            let c = p.client_at(i);
            let Some(socket_id) = c.socket_id().map(str::to_owned) else {
                continue;
            };
            for req in c.pending_auth() {
                let ch = req.channel.as_str();
                let a = if ch.starts_with("presence-") {
                    let data = format!(r#"{{"user_id":"user-{i}","user_info":{{"n":{i}}}}}"#);
                    ChannelAuth::new(
                        auth::sign_presence("app-key", &secret(), &socket_id, ch, &data)
                            .expose()
                            .clone(),
                    )
                    .with_channel_data(data)
                } else {
                    ChannelAuth::new(
                        auth::sign_private("app-key", &secret(), &socket_id, ch)
                            .expose()
                            .clone(),
                    )
                };
                c.provide_auth(ch, a).unwrap();
                answered = true;
            }
        }
        if !answered {
            return;
        }
    }
}

fn subscribed(evs: &[Event]) -> Vec<&str> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Subscribed { channel, .. } => Some(channel.as_str()),
            _ => None,
        })
        .collect()
}

/// The channels of the `Resubscribed` events among `evs`, sorted.
fn resubscribed(evs: &[Event]) -> Vec<&str> {
    let mut channels: Vec<&str> = evs
        .iter()
        .filter_map(|e| match e {
            Event::Resubscribed { channel, .. } => Some(channel.as_str()),
            _ => None,
        })
        .collect();
    channels.sort();
    channels
}

/// The user ids of the `MemberAdded` and of the `MemberRemoved` events among `evs`.
fn member_changes(evs: Vec<Event>) -> (Vec<String>, Vec<String>) {
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    for e in evs {
        match e {
            Event::MemberAdded { user_id, .. } => added.push(user_id),
            Event::MemberRemoved { user_id, .. } => removed.push(user_id),
            _ => {}
        }
    }
    (added, removed)
}

#[test]
fn handshake_subscribe_every_kind_and_receive() {
    let mut p = pair(
        &["inventory_changes", "private-orders", "presence-traders"],
        HubConfig::default(),
    );
    settle(&mut p, 1);
    assert!(p.client().is_open());
    let evs = p.take_client_events();
    let mut subs = subscribed(&evs);
    subs.sort();
    assert_eq!(
        subs,
        vec!["inventory_changes", "presence-traders", "private-orders"]
    );
    // the exact frames pusher-js would send went over the wire
    let sent = p.frames_to_hub();
    assert!(
        sent.contains(&r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"inventory_changes"}}"#),
        "{sent:?}"
    );
    assert_eq!(p.client().me("presence-traders"), Some("user-0"));

    let data = RawJson::from_json_str(r#""{\"asset_id\":\"1\",\"price\":12.5}""#).unwrap();
    assert_eq!(
        p.hub_mut()
            .publish(&["inventory_changes", "private-orders"], "listed", &data, None),
        Ok(2)
    );
    p.run_until_quiet();
    let msgs: Vec<(String, String)> = p
        .take_client_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message {
                channel, event, data, ..
            } => Some((
                channel.unwrap().to_string(),
                format!("{event} {}", data.unwrap().text()),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        msgs,
        vec![
            (
                "inventory_changes".into(),
                r#"listed {"asset_id":"1","price":12.5}"#.into()
            ),
            (
                "private-orders".into(),
                r#"listed {"asset_id":"1","price":12.5}"#.into()
            ),
        ]
    );
}

#[test]
fn presence_two_clients_join_and_leave() {
    let mut p = pair(&["presence-room"], HubConfig::default());
    let start = p.now();
    let second = p.add_client(new_client("app-key", &["presence-room"], start));
    settle(&mut p, 2);
    let members: Vec<String> = p
        .client()
        .members("presence-room")
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(members, vec!["user-0", "user-1"]);
    let (added, _) = member_changes(p.take_client_events());
    // client 0 joined first and heard client 1 join (client 1 got the list in subscription_succeeded)
    assert_eq!(added, vec!["user-1".to_string()]);
    let now = p.now();
    p.client_at(second).disconnect(now);
    p.run_until_quiet();
    let (_, removed) = member_changes(p.take_client_events());
    assert_eq!(removed, vec!["user-1".to_string()]);
    assert_eq!(p.hub().members("presence-room"), vec!["user-0"]);
}

#[test]
fn forced_drop_4200_reconnects_now_with_fresh_signatures() {
    let mut p = pair(
        &["inventory_changes", "private-orders", "presence-traders"],
        HubConfig::default(),
    );
    settle(&mut p, 1);
    let old_socket = p.client().socket_id().unwrap().to_owned();
    let old_auths: Vec<String> = p
        .frames_to_hub()
        .iter()
        .filter(|f| f.contains("private-orders"))
        .map(|f| f.to_string())
        .collect();
    p.take_client_events();
    p.take_wire();
    p.hub_mut().disconnect(ConnId(1), Close::new(4200, "restart"));
    settle(&mut p, 1);
    let evs = p.take_client_events();
    assert!(
        evs.iter().any(|e| matches!(
            e,
            Event::Disconnected {
                reason: DisconnectReason::Closed {
                    action: CloseAction::Immediate,
                    ..
                }
            }
        )),
        "{evs:?}"
    );
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::Reconnecting { after, .. } if after.is_zero())),
        "{evs:?}"
    );
    let resub = resubscribed(&evs);
    assert_eq!(
        resub,
        vec!["inventory_changes", "presence-traders", "private-orders"]
    );
    assert_ne!(p.client().socket_id().unwrap(), old_socket, "a new socket id");
    let new_auth = p
        .frames_to_hub()
        .into_iter()
        .find(|f| f.contains("private-orders"))
        .unwrap()
        .to_string();
    assert!(
        !old_auths.contains(&new_auth),
        "the private channel was signed again for the new socket id"
    );
    assert!(
        matches!(p.wire()[1], Wire::Connect { at, .. } if at == Duration::ZERO),
        "reconnected at once: {:?}",
        p.wire()[1]
    );
    // published after the reconnect: delivered
    p.hub_mut()
        .publish(
            &["inventory_changes"],
            "listed",
            &RawJson::from_json_str(r#""x""#).unwrap(),
            None,
        )
        .unwrap();
    p.run_until_quiet();
    assert!(
        p.take_client_events()
            .iter()
            .any(|e| matches!(e, Event::Message { .. }))
    );
}

#[test]
fn over_capacity_4100_backs_off_and_resubscribed_reports_the_gap() {
    let mut p = pair(&["inventory_changes"], HubConfig::default());
    settle(&mut p, 1);
    p.take_client_events();
    p.hub_mut()
        .disconnect(ConnId(1), Close::new(4100, "over capacity"));
    p.run_until_quiet();
    let evs = p.take_client_events();
    let delay = evs
        .iter()
        .find_map(|e| match e {
            Event::Reconnecting { after, .. } => Some(*after),
            _ => None,
        })
        .expect("a backoff");
    assert!(delay >= Duration::from_secs(1), "{delay:?}");
    assert_eq!(p.connection_of(0), None);
    p.advance(delay);
    settle(&mut p, 1);
    let evs = p.take_client_events();
    let after = evs
        .iter()
        .find_map(|e| match e {
            Event::Resubscribed { after, .. } => Some(*after),
            _ => None,
        })
        .expect("a resubscription");
    assert_eq!(after, delay, "down for exactly the backoff");
}

#[test]
fn wrong_key_4001_stops_for_good() {
    let start = Instant::now();
    let mut p = Pair::new(
        new_client("wrong-key", &["inventory_changes"], start),
        Hub::new(HubConfig::default()),
        start,
    );
    p.run_until_quiet();
    let evs = p.take_client_events();
    assert!(
        evs.iter().any(
            |e| matches!(e, Event::Disconnected { reason: DisconnectReason::Closed { close: Some(c), action: CloseAction::Stop } } if c.code.0 == 4001)
        ),
        "{evs:?}"
    );
    assert!(
        evs.iter().any(
            |e| matches!(e, Event::Stopped { reason: StopReason::Closed { close } } if close.code.0 == 4001)
        ),
        "{evs:?}"
    );
    assert!(p.client().is_stopped());
    p.advance(Duration::from_secs(3600));
    let dials = p
        .wire()
        .iter()
        .filter(|w| matches!(w, Wire::Connect { .. }))
        .count();
    assert_eq!(dials, 1, "no reconnect after 4001");
    assert!(
        p.take_hub_events()
            .iter()
            .any(|e| matches!(e, HubEvent::Rejected { code: 4001, .. }))
    );
}

#[test]
fn pings_both_ways_keep_an_idle_connection_alive() {
    let mut p = pair(
        &["inventory_changes"],
        HubConfig::default().with_activity_timeout(Duration::from_secs(30)),
    );
    settle(&mut p, 1);
    assert_eq!(
        p.client().activity_timeout(),
        Duration::from_secs(30),
        "min(client 120 s, server 30 s)"
    );
    p.advance(Duration::from_secs(600));
    assert_eq!(
        p.connection_of(0),
        Some(ConnId(1)),
        "still the first connection after 10 idle minutes"
    );
    let pings = p
        .frames_to_hub()
        .iter()
        .filter(|f| f.contains("pusher:ping"))
        .count()
        + p.frames_to_client()
            .iter()
            .filter(|f| f.contains("pusher:ping"))
            .count();
    assert!(pings >= 10, "pings went over the wire: {pings}");
    assert!(
        !p.take_hub_events()
            .iter()
            .any(|e| matches!(e, HubEvent::PongTimeout { .. }))
    );
}

#[test]
fn cache_channel_miss_then_replay_after_reconnect() {
    let mut p = pair(&["cache-prices"], HubConfig::default());
    settle(&mut p, 1);
    assert!(
        p.take_client_events()
            .iter()
            .any(|e| matches!(e, Event::CacheMiss { .. }))
    );
    p.hub_mut()
        .publish(
            &["cache-prices"],
            "price_changed",
            &RawJson::from_json_str(r#""{\"p\":3}""#).unwrap(),
            None,
        )
        .unwrap();
    p.run_until_quiet();
    p.take_client_events();
    p.hub_mut().disconnect(ConnId(1), Close::new(4200, "restart"));
    settle(&mut p, 1);
    let evs = p.take_client_events();
    let replayed = evs
        .iter()
        .any(|e| matches!(e, Event::Message { event, .. } if **event == *"price_changed"));
    assert!(
        replayed,
        "the cached event was replayed on resubscription: {evs:?}"
    );
}

#[test]
fn client_events_reach_the_other_client_with_user_id() {
    let mut p = pair(&["presence-chat"], HubConfig::default().with_client_events(true));
    let start = p.now();
    p.add_client(new_client("app-key", &["presence-chat"], start));
    settle(&mut p, 2);
    p.take_events_of(1);
    let now = p.now();
    p.client_mut()
        .trigger(now, "presence-chat", "client-typing", r#"{"on":true}"#)
        .unwrap();
    p.run_until_quiet();
    let got: Vec<Event> = p.take_events_of(1);
    let m = got.iter().find_map(|e| match e {
        Event::Message {
            event, user_id, data, ..
        } if **event == *"client-typing" => Some((user_id.clone(), data.clone())),
        _ => None,
    });
    let (user, data) = m.expect("client 1 got the client event");
    assert_eq!(user.as_deref(), Some("user-0"));
    assert_eq!(data.unwrap().raw().as_str(), r#"{"on":true}"#);
    assert!(
        !p.take_client_events()
            .iter()
            .any(|e| matches!(e, Event::Message { .. })),
        "not echoed to the sender"
    );
}

#[test]
fn signin_then_server_to_user_events() {
    let mut p = pair(&["inventory_changes"], HubConfig::default());
    settle(&mut p, 1);
    p.client_mut().signin();
    p.run_until_quiet();
    assert!(
        p.take_client_events()
            .iter()
            .any(|e| matches!(e, Event::UserAuthRequired { .. }))
    );
    let sid = p.client().socket_id().unwrap().to_owned();
    let user_data = r#"{"id":"42"}"#;
    let a = auth::sign_user("app-key", &secret(), &sid, user_data);
    p.client_mut()
        .provide_user_auth(UserAuth::new(a.expose().clone(), user_data))
        .unwrap();
    p.run_until_quiet();
    assert!(
        p.take_client_events()
            .iter()
            .any(|e| matches!(e, Event::SignedIn { user_id, .. } if **user_id == *"42"))
    );
    assert_eq!(
        p.hub_mut()
            .send_to_user("42", "note", &RawJson::from_json_str(r#""hello""#).unwrap()),
        Ok(1)
    );
    p.run_until_quiet();
    let evs = p.take_client_events();
    assert!(
        evs.iter()
            .any(|e| matches!(e, Event::UserEvent { event, .. } if **event == *"note")),
        "{evs:?}"
    );
}

#[test]
fn a_bad_signature_is_one_subscription_failed_event() {
    let mut p = pair(&["private-secret"], HubConfig::default());
    p.run_until_quiet();
    p.client_mut()
        .provide_auth("private-secret", ChannelAuth::new("app-key:0000"))
        .unwrap();
    p.run_until_quiet();
    let evs = p.take_client_events();
    let failed = evs.iter().find_map(|e| {
        if let Event::SubscriptionFailed { channel, error } = e {
            Some((channel.clone(), error.status))
        } else {
            None
        }
    });
    assert_eq!(
        failed,
        Some((Some("private-secret".into()), Some(401))),
        "{evs:?}"
    );
    assert!(
        p.take_hub_events()
            .iter()
            .any(|e| matches!(e, HubEvent::SubscriptionRefused { .. }))
    );
}
