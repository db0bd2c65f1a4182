//! Limits a user sets on the Pusher hub: each breach gets the protocol's own answer and the connection goes on.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::time::Instant;

use feedwire_core::{ConnId, Frame, Hub as _, HubTransmit, OpenRequest, Secret};
use feedwire_pusher::auth;
use feedwire_pusher::rest::{RestLimits, RestRequest};
use feedwire_pusher::server::{Hub, HubConfig};

const OPEN: &str = "/app/app-key?protocol=7&client=js&version=8.6.0";

fn drain(hub: &mut Hub) -> Vec<String> {
    std::iter::from_fn(|| hub.poll_transmit())
        .map(|(_, t)| match t {
            HubTransmit::Send(f) => f.as_str().to_owned(),
            HubTransmit::Close(c) => format!("CLOSE {}", c.code.0),
        })
        .collect()
}

fn connected(config: HubConfig) -> (Hub, Instant, String) {
    let mut hub = Hub::new(config);
    let now = Instant::now();
    hub.handle_open(now, ConnId(1), &OpenRequest::new(OPEN));
    let hello = drain(&mut hub).remove(0);
    let v: serde_json::Value = serde_json::from_str(&hello).unwrap();
    let data: serde_json::Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
    (hub, now, data["socket_id"].as_str().unwrap().to_owned())
}

fn subscribe(hub: &mut Hub, now: Instant, channel: &str) -> Vec<String> {
    hub.handle_frame(
        now,
        ConnId(1),
        Frame::from(format!(
            r#"{{"event":"pusher:subscribe","data":{{"channel":"{channel}"}}}}"#
        )),
    );
    drain(hub)
}

