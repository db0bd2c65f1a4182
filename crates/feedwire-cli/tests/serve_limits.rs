//! `feedwire serve pusher`'s limits and app from flags and the environment, end to end on loopback.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_feedwire");

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `feedwire serve pusher` with `args` and `env` on a free port, once it accepts connections.
fn serve(args: &[&str], env: &[(&str, &str)]) -> (Kill, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(BIN)
        .args(["serve", "pusher", "--addr", &format!("127.0.0.1:{port}")])
        .args(args)
        .envs(env.iter().copied())
        .env_remove("PUSHER_APP_SECRET")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Kill(child), port)
}

/// `feedwire listen pusher` lines until `n` lines came or 5 s passed.
fn listen_lines(port: u16, key: &str, channels: &[&str], n: usize) -> Vec<serde_json::Value> {
    let mut cmd = Command::new(BIN);
    cmd.args([
        "listen",
        "pusher",
        "--key",
        key,
        "--host",
        "127.0.0.1",
        "--no-tls",
    ])
    .args(["--port", &port.to_string()]);
    for c in channels {
        cmd.args(["--channel", c]);
    }
    let mut child = Kill(cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut lines = Vec::new();
    while lines.len() < n {
        let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) else {
            break;
        };
        lines.push(serde_json::from_str(&line).unwrap());
    }
    lines
}

#[test]
fn the_subscription_limit_refuses_one_more_and_keeps_the_connection() {
    let (_server, port) = serve(&["--max-subscriptions", "1"], &[]);
    let lines = listen_lines(port, "app-key", &["a", "b"], 3);
    let kinds: Vec<_> = lines
        .iter()
        .map(|l| l["kind"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["connected", "subscribed", "subscription_failed"],
        "{lines:?}"
    );
    assert_eq!(lines[2]["channel"], "b");
    assert_eq!(lines[2]["status"], 400);
    assert!(
        lines[2]["message"].as_str().unwrap().contains("limit"),
        "{lines:?}"
    );
}

#[test]
fn the_http_body_limit_answers_413() {
    let (_server, port) = serve(&["--max-http-body", "100"], &[]);
    let post = |len: usize| {
        let body = format!(r#"{{"name":"e","channel":"c","data":"{}"}}"#, "x".repeat(len));
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "POST /apps/app-id/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer
    };
    assert!(post(200).starts_with("HTTP/1.1 413"), "{}", post(200));
    // a small one reaches the API (and is refused there for its missing signature, not for its size)
    let small = post(10);
    assert!(small.starts_with("HTTP/1.1 401"), "{small}");
}

#[test]
fn app_id_and_key_come_from_the_environment() {
    let (mut server, port) = serve(&[], &[("PUSHER_APP_ID", "env-id"), ("PUSHER_APP_KEY", "env-key")]);
    let mut first = String::new();
    BufReader::new(server.0.stderr.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.contains("/app/env-key") && first.contains("/apps/env-id/"),
        "{first}"
    );
    let ok = listen_lines(port, "env-key", &["a"], 2);
    assert_eq!(
        ok.get(1).map(|l| l["kind"].clone()),
        Some("subscribed".into()),
        "{ok:?}"
    );
    let refused = listen_lines(port, "app-key", &["a"], 1);
    assert!(refused.iter().all(|l| l["kind"] != "subscribed"), "{refused:?}");
}

#[test]
fn apps_from_a_config_file_are_routed_by_key_and_a_disabled_one_is_refused() {
    let dir = std::env::temp_dir().join(format!("feedwire-serve-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("apps.json");
    std::fs::write(
        &file,
        r#"{"apps":[
            {"id":"1","key":"key-a","secret":"secret-a","limits":{"max_subscriptions":1}},
            {"id":"2","key":"key-b","secret":"secret-b"},
            {"id":"3","key":"key-c","secret":"secret-c","enabled":false}
        ]}"#,
    )
    .unwrap();
    let (_server, port) = serve(&["--config", file.to_str().unwrap()], &[]);
    // app 1's own limit, app 2 without it
    let a = listen_lines(port, "key-a", &["x", "y"], 3);
    let kinds: Vec<_> = a
        .iter()
        .map(|l| l["kind"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(kinds, ["connected", "subscribed", "subscription_failed"], "{a:?}");
    let b = listen_lines(port, "key-b", &["x", "y"], 3);
    let kinds: Vec<_> = b
        .iter()
        .map(|l| l["kind"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(kinds, ["connected", "subscribed", "subscribed"], "{b:?}");
    let c = listen_lines(port, "key-c", &["x"], 2);
    assert!(c.iter().all(|l| l["kind"] != "connected"), "{c:?}");

    // a file that cannot work is refused with the reason
    std::fs::write(
        &file,
        r#"{"apps":[{"id":"1","key":"k","secret":"s","limit":{}}]}"#,
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "serve",
            "pusher",
            "--addr",
            "127.0.0.1:0",
            "--config",
            file.to_str().unwrap(),
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown field `limit`"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
