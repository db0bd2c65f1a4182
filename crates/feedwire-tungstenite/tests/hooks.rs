//! Hooks (work beside the connection) and taps (recording what crosses the wire), in the async and the
//! blocking drivers, over real sockets on 127.0.0.1.
#![allow(clippy::disallowed_methods)] // tests read the real clock

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Ev, HubEv, TopicClient, TopicHub};
use feedwire_core::transcript::{ClosedBy, Header, Record, Recorder, Redactor, Side, Transcript};
use feedwire_tungstenite::{BlockingConnection, Connection, Hook, Jobs, Server};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

/// The connection's next event, within [`WAIT`].
async fn next(conn: &mut Connection<TopicClient>) -> Option<Ev> {
    timeout(WAIT, conn.next_event()).await.unwrap()
}

/// Waits for the connection to open and subscribe to `news`.
async fn opened_and_subscribed(conn: &mut Connection<TopicClient>) {
    assert!(matches!(next(conn).await, Some(Ev::Open(_))));
    assert_eq!(next(conn).await, Some(Ev::Subscribed("news".into())));
}

/// Takes `ask:N` messages, answers `answer:N` after a slow piece of work, passes every other event.
struct Answerer {
    delay: Duration,
}

impl Hook<TopicClient> for Answerer {
    fn on_event(&mut self, _: &mut TopicClient, event: Ev, jobs: &mut Jobs<TopicClient>) -> Option<Ev> {
        let Ev::Message(text) = &event else {
            return Some(event);
        };
        let Some(n) = text.strip_prefix("ask:").map(str::to_owned) else {
            return Some(event);
        };
        let delay = self.delay;
        if jobs.is_blocking_driver() {
            jobs.spawn_blocking(move || {
                std::thread::sleep(delay);
                move |s: &mut TopicClient, _: Instant| s.send(&format!("answer:{n}"))
            });
        } else {
            jobs.spawn(async move {
                tokio::time::sleep(delay).await;
                move |s: &mut TopicClient, _: Instant| s.send(&format!("answer:{n}"))
            });
        }
        None
    }
}

async fn hub_frame(server: &Server<TopicHub>) -> String {
    loop {
        match timeout(WAIT, server.next_event()).await.unwrap().unwrap() {
            HubEv::Frame(_, text) => return text,
            _ => continue,
        }
    }
}

#[tokio::test]
async fn async_hook_work_runs_beside_the_connection() {
    let server = Server::bind("127.0.0.1:0", TopicHub::default()).await.unwrap();
    let url = format!("ws://{}/t", server.local_addr());
    let mut conn = Connection::new(TopicClient::new(&url, "news")).with_hook(Answerer {
        delay: Duration::from_millis(300),
    });
    opened_and_subscribed(&mut conn).await;
    server.call(|hub| hub.publish("news", "ask:1"));
    server.call(|hub| hub.publish("news", "plain"));
    // the question is taken; the next message arrives while the answer is still being worked out
    let started = Instant::now();
    assert_eq!(next(&mut conn).await, Some(Ev::Message("plain".into())));
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    // then the work finishes and its result reaches the hub through the session
    let answer = tokio::select! {
        a = hub_frame(&server) => a,
        e = conn.next_event() => panic!("unexpected event {e:?}"),
    };
    assert_eq!(answer, "answer:1");
    conn.disconnect();
    assert_eq!(next(&mut conn).await, Some(Ev::Stopped));
    assert_eq!(next(&mut conn).await, None);
    server.shutdown().await;
}

#[tokio::test]
async fn blocking_hook_work_runs_on_its_own_thread() {
    let server = Server::bind("127.0.0.1:0", TopicHub::default()).await.unwrap();
    let url = format!("ws://{}/t", server.local_addr());
    let handle = server.handle();
    let client = std::thread::spawn(move || {
        let mut conn = BlockingConnection::new(TopicClient::new(&url, "news")).with_hook(Answerer {
            delay: Duration::from_millis(300),
        });
        let mut seen = Vec::new();
        while let Some(ev) = conn.next_event() {
            if ev == Ev::Message("stop".into()) {
                conn.disconnect();
            }
            seen.push(ev);
        }
        seen
    });
    // wait for the subscription, then ask and say something plain
    timeout(WAIT, async {
        while handle.call(|hub| hub.subscribers("news").is_empty()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    handle.call(|hub| hub.publish("news", "ask:7"));
    handle.call(|hub| hub.publish("news", "plain"));
    let mut frames = Vec::new();
    timeout(WAIT, async {
        while !frames.iter().any(|f: &String| f == "answer:7") {
            frames.push(hub_frame(&server).await);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no answer; the hub saw {frames:?}"));
    handle.call(|hub| hub.publish("news", "stop"));
    let seen = timeout(WAIT, tokio::task::spawn_blocking(move || client.join().unwrap()))
        .await
        .unwrap()
        .unwrap();
    // the question was taken by the hook; everything else reached the application, in order
    assert_eq!(
        seen[1..],
        [
            Ev::Subscribed("news".into()),
            Ev::Message("plain".into()),
            Ev::Message("stop".into()),
            Ev::Stopped
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_tap_records_a_transcript_with_secrets_redacted() {
    let server = Server::bind("127.0.0.1:0", TopicHub::default()).await.unwrap();
    let url = format!("ws://{}/t?token=hunter2-secret", server.local_addr());
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let start = Instant::now();
    let mut redactor = Redactor::new();
    redactor.add("hunter2-secret").unwrap();
    let mut recorder = Recorder::new(Header::new("topic", Side::Client).with_url(&url), redactor, start);
    lines.lock().unwrap().push(recorder.header_line());
    let sink = lines.clone();
    let mut conn = Connection::new(TopicClient::new(&url, "news").once()).with_tap(move |tap| {
        sink.lock()
            .unwrap()
            .push(tap.transcript_line(&mut recorder, Instant::now()))
    });
    opened_and_subscribed(&mut conn).await;
    conn.session_mut().send("my token is hunter2-secret");
    server.call(|hub| {
        let conn = hub.subscribers("news")[0];
        hub.kick(conn, 4000);
    });
    assert_eq!(next(&mut conn).await, Some(Ev::Closed(Some(4000))));
    let text = lines.lock().unwrap().concat();
    assert!(!text.contains("hunter2"), "{text}");
    let t = Transcript::parse(&text).unwrap();
    let kinds: Vec<&Record> = t.entries.iter().map(|e| &e.record).collect();
    assert!(matches!(kinds[0], Record::Connect { url } if url.ends_with("/t?token=[redacted]")));
    assert!(matches!(kinds[1], Record::Open { subprotocol: Some(p) } if p == "topic-v1"));
    assert!(matches!(kinds[2], Record::Recv { text } if text == "welcome"));
    assert!(matches!(kinds[3], Record::Send { text } if text == "sub:news"));
    assert!(matches!(kinds[4], Record::Recv { text } if text == "subscribed:news"));
    assert!(matches!(kinds[5], Record::Send { text } if text == "my token is [redacted:1]"));
    assert!(matches!(
        kinds[6],
        Record::Close {
            by: ClosedBy::Server,
            code: Some(4000),
            ..
        }
    ));
    assert!(t.entries.iter().all(|e| e.conn == 1));
    server.shutdown().await;
}
