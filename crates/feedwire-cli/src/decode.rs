//! `feedwire decode <protocol>`: frames, one per line, or transcripts, from stdin or files, as JSON lines.
//!
//! An input whose first non-blank line is a transcript header (`{"feedwire_transcript":1,..}`) is read as a
//! transcript: its `recv` and `send` frames are decoded in their own directions (for a client-side
//! transcript, `recv` as server messages and `send` as client messages; the reverse for a server-side one)
//! and each line carries the entry's `t`, `conn` and `direction`; connects, opens and closes become
//! `conn_connect`, `conn_open` and `conn_close` lines. `--direction` applies to plain frames only. Lines are
//! read and printed as they come, transcript or not.

use std::io::BufRead;
use std::process::ExitCode;

use feedwire_core::transcript::{Entry, Header, Record, Side, Transcript};

use crate::out::{Line, Out};
use crate::{DecodeArgs, Direction, Protocol, actioncable, doshii, igratech, protocol_name, pusher};

/// Runs `decode`.
pub fn run(out: &Out, args: DecodeArgs) -> Result<ExitCode, String> {
    let mut inputs: Vec<Box<dyn BufRead>> = Vec::new();
    if args.files.is_empty() {
        inputs.push(Box::new(std::io::stdin().lock()));
    }
    for f in &args.files {
        let file = std::fs::File::open(f).map_err(|e| format!("{}: {e}", f.display()))?;
        inputs.push(Box::new(std::io::BufReader::new(file)));
    }
    let mut d = Decoder {
        protocol: args.protocol,
        outbound: args.direction == Direction::Out,
        failed: 0,
        total: 0,
        transcripts: 0,
    };
    for input in inputs {
        // per input: `None` until its first non-blank line says whether it is a transcript
        let mut transcript: Option<Option<Side>> = None;
        for line in input.split(b'\n') {
            let line = line.map_err(|e| e.to_string())?;
            let text = match String::from_utf8(line) {
                Ok(t) => t,
                Err(e) => {
                    d.fail(out, format!("not UTF-8: {e}"));
                    continue;
                }
            };
            let text = text.trim_end_matches('\r');
            if text.trim().is_empty() {
                continue;
            }
            match transcript {
                None if Transcript::sniff(text) => {
                    match serde_json::from_str::<Header>(text) {
                        Ok(h) if h.feedwire_transcript == feedwire_core::transcript::VERSION => {
                            d.transcripts += 1;
                            transcript = Some(Some(h.side));
                        }
                        Ok(h) => {
                            return Err(format!(
                                "transcript version {} is not supported (this decoder reads version {})",
                                h.feedwire_transcript,
                                feedwire_core::transcript::VERSION
                            ));
                        }
                        Err(e) => return Err(format!("a transcript header that does not parse: {e}")),
                    }
                    continue;
                }
                None => {
                    transcript = Some(None);
                    d.frame(out, text, d.outbound, None);
                }
                Some(None) => d.frame(out, text, d.outbound, None),
                Some(Some(side)) => d.entry(out, text, side),
            }
        }
    }
    let of = if d.transcripts > 0 {
        format!(" ({} transcripts)", d.transcripts)
    } else {
        String::new()
    };
    out.status(format!("decoded {} frames{of}, {} failed", d.total, d.failed));
    Ok(if d.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

struct Decoder {
    protocol: Protocol,
    outbound: bool,
    failed: u64,
    total: u64,
    transcripts: u64,
}

impl Decoder {
    fn fail(&mut self, out: &Out, error: String) {
        self.failed += 1;
        self.total += 1;
        out.line(Line::new(protocol_name(self.protocol), "error").with("error", error));
    }

    /// Decodes one frame; `entry` adds a transcript entry's `t`, `conn` and direction.
    fn frame(&mut self, out: &Out, text: &str, outbound: bool, entry: Option<(&Entry, &str)>) {
        self.total += 1;
        let mut line = match self.protocol {
            Protocol::Pusher => pusher::decode(text, outbound),
            Protocol::Actioncable => actioncable::decode(text, outbound),
            Protocol::Doshii => doshii::decode(text, outbound),
            Protocol::Igratech => igratech::decode(text, outbound),
        };
        if line.get("error").is_some() {
            self.failed += 1;
        }
        if let Some((e, direction)) = entry {
            line = line
                .with("t", e.t)
                .with("conn", e.conn)
                .with("direction", direction);
        }
        out.line(line);
    }

    /// One transcript line after the header.
    fn entry(&mut self, out: &Out, text: &str, side: Side) {
        let e: Entry = match serde_json::from_str(text) {
            Ok(e) => e,
            Err(err) => return self.fail(out, format!("not a transcript entry: {err}")),
        };
        let l = |kind: &str| {
            Line::new(protocol_name(self.protocol), kind)
                .with("t", e.t)
                .with("conn", e.conn)
        };
        // a client's transcript received what the server sent; a server's received what the client sent
        let client = side == Side::Client;
        match &e.record {
            Record::Recv { text } => self.frame(out, text, !client, Some((&e, "recv"))),
            Record::Send { text } => self.frame(out, text, client, Some((&e, "send"))),
            Record::Connect { url } => out.line(l("conn_connect").with("url", url.as_str())),
            Record::Open { subprotocol } => out.line(l("conn_open").opt("subprotocol", subprotocol.clone())),
            Record::Close {
                by,
                code,
                reason,
                error,
            } => out.line(
                l("conn_close")
                    .with("by", serde_json::to_value(by).unwrap_or_default())
                    .opt("code", *code)
                    .opt("reason", reason.clone())
                    .opt("error", error.clone()),
            ),
            _ => out.line(l("conn_other")),
        }
    }
}
