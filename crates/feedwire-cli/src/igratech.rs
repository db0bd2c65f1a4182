//! `feedwire <command> igratech`.

use std::time::Instant;

use feedwire_core::{Frame, UnixAnchor};
use feedwire_igratech::client::{Client, Config, DisconnectReason, Event, StopReason};
use feedwire_igratech::codec::{ClientMessage, ServerMessage, Settings};
use feedwire_igratech::server::{Hub, HubEvent};

use crate::listen::{Failure, Seen};
use crate::out::{Line, closed_reason, payload};

/// The protocol name in output lines.
pub const NAME: &str = "igratech";

/// One session event as an output line.
pub fn event_line(ev: &Event) -> Line {
    let l = |kind: &str| Line::new(NAME, kind);
    let msg = |event: &str, raw: &feedwire_core::RawJson| {
        l("message")
            .with("event", event)
            .with("data", payload(raw.as_str()))
    };
    match ev {
        Event::Connected { status } => l("connected").with("data", payload(status.raw().as_str())),
        Event::Settings(p) => msg("settings", p.raw()),
        Event::Incident(p) => msg("incident", p.raw()),
        Event::Bet(p) => msg("bet", p.raw()),
        Event::BetsResult(p) => msg("bets-result", p.raw()),
        Event::Balance(p) => msg("balance", p.raw()),
        Event::Stats(p) => msg("stats", p.raw()),
        Event::Pong { rtt, .. } => l("pong").opt("rtt_ms", rtt.map(|d| d.as_millis() as u64)),
        Event::LoggedOut(p) => l("logged_out").with("data", payload(p.raw().as_str())),
        Event::Unknown { event, data } => l("unknown")
            .with("event", event.as_str())
            .with("data", payload(data.as_str())),
        Event::Mismatch { event, data, reason } => l("mismatch")
            .with("event", event.as_str())
            .with("data", payload(data.as_str()))
            .with("reason", reason.as_str()),
        Event::Malformed { error, .. } => l("error").with("reason", error.as_str()),
        Event::Disconnected { reason } => l("disconnected").with("reason", down(reason)),
        Event::Reconnecting { after, attempt } => l("reconnecting").reconnect(*after, *attempt),
        Event::Stopped { reason } => l("stopped").with(
            "reason",
            match reason {
                StopReason::LoggedOut => "logged out",
                _ => "requested",
            },
        ),
        Event::Gap {
            from_unix_ms,
            to_unix_ms,
            ..
        } => l("gap")
            .with("from_unix_ms", *from_unix_ms)
            .with("to_unix_ms", *to_unix_ms),
        other => l("other").with("debug", format!("{other:?}")),
    }
}

/// Why a connection ended, in words.
fn down(reason: &DisconnectReason) -> String {
    match reason {
        DisconnectReason::Closed(close) => closed_reason(close.as_ref()),
        DisconnectReason::PongTimeout => "no pong from the server in time".to_owned(),
        DisconnectReason::LoggedOut => "logged out".to_owned(),
        DisconnectReason::Requested => "requested".to_owned(),
        _ => "other".to_owned(),
    }
}

/// Whether `--count` counts an event.
fn is_message(e: &Event) -> bool {
    matches!(
        e,
        Event::Bet(_) | Event::BetsResult(_) | Event::Balance(_) | Event::Stats(_) | Event::Incident(_)
    )
}

/// Whether an event means the session stopped for good.
pub fn terminal_error(ev: &Event) -> Option<String> {
    matches!(ev, Event::LoggedOut(_)).then(|| "logged out: another client logged in with this account (not reconnecting, which would log it out in turn)".to_owned())
}

/// Decodes one frame (`in`: server to client, `out`: client to server). The envelope is split first and the
/// payload is printed exactly as received; typing it only decides the kind: `message` when it fits the
/// documented model, `mismatch` (with the reason) when it does not, `unknown` for a channel the document
/// does not list. Only a frame whose envelope does not parse is an `error`.
pub fn decode(text: &str, outbound: bool) -> Line {
    use feedwire_igratech::envelope::{Envelope, NestEnvelope};
    let l = |kind: &str| Line::new(NAME, kind);
    let raw = match NestEnvelope.split(text) {
        Ok(raw) => raw,
        Err(e) => return l("error").with("error", e.to_string()),
    };
    let base = |kind: &str| {
        l(kind)
            .with("event", raw.event.as_ref())
            .with("data", payload(raw.data.get()))
    };
    let frame = Frame::from(text.to_owned());
    let typed = if outbound {
        ClientMessage::decode(&frame).map(|m| matches!(m, ClientMessage::Other { .. }))
    } else {
        ServerMessage::decode(&frame).map(|m| matches!(m, ServerMessage::Other { .. }))
    };
    match typed {
        Ok(false) => base("message"),
        Ok(true) => base("unknown"),
        Err(e) => base("mismatch").with("reason", e.to_string()),
    }
}

