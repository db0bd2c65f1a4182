//! `feedwire record` (issue 21): each protocol recorded against `feedwire serve` as a process, with its
//! secret on the command line (and, for Doshii, in the URL): the transcript parses, holds the session (the
//! subscription, the published event) and nowhere the secret's text; the size bound ends the recording
//! gracefully; `--out` is required.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::Write;

use common::{Feedwire, serve};
use feedwire_core::transcript::{Record, Transcript};

/// Runs `record PROTOCOL ARGS --out FILE --count 1`, publishes `line` through the server once the recorder
/// is subscribed (`ready` on the recorder's stdout), waits for exit 0, and returns the transcript's text.
fn record(server: &mut Feedwire, protocol: &str, args: &[&str], ready: &str, line: &str) -> String {
    let dir = tempdir();
    let file = dir.join(format!("{protocol}.jsonl"));
    let file_arg = file.to_str().unwrap().to_owned();
    let mut all = vec!["record", protocol];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--count", "1", "--out", &file_arg]);
    let mut rec = Feedwire::start(&all);
    rec.stdout_kind(ready);
    let stdin = server.child.stdin.as_mut().unwrap();
    writeln!(stdin, "{line}").unwrap();
    stdin.flush().unwrap();
    let status = rec.exit();
    assert!(status.success(), "{status:?}\n{}", rec.err_seen.join("\n"));
    let text = std::fs::read_to_string(&file).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    text
}

fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "feedwire-record-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The transcript parses, and its received frames include one containing `event`.
fn check(text: &str, protocol: &str, event: &str, secrets: &[&str]) -> Transcript {
    let t = Transcript::parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(
        !text.contains("\n\n"),
        "one object per line, no blank lines:\n{text}"
    );
    assert_eq!(t.header.protocol, protocol);
    assert!(
        t.received().any(|f| f.contains(event)),
        "no received frame with {event:?}:\n{text}"
    );
    assert!(
        t.entries.iter().any(|e| matches!(e.record, Record::Send { .. })),
        "nothing sent recorded:\n{text}"
    );
    for s in secrets {
        assert!(
            !text.contains(s),
            "the secret {s:?} is in the transcript:\n{text}"
        );
    }
    t
}

#[test]
fn pusher_private_channel_recorded_without_its_secret_or_signature() {
    let (mut server, port) = serve("pusher");
    let port = port.to_string();
    let text = record(
        &mut server,
        "pusher",
        &[
            "--key",
            "app-key",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--no-tls",
            "--channel",
            "private-orders",
            "--secret",
            "app-secret",
        ],
        "subscribed",
        r#"{"channel":"private-orders","event":"created","data":{"id":7}}"#,
    );
    let t = check(&text, "pusher", "created", &["app-secret"]);
    // the channel signature (app-key:HMAC) was sent, and only its placeholder was written
    let sent: Vec<&str> = t
        .entries
        .iter()
        .filter_map(|e| match &e.record {
            Record::Send { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let subscribe = sent
        .iter()
        .find(|f| f.contains("pusher:subscribe"))
        .unwrap_or_else(|| panic!("no subscribe sent:\n{text}"));
    assert!(subscribe.contains(r#"app-key:[redacted:"#), "{subscribe}");
}

#[test]
fn actioncable_identifier_key_never_reaches_the_transcript() {
    let (mut server, port) = serve("actioncable");
    let url = format!("ws://127.0.0.1:{port}/cable");
    let text = record(
        &mut server,
        "actioncable",
        &["--url", &url, "--channel", "ApiChannel key=metasmoke-api-key-123"],
        "confirmed",
        r#"{"stream":"ApiChannel","message":{"event_type":"create"}}"#,
    );
    check(&text, "actioncable", "event_type", &["metasmoke-api-key-123"]);
}

#[test]
fn doshii_client_id_on_the_command_line_and_in_the_url_never_reaches_the_transcript() {
    let (mut server, port) = serve("doshii");
    let env = format!("ws://127.0.0.1:{port}");
    let text = record(
        &mut server,
        "doshii",
        &[
            "--env",
            &env,
            "--role",
            "app",
            "--client-id",
            "doshii-client-id-42",
        ],
        "connected",
        r#"{"client_id":"doshii-client-id-42","event":"order_created","data":{"id":"1"}}"#,
    );
    // the id travels base64-encoded in the URL's auth parameter: neither form may be written
    check(
        &text,
        "doshii",
        "order_created",
        &["doshii-client-id-42", "ZG9zaGlpLWNsaWVudC1pZC00Mg"],
    );
}

#[test]
fn igratech_token_never_reaches_the_transcript() {
    let (mut server, port) = serve("igratech");
    let url = format!("ws://127.0.0.1:{port}/wspublic");
    let text = record(
        &mut server,
        "igratech",
        // the mock feed sends only to connections that sent their settings, and echoes them
        &[
            "--url",
            &url,
            "--token",
            "igratech-token-secret",
            "--settings",
            r#"{"lang":"en"}"#,
        ],
        "message",
        r#"{"event":"balance","data":{"balance":90.0,"currency":"EUR"}}"#,
    );
    check(&text, "igratech", "balance", &["igratech-token-secret"]);
}

#[test]
fn the_size_bound_ends_the_recording_gracefully_with_a_usable_file() {
    let (_server, port) = serve("pusher");
    let dir = tempdir();
    let file = dir.join("bound.jsonl");
    let port = port.to_string();
    let mut rec = Feedwire::start(&[
        "record",
        "pusher",
        "--key",
        "app-key",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--no-tls",
        "--channel",
        "orders",
        "--out",
        file.to_str().unwrap(),
        "--max-bytes",
        "300",
    ]);
    let status = rec.exit();
    assert!(status.success(), "{status:?}\n{}", rec.err_seen.join("\n"));
    assert!(
        rec.err_seen.iter().any(|l| l.contains("--max-bytes")),
        "{}",
        rec.err_seen.join("\n")
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let t = Transcript::parse(&text).unwrap();
    assert!(!t.entries.is_empty(), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn record_without_out_is_refused_before_dialing() {
    let mut rec = Feedwire::start(&["record", "igratech", "--url", "ws://127.0.0.1:1/wspublic"]);
    let status = rec.exit();
    assert_eq!(status.code(), Some(2));
    assert!(
        rec.err_seen.iter().any(|l| l.contains("--out FILE")),
        "{}",
        rec.err_seen.join("\n")
    );
}

#[test]
fn demo_record_writes_one_transcript_per_protocol_without_the_demo_secrets() {
    let dir = tempdir().join("demo");
    let mut demo = Feedwire::start(&["demo", "--record", dir.to_str().unwrap()]);
    let status = demo.exit_within(std::time::Duration::from_secs(60));
    assert!(status.success(), "{status:?}\n{}", demo.err_seen.join("\n"));
    for protocol in ["pusher", "actioncable", "doshii", "igratech"] {
        let text = std::fs::read_to_string(dir.join(format!("{protocol}.jsonl"))).unwrap();
        let t = Transcript::parse(&text).unwrap_or_else(|e| panic!("{protocol}: {e}"));
        // every tour drops its connection once and reconnects: two connections recorded
        assert!(
            t.entries.iter().any(|e| e.conn == 2),
            "{protocol}: one connection only\n{text}"
        );
        for secret in ["app-secret", "demo-api-key", "demo-partner", "demo-user"] {
            assert!(!text.contains(secret), "{protocol}: {secret:?} in the transcript");
        }
    }
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}
