//! The link against a real `redis-server`: follow, publish, lose Redis, get it back.
//!
//! Needs `redis-server` (Debian's package): `bash crates/feedwire-interop/scripts/install-peers.sh`, then
//! `cargo test -p feedwire-redis -- --ignored` (as `.ci/run` does).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Redis, until};
use feedwire_redis::{Link, LinkConfig, LinkState};

type Got = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

fn link(redis: &Redis) -> (Link, Got, Arc<Mutex<u32>>) {
    let got: Got = Arc::default();
    let ups = Arc::new(Mutex::new(0));
    let mut config = LinkConfig::new(redis.url());
    config.reconnect_max = Duration::from_millis(200);
    config.ping_interval = Duration::from_millis(200);
    let (g, u) = (got.clone(), ups.clone());
    let link = Link::start(
        config,
        move |ch, payload| g.lock().unwrap().push((ch.to_owned(), payload.to_owned())),
        move || *u.lock().unwrap() += 1,
    )
    .unwrap();
    (link, got, ups)
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn follows_publishes_and_comes_back_after_redis_restarts() {
    let mut redis = Redis::start();
    let (a, got_a, ups_a) = link(&redis);
    let (b, _got_b, _) = link(&redis);
    a.subscribe("chat");
    until(10, "a up", || a.state() == LinkState::Up).await;
    until(10, "b up", || b.state() == LinkState::Up).await;
    // a subscription made after connecting takes a round trip: publish until it arrives
    until(10, "first message", || {
        b.publish("chat", "hello");
        !got_a.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(got_a.lock().unwrap()[0], ("chat".to_owned(), b"hello".to_vec()));
    b.publish("other", "not followed");
    b.publish("chat", vec![0xff, 0x00]); // bytes pass as they are
    until(10, "binary message", || {
        got_a.lock().unwrap().iter().any(|(_, p)| p == &[0xff, 0x00])
    })
    .await;
    assert!(got_a.lock().unwrap().iter().all(|(ch, _)| ch == "chat"));
    assert_eq!(*ups_a.lock().unwrap(), 1);

    redis.kill();
    until(10, "a down", || a.state() == LinkState::Down).await;
    assert!(!a.stats().up);
    b.publish("chat", "while away"); // waits in b's queue
    redis.restart();
    until(15, "a up again", || a.state() == LinkState::Up).await;
    assert_eq!(*ups_a.lock().unwrap(), 2, "on_up runs again after a reconnect");
    assert_eq!(a.stats().disconnects, 1);
    // the subscription was renewed by itself; the message that waited in b's queue is published once the
    // publisher reconnects, which may be before or after a resubscribed: publish fresh ones until one arrives
    let before = got_a.lock().unwrap().len();
    until(15, "messages after the restart", || {
        b.publish("chat", "after");
        got_a.lock().unwrap()[before..].iter().any(|(_, p)| p == b"after")
    })
    .await;

    a.unsubscribe("chat");
    // an unsubscribe is one round trip too; give it time, then nothing more may arrive
    tokio::time::sleep(Duration::from_millis(300)).await;
    let n = got_a.lock().unwrap().len();
    b.publish("chat", "after unsubscribe");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(got_a.lock().unwrap().len(), n);
    assert!(b.stats().published >= 4);
}

#[tokio::test]
#[ignore = "needs redis-server"]
async fn a_full_queue_drops_and_counts_while_redis_is_away() {
    let mut redis = Redis::start();
    redis.kill();
    let mut config = LinkConfig::new(redis.url());
    config.publish_queue = 4;
    config.reconnect_min = Duration::from_secs(30); // the publisher stays stuck on its first message
    let link = Link::start(config, |_, _| {}, || {}).unwrap();
    let mut accepted = 0;
    for i in 0..20 {
        if link.publish("c", format!("{i}")) {
            accepted += 1;
        }
    }
    // the publisher holds one message, the queue four more
    assert!((4..=5).contains(&accepted), "accepted {accepted}");
    assert_eq!(link.stats().dropped, 20 - accepted);
    assert_eq!(link.stats().published, 0);
}

#[test]
fn a_bad_url_is_refused_and_passwords_stay_hidden() {
    // no runtime needed: the link runs on a thread of its own
    let e = Link::start(LinkConfig::new("http://user:pw@host"), |_, _| {}, || {}).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("invalid Redis URL http://user:***@host:"),
        "{msg}"
    );
    assert!(!msg.contains("pw"));
    assert!(!format!("{:?}", LinkConfig::new("redis://:pw@h")).contains("pw"));
}
