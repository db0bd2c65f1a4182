//! A client that stops reading must not make the server's memory grow without bound: its bounded outgoing
//! queue overflows, the server closes it with 1008 and the hub gets `handle_close(None)`, while a client that
//! reads keeps receiving. Its own test binary, so the resident-memory reading is not disturbed by other tests.

#![allow(clippy::print_stderr)] // prints the measured growth for the report

mod common;

use std::time::Duration;

use common::{Ev, HubEv, TopicClient, TopicHub};
use feedwire_core::{ConnId, Frame};
use feedwire_tungstenite::tungstenite::Message;
use feedwire_tungstenite::{Connection, Server, ServerConfig};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_is_dropped_and_memory_stays_bounded() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::new(
        listener,
        TopicHub::default(),
        ServerConfig::default().with_queue_capacity(16),
    )
    .unwrap();
    let addr = server.local_addr();

    // the slow reader: handshakes, subscribes, then never reads again
    let (mut slow, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/slow"))
        .await
        .unwrap();
    assert_eq!(slow.next().await.unwrap().unwrap(), Message::text("welcome"));
    slow.send(Message::text("sub:news")).await.unwrap();
    assert_eq!(
        slow.next().await.unwrap().unwrap(),
        Message::text("subscribed:news")
    );

    // a reader that keeps up
    let mut fast = Connection::new(TopicClient::new(&format!("ws://{addr}/fast"), "news"));
    assert_eq!(
        timeout(Duration::from_secs(5), fast.next_event()).await.unwrap(),
        Some(Ev::Open(Some("topic-v1".into())))
    );
    assert_eq!(fast.next_event().await, Some(Ev::Subscribed("news".into())));
    let (count_tx, mut count_rx) = tokio::sync::watch::channel(0usize);
    let fast_task = tokio::spawn(async move {
        let mut got = 0usize;
        while let Some(ev) = fast.next_event().await {
            match ev {
                Ev::Message(m) => {
                    got += 1;
                    count_tx.send_replace(got);
                    if m == "last" {
                        break;
                    }
                }
                other => panic!("the fast reader saw {other:?}"),
            }
        }
        got
    });

    let before = vm_rss_kib();
    // 2,000 distinct 64 KiB frames: 125 MiB if anything buffered them all
    let mut peak = before;
    for i in 0..2000u32 {
        let mut text = format!("{i:08}");
        text.push_str(&"x".repeat(64 * 1024 - 8));
        server.call(|hub| hub.publish_frame("news", Frame::from(text)));
        if i % 8 == 7 {
            // pace the publisher on the fast reader (at most 8 of its 16 queue slots in use), so only the
            // reader that stopped reading overflows, however loaded the machine is
            let sent = i as usize + 1;
            timeout(Duration::from_secs(20), count_rx.wait_for(|got| *got >= sent))
                .await
                .expect("the fast reader stalled")
                .expect("the fast reader ended");
            peak = peak.max(vm_rss_kib());
        }
    }
    server.call(|hub| hub.publish("news", "last"));
    let got = timeout(Duration::from_secs(30), fast_task)
        .await
        .unwrap()
        .unwrap();
    peak = peak.max(vm_rss_kib());
    let grown_mib = peak.saturating_sub(before) / 1024;

    assert_eq!(server.handle().slow_reader_drops(), 1);
    let mut closes = Vec::new();
    while let Ok(Some(ev)) = timeout(Duration::from_millis(200), server.next_event()).await {
        if let HubEv::Close(c, code) = ev {
            closes.push((c, code));
        }
    }
    // the slow reader, reported as a close without frame; then the fast one, dropped when its task ended
    assert_eq!(closes, vec![(ConnId(1), None), (ConnId(2), None)]);
    assert_eq!(got, 2001, "the fast reader got every frame");
    eprintln!("resident memory grew by {grown_mib} MiB (peak) while publishing 125 MiB");
    assert!(
        grown_mib < 48,
        "resident memory grew by {grown_mib} MiB while publishing 125 MiB"
    );
    server.shutdown().await;
    drop(slow);
}
