//! Several hubs as one cluster (issue 20): hubs wired by an in-memory bus (every message goes through
//! `encode` and `decode`, as through Redis) under a virtual clock. Scenario tests first, then a chaos
//! proptest with a bus that loses, duplicates and delays messages (keeping each sender's order to each
//! receiver, as Redis pub/sub does) and nodes that crash, restart and shut down.
#![allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use feedwire_core::{ConnId, Frame, Hub as _, HubTransmit, OpenRequest, RawJson, Secret};
use feedwire_pusher::auth;
use feedwire_pusher::rest::RestRequest;
use feedwire_pusher::server::{ClusterConfig, ClusterMessage, Hub, HubConfig, HubEvent};
use proptest::prelude::*;

const OPEN: &str = "/app/app-key?protocol=7";
const HEARTBEAT: Duration = Duration::from_secs(2);
const NODE_TIMEOUT: Duration = Duration::from_secs(10);

fn secret() -> Secret<String> {
    Secret::new("app-secret".to_owned())
}

fn config(node: usize, epoch: u64) -> HubConfig {
    // the same seed everywhere: socket ids must still differ across nodes
    HubConfig::default().with_client_events(true).with_cluster(
        ClusterConfig::new(format!("n{node}"))
            .with_epoch(epoch)
            .with_heartbeat_interval(HEARTBEAT)
            .with_node_timeout(NODE_TIMEOUT),
    )
}

/// Bus faults: probabilities in 1/1000 and the longest delay.
#[derive(Clone, Copy, Default, Debug)]
struct Faults {
    loss: u64,
    dup: u64,
    max_delay_ms: u64,
}

/// Hubs and the bus between them.
struct Net {
    now: Instant,
    hubs: Vec<Option<Hub>>,
    epochs: Vec<u64>,
    /// Frames each connection received: (node, conn) -> frames.
    frames: BTreeMap<(usize, u64), Vec<Frame>>,
    closes: BTreeMap<(usize, u64), u16>,
    events: Vec<(usize, HubEvent)>,
    /// Messages in flight: (due, order) -> (from, to, text).
    bus: BTreeMap<(Instant, u64), (usize, usize, String)>,
    /// Per (from, to), the due time of the last message queued (order is kept per pair).
    last_due: BTreeMap<(usize, usize), Instant>,
    order: u64,
    faults: Faults,
    /// Nodes whose broker link is down: what they send and what is sent to them is lost.
    cut: BTreeSet<usize>,
    rng: Box<dyn FnMut() -> u64>,
    /// Every message any node sent, encoded.
    sent: Vec<(usize, String)>,
}

impl Net {
    fn new(n: usize) -> Net {
        let mut net = Net {
            now: Instant::now(),
            hubs: (0..n).map(|i| Some(Hub::new(config(i, 1)))).collect(),
            epochs: vec![1; n],
            frames: BTreeMap::new(),
            closes: BTreeMap::new(),
            events: Vec::new(),
            bus: BTreeMap::new(),
            last_due: BTreeMap::new(),
            order: 0,
            faults: Faults::default(),
            cut: BTreeSet::new(),
            rng: Box::new(feedwire_core::testing::chaos::xorshift(0x9e37_79b9_7f4a_7c15)),
            sent: Vec::new(),
        };
        for i in 0..n {
            let now = net.now;
            net.hub(i).cluster_resync(now);
        }
        net.pump();
        net
    }

    fn hub(&mut self, i: usize) -> &mut Hub {
        self.hubs[i].as_mut().expect("a live node")
    }

