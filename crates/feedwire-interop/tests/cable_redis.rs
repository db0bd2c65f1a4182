//! Rails ActionCable 6.1 (puma, `adapter: redis`, `channel_prefix: fwtest`) and `feedwire serve actioncable
//! --redis URL --redis-prefix fwtest` on one `redis-server`: a broadcast from Rails
//! (`ActionCable.server.broadcast`) reaches @rails/actioncable 8.1 clients connected to feedwire, and a
//! broadcast published through feedwire reaches clients connected to Rails, each exactly once, and
//! feedwire's clients get both sources' broadcasts in the order they were published.
//!
//! Run: `cargo test -p feedwire-interop --test cable_redis -- --ignored` (needs the peers of
//! `scripts/install-peers.sh`: puma, ruby-actioncable, ruby-redis, redis-server, node and the JS clients).
#![allow(clippy::disallowed_methods)] // real time and real processes are the point here

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use feedwire_interop::{
    Peer, StdinFile, feedwire_bin, free_port, http_get, json_lines, peers_dir, start_rails_with, start_redis,
    url_encode,
};
use serde_json::Value;

const PREFIX: &str = "fwtest";

fn lines(p: &Peer) -> Vec<Value> {
    json_lines(&p.output())
}

/// The messages a client received, as `from/n` strings.
fn received(p: &Peer) -> Vec<String> {
    lines(p)
        .into_iter()
        .filter(|v| v["step"] == "received")
        .map(|v| {
            format!(
                "{}/{}",
                v["message"]["from"].as_str().unwrap_or("?"),
                v["message"]["n"]
            )
        })
        .collect()
}

fn wait(what: &str, secs: u64, mut f: impl FnMut() -> bool, ctx: impl Fn() -> String) {
    let end = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < end, "not within {secs} s: {what}\n{}", ctx());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn client(name: &str, url: &str) -> Peer {
    Peer::start(
        name,
        &peers_dir().join("clients"),
        "node",
        &["actioncable-stream-client.js", url],
        &[("TIMEOUT_MS", "60000")],
    )
    .unwrap()
}

#[test]
#[ignore = "needs redis-server, puma, ruby-actioncable, ruby-redis and node (scripts/install-peers.sh)"]
fn rails_and_feedwire_share_broadcasts_over_redis() {
    feedwire_bin();
    let redis_port = free_port().unwrap();
    let redis = start_redis(redis_port).unwrap();
    let redis_url = format!("redis://127.0.0.1:{redis_port}");

    let rails_port = free_port().unwrap();
    let rails = start_rails_with(
        rails_port,
        &[("REDIS_URL", &redis_url), ("CABLE_CHANNEL_PREFIX", PREFIX)],
    )
    .unwrap();

    let fw_port = free_port().unwrap();
    let stdin = StdinFile::new("cable-redis");
    let feedwire = Peer::start(
        "feedwire-serve-actioncable-redis",
        &std::env::temp_dir(),
        "sh",
        &[
            "-c",
            r#"tail -n +1 -f "$0" | exec "$1" serve actioncable --addr "$2" --redis "$3" --redis-prefix "$4""#,
            stdin.path().to_str().unwrap(),
            feedwire_bin().to_str().unwrap(),
            &format!("127.0.0.1:{fw_port}"),
            &redis_url,
            PREFIX,
        ],
        &[],
    )
    .and_then(|p| p.listening(fw_port, Duration::from_secs(10), "feedwire serve actioncable"))
    .unwrap_or_else(|e| panic!("{e}"));

    let on_rails = client(
        "actioncable-on-rails",
        &format!("ws://127.0.0.1:{rails_port}/cable"),
    );
    let on_feedwire = client(
        "actioncable-on-feedwire",
        &format!("ws://127.0.0.1:{fw_port}/cable"),
    );
    let ctx = || {
        format!(
            "--- feedwire:\n{}\n--- client on feedwire:\n{}\n--- client on rails:\n{}\n--- rails (tail):\n{}\n--- redis:\n{}",
            feedwire.output(),
            on_feedwire.output(),
            on_rails.output(),
            rails
                .output()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n"),
            redis.output()
        )
    };
    let confirmed = |p: &Peer| lines(p).iter().any(|v| v["step"] == "confirmed");
    wait(
        "both clients confirmed",
        20,
        || confirmed(&on_rails) && confirmed(&on_feedwire),
        ctx,
    );

    let from_rails = |n: u32| {
        let msg = format!(r#"{{"from":"rails","n":{n}}}"#);
        http_get(
            rails_port,
            &format!("/broadcast?stream=FeedChannel&message={}", url_encode(&msg)),
        );
    };
    let from_feedwire = |n: u32| {
        stdin.append(&format!(
            r#"{{"stream":"FeedChannel","message":{{"from":"feedwire","n":{n}}}}}"#
        ))
    };

    // The servers subscribe to Redis after confirming (feedwire) or around it (Rails): warm up both ways
    // until one broadcast crosses each way, so that what follows measures delivery, not subscription.
    let mut n = 0;
    wait(
        "a broadcast from Rails reaches the client on feedwire",
        20,
        || {
            n += 1;
            from_rails(1000 + n);
            std::thread::sleep(Duration::from_millis(100));
            received(&on_feedwire).iter().any(|m| m.starts_with("rails/"))
        },
        ctx,
    );
    let mut m = 0;
    wait(
        "a broadcast from feedwire reaches the client on Rails",
        20,
        || {
            m += 1;
            from_feedwire(1000 + m);
            std::thread::sleep(Duration::from_millis(100));
            received(&on_rails).iter().any(|m| m.starts_with("feedwire/"))
        },
        ctx,
    );

    for k in 1..=5 {
        from_rails(k);
        from_feedwire(k);
    }
    let want: Vec<String> = (1..=5)
        .flat_map(|k| [format!("rails/{k}"), format!("feedwire/{k}")])
        .collect();
    for (name, p) in [("on feedwire", &on_feedwire), ("on rails", &on_rails)] {
        wait(
            &format!("the client {name} got all ten broadcasts"),
            20,
            || {
                let got = received(p);
                want.iter().all(|w| got.contains(w))
            },
            ctx,
        );
    }
    // give a duplicate time to show up, then count
    std::thread::sleep(Duration::from_millis(500));
    for (name, p) in [("on feedwire", &on_feedwire), ("on rails", &on_rails)] {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for m in received(p) {
            *counts.entry(m).or_default() += 1;
        }
        let dups: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).collect();
        assert!(
            dups.is_empty(),
            "the client {name} got duplicates: {dups:?}\n{}",
            ctx()
        );
    }
    // feedwire delivers what Redis gives in Redis' order: both sources' order holds on its client. (Rails
    // hands each broadcast to its worker pool, so its own clients may see two close ones swapped: seen here.)
    {
        let (name, p) = ("on feedwire", &on_feedwire);
        let got = received(p);
        for from in ["rails", "feedwire"] {
            let seq: Vec<&String> = got
                .iter()
                .filter(|m| want.contains(m) && m.starts_with(from))
                .collect();
            let expected: Vec<String> = (1..=5).map(|k| format!("{from}/{k}")).collect();
            assert_eq!(
                seq,
                expected.iter().collect::<Vec<_>>(),
                "order on the client {name}"
            );
        }
    }
}
