//! A client that stops reading entirely is closed with 1008 once it has made no write progress for the stall
//! timeout (set short here), the hub gets `handle_close(None)`, and a client that reads keeps receiving
//! everything; meanwhile the server's memory stays bounded by its global byte budget, since the publisher
//! awaits `ready_to_publish` as hosts should. Its own test binary, so the resident-memory reading is not
//! disturbed by other tests.

#![allow(clippy::print_stderr)] // prints the measured growth for the report

mod common;

use std::time::Duration;

use common::{Ev, HubEv, TopicClient, TopicHub};
use feedwire_core::{ConnId, Frame};
use feedwire_tungstenite::tungstenite::Message;
use feedwire_tungstenite::{Connection, Server, ServerConfig};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpSocket};
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
async fn a_reader_that_stops_is_closed_after_the_stall_timeout_and_memory_stays_bounded() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServerConfig::default()
        .with_stall_timeout(Duration::from_millis(1000))
        .with_global_budget(8 << 20)
        .with_close_timeout(Duration::from_secs(10));
    let server = Server::new(listener, TopicHub::default(), config).unwrap();
    let addr = server.local_addr();
    let handle = server.handle();

    // the reader that stops: a small receive buffer, handshakes, subscribes, then never reads again (until
    // the end of the test, to see its close)
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(addr).await.unwrap();
    let (mut slow, _) = tokio_tungstenite::client_async(format!("ws://{addr}/slow"), tcp)
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
    let fast_task = tokio::spawn(async move {
        let mut got = 0usize;
        while let Some(ev) = fast.next_event().await {
            match ev {
                Ev::Message(m) => {
                    assert!(m == "last" || m.starts_with(&format!("{got:08}")), "out of order");
                    got += 1;
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
        timeout(Duration::from_secs(30), handle.ready_to_publish())
            .await
            .expect("the backlog never fell");
        let mut text = format!("{i:08}");
        text.push_str(&"x".repeat(64 * 1024 - 8));
        handle.call(|hub| hub.publish_frame("news", Frame::from(text)));
        if i % 16 == 15 {
            peak = peak.max(vm_rss_kib());
        }
    }
    handle.call(|hub| hub.publish("news", "last"));
    let got = timeout(Duration::from_secs(60), fast_task)
        .await
        .unwrap()
        .unwrap();
    peak = peak.max(vm_rss_kib());
    let grown_mib = peak.saturating_sub(before) / 1024;

    let stats = handle.stats();
    assert_eq!(stats.slow_reader_closes, 1, "{stats:?}");
    let mut closes = Vec::new();
    while let Ok(Some(ev)) = timeout(Duration::from_millis(200), server.next_event()).await {
        if let HubEv::Close(c, code) = ev {
            closes.push((c, code));
        }
    }
    // the reader that stopped, reported as a close without frame; then the fast one, dropped when its task
    // ended
    assert_eq!(closes, vec![(ConnId(1), None), (ConnId(2), None)]);
    assert_eq!(got, 2001, "the fast reader got every frame");

    // the stopped reader reads again: what its socket held, then the 1008 close (the server was still trying
    // to write it, within its close timeout)
    let close = timeout(Duration::from_secs(20), async {
        while let Some(Ok(m)) = slow.next().await {
            if let Message::Close(frame) = m {
                return frame;
            }
        }
        None
    })
    .await
    .expect("the stopped reader's socket was not closed");
    drop(slow); // the server no longer waits for our half of the close handshake
    let close = close.expect("a close frame, not a reset");
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(close.reason.as_str(), "slow reader: no progress for 1 s");

    eprintln!("resident memory grew by {grown_mib} MiB (peak) while publishing 125 MiB");
    assert!(
        grown_mib < 48,
        "resident memory grew by {grown_mib} MiB while publishing 125 MiB"
    );
    server.shutdown().await;
}