    /// Drains every hub; queues cluster messages on the bus; delivers what is due; until nothing moves.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.hubs.len() {
                let Some(hub) = self.hubs[i].as_mut() else {
                    continue;
                };
                while let Some((c, t)) = hub.poll_transmit() {
                    moved = true;
                    match t {
                        HubTransmit::Send(f) => self.frames.entry((i, c.0)).or_default().push(f),
                        HubTransmit::Close(cl) => {
                            self.closes.insert((i, c.0), cl.code.0);
                            hub.handle_close(self.now, c, None);
                        }
                    }
                }
                let mut out = Vec::new();
                while let Some(e) = hub.poll_event() {
                    moved = true;
                    if let HubEvent::Cluster(m) = &e {
                        out.push(m.encode());
                    }
                    self.events.push((i, e));
                }
                for text in out {
                    self.send(i, text);
                }
            }
            while let Some((&(due, k), _)) = self.bus.first_key_value() {
                if due > self.now {
                    break;
                }
                let (from, to, text) = self.bus.remove(&(due, k)).unwrap();
                moved = true;
                if self.cut.contains(&to) {
                    continue;
                }
                let now = self.now;
                if let Some(hub) = self.hubs[to].as_mut() {
                    let msg = ClusterMessage::decode(text.as_bytes()).expect("a node's message decodes");
                    assert_eq!(msg.node(), format!("n{from}"));
                    hub.handle_cluster(now, msg);
                }
            }
            if !moved {
                break;
            }
        }
    }

    fn send(&mut self, from: usize, text: String) {
        self.sent.push((from, text.clone()));
        if self.cut.contains(&from) {
            return;
        }
        for to in 0..self.hubs.len() {
            if to == from {
                continue;
            }
            if (self.rng)() % 1000 < self.faults.loss {
                continue;
            }
            let copies = if (self.rng)() % 1000 < self.faults.dup {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let delay = if self.faults.max_delay_ms == 0 {
                    0
                } else {
                    (self.rng)() % (self.faults.max_delay_ms + 1)
                };
                let mut due = self.now + Duration::from_millis(delay);
                if let Some(last) = self.last_due.get(&(from, to)) {
                    due = due.max(*last);
                }
                self.last_due.insert((from, to), due);
                self.order += 1;
                self.bus.insert((due, self.order), (from, to, text.clone()));
            }
        }
    }

    /// Lets `d` pass in steps of 100 ms, firing every due deadline.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now = (self.now + Duration::from_millis(100)).min(end);
            let now = self.now;
            for hub in self.hubs.iter_mut().flatten() {
                if hub.poll_timeout().is_some_and(|t| t <= now) {
                    hub.handle_timeout(now);
                }
            }
            self.pump();
        }
    }

    /// Opens `conn` on `node`; its socket id.
    fn connect(&mut self, node: usize, conn: u64) -> String {
        let now = self.now;
        self.hub(node)
            .handle_open(now, ConnId(conn), &OpenRequest::new(OPEN));
        self.pump();
        let hello = self.take(node, conn);
        let v: serde_json::Value = serde_json::from_str(&hello[0]).unwrap();
        let data: serde_json::Value = serde_json::from_str(v["data"].as_str().unwrap()).unwrap();
        data["socket_id"].as_str().unwrap().to_owned()
    }

    fn frame(&mut self, node: usize, conn: u64, text: &str) {
        let now = self.now;
        self.hub(node)
            .handle_frame(now, ConnId(conn), Frame::from(text.to_owned()));
        self.pump();
    }

    fn subscribe(&mut self, node: usize, conn: u64, channel: &str) {
        let f = serde_json::json!({"event":"pusher:subscribe","data":{"auth":"","channel":channel}});
        self.frame(node, conn, &f.to_string());
    }

    fn presence(&mut self, node: usize, conn: u64, sid: &str, channel: &str, user: &str) {
        let data = serde_json::json!({"user_id": user, "user_info": {"name": user}}).to_string();
        let a = auth::sign_presence("app-key", &secret(), sid, channel, &data);
        let f = serde_json::json!({"event":"pusher:subscribe","data":{"auth":a.expose(),"channel":channel,"channel_data":data}});
        self.frame(node, conn, &f.to_string());
    }

    fn signin(&mut self, node: usize, conn: u64, sid: &str, user: &str) {
        let data = serde_json::json!({ "id": user }).to_string();
        let a = auth::sign_user("app-key", &secret(), sid, &data);
        let f = serde_json::json!({"event":"pusher:signin","data":{"auth":a.expose(),"user_data":data}});
        self.frame(node, conn, &f.to_string());
        let f = serde_json::json!({"event":"pusher:subscribe","data":{"auth":"","channel":format!("#server-to-user-{user}")}});
        self.frame(node, conn, &f.to_string());
    }

    fn close(&mut self, node: usize, conn: u64) {
        let now = self.now;
        self.hub(node).handle_close(now, ConnId(conn), None);
        self.pump();
    }

    fn publish(&mut self, node: usize, channels: &[&str], event: &str, data: &str, except: Option<&str>) {
        let data = RawJson::from_json_str(data).unwrap();
        self.hub(node).publish(channels, event, &data, except).unwrap();
        self.pump();
    }

    /// The frames `conn` on `node` received since the last take, as text.
    fn take(&mut self, node: usize, conn: u64) -> Vec<String> {
        self.frames
            .remove(&(node, conn))
            .unwrap_or_default()
            .iter()
            .map(|f| f.as_str().to_owned())
            .collect()
    }

    fn clear(&mut self) {
        self.frames.clear();
        self.events.clear();
    }

    /// A crash: the hub is gone without a word.
    fn kill(&mut self, node: usize) {
        self.hubs[node] = None;
        self.frames.retain(|(n, _), _| *n != node);
    }

    /// A planned shutdown: `handle_shutdown`, its messages sent, then the hub is gone.
    fn shutdown(&mut self, node: usize) {
        let now = self.now;
        self.hub(node).handle_shutdown(now);
        self.pump();
        self.hubs[node] = None;
        self.frames.retain(|(n, _), _| *n != node);
    }

    /// A new run of a node, with a greater epoch.
    fn restart(&mut self, node: usize) {
        self.epochs[node] += 1;
        let mut hub = Hub::new(config(node, self.epochs[node]));
        hub.cluster_resync(self.now);
        self.hubs[node] = Some(hub);
        self.pump();
    }

    /// Serves a signed HTTP API request on `node`.
    fn rest(&mut self, node: usize, method: &str, path: &str, query: &str, body: &str) -> (u16, String) {
        let ts = 1_000_000u64;
        let (q, body) = signed(method, path, query, body, ts);
        let resp = self.hub(node).handle_rest(
            &RestRequest {
                method,
                path,
                query: &q,
                body: body.as_bytes(),
            },
            ts,
        );
        self.pump();
        (resp.status, resp.body.to_string())
    }
}

/// Signs a request the way the SDKs do (`extra` is more query parameters, `k=v&...`).
fn signed(method: &str, path: &str, extra: &str, body: &str, ts: u64) -> (String, String) {
    use hmac::{Hmac, Mac};
    use md5::Digest;
    let mut params = vec![
        ("auth_key".to_string(), "app-key".to_string()),
        ("auth_timestamp".to_string(), ts.to_string()),
        ("auth_version".to_string(), "1.0".to_string()),
    ];
    for kv in extra.split('&').filter(|s| !s.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap();
        params.push((k.into(), v.into()));
    }
    if !body.is_empty() {
        params.push(("body_md5".into(), hex::encode(md5::Md5::digest(body.as_bytes()))));
    }
    params.sort();
    let q = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"app-secret").unwrap();
    mac.update(format!("{method}\n{path}\n{q}").as_bytes());
    let sig = hex::encode(mac.finalize().into_bytes());
    (format!("{q}&auth_signature={sig}"), body.to_string())
}

fn event_name(frame: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(frame).unwrap();
    v["event"].as_str().unwrap_or_default().to_owned()
}

fn member_frames(frames: &[String]) -> Vec<String> {
    frames.iter().filter(|f| f.contains("member_")).cloned().collect()
}

