//! `feedwire replay FILE`: serves a transcript's recorded server to any WebSocket client.
//!
//! Each client connection gets the next recorded connection (see
//! `feedwire_core::testing::replay::ReplayHub`): the recorded frames at their recorded offsets (scaled by
//! `--speed`, or all at once with `--as-fast-as-possible`; a recorded reply still waits for its request), the
//! recorded close or drop, and the client's frames compared with the recorded ones.
//!
//! Output: a `listening` line with the URL first, then one JSON line per happening on stdout (`opened`,
//! `mismatch`, `closed`, `refused`, `finished`); each mismatch is also said on stderr. Exit status: 0 when the
//! transcript was played to its end (every recorded connection served and closed) without a mismatch; 1 when
//! a client differed from the recording (a mismatch), or the replay was interrupted before its end; 2 on bad
//! arguments. Use it as a check in a script: `feedwire replay t.jsonl --port 6001 & my-app-tests; wait $!`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use feedwire_core::testing::replay::{MismatchKind, ReplayEvent, ReplayHub, Speed};
use feedwire_core::transcript::Transcript;
use feedwire_tungstenite::Server;

use crate::out::{Line, Out};

/// `feedwire replay`'s arguments.
#[derive(Args)]
pub struct ReplayArgs {
    /// The transcript: JSON lines, as recorded (see the README's "Record and replay").
    file: PathBuf,
    /// Play the recorded timing this many times faster (2: twice as fast, 0.5: half as fast).
    #[arg(long, default_value_t = 1.0, value_parser = speed, conflicts_with = "as_fast_as_possible")]
    speed: f64,
    /// Send every recorded frame at once, in order (a recorded reply still waits for its request).
    #[arg(long)]
    as_fast_as_possible: bool,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    addr: IpAddr,
    /// The port to listen on (default: a free one; the URL is printed).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// How long a recorded reply waits past its time for the client frame recorded before it, in ms.
    #[arg(long, default_value_t = 5000)]
    wait_ms: u64,
}

/// `--speed`: a finite factor above zero.
fn speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err("a factor above zero, such as 2 or 0.5".to_owned()),
    }
}

/// Runs the replay until the transcript is over (or Ctrl-C).
pub async fn run(out: &Out, args: ReplayArgs) -> Result<ExitCode, String> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let transcript = Transcript::parse(&text).map_err(|e| format!("{}: {e}", args.file.display()))?;
    let protocol = transcript.header.protocol.clone();
    let speed = if args.as_fast_as_possible {
        Speed::AsFastAsPossible
    } else {
        Speed::Scaled(args.speed)
    };
    let hub = ReplayHub::new(&transcript)
        .with_speed(speed)
        .with_wait(Duration::from_millis(args.wait_ms));
    let connections = hub.remaining();
    let addr = SocketAddr::new(args.addr, args.port);
    let server = Server::bind(addr, hub)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let url = format!(
        "ws://{}{}",
        server.local_addr(),
        recorded_path(transcript.header.url.as_deref())
    );
    out.status(format!(
        "replaying {} ({protocol}, {connections} connections) on {url}",
        args.file.display()
    ));
    out.line(
        Line::new(&protocol, "listening")
            .with("url", url)
            .with("port", server.local_addr().port())
            .with("connections", connections),
    );
    let mut mismatches = 0u64;
    let mut finished = connections == 0;
    while !finished {
        let ev = tokio::select! {
            ev = server.next_event() => ev,
            _ = tokio::signal::ctrl_c() => {
                out.status("interrupted");
                None
            }
        };
        let Some(ev) = ev else { break };
        if let ReplayEvent::Mismatch(m) = &ev {
            mismatches += 1;
            out.error(format!("mismatch {m}"));
        }
        finished = ev == ReplayEvent::Finished;
        out.line(event_line(&protocol, &ev));
    }
    let _ = server.shutdown().await;
    out.status(format!(
        "{} with {mismatches} mismatches",
        if finished {
            "transcript replayed"
        } else {
            "replay stopped before the end"
        }
    ));
    Ok(if finished && mismatches == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The path of the recorded URL without its (redacted) query, `/` when there is none.
fn recorded_path(url: Option<&str>) -> &str {
    let Some(url) = url else { return "/" };
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.find('/') {
        Some(i) => rest[i..].split(['?', '#']).next().unwrap_or("/"),
        None => "/",
    }
}

/// One output line for a replay event.
pub fn event_line(protocol: &str, ev: &ReplayEvent) -> Line {
    let l = |kind: &str| Line::new(protocol, kind);
    match ev {
        ReplayEvent::Opened { conn, recorded } => {
            l("opened").with("conn", conn.0).with("recorded", *recorded)
        }
        ReplayEvent::Closed {
            conn,
            recorded,
            close,
        } => l("closed")
            .with("conn", conn.0)
            .with("recorded", *recorded)
            .opt("code", close.as_ref().map(|c| c.code.0))
            .opt("reason", close.as_ref().map(|c| c.reason.to_string())),
        ReplayEvent::Refused { conn } => l("refused")
            .with("conn", conn.0)
            .with("reason", "transcript exhausted"),
        ReplayEvent::Finished => l("finished"),
        ReplayEvent::Mismatch(m) => {
            let line = l("mismatch")
                .with("recorded", m.conn)
                .with("at_ms", m.at.as_millis() as u64)
                .with("text", m.to_string());
            match &m.kind {
                MismatchKind::Frame { expected, got } => line
                    .with("mismatch", "frame")
                    .with("expected", expected.as_str())
                    .with("got", got.as_str()),
                MismatchKind::Unexpected { got } => {
                    line.with("mismatch", "unexpected").with("got", got.as_str())
                }
                MismatchKind::Missing { expected } => line
                    .with("mismatch", "missing")
                    .with("expected", expected.as_str()),
                MismatchKind::Close { what } => line.with("mismatch", "close").with("what", what.as_str()),
                _ => line.with("mismatch", "other"),
            }
        }
        _ => l("other").with("event", format!("{ev:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_and_paths() {
        assert_eq!(speed("2"), Ok(2.0));
        assert!(speed("0").is_err() && speed("-1").is_err() && speed("inf").is_err() && speed("x").is_err());
        assert_eq!(recorded_path(Some("ws://h:1/app/key?protocol=7")), "/app/key");
        assert_eq!(recorded_path(Some("ws://h:1")), "/");
        assert_eq!(recorded_path(None), "/");
    }
}
