//! `feedwire replay` and `feedwire decode` of transcripts, end to end with the built binary on loopback:
//! `feedwire listen pusher` is the client under test of a replayed session with a dropped connection.
#![allow(clippy::disallowed_methods)] // real processes and real time

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_feedwire");

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Kills and reaps the child when dropped (a failing test leaves nothing running).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> Reaped {
    Reaped(
        Command::new(BIN)
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Waits for the child to exit by itself, for at most `timeout`.
fn wait(child: &mut Reaped, timeout: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            return status.code();
        }
        assert!(start.elapsed() < timeout, "still running after {timeout:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_all(r: Option<impl Read>) -> String {
    let mut s = String::new();
    if let Some(mut r) = r {
        let _ = r.read_to_string(&mut s);
    }
    s
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn kinds(lines: &[Value]) -> Vec<&str> {
    lines.iter().filter_map(|l| l["kind"].as_str()).collect()
}

#[test]
fn replay_serves_a_recorded_drop_and_the_next_connection_to_a_live_client() {
    let file = data("pusher_drop.jsonl");
    let mut replay = spawn(&["replay", file.to_str().unwrap(), "--speed", "2"]);
    let mut out = BufReader::new(replay.0.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let listening: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(listening["kind"], "listening", "{first}");
    assert_eq!(listening["connections"], 2);
    let port = listening["port"].as_u64().unwrap().to_string();
    assert!(
        listening["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":{port}/app/app-key")),
        "{first}"
    );

    let mut client = spawn(&[
        "listen",
        "pusher",
        "--key",
        "app-key",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--no-tls",
        "--channel",
        "prices",
    ]);
    let code = wait(&mut replay, Duration::from_secs(20));
    let rest = read_all(Some(out));
    let stderr = read_all(replay.0.stderr.take());
    assert_eq!(code, Some(0), "replay failed:\n{rest}\n{stderr}");
    let replayed = lines(&rest);
    assert_eq!(
        kinds(&replayed),
        ["opened", "closed", "opened", "closed", "finished"],
        "{rest}"
    );
    // the first connection dropped (no close frame), the second closed with the recorded 4200
    assert!(replayed[1].get("code").is_none(), "{rest}");
    assert_eq!(replayed[3]["code"], 4200);

    let _ = client.0.kill();
    let _ = client.0.wait();
    let seen = lines(&read_all(client.0.stdout.take()));
    let interesting: Vec<(String, String)> = seen
        .iter()
        .filter_map(|l| {
            let kind = l["kind"].as_str()?;
            match kind {
                "connected" => Some((kind.to_owned(), l["socket_id"].as_str()?.to_owned())),
                "subscribed" | "resubscribed" => Some((kind.to_owned(), l["channel"].as_str()?.to_owned())),
                "message" => Some((kind.to_owned(), l["data"].to_string())),
                _ => None,
            }
        })
        .collect();
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        interesting,
        vec![
            pair("connected", "1.1"),
            pair("subscribed", "prices"),
            pair("message", r#"{"p":1}"#),
            pair("connected", "2.2"),
            pair("resubscribed", "prices"),
            pair("message", r#"{"p":2}"#),
        ],
        "{seen:?}"
    );
}

#[test]
fn replay_reports_a_client_that_differs_and_exits_1() {
    // the recorded client subscribed to `prices`; this one subscribes to `other`
    let file = data("pusher_drop.jsonl");
    let mut replay = spawn(&[
        "replay",
        file.to_str().unwrap(),
        "--as-fast-as-possible",
        "--wait-ms",
        "300",
    ]);
    let mut out = BufReader::new(replay.0.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let port = serde_json::from_str::<Value>(&first).unwrap()["port"]
        .as_u64()
        .unwrap()
        .to_string();
    let _client = spawn(&[
        "listen",
        "pusher",
        "--key",
        "app-key",
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--no-tls",
        "--channel",
        "other",
    ]);
    let code = wait(&mut replay, Duration::from_secs(20));
    let rest = read_all(Some(out));
    let stderr = read_all(replay.0.stderr.take());
    assert_eq!(code, Some(1), "{rest}\n{stderr}");
    let mismatches: Vec<Value> = lines(&rest)
        .into_iter()
        .filter(|l| l["kind"] == "mismatch")
        .collect();
    assert_eq!(mismatches.len(), 2, "{rest}");
    assert_eq!(mismatches[0]["mismatch"], "frame");
    assert!(
        mismatches[0]["got"]
            .as_str()
            .unwrap()
            .contains(r#""channel":"other""#)
    );
    assert!(stderr.contains("mismatch at"), "{stderr}");
    assert!(stderr.contains("with 2 mismatches"), "{stderr}");
}

#[test]
fn replay_refuses_bad_arguments_and_files() {
    let file = data("pusher_drop.jsonl");
    let f = file.to_str().unwrap();
    for args in [
        vec!["replay", f, "--speed", "0"],
        vec!["replay", f, "--speed", "2", "--as-fast-as-possible"],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let out = Command::new(BIN)
        .args(["replay", "/nonexistent/t.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/t.jsonl"));
}

#[test]
fn decode_reads_a_transcript_with_times_connections_and_directions() {
    let file = data("pusher_drop.jsonl");
    let out = Command::new(BIN)
        .args(["decode", "pusher", file.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let decoded = lines(&String::from_utf8_lossy(&out.stdout));
    let frames: Vec<(u64, u64, &str, &str)> = decoded
        .iter()
        .filter(|l| l.get("direction").is_some())
        .map(|l| {
            (
                l["t"].as_u64().unwrap(),
                l["conn"].as_u64().unwrap(),
                l["direction"].as_str().unwrap(),
                l["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        frames,
        vec![
            (5, 1, "recv", "connection_established"),
            (6, 1, "send", "subscribe"),
            (8, 1, "recv", "subscription_succeeded"),
            (300, 1, "recv", "message"),
            (1405, 2, "recv", "connection_established"),
            (1406, 2, "send", "subscribe"),
            (1408, 2, "recv", "subscription_succeeded"),
            (1600, 2, "recv", "message"),
        ]
    );
    let closes: Vec<&Value> = decoded.iter().filter(|l| l["kind"] == "conn_close").collect();
    assert_eq!(closes.len(), 2);
    assert_eq!(closes[0]["by"], "transport");
    assert_eq!(closes[1]["code"], 4200);
    assert!(String::from_utf8_lossy(&out.stderr).contains("decoded 8 frames (1 transcripts), 0 failed"));

    // plain frames still decode as before, and a transcript of another version is refused
    let mut child = Command::new(BIN)
        .args(["decode", "pusher"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(
            stdin,
            r#"{{"feedwire_transcript":2,"protocol":"pusher","side":"client"}}"#
        )
        .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("version 2 is not supported"));
}