#[test]
fn a_publish_on_any_node_reaches_every_subscriber_once_encoded_once_per_node() {
    let mut net = Net::new(3);
    for node in 0..3 {
        for conn in 1..=2 {
            net.connect(node, conn);
            net.subscribe(node, conn, "news");
        }
    }
    net.clear();
    for from in 0..3 {
        net.publish(from, &["news"], "e", &format!(r#""from {from}""#), None);
        for node in 0..3 {
            let a = net.frames.remove(&(node, 1)).unwrap();
            let b = net.frames.remove(&(node, 2)).unwrap();
            assert_eq!(a.len(), 1);
            assert_eq!(b.len(), 1);
            assert_eq!(
                a[0].as_str(),
                format!(r#"{{"event":"e","channel":"news","data":"from {from}"}}"#)
            );
            // one buffer per node, shared by its subscribers
            assert_eq!(a[0].as_str().as_ptr(), b[0].as_str().as_ptr());
        }
    }
    // the HTTP API's batch trigger, on node 2
    let body =
        r#"{"batch":[{"name":"x","channel":"news","data":"1"},{"name":"y","channel":"news","data":"2"}]}"#;
    assert_eq!(net.rest(2, "POST", "/apps/app-id/batch_events", "", body).0, 200);
    for node in 0..3 {
        let got: Vec<String> = net.take(node, 1).iter().map(|f| event_name(f)).collect();
        assert_eq!(got, ["x", "y"], "node {node}");
    }
    // a client event, relayed with its user id on presence channels
    let sids: Vec<String> = (0..3).map(|n| net.connect(n, 10)).collect();
    for (n, sid) in sids.iter().enumerate() {
        net.presence(n, 10, sid, "presence-chat", &format!("u{n}"));
    }
    net.clear();
    net.frame(
        1,
        10,
        r#"{"event":"client-typing","channel":"presence-chat","data":{"on":true}}"#,
    );
    let want = r#"{"event":"client-typing","channel":"presence-chat","data":{"on":true},"user_id":"u1"}"#;
    assert_eq!(net.take(0, 10), [want]);
    assert_eq!(net.take(2, 10), [want]);
    assert!(net.take(1, 10).is_empty(), "not echoed to the sender");
}

#[test]
fn socket_ids_are_unique_across_nodes_and_exclusion_works_wherever_the_socket_is() {
    let mut net = Net::new(3);
    let mut sids = Vec::new();
    for node in 0..3 {
        sids.push(net.connect(node, 1));
        net.subscribe(node, 1, "news");
    }
    let prefixes: BTreeSet<&str> = sids.iter().map(|s| s.split('.').next().unwrap()).collect();
    assert_eq!(prefixes.len(), 3, "same seed, distinct nodes: {sids:?}");
    net.clear();
    net.publish(0, &["news"], "e", "1", Some(&sids[2]));
    assert_eq!(net.take(0, 1).len(), 1);
    assert_eq!(net.take(1, 1).len(), 1);
    assert!(net.take(2, 1).is_empty(), "excluded on its own node");
    // through the HTTP API, excluding a socket of the node that serves the request
    let body = format!(
        r#"{{"name":"e","channel":"news","data":"2","socket_id":"{}"}}"#,
        sids[1]
    );
    assert_eq!(net.rest(1, "POST", "/apps/app-id/events", "", &body).0, 200);
    assert_eq!(net.take(0, 1).len(), 1);
    assert!(net.take(1, 1).is_empty());
    assert_eq!(net.take(2, 1).len(), 1);
}

#[test]
fn presence_spans_the_cluster_with_one_member_added_and_one_member_removed_per_user() {
    let mut net = Net::new(3);
    let a = net.connect(0, 1);
    net.presence(0, 1, &a, "presence-room", "ann");
    net.take(0, 1);
    let b = net.connect(1, 1);
    net.presence(1, 1, &b, "presence-room", "bob");
    let ok = net.take(1, 1);
    assert!(ok[0].contains("subscription_succeeded"), "{ok:?}");
    assert!(
        ok[0].contains(r#"\"ids\":[\"ann\",\"bob\"]"#),
        "lists the remote member: {}",
        ok[0]
    );
    assert!(
        ok[0].contains(r#"\"ann\":{\"name\":\"ann\"}"#),
        "with its user_info: {}",
        ok[0]
    );
    assert_eq!(
        net.take(0, 1),
        [
            r#"{"event":"pusher_internal:member_added","channel":"presence-room","data":"{\"user_id\":\"bob\",\"user_info\":{\"name\":\"bob\"}}"}"#
        ]
    );
    // ann again, on node 2: nobody hears of it
    let a2 = net.connect(2, 1);
    net.presence(2, 1, &a2, "presence-room", "ann");
    assert!(net.take(2, 1)[0].contains(r#"\"count\":2"#));
    assert!(net.take(0, 1).is_empty());
    assert!(net.take(1, 1).is_empty());
    for node in 0..3 {
        assert_eq!(net.hub(node).members("presence-room"), ["ann", "bob"]);
    }
    // heartbeats change nothing that is known already
    net.advance(HEARTBEAT * 3);
    assert!(net.take(0, 1).is_empty() && net.take(1, 1).is_empty() && net.take(2, 1).is_empty());
    // ann's first connection goes: ann is still on node 2
    net.close(0, 1);
    assert!(net.take(1, 1).is_empty());
    assert!(net.take(2, 1).is_empty());
    // and her last
    net.close(2, 1);
    assert_eq!(
        net.take(1, 1),
        [
            r#"{"event":"pusher_internal:member_removed","channel":"presence-room","data":"{\"user_id\":\"ann\"}"}"#
        ]
    );
    net.advance(HEARTBEAT * 3);
    assert!(net.take(1, 1).is_empty());
    for node in 0..3 {
        assert_eq!(net.hub(node).members("presence-room"), ["bob"]);
    }
}

#[test]
fn the_presence_member_cap_counts_the_cluster() {
    let mut net = Net::new(2);
    for i in 0..2 {
        let mut c = config(i, 2); // a new run: a greater epoch
        c.max_presence_members = 2;
        net.hubs[i] = Some(Hub::new(c));
        let now = net.now;
        net.hub(i).cluster_resync(now);
    }
    net.pump();
    let s = net.connect(0, 1);
    net.presence(0, 1, &s, "presence-x", "a");
    let s = net.connect(1, 1);
    net.presence(1, 1, &s, "presence-x", "b");
    let s = net.connect(0, 2);
    net.presence(0, 2, &s, "presence-x", "c");
    let out = net.take(0, 2);
    assert!(out[0].contains("presence channel is full (2 members)"), "{out:?}");
    // a member already present elsewhere may join
    net.presence(0, 2, &s, "presence-x", "b");
    assert!(net.take(0, 2)[0].contains("subscription_succeeded"));
}

#[test]
fn http_api_queries_answer_for_the_cluster() {
    let mut net = Net::new(3);
    for node in 0..3 {
        for conn in 1..=(node as u64 + 1) {
            net.connect(node, conn);
            net.subscribe(node, conn, "news");
        }
    }
    let s = net.connect(1, 9);
    net.presence(1, 9, &s, "presence-room", "bob");
    let s = net.connect(2, 9);
    net.presence(2, 9, &s, "presence-room", "cat");
    let s = net.connect(2, 10);
    net.presence(2, 10, &s, "presence-room", "cat");
    net.connect(2, 11);
    net.subscribe(2, 11, "only-on-2");
    // presence is known at once; subscriber counts from the heartbeats
    let (st, body) = net.rest(0, "GET", "/apps/app-id/channels/presence-room/users", "", "");
    assert_eq!(
        (st, body.as_str()),
        (200, r#"{"users":[{"id":"bob"},{"id":"cat"}]}"#)
    );
    net.advance(HEARTBEAT);
    let (_, body) = net.rest(
        0,
        "GET",
        "/apps/app-id/channels/news",
        "info=subscription_count",
        "",
    );
    assert_eq!(body, r#"{"occupied":true,"subscription_count":6}"#);
    let (_, body) = net.rest(
        0,
        "GET",
        "/apps/app-id/channels/presence-room",
        "info=user_count",
        "",
    );
    assert_eq!(body, r#"{"occupied":true,"user_count":2}"#);
    let (_, body) = net.rest(0, "GET", "/apps/app-id/channels", "info=user_count", "");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&String> = v["channels"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["news", "only-on-2", "presence-room"]);
    assert_eq!(v["channels"]["presence-room"]["user_count"], 2);
    // a channel that empties on a remote node vanishes at its next heartbeat
    net.close(2, 11);
    net.advance(HEARTBEAT);
    let (_, body) = net.rest(
        0,
        "GET",
        "/apps/app-id/channels/only-on-2",
        "info=subscription_count",
        "",
    );
    assert_eq!(body, r#"{"occupied":false,"subscription_count":0}"#);
}

#[test]
fn send_to_user_and_terminate_connections_cross_nodes() {
    let mut net = Net::new(3);
    let s = net.connect(1, 1);
    net.signin(1, 1, &s, "42");
    let s = net.connect(2, 1);
    net.signin(2, 1, &s, "42");
    let s = net.connect(2, 2);
    net.signin(2, 2, &s, "7");
    net.clear();
    let data = RawJson::from_json_str(r#""hi""#).unwrap();
    assert_eq!(
        net.hub(0).send_to_user("42", "note", &data),
        Ok(0),
        "none of them local"
    );
    net.pump();
    let want = r##"{"event":"note","channel":"#server-to-user-42","data":"hi"}"##;
    assert_eq!(net.take(1, 1), [want]);
    assert_eq!(net.take(2, 1), [want]);
    assert!(net.take(2, 2).is_empty());
    // terminate through the HTTP API of a node that holds none of them
    let (st, _) = net.rest(0, "POST", "/apps/app-id/users/42/terminate_connections", "", "{}");
    assert_eq!(st, 200);
    assert_eq!(net.closes.get(&(1, 1)), Some(&4009));
    assert_eq!(net.closes.get(&(2, 1)), Some(&4009));
    assert_eq!(net.closes.get(&(2, 2)), None);
    assert_eq!(net.hub(1).connection_count(), 0);
    assert_eq!(net.hub(2).connection_count(), 1);
    assert!(net.take(2, 1)[0].contains("You got disconnected by the app."));
    // and the method
    assert_eq!(net.hub(2).terminate_user_connections("7"), 1);
    net.pump();
    assert_eq!(net.closes.get(&(2, 2)), Some(&4009));
}

#[test]
fn cache_channels_keep_the_last_publish_of_the_cluster() {
    let mut net = Net::new(2);
    net.publish(0, &["cache-price"], "p", "1", None);
    net.publish(1, &["cache-price"], "p", "2", None);
    for node in 0..2 {
        net.connect(node, 1);
        net.subscribe(node, 1, "cache-price");
        let got = net.take(node, 1);
        assert_eq!(
            got[1], r#"{"event":"p","channel":"cache-price","data":2}"#,
            "node {node}"
        );
    }
}

#[test]
fn a_silent_node_expires_after_node_timeout_and_its_members_leave_once() {
    let mut net = Net::new(3);
    let s = net.connect(0, 1);
    net.presence(0, 1, &s, "presence-room", "ann");
    let s = net.connect(1, 1);
    net.presence(1, 1, &s, "presence-room", "bob");
    let s = net.connect(2, 1);
    net.presence(2, 1, &s, "presence-room", "cat");
    net.connect(1, 2);
    net.subscribe(1, 2, "news");
    net.advance(HEARTBEAT);
    net.clear();
    assert_eq!(net.hub(0).cluster_nodes(), ["n1", "n2"]);
    // node 1 was last heard at its heartbeat 100 ms in; now is 2 s in
    net.kill(1);
    net.advance(NODE_TIMEOUT - HEARTBEAT - Duration::from_millis(300));
    assert!(net.take(0, 1).is_empty(), "not yet");
    assert_eq!(net.hub(0).members("presence-room"), ["ann", "bob", "cat"]);
    net.advance(HEARTBEAT + Duration::from_millis(300));
    let bob_left = r#"{"event":"pusher_internal:member_removed","channel":"presence-room","data":"{\"user_id\":\"bob\"}"}"#;
    assert_eq!(net.take(0, 1), [bob_left]);
    assert_eq!(net.take(2, 1), [bob_left]);
    assert_eq!(net.hub(0).cluster_nodes(), ["n2"]);
    assert!(
        net.events
            .iter()
            .any(|(n, e)| *n == 0 && *e == HubEvent::NodeExpired { node: "n1".into() })
    );
    let (_, body) = net.rest(
        0,
        "GET",
        "/apps/app-id/channels/news",
        "info=subscription_count",
        "",
    );
    assert_eq!(
        body, r#"{"occupied":false,"subscription_count":0}"#,
        "its counts are gone"
    );
    net.advance(NODE_TIMEOUT);
    assert!(net.take(0, 1).is_empty());
}

#[test]
fn a_shutdown_sends_leave_and_the_others_drop_the_node_at_once() {
    let mut net = Net::new(2);
    let s = net.connect(0, 1);
    net.presence(0, 1, &s, "presence-room", "ann");
    let s = net.connect(1, 1);
    net.presence(1, 1, &s, "presence-room", "bob");
    net.clear();
    net.sent.clear();
    net.shutdown(1);
    let kinds: Vec<String> = net
        .sent
        .iter()
        .map(|(_, t)| ClusterMessage::decode(t.as_bytes()).unwrap().kind().to_owned())
        .collect();
    assert_eq!(kinds, ["leave"], "one message, no departures one by one");
    assert_eq!(
        net.take(0, 1),
        [
            r#"{"event":"pusher_internal:member_removed","channel":"presence-room","data":"{\"user_id\":\"bob\"}"}"#
        ]
    );
    assert!(net.hub(0).cluster_nodes().is_empty());
    assert_eq!(net.hub(0).members("presence-room"), ["ann"]);
}

#[test]
fn a_partition_heals_with_resync_and_heartbeats() {
    let mut net = Net::new(3);
    let s = net.connect(0, 1);
    net.presence(0, 1, &s, "presence-room", "ann");
    let s = net.connect(2, 1);
    net.presence(2, 1, &s, "presence-room", "cat");
    net.clear();
    // a short partition of node 2: what it shares and what is shared with it is lost
    net.cut.insert(2);
    let s = net.connect(2, 2);
    net.presence(2, 2, &s, "presence-room", "dan");
    let s = net.connect(0, 2);
    net.presence(0, 2, &s, "presence-room", "eve");
    assert_eq!(net.hub(0).members("presence-room"), ["ann", "cat", "eve"]);
    net.cut.remove(&2);
    let now = net.now;
    net.hub(2).cluster_resync(now);
    net.pump();
    assert_eq!(net.hub(0).members("presence-room"), ["ann", "cat", "dan", "eve"]);
    assert!(member_frames(&net.take(0, 1)).iter().any(|f| f.contains("dan")));
    net.advance(HEARTBEAT);
    for node in 0..3 {
        assert_eq!(
            net.hub(node).members("presence-room"),
            ["ann", "cat", "dan", "eve"]
        );
    }
    assert!(member_frames(&net.take(2, 1)).iter().any(|f| f.contains("eve")));
    // a long partition: each side expires the other, then they meet again
    net.cut.insert(2);
    net.advance(NODE_TIMEOUT + HEARTBEAT);
    assert_eq!(net.hub(0).members("presence-room"), ["ann", "eve"]);
    assert_eq!(net.hub(2).members("presence-room"), ["cat", "dan"]);
    assert!(net.hub(2).cluster_nodes().is_empty());
    net.cut.remove(&2);
    net.advance(HEARTBEAT * 2);
    for node in 0..3 {
        assert_eq!(
            net.hub(node).members("presence-room"),
            ["ann", "cat", "dan", "eve"]
        );
        assert_eq!(net.hub(node).cluster_nodes().len(), 2);
    }
}

#[test]
fn duplicates_own_messages_other_apps_and_old_epochs_are_ignored_and_a_restart_resets() {
    let mut net = Net::new(2);
    let s = net.connect(0, 1);
    net.subscribe(0, 1, "news");
    net.presence(0, 1, &s, "presence-room", "ann");
    let s = net.connect(1, 1);
    net.presence(1, 1, &s, "presence-room", "bob");
    net.clear();
    net.sent.clear();
    net.publish(1, &["news"], "e", "1", None);
    let (_, text) = net.sent[0].clone();
    let msg = ClusterMessage::decode(text.as_bytes()).unwrap();
    assert_eq!(
        (msg.node(), msg.app_id(), msg.kind()),
        ("n1", "app-id", "publish")
    );
    assert_eq!(net.take(0, 1).len(), 1);
    let now = net.now;
    net.hub(0).handle_cluster(now, msg.clone());
    net.pump();
    assert!(net.take(0, 1).is_empty(), "a duplicate is dropped");
    // the node's own message, and another app's
    net.hub(1).handle_cluster(now, msg.clone());
    let other = text
        .replace(r#""app":"app-id""#, r#""app":"other""#)
        .replace(r#""seq":"#, r#""seq":1000"#);
    net.hub(0)
        .handle_cluster(now, ClusterMessage::decode(other.as_bytes()).unwrap());
    net.pump();
    assert!(net.take(0, 1).is_empty() && net.take(1, 1).is_empty());
    // node 1 restarts (a greater epoch): bob's old connection is gone at once
    net.kill(1);
    net.restart(1);
    assert_eq!(
        member_frames(&net.take(0, 1)),
        [
            r#"{"event":"pusher_internal:member_removed","channel":"presence-room","data":"{\"user_id\":\"bob\"}"}"#
        ]
    );
    // a late message of the old epoch is ignored
    net.hub(0).handle_cluster(
        now,
        ClusterMessage::decode(text.replace(r#""seq":"#, r#""seq":99"#).as_bytes()).unwrap(),
    );
    net.pump();
    assert!(net.take(0, 1).is_empty());
    net.publish(1, &["news"], "e", "2", None);
    assert_eq!(net.take(0, 1).len(), 1, "the new epoch's messages count");
}

#[test]
fn a_hub_without_cluster_shares_nothing_and_ignores_cluster_input() {
    let mut hub = Hub::new(HubConfig::default());
    let now = Instant::now();
    hub.handle_open(now, ConnId(1), &OpenRequest::new(OPEN));
    hub.handle_frame(
        now,
        ConnId(1),
        Frame::from(r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"news"}}"#),
    );
    hub.publish(&["news"], "e", &RawJson::from_json_str("1").unwrap(), None)
        .unwrap();
    while hub.poll_transmit().is_some() {}
    let events: Vec<HubEvent> = std::iter::from_fn(|| hub.poll_event()).collect();
    assert!(
        !events.iter().any(|e| matches!(e, HubEvent::Cluster(_))),
        "{events:?}"
    );
    let msg = r#"{"v":1,"kind":"publish","node":"x","epoch":1,"seq":1,"app":"app-id","channels":["news"],"event":"e","data":2}"#;
    hub.handle_cluster(now, ClusterMessage::decode(msg.as_bytes()).unwrap());
    assert!(hub.poll_transmit().is_none());
    assert!(hub.cluster_nodes().is_empty());
    // the only deadline is the connection's activity timeout
    assert_eq!(hub.poll_timeout(), Some(now + Duration::from_secs(120)));
}

#[test]
fn apps_route_cluster_messages_by_app_id() {
    use feedwire_pusher::server::Apps;
    let cfg = |id: &str, key: &str| HubConfig::new(id, key, "s").with_cluster(ClusterConfig::new("me"));
    let mut apps = Apps::new(vec![cfg("1", "k1"), cfg("2", "k2")]);
    let now = Instant::now();
    apps.handle_open(now, ConnId(1), &OpenRequest::new("/app/k2?protocol=7"));
    apps.handle_frame(
        now,
        ConnId(1),
        Frame::from(r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"news"}}"#),
    );
    while apps.poll_transmit().is_some() {}
    let msg = |app: &str| {
        let t = format!(
            r#"{{"v":1,"kind":"publish","node":"other","epoch":1,"seq":1,"app":"{app}","channels":["news"],"event":"e","data":1}}"#
        );
        ClusterMessage::decode(t.as_bytes()).unwrap()
    };
    apps.handle_cluster(now, msg("3"));
    assert!(apps.poll_transmit().is_none(), "no such app");
    apps.handle_cluster(now, msg("2"));
    assert!(matches!(
        apps.poll_transmit(),
        Some((ConnId(1), HubTransmit::Send(_)))
    ));
    assert_eq!(apps.app(1).unwrap().cluster_nodes(), ["other"]);
    assert!(apps.app(0).unwrap().cluster_nodes().is_empty());
    apps.cluster_resync(now);
    let heartbeats = std::iter::from_fn(|| apps.poll_event())
        .filter(|e| matches!(&e.event, HubEvent::Cluster(m) if m.kind() == "heartbeat"))
        .count();
    assert!(heartbeats >= 2, "one per app at least");
}

#[test]
fn heartbeats_are_deadlines_every_interval() {
    let mut net = Net::new(2);
    net.sent.clear();
    net.advance(HEARTBEAT * 5);
    let beats = net
        .sent
        .iter()
        .filter(|(n, t)| *n == 0 && t.contains(r#""kind":"heartbeat""#))
        .count();
    assert_eq!(beats, 5);
}

proptest! {
    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = ClusterMessage::decode(&bytes);
    }

    #[test]
    fn decode_never_panics_on_mangled_messages(
        kind in prop::sample::select(vec!["publish", "member_added", "member_removed", "heartbeat", "terminate_user", "leave", "x"]),
        field in "[a-z_]{1,10}",
        value in prop::sample::select(vec!["null", "1", "-1", "\"s\"", "[]", "{}", "[\"a\"]", "{\"a\":{\"b\":null}}", "1e400", "18446744073709551616"]),
        cut in 0usize..200,
    ) {
        let text = format!(
            r#"{{"v":1,"kind":"{kind}","node":"n","epoch":1,"seq":2,"app":"a","{field}":{value},"channels":["c"],"event":"e","data":{{}},"channel":"c","user_id":"u"}}"#
        );
        if let Ok(m) = ClusterMessage::decode(text.as_bytes()) {
            // what decodes re-encodes to itself
            prop_assert_eq!(ClusterMessage::decode(m.encode().as_bytes()).unwrap(), m);
        }
        let _ = ClusterMessage::decode(&text.as_bytes()[..cut.min(text.len())]);
    }
}

// ---------------------------------------------------------------------------------------------------------
// Chaos

#[derive(Debug, Clone)]
enum Op {
    Connect(usize),
    Presence(usize, usize, usize, usize),
    Public(usize, usize),
    Close(usize, usize),
    Publish(usize),
    Advance(u64),
    Kill(usize),
    Restart(usize),
    Shutdown(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize).prop_map(Op::Connect),
        6 => (0..3usize, 0..8usize, 0..2usize, 0..4usize).prop_map(|(n, c, ch, u)| Op::Presence(n, c, ch, u)),
        2 => (0..3usize, 0..8usize).prop_map(|(n, c)| Op::Public(n, c)),
        3 => (0..3usize, 0..8usize).prop_map(|(n, c)| Op::Close(n, c)),
        4 => (0..3usize).prop_map(Op::Publish),
        4 => (0..4000u64).prop_map(Op::Advance),
        1 => (0..3usize).prop_map(Op::Kill),
        1 => (0..3usize).prop_map(Op::Restart),
        1 => (0..3usize).prop_map(Op::Shutdown),
    ]
}

/// What the test knows: per node, its live connections, with socket id and presence subscriptions.
#[derive(Default)]
struct Model {
    /// (node, conn) -> (socket id, channel -> user)
    conns: BTreeMap<(usize, u64), (String, BTreeMap<String, String>)>,
    next_conn: u64,
    next_publish: u64,
    /// (node, conn) -> (publish id, channel) received
    received: BTreeMap<(usize, u64), BTreeSet<(u64, String)>>,
    /// (node, conn, channel) -> members as that client sees them
    views: BTreeMap<(usize, u64, String), BTreeSet<String>>,
}

const CHANNELS: [&str; 2] = ["presence-a", "presence-b"];

impl Model {
    /// The live connections of `node`, in order.
    fn of(&self, node: usize) -> Vec<u64> {
        self.conns
            .keys()
            .filter(|(n, _)| *n == node)
            .map(|(_, c)| *c)
            .collect()
    }

    fn forget_node(&mut self, node: usize) {
        self.conns.retain(|(n, _), _| *n != node);
        self.views.retain(|(n, _, _), _| *n != node);
    }

    /// Users present on `channel` at live nodes.
    fn truth(&self, net: &Net, channel: &str) -> BTreeSet<String> {
        self.conns
            .iter()
            .filter(|((n, _), _)| net.hubs[*n].is_some())
            .filter_map(|(_, (_, chans))| chans.get(channel).cloned())
            .collect()
    }

    /// Reads what every client received, checking the per-client invariants.
    fn observe(&mut self, net: &mut Net) -> Result<(), TestCaseError> {
        let frames = std::mem::take(&mut net.frames);
        for ((node, conn), fs) in frames {
            for f in fs {
                let v: serde_json::Value = serde_json::from_str(f.as_str()).unwrap();
                let ev = v["event"].as_str().unwrap_or_default();
                let channel = v["channel"].as_str().unwrap_or_default().to_owned();
                let data = || -> serde_json::Value {
                    serde_json::from_str(v["data"].as_str().unwrap_or("{}")).unwrap_or_default()
                };
                match ev {
                    "pub" => {
                        let id = v["data"].as_u64().unwrap();
                        let fresh = self
                            .received
                            .entry((node, conn))
                            .or_default()
                            .insert((id, channel.clone()));
                        prop_assert!(
                            fresh,
                            "publish {} on {} delivered twice to {:?}",
                            id,
                            channel,
                            (node, conn)
                        );
                    }
                    "pusher_internal:subscription_succeeded" if channel.starts_with("presence-") => {
                        let ids: BTreeSet<String> = data()["presence"]["ids"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|i| i.as_str().unwrap().to_owned())
                            .collect();
                        self.views.insert((node, conn, channel), ids);
                    }
                    "pusher_internal:member_added" => {
                        let user = data()["user_id"].as_str().unwrap().to_owned();
                        let view = self.views.get_mut(&(node, conn, channel.clone()));
                        let view = view.expect("member_added on a channel the client is on");
                        prop_assert!(
                            view.insert(user.clone()),
                            "{:?} told twice {} joined {}",
                            (node, conn),
                            user,
                            channel
                        );
                    }
                    "pusher_internal:member_removed" => {
                        let user = data()["user_id"].as_str().unwrap().to_owned();
                        let view = self.views.get_mut(&(node, conn, channel.clone()));
                        let view = view.expect("member_removed on a channel the client is on");
                        prop_assert!(
                            view.remove(&user),
                            "{:?} told {} left {} while absent",
                            (node, conn),
                            user,
                            channel
                        );
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

fn run_chaos(ops: Vec<Op>, seed: u64, faults: Faults) -> Result<(), TestCaseError> {
    let mut net = Net::new(3);
    net.rng = Box::new(feedwire_core::testing::chaos::xorshift(seed | 1));
    net.faults = faults;
    let mut m = Model::default();
    for op in ops {
        match op {
            Op::Connect(n) if net.hubs[n].is_some() => {
                m.next_conn += 1;
                let sid = net.connect(n, m.next_conn);
                m.conns.insert((n, m.next_conn), (sid, BTreeMap::new()));
            }
            Op::Presence(n, c, ch, u) if net.hubs[n].is_some() => {
                let Some(&conn) = m.of(n).get(c % m.of(n).len().max(1)) else {
                    continue;
                };
                let channel = CHANNELS[ch];
                let (sid, chans) = m.conns.get_mut(&(n, conn)).unwrap();
                if chans.contains_key(channel) {
                    continue;
                }
                chans.insert(channel.to_owned(), format!("u{u}"));
                let sid = sid.clone();
                net.presence(n, conn, &sid, channel, &format!("u{u}"));
            }
            Op::Public(n, c) if net.hubs[n].is_some() => {
                let Some(&conn) = m.of(n).get(c % m.of(n).len().max(1)) else {
                    continue;
                };
                net.subscribe(n, conn, "news");
            }
            Op::Close(n, c) if net.hubs[n].is_some() => {
                let Some(&conn) = m.of(n).get(c % m.of(n).len().max(1)) else {
                    continue;
                };
                m.observe(&mut net)?;
                net.close(n, conn);
                m.conns.remove(&(n, conn));
                m.views.retain(|(vn, vc, _), _| (*vn, *vc) != (n, conn));
            }
            Op::Publish(n) if net.hubs[n].is_some() => {
                m.next_publish += 1;
                let id = m.next_publish.to_string();
                net.publish(n, &["news", "presence-a"], "pub", &id, None);
            }
            Op::Advance(ms) => net.advance(Duration::from_millis(ms)),
            Op::Kill(n) if net.hubs[n].is_some() => {
                m.observe(&mut net)?;
                net.kill(n);
                m.forget_node(n);
            }
            Op::Shutdown(n) if net.hubs[n].is_some() => {
                m.observe(&mut net)?;
                net.shutdown(n);
                m.forget_node(n);
            }
            Op::Restart(n) if net.hubs[n].is_none() => net.restart(n),
            _ => {}
        }
        m.observe(&mut net)?;
        for hub in net.hubs.iter().flatten() {
            hub.check_invariants().map_err(TestCaseError::fail)?;
        }
    }
    // the bus heals; node_timeout and two heartbeats later every node agrees with the truth
    net.faults = Faults::default();
    net.advance(NODE_TIMEOUT + HEARTBEAT * 2 + Duration::from_millis(faults.max_delay_ms + 200));
    m.observe(&mut net)?;
    let live: Vec<usize> = (0..3).filter(|n| net.hubs[*n].is_some()).collect();
    for &n in &live {
        for channel in CHANNELS {
            let truth = m.truth(&net, channel);
            let seen: BTreeSet<String> = net
                .hub(n)
                .members(channel)
                .into_iter()
                .map(str::to_owned)
                .collect();
            prop_assert_eq!(&seen, &truth, "node {} on {}", n, channel);
        }
        let others: Vec<String> = live
            .iter()
            .filter(|o| **o != n)
            .map(|o| format!("n{o}"))
            .collect();
        prop_assert_eq!(net.hub(n).cluster_nodes(), others);
        // remote state is exactly what the live others hold: their channels plus their members
        let mut expected = 0;
        for &o in live.iter().filter(|o| **o != n) {
            let mut chans: BTreeSet<&str> = BTreeSet::new();
            let mut members: BTreeSet<(&str, &str)> = BTreeSet::new();
            for ((cn, _), (_, subs)) in &m.conns {
                if *cn != o {
                    continue;
                }
                for (ch, u) in subs {
                    chans.insert(ch);
                    members.insert((ch, u));
                }
            }
            let news = net.hubs[o].as_ref().unwrap().subscriber_count("news");
            expected += chans.len() + members.len() + usize::from(news > 0);
        }
        prop_assert_eq!(net.hub(n).cluster_entries(), expected, "node {}", n);
    }
    for ((n, conn, channel), view) in &m.views {
        prop_assert_eq!(
            view,
            &m.truth(&net, channel),
            "client {:?} on {}",
            (n, conn),
            channel
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
    #[test]
    fn the_cluster_converges_under_loss_duplication_delay_and_crashes(
        ops in proptest::collection::vec(op(), 1..60),
        seed in any::<u64>(),
        loss in 0u64..300,
        dup in 0u64..300,
        max_delay_ms in 0u64..1500,
    ) {
        run_chaos(ops, seed, Faults { loss, dup, max_delay_ms })?;
    }
}

#[test]
fn the_chaos_runs_reach_deep_states() {
    // the same driver with a fixed program: presence on three nodes, loss, a crash and a restart
    let mut ops = Vec::new();
    for n in 0..3 {
        for _ in 0..3 {
            ops.push(Op::Connect(n));
        }
        for c in 0..3 {
            ops.push(Op::Presence(n, c, c % 2, (n + c) % 4));
            ops.push(Op::Public(n, c));
        }
    }
    ops.extend([
        Op::Publish(0),
        Op::Advance(2500),
        Op::Kill(1),
        Op::Publish(2),
        Op::Close(0, 0),
    ]);
    ops.extend([
        Op::Advance(3000),
        Op::Restart(1),
        Op::Connect(1),
        Op::Presence(1, 0, 0, 3),
    ]);
    ops.extend([Op::Shutdown(2), Op::Publish(1), Op::Advance(1000)]);
    let faults = Faults {
        loss: 200,
        dup: 200,
        max_delay_ms: 800,
    };
    for seed in 0..20 {
        run_chaos(ops.clone(), seed, faults).unwrap();
    }
}

#[test]
fn the_documented_wire_examples_decode_and_encode_to_themselves() {
    let examples = [
        r#"{"v":1,"kind":"publish","node":"n1","epoch":7,"seq":3,"app":"app-id","channels":["a","b"],"event":"e","data":"{}","socket_id":"1.2"}"#,
        r#"{"v":1,"kind":"publish","node":"n1","epoch":7,"seq":4,"app":"app-id","channels":["presence-r"],"event":"client-x","data":{},"user_id":"u1"}"#,
        r#"{"v":1,"kind":"member_added","node":"n1","epoch":7,"seq":5,"app":"app-id","channel":"presence-r","user_id":"u1","user_info":{"name":"Ann"}}"#,
        r#"{"v":1,"kind":"member_removed","node":"n1","epoch":7,"seq":6,"app":"app-id","channel":"presence-r","user_id":"u1"}"#,
        r#"{"v":1,"kind":"heartbeat","node":"n1","epoch":7,"seq":7,"app":"app-id","presence":{"presence-r":{"u1":{"name":"Ann"}}},"counts":{"a":2,"presence-r":1}}"#,
        r#"{"v":1,"kind":"terminate_user","node":"n1","epoch":7,"seq":8,"app":"app-id","user_id":"u1"}"#,
        r#"{"v":1,"kind":"leave","node":"n1","epoch":7,"seq":9,"app":"app-id"}"#,
    ];
    let doc = include_str!("../src/server/cluster.rs");
    for text in examples {
        assert!(doc.contains(text), "documented: {text}");
        let msg = ClusterMessage::decode(text.as_bytes()).unwrap();
        assert_eq!(msg.encode(), text);
        assert_eq!((msg.node(), msg.app_id(), msg.epoch()), ("n1", "app-id", 7));
        let debug = format!("{msg:?}");
        assert!(!debug.contains("Ann") && debug.len() < 120, "short: {debug}");
    }
    // what a hub emits is in the same format (seq 1 was its first heartbeat)
    let mut net = Net::new(2);
    net.connect(0, 1);
    net.subscribe(0, 1, "a");
    net.sent.clear();
    net.publish(0, &["a"], "e", r#""{}""#, Some("1.2"));
    let (_, text) = &net.sent[0];
    assert_eq!(
        text,
        r#"{"v":1,"kind":"publish","node":"n0","epoch":1,"seq":2,"app":"app-id","channels":["a"],"event":"e","data":"{}","socket_id":"1.2"}"#
    );
}