/// Parses `--settings '{"lang":"en",...}'`.
pub fn settings(json: &str) -> Result<Settings, String> {
    serde_json::from_str(json).map_err(|e| format!("--settings: {e}"))
}

/// A session configured from the command line.
pub fn client(
    url: &str,
    token: Option<&str>,
    settings: Option<Settings>,
    now: Instant,
    unix_ms: u64,
) -> Client {
    let mut config = Config::default()
        .with_url(url)
        .with_unix_anchor(UnixAnchor::new(now, unix_ms));
    if let Some(t) = token {
        config = config.with_token(t);
    }
    if let Some(s) = settings {
        config = config.with_settings(s);
    }
    Client::new(config)
}

/// One hub event as an output line (for `serve igratech`).
pub fn hub_line(ev: &HubEvent) -> Line {
    let l = |kind: &str| Line::new(NAME, kind);
    match ev {
        HubEvent::Opened { conn, user } => l("opened").with("conn", conn.0).with("user", user.as_str()),
        HubEvent::LoggedOut { conn, user, by } => l("logged_out")
            .with("conn", conn.0)
            .with("user", user.as_str())
            .opt("by", by.map(|c| c.0)),
        HubEvent::Settings { conn, .. } => l("settings").with("conn", conn.0),
        HubEvent::Ping { conn, unix_ms } => l("ping").with("conn", conn.0).with("unix_ms", *unix_ms),
        HubEvent::Unknown { conn, event, .. } => {
            l("unknown").with("conn", conn.0).with("event", event.as_str())
        }
        HubEvent::Malformed { conn, error, .. } => {
            l("malformed").with("conn", conn.0).with("reason", error.as_str())
        }
        HubEvent::Closed { conn, user } => l("closed").with("conn", conn.0).with("user", user.as_str()),
        other => l("other").with("debug", format!("{other:?}")),
    }
}

/// Publishes one JSON line read by `serve igratech`: `{"event":"bet","data":{..}}`, to every connection.
pub fn publish_line(hub: &mut Hub, line: &str) -> Result<usize, String> {
    let msg = ServerMessage::decode(&Frame::from(line.to_owned()))
        .map_err(|e| format!("expected {{\"event\",\"data\"}}: {e}"))?;
    hub.publish(&msg).map_err(|e| e.to_string())
}

/// `feedwire listen igratech`.
#[derive(clap::Args)]
pub struct ListenArgs {
    /// The feed URL.
    #[arg(long, default_value = "ws://ws.igratech.webspark.dev/wspublic", value_parser = crate::ws_url)]
    pub url: String,
    /// The session token, if the feed wants one.
    #[arg(long, env = "IGRATECH_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Settings to send (and re-send after every reconnect): `{"lang":"en","oddsFormat":"decimal","gameIds":[1]}`.
    #[arg(long)]
    pub settings: Option<String>,
    /// Stop after this many `message` events.
    #[arg(long)]
    pub count: Option<u64>,
}

/// What `listen` makes of Igratech events.
struct Listener;

impl crate::listen::Protocol for Listener {
    type Session = Client;

    fn name(&self) -> &'static str {
        NAME
    }

    fn line(&self, ev: &Event) -> Option<Line> {
        Some(event_line(ev))
    }

    fn is_message(&self, ev: &Event) -> bool {
        is_message(ev)
    }

    fn assess(&mut self, ev: &Event) -> Seen {
        match ev {
            Event::Connected { .. } => Seen::Connected,
            Event::Disconnected {
                reason: DisconnectReason::Closed(Some(c)),
            } => Seen::Failure(Failure::new("close", closed_reason(Some(c))).code(Some(c.code.0))),
            Event::Disconnected {
                reason: DisconnectReason::PongTimeout,
            } => Seen::Failure(Failure::new("timeout", "no pong from the server in time")),
            _ => match terminal_error(ev) {
                Some(why) => Seen::Fatal(why, None),
                None => Seen::Nothing,
            },
        }
    }

    fn hint(&self, e: &feedwire_tungstenite::TransportError) -> Option<String> {
        crate::listen::common_hint(
            e,
            "ws:// instead of wss://",
            "the URL's path (the public feed is /wspublic)",
        )
    }
}

/// `feedwire listen igratech`.
pub async fn listen(
    out: &crate::out::Out,
    a: ListenArgs,
    rec: &crate::record::Recording,
) -> Result<std::process::ExitCode, String> {
    let settings = a.settings.as_deref().map(settings).transpose()?;
    let c = client(
        &a.url,
        a.token.as_deref(),
        settings,
        Instant::now(),
        crate::out::unix_ms(),
    );
    out.status(format!("connecting to {}", a.url.split('?').next().unwrap_or("")));
    let secrets = [a.token.as_deref().unwrap_or("")];
    let conn = rec.attach(
        feedwire_tungstenite::Connection::new(c),
        NAME,
        &a.url,
        &secrets,
        None,
    )?;
    crate::listen::run(out, conn, a.count, Listener, rec).await
}