#[test]
fn subscriptions_per_connection_are_capped_with_a_subscription_error() {
    let (mut hub, now, _) = connected(HubConfig::default().with_max_subscriptions(2));
    assert!(subscribe(&mut hub, now, "a")[0].contains("subscription_succeeded"));
    assert!(subscribe(&mut hub, now, "b")[0].contains("subscription_succeeded"));
    let third = subscribe(&mut hub, now, "c");
    assert_eq!(
        third,
        [
            r#"{"event":"pusher:subscription_error","channel":"c","data":{"type":"LimitReached","error":"Subscription limit reached: a connection may hold 2 subscriptions","status":400}}"#
        ]
    );
    assert_eq!(hub.subscriber_count("c"), 0);
    // the connection goes on: it may leave one and take another
    hub.handle_frame(
        now,
        ConnId(1),
        Frame::from(r#"{"event":"pusher:unsubscribe","data":{"channel":"a"}}"#),
    );
    drain(&mut hub);
    assert!(subscribe(&mut hub, now, "c")[0].contains("subscription_succeeded"));
    assert_eq!(hub.connection_count(), 1);
}

#[test]
fn channel_names_longer_than_the_set_limit_are_refused() {
    let (mut hub, now, _) = connected(HubConfig::default().with_max_channel_name_len(8));
    assert!(subscribe(&mut hub, now, "12345678")[0].contains("subscription_succeeded"));
    let refused = subscribe(&mut hub, now, "123456789");
    assert!(refused[0].contains("pusher:subscription_error"), "{refused:?}");
    assert!(refused[0].contains("longer than 8"), "{refused:?}");
    assert_eq!(hub.connection_count(), 1);
}

#[test]
fn presence_limits_and_client_event_rate_are_the_ones_set() {
    let config = HubConfig::default()
        .with_presence_limits(1, 10)
        .with_client_events(true)
        .with_client_events_per_second(2);
    let (mut hub, now, sid) = connected(config);
    let secret = Secret::new("app-secret".to_owned());
    let join = |hub: &mut Hub, data: &str| {
        let sig = auth::sign_presence("app-key", &secret, &sid, "presence-r", data);
        let frame = serde_json::json!({"event":"pusher:subscribe","data":{"channel":"presence-r","auth":sig.expose(),"channel_data":data}});
        hub.handle_frame(now, ConnId(1), Frame::from(frame.to_string()));
        drain(hub)
    };
    let big = join(&mut hub, r#"{"user_id":"u","user_info":{"name":"0123456789"}}"#);
    assert!(big[0].contains("user_info is larger than 10 bytes"), "{big:?}");
    let ok = join(&mut hub, r#"{"user_id":"u","user_info":{"n":1}}"#);
    assert!(ok[0].contains("subscription_succeeded"), "{ok:?}");
    let ev = r#"{"event":"client-x","channel":"presence-r","data":{}}"#;
    for _ in 0..2 {
        hub.handle_frame(now, ConnId(1), Frame::from(ev));
        assert!(drain(&mut hub).is_empty(), "relayed to nobody else, no error");
    }
    hub.handle_frame(now, ConnId(1), Frame::from(ev));
    let third = drain(&mut hub);
    assert!(
        third[0].contains("4301") && third[0].contains("more than 2 per second"),
        "{third:?}"
    );
}

#[test]
fn the_http_api_body_limit_is_the_one_set() {
    let mut limits = RestLimits::default();
    limits.max_body = 64;
    let mut hub = Hub::new(HubConfig::default().with_rest_limits(limits));
    let body = format!(r#"{{"name":"e","channel":"c","data":"{}"}}"#, "x".repeat(100));
    let resp = hub.handle_rest(
        &RestRequest {
            method: "POST",
            path: "/apps/app-id/events",
            query: "",
            body: body.as_bytes(),
        },
        0,
    );
    assert_eq!(resp.status, 413, "{}", resp.body);
}

mod apps {
    use super::*;
    use feedwire_pusher::server::{AppEvent, Apps, HubEvent};

    fn drain_apps(apps: &mut Apps) -> Vec<(u64, String)> {
        std::iter::from_fn(|| apps.poll_transmit())
            .map(|(c, t)| {
                let s = match t {
                    HubTransmit::Send(f) => f.as_str().to_owned(),
                    HubTransmit::Close(c) => format!("CLOSE {}", c.code.0),
                };
                (c.0, s)
            })
            .collect()
    }

    #[test]
    fn connections_and_http_requests_reach_the_app_they_name_and_disabled_apps_are_refused() {
        let mut apps = Apps::with_enabled([
            (HubConfig::new("1", "key-a", "secret-a"), true),
            (HubConfig::new("2", "key-b", "secret-b"), true),
            (HubConfig::new("3", "key-c", "secret-c"), false),
        ]);
        let now = Instant::now();
        apps.handle_open(now, ConnId(1), &OpenRequest::new("/app/key-a?protocol=7"));
        apps.handle_open(now, ConnId(2), &OpenRequest::new("/app/key-b?protocol=7"));
        apps.handle_open(now, ConnId(3), &OpenRequest::new("/app/key-c?protocol=7"));
        apps.handle_open(now, ConnId(4), &OpenRequest::new("/app/nope?protocol=7"));
        let out = drain_apps(&mut apps);
        for refused in [3, 4] {
            assert!(out.contains(&(refused, "CLOSE 4001".to_owned())), "{out:?}");
        }
        assert_eq!(
            (
                apps.app(0).unwrap().connection_count(),
                apps.app(1).unwrap().connection_count()
            ),
            (1, 1)
        );
        assert_eq!(apps.app(2).unwrap().connection_count(), 0);
        let events: Vec<AppEvent> = std::iter::from_fn(|| apps.poll_event()).collect();
        let rejected = events
            .iter()
            .filter(|e| e.app.is_none() && matches!(e.event, HubEvent::Rejected { code: 4001, .. }))
            .count();
        assert_eq!(rejected, 2, "{events:?}");

        // the same channel name in two apps: separate channels
        for conn in [1, 2] {
            apps.handle_frame(
                now,
                ConnId(conn),
                Frame::from(r#"{"event":"pusher:subscribe","data":{"channel":"room"}}"#),
            );
        }
        drain_apps(&mut apps);
        let data = feedwire_core::RawJson::from_json_str(r#""{}""#).unwrap();
        assert_eq!(
            apps.app_mut(1).unwrap().publish(&["room"], "e", &data, None),
            Ok(1)
        );
        let out = drain_apps(&mut apps);
        assert_eq!(out.iter().map(|(c, _)| *c).collect::<Vec<_>>(), [2]);

        // the HTTP API: app 2's request signed with app 2's secret reaches app 2; app 3 is disabled
        let get = |apps: &mut Apps, id: &str, key: &str, secret: &str| {
            let path = format!("/apps/{id}/channels");
            let ts = "1700000000";
            let query_unsigned = format!("auth_key={key}&auth_timestamp={ts}&auth_version=1.0");
            let sig = auth::signature(
                &Secret::new(secret.to_owned()),
                &format!("GET\n{path}\n{query_unsigned}"),
            );
            let query = format!("{query_unsigned}&auth_signature={sig}");
            apps.handle_rest(
                &RestRequest {
                    method: "GET",
                    path: &path,
                    query: &query,
                    body: b"",
                },
                1_700_000_000,
            )
        };
        let ok = get(&mut apps, "2", "key-b", "secret-b");
        assert_eq!(ok.status, 200, "{}", ok.body);
        assert!(ok.body.contains("room"), "{}", ok.body);
        assert_ne!(get(&mut apps, "3", "key-c", "secret-c").status, 200);
        assert_ne!(
            get(&mut apps, "2", "key-a", "secret-a").status,
            200,
            "app 1's credentials"
        );
    }
}
