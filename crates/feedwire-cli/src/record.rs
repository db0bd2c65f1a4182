//! `feedwire record`: `listen` that also writes the session as a transcript (`feedwire_core::transcript`, one
//! JSON object per line), for `feedwire replay`, `feedwire decode` and the library's
//! `feedwire_core::testing::replay` in the user's own tests.
//!
//! Every line is written and flushed as it happens, so a killed process leaves a usable file. Every secret the
//! command line carries is redacted before it is written (each protocol module says which: signing secrets,
//! tokens, client ids, identifier keys), URL queries are redacted by the recorder, and secrets learned during
//! the session (Pusher's channel signatures) are added as they appear. The recording stops, and the session
//! closes gracefully, at `--max-bytes` or `--max-duration`.

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use feedwire_core::transcript::{Header, Recorder, Redactor, Side};
use feedwire_tungstenite::{ClientDriver, Tap, Tokio};

/// `feedwire record`'s own options (accepted before or after the protocol's options).
#[derive(Args, Debug, Clone, Default)]
pub struct RecordOpts {
    /// Where the transcript goes (created or truncated; one JSON object per line, flushed as it goes).
    #[arg(long, global = true, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Stop once the transcript reaches this size: bytes, or with a K, M or G suffix (powers of 1024).
    #[arg(long, global = true, value_name = "SIZE", default_value = "64M", value_parser = size)]
    pub max_bytes: u64,
    /// Stop after this long: seconds, or with an s, m or h suffix (90s, 5m, 2h).
    #[arg(long, global = true, value_name = "DURATION", value_parser = duration)]
    pub max_duration: Option<Duration>,
}

/// `64M` as 67108864.
pub fn size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c.to_ascii_uppercase()),
        _ => (s, 'B'),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size: write bytes, or a number with K, M or G (64M)"))?;
    let mul: u64 = match unit {
        'B' => 1,
        'K' => 1 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        _ => return Err(format!("{s:?}: the size's unit is K, M or G")),
    };
    n.checked_mul(mul)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{s:?} is not a usable size"))
}

/// `90s`, `5m`, `2h` or plain seconds.
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mul) = match s.chars().last() {
        Some('s') => (&s[..s.len() - 1], 1),
        Some('m') => (&s[..s.len() - 1], 60),
        Some('h') => (&s[..s.len() - 1], 3600),
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration: write seconds, or a number with s, m or h (5m)"))?;
    n.checked_mul(mul)
        .filter(|&n| n > 0)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is not a usable duration"))
}

/// What a protocol's `listen` records: nothing (`listen`) or a transcript (`record`).
#[derive(Debug, Clone, Default)]
pub struct Recording {
    opts: Option<RecordOpts>,
    full: Arc<AtomicBool>,
    wake: Arc<tokio::sync::Notify>,
}

/// Finds secrets in a frame the client sends (Pusher's channel signatures), to redact them from then on.
pub type Learn = fn(&str) -> Vec<String>;

impl Recording {
    /// `listen`: records nothing.
    pub fn off() -> Self {
        Recording::default()
    }

    /// `record`: writes a transcript as `opts` say.
    pub fn to(opts: RecordOpts) -> Self {
        Recording {
            opts: Some(opts),
            ..Recording::default()
        }
    }

    /// Attaches the transcript tap to `conn` (a no-op for `listen`): opens the file, writes the header, and
    /// from then on every dial, open, frame and close, with `secrets` and what `learn` finds redacted.
    pub fn attach<S>(
        &self,
        conn: ClientDriver<S, Tokio>,
        protocol: &str,
        url: &str,
        secrets: &[&str],
        learn: Option<Learn>,
    ) -> Result<ClientDriver<S, Tokio>, String>
    where
        S: feedwire_core::Lifecycle + Send + 'static,
    {
        let Some(opts) = &self.opts else {
            return Ok(conn);
        };
        let Some(path) = opts.out.clone() else {
            return Err("record needs --out FILE: where the transcript goes".into());
        };
        let mut redactor = Redactor::new();
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            redactor.add(s).map_err(|e| {
                format!(
                    "cannot record safely: {e}; a secret that short would leave its text in the transcript"
                )
            })?;
        }
        let header = Header::new(protocol, Side::Client)
            .with_url(url)
            .with_started_unix_ms(crate::out::unix_ms());
        let mut recorder = Recorder::new(header, redactor, Instant::now());
        let mut file = File::create(&path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let mut written = write_line(&mut file, &recorder.header_line())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let (max, full, wake) = (opts.max_bytes, self.full.clone(), self.wake.clone());
        Ok(conn.with_tap(move |tap: Tap<'_>| {
            if full.load(Ordering::Relaxed) {
                return;
            }
            if let (Some(learn), Tap::Send(text)) = (learn, tap) {
                for secret in learn(text) {
                    // a signature too short to redact is no signature: nothing to hide
                    let _ = recorder.add_secret(&secret);
                }
            }
            let line = tap.transcript_line(&mut recorder, Instant::now());
            // a failed write (disk full) ends the recording like the size bound: what is on disk stays usable
            match write_line(&mut file, &line) {
                Ok(n) => written += n,
                Err(_) => written = u64::MAX,
            }
            if written >= max {
                full.store(true, Ordering::Relaxed);
                wake.notify_one();
            }
        }))
    }

    /// Completes when the recording reached its bound (never for `listen`).
    pub fn bound(&self) -> impl Future<Output = &'static str> + use<> {
        let (opts, full, wake) = (self.opts.clone(), self.full.clone(), self.wake.clone());
        async move {
            let Some(opts) = opts else {
                return std::future::pending().await;
            };
            let size = async {
                while !full.load(Ordering::Relaxed) {
                    wake.notified().await;
                }
            };
            match opts.max_duration {
                Some(d) => tokio::select! {
                    _ = size => "the recording reached --max-bytes",
                    _ = tokio::time::sleep(d) => "the recording reached --max-duration",
                },
                None => {
                    size.await;
                    "the recording reached --max-bytes"
                }
            }
        }
    }
}

/// Writes one transcript line (the recorder's lines end with their newline) and flushes; the bytes written.
fn write_line(file: &mut File, line: &str) -> std::io::Result<u64> {
    let line = line.trim_end_matches('\n');
    file.write_all(line.as_bytes())?;
    file.write_all(b"\n")?;
    file.flush()?;
    Ok(line.len() as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse_with_their_units_and_refuse_nonsense() {
        assert_eq!(size("64M"), Ok(64 << 20));
        assert_eq!(size("10k"), Ok(10 << 10));
        assert_eq!(size("500"), Ok(500));
        assert!(size("0").is_err() && size("12X").is_err() && size("M").is_err());
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(duration("7"), Ok(Duration::from_secs(7)));
        assert!(duration("0s").is_err() && duration("soon").is_err());
    }
}
