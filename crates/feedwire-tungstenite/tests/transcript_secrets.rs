//! Secrets never reach a transcript (issue 21), for every protocol, through the path a recording takes: the
//! driver's [`Tap`], `Tap::transcript_line` and core's `Recorder`, with the secrets of the "command line" (the
//! client's configuration) given to its `Redactor`. Each client runs against its protocol's hub over real
//! loopback sockets with a secret in its configuration and one in its URL; the test asserts the secret's text
//! (and its encodings) appears nowhere in the recorded file, and that the recording is still a transcript
//! whose frames were recorded.
#![allow(clippy::disallowed_methods)] // real sockets, real time

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use feedwire_core::transcript::{Header, Record, Recorder, Redactor, Side, Transcript};
use feedwire_core::{Lifecycle, RawJson, Secret, UnixAnchor};
use feedwire_tungstenite::{Connection, Server, Tap};

const STEP: Duration = Duration::from_secs(10);

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A recording in progress: the recorder is shared so the application can teach it secrets it learns
/// during the session (a Pusher signature).
struct Tape {
    recorder: Arc<Mutex<Recorder>>,
    text: Arc<Mutex<String>>,
}

impl Tape {
    fn new(protocol: &str, url: &str, secrets: &[&str]) -> Tape {
        let mut redactor = Redactor::new();
        for s in secrets {
            redactor.add(s).unwrap();
        }
        let recorder = Recorder::new(
            Header::new(protocol, Side::Client).with_url(url),
            redactor,
            Instant::now(),
        );
        let text = Arc::new(Mutex::new(recorder.header_line()));
        Tape {
            recorder: Arc::new(Mutex::new(recorder)),
            text,
        }
    }

    fn tap(&self) -> impl FnMut(Tap<'_>) + Send + 'static {
        let (recorder, text) = (self.recorder.clone(), self.text.clone());
        move |what: Tap<'_>| {
            let line = what.transcript_line(&mut recorder.lock().unwrap(), Instant::now());
            text.lock().unwrap().push_str(&line);
        }
    }

    /// The file so far, checked to be a transcript with frames both ways.
    fn finish(&self) -> String {
        let text = self.text.lock().unwrap().clone();
        let t = Transcript::parse(&text).unwrap();
        assert!(
            t.entries.iter().any(|e| matches!(e.record, Record::Recv { .. })),
            "{text}"
        );
        assert!(
            t.entries.iter().any(|e| matches!(e.record, Record::Send { .. })),
            "{text}"
        );
        text
    }
}

fn assert_absent(text: &str, secret: &str) {
    assert!(!text.contains(secret), "{secret:?} recorded:\n{text}");
}

async fn next<S: Lifecycle + Send + 'static>(c: &mut Connection<S>) -> S::Event {
    tokio::time::timeout(STEP, c.next_event())
        .await
        .expect("no event in time")
        .expect("session ended")
}

#[tokio::test]
async fn pusher_app_secret_and_channel_signatures_are_not_recorded() {
    use feedwire_pusher::client::{ChannelAuth, Client, Config, Event};
    use feedwire_pusher::server::{Hub, HubConfig};
    const SECRET: &str = "pusher-app-secret-s3cr3t";
    let server = Server::bind(
        "127.0.0.1:0",
        Hub::new(HubConfig::new("app-id", "app-key", SECRET)),
    )
    .await
    .unwrap();
    let mut client = Client::new(
        Config::new("app-key")
            .with_host("127.0.0.1")
            .with_port(server.local_addr().port())
            .with_tls(false),
    );
    client.subscribe("private-orders").unwrap();
    let url = client.config().url(false);
    // `feedwire listen pusher --secret S` gives S; each signature it makes is taught to the recorder
    let tape = Tape::new("pusher", &url, &[SECRET]);
    let mut c = Connection::new(client).with_tap(tape.tap());
    let secret = Secret::new(SECRET.to_owned());
    let mut signatures = Vec::new();
    loop {
        match next(&mut c).await {
            Event::AuthRequired { socket_id, channel } => {
                let auth = feedwire_pusher::auth::sign_private("app-key", &secret, &socket_id, &channel);
                let hex = auth.expose().rsplit(':').next().unwrap().to_owned();
                tape.recorder.lock().unwrap().add_secret(&hex).unwrap();
                signatures.push(hex);
                c.session_mut()
                    .provide_auth(&channel, ChannelAuth::new(auth.expose().clone()))
                    .unwrap();
            }
            Event::Subscribed { .. } => break,
            _ => {}
        }
    }
    let data = RawJson::from_json_str(r#"{"order":7}"#).unwrap();
    server
        .call(|hub| hub.publish(&["private-orders"], "paid", &data, None))
        .unwrap();
    while !matches!(next(&mut c).await, Event::Message { .. }) {}
    let text = tape.finish();
    assert_absent(&text, SECRET);
    assert_eq!(signatures.len(), 1);
    assert_absent(&text, &signatures[0]);
    assert!(text.contains(r#"\"auth\":\"app-key:[redacted:2]\""#), "{text}");
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn actioncable_identifier_key_and_url_token_are_not_recorded() {
    use feedwire_actioncable::client::{Client, Config, Event};
    use feedwire_actioncable::identifier::{ApiChannel, ModelEvent};
    use feedwire_actioncable::server::{Hub, HubConfig, HubEvent};
    const KEY: &str = "metasmoke-key-s3cr3t";
    const TOKEN: &str = "cable-token-s3cr3t";
    let now = Instant::now();
    let server = Server::bind(
        "127.0.0.1:0",
        Hub::new(HubConfig::default().with_unix_anchor(UnixAnchor::new(now, unix_ms()))),
    )
    .await
    .unwrap();
    let url = format!("ws://{}/cable?token={TOKEN}", server.local_addr());
    let api = ApiChannel::new(KEY)
        .with_events("posts", &[ModelEvent::Create])
        .unwrap()
        .identifier()
        .unwrap();
    let mut client = Client::new(Config::new(url.clone()).with_unix_anchor(UnixAnchor::new(now, unix_ms())));
    client.subscribe(now, api).unwrap();
    // `feedwire listen actioncable --param key=KEY`: the key is a secret of the command line
    let tape = Tape::new("actioncable", &url, &[KEY]);
    let mut c = Connection::new(client).with_tap(tape.tap());
    let mut messages = 0;
    let deadline = tokio::time::Instant::now() + STEP;
    while messages == 0 {
        tokio::select! {
            ev = c.next_event() => match ev.expect("session ended") {
                Event::Confirmed { .. } => {
                    server.call(|hub| hub.broadcast("posts", r#"{"id":1}"#)).unwrap();
                }
                Event::Message { .. } => messages += 1,
                _ => {}
            },
            hev = server.next_event() => if let Some(HubEvent::SubscribeRequested { conn, identifier }) = hev {
                // the identifier, key included, reached the server as it was
                assert!(identifier.as_str().contains(KEY));
                server.call(|hub| {
                    hub.stream_from(conn, identifier.as_str(), "posts").unwrap();
                    hub.confirm(conn, identifier.as_str()).unwrap();
                });
            },
            _ = tokio::time::sleep_until(deadline) => panic!("no message in time"),
        }
    }
    let text = tape.finish();
    assert_absent(&text, KEY);
    assert_absent(&text, TOKEN);
    assert!(text.contains("?token=[redacted]"), "{text}");
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn doshii_client_id_in_the_auth_query_is_not_recorded() {
    use base64::Engine as _;
    use feedwire_doshii::client::{Client, Config, Environment, Event};
    use feedwire_doshii::server::Hub;
    const CLIENT_ID: &str = "doshii-client-id-s3cr3t";
    let server = Server::bind("127.0.0.1:0", Hub::default()).await.unwrap();
    let now = Instant::now();
    let config = Config::app(CLIENT_ID, UnixAnchor::new(now, unix_ms()))
        .with_environment(Environment::Host(format!("ws://{}", server.local_addr())));
    let client = Client::new(config);
    // the URL the client dials carries the client id (base64, URL-encoded) in `auth`
    let dialed = Arc::new(Mutex::new(String::new()));
    let tape = Tape::new("doshii", "ws://doshii.invalid/app/socket", &[CLIENT_ID]);
    let mut record = tape.tap();
    let seen = dialed.clone();
    let mut c = Connection::new(client).with_tap(move |what| {
        if let Tap::Connect(req) = what {
            *seen.lock().unwrap() = req.url.clone();
        }
        record(what);
    });
    while !matches!(next(&mut c).await, Event::Pong { .. }) {}
    let order = RawJson::from_json_str(r#"{"id":"1","status":"pending"}"#).unwrap();
    server
        .call(|hub| hub.publish_to_app(Instant::now(), CLIENT_ID, "order_created", &order))
        .unwrap();
    while !matches!(next(&mut c).await, Event::Doshii(_)) {}
    let text = tape.finish();
    let b64 = base64::engine::general_purpose::STANDARD.encode(CLIENT_ID);
    let b64_trimmed = b64.trim_end_matches('=');
    assert!(
        dialed.lock().unwrap().contains(&b64_trimmed[..16]),
        "the test's premise: the dialed URL carries the encoded client id"
    );
    assert_absent(&text, CLIENT_ID);
    assert_absent(&text, b64_trimmed);
    assert!(text.contains("auth=[redacted]"), "{text}");
    drop(c);
    server.shutdown().await;
}

#[tokio::test]
async fn igratech_token_is_not_recorded() {
    use feedwire_igratech::client::{Client, Config, Event};
    use feedwire_igratech::codec::ServerMessage;
    use feedwire_igratech::server::{Hub, HubConfig};
    const TOKEN: &str = "igratech-token-s3cr3t";
    let server = Server::bind("127.0.0.1:0", Hub::new(HubConfig::default()))
        .await
        .unwrap();
    let now = Instant::now();
    let url = format!("ws://{}/wspublic?token={TOKEN}", server.local_addr());
    let settings = serde_json::from_str(r#"{"lang":"en","gameIds":[7]}"#).unwrap();
    let config = Config::default()
        .with_url(url.clone())
        .with_token(TOKEN)
        .with_settings(settings)
        .with_unix_anchor(UnixAnchor::new(now, unix_ms()));
    let tape = Tape::new("igratech", &url, &[TOKEN]);
    let mut c = Connection::new(Client::new(config)).with_tap(tape.tap());
    while !matches!(next(&mut c).await, Event::Settings(_)) {}
    let bet = ServerMessage::decode(&feedwire_core::Frame::from(
        r#"{"event":"bet","data":{"gameId":7,"bets":[{"betId":"b1","odds":1.5}]}}"#,
    ))
    .unwrap();
    server.call(|hub| hub.publish(&bet)).unwrap();
    while !matches!(next(&mut c).await, Event::Bet(_)) {}
    let text = tape.finish();
    assert_absent(&text, TOKEN);
    drop(c);
    server.shutdown().await;
}
