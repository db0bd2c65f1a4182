//! `feedwire <command> doshii`.

use std::time::Instant;

use feedwire_core::UnixAnchor;
use feedwire_doshii::client::{Client, Config, DisconnectReason, Environment, Event, Role, StopReason};
use feedwire_doshii::codec::{self, ClientMessage, ServerMessage};
use feedwire_doshii::server::{Hub, HubEvent, Peer};

use crate::listen::{Failure, Seen};
use crate::out::{Line, closed_reason, payload};

/// The protocol name in output lines.
pub const NAME: &str = "doshii";

fn event_fields(l: Line, e: &codec::Event) -> Line {
    l.with("event", e.name()).with("data", payload(e.data.as_str()))
}

/// One session event as an output line.
pub fn event_line(ev: &Event) -> Line {
    let l = |kind: &str| Line::new(NAME, kind);
    match ev {
        Event::Connected { reconnect } => l("connected").with("reconnect", *reconnect),
        Event::CatchUp(c) => l("gap")
            .with("from", c.from)
            .with("to", c.to)
            .with("from_last_event", c.from_last_event)
            .with("orders_query", c.orders_query.as_str())
            .with("orders_updated_query", c.orders_updated_query.as_str())
            .with("checkins_query", c.checkins_query.as_str()),
        Event::Doshii(e) => event_fields(l("message"), e),
        Event::Pong { stamp, version } => l("pong")
            .with("stamp", stamp.as_str())
            .opt("version", version.clone()),
        Event::ServerPing { stamp } => l("server_ping").with("stamp", stamp.as_str()),
        Event::Unknown(raw) => l("unknown").with("data", payload(raw.as_str())),
        Event::Malformed { error, .. } => l("error").with("reason", error.to_string()),
        Event::Disconnected { reason } => l("disconnected").with("reason", down(reason)),
        Event::Reconnecting { after, attempt } => l("reconnecting").reconnect(*after, *attempt),
        Event::Stopped { reason } => l("stopped").with("reason", stop_text(reason)),
        other => l("other").with("debug", format!("{other:?}")),
    }
}

/// Why a connection ended, in words.
fn down(reason: &DisconnectReason) -> String {
    match reason {
        DisconnectReason::Closed(close) => closed_reason(close.as_ref()),
        DisconnectReason::PongTimeout => "no pong from the server in time".to_owned(),
        DisconnectReason::ServerClose => "the server closed the session (primus::server::close)".to_owned(),
        DisconnectReason::Requested => "requested".to_owned(),
        _ => "other".to_owned(),
    }
}

/// Why the session stopped, in words.
fn stop_text(reason: &StopReason) -> String {
    match reason {
        StopReason::Requested => "requested".to_owned(),
        StopReason::ServerClose => {
            "the server closed the session for good (primus::server::close)".to_owned()
        }
        _ => "the session stopped".to_owned(),
    }
}

/// Whether an event means the session stopped for good.
pub fn terminal_error(ev: &Event) -> Option<String> {
    match ev {
        Event::Stopped {
            reason: StopReason::Requested,
        } => None,
        Event::Stopped { reason } => Some(stop_text(reason)),
        _ => None,
    }
}

fn heartbeat_line(l: Line, h: codec::Heartbeat) -> Line {
    l.with("stamp", h.stamp.as_str())
        .opt("version", h.version.map(|v| payload(v.as_str())))
        .opt("status", h.status.map(|v| payload(v.as_str())))
}

/// Decodes one frame: what a server sends, or (`outbound`) what a client sends.
pub fn decode(text: &str, outbound: bool) -> Line {
    let l = |kind: &str| Line::new(NAME, kind);
    let frame = feedwire_core::Frame::from(text.to_owned());
    if outbound {
        return match ClientMessage::decode(&frame) {
            Err(e) => l("error").with("error", e.to_string()),
            Ok(ClientMessage::Ping(h)) => heartbeat_line(l("ping"), h),
            Ok(ClientMessage::Pong(h)) => heartbeat_line(l("pong"), h),
            Ok(ClientMessage::PrimusPing(s)) => l("primus_ping").with("stamp", s.as_str()),
            Ok(ClientMessage::PrimusPong(s)) => l("primus_pong").with("stamp", s.as_str()),
            Ok(ClientMessage::Unknown(raw)) => l("unknown").with("data", payload(raw.as_str())),
            Ok(other) => l("other").with("debug", format!("{other:?}")),
        };
    }
    match ServerMessage::decode(&frame) {
        Err(e) => l("error").with("error", e.to_string()),
        Ok(m) => match m {
            ServerMessage::Ping(h) => heartbeat_line(l("ping"), h),
            ServerMessage::Pong(h) => heartbeat_line(l("pong"), h),
            ServerMessage::PrimusPing(s) => l("primus_ping").with("stamp", s.as_str()),
            ServerMessage::PrimusPong(s) => l("primus_pong").with("stamp", s.as_str()),
            ServerMessage::PrimusServerClose => l("primus_server_close"),
            ServerMessage::Event(e) => event_fields(l("message"), &e),
            ServerMessage::Unknown(raw) => l("unknown").with("data", payload(raw.as_str())),
            other => l("other").with("debug", format!("{other:?}")),
        },
    }
}

/// Where to connect: `sandbox`, `live`, or a host / base URL.
pub fn environment(env: &str) -> Environment {
    match env {
        "sandbox" => Environment::Sandbox,
        "live" => Environment::Live,
        other => Environment::Host(other.to_owned()),
    }
}

/// A session configured from the command line, asked to connect at `now`.
#[allow(clippy::too_many_arguments)]
pub fn client(
    role: &str,
    env: &str,
    client_id: Option<&str>,
    device_id: Option<&str>,
    token: Option<&str>,
    vendor: Option<&str>,
    app_version: Option<&str>,
    now: Instant,
    unix_ms: u64,
) -> Result<Client, String> {
    let anchor = UnixAnchor::new(now, unix_ms);
    let need = |what: &str, v: Option<&str>| {
        v.map(str::to_owned)
            .ok_or_else(|| format!("--role {role} needs {what}"))
    };
    let mut config = match role {
        "app" => Config::app(need("--client-id (or DOSHII_CLIENT_ID)", client_id)?, anchor),
        "app-v3" => Config::app_v3(
            need("--client-id (or DOSHII_CLIENT_ID)", client_id)?,
            device_id.map(str::to_owned),
            anchor,
        ),
        "pos" => Config::pos(need("--token (the location token)", token)?, anchor),
        "vendor" => Config::vendor(
            need("--token (the JWT)", token)?,
            need("--vendor", vendor)?,
            anchor,
        ),
        other => return Err(format!("--role {other}: expected app, app-v3, pos or vendor")),
    };
    config = config.with_environment(environment(env));
    if let Some(v) = app_version {
        config = config.with_app_version(v);
    }
    let _ = Role::App; // the roles above map one to one onto client::Role
    let client = Client::new(config);
    Ok(client)
}

/// One hub event as an output line (for `serve doshii`).
pub fn hub_line(ev: &HubEvent) -> Line {
    let l = |kind: &str| Line::new(NAME, kind);
    match ev {
        HubEvent::Opened { conn, peer, replayed } => l("opened")
            .with("conn", conn.0)
            .with("peer", peer_name(peer))
            .with("replayed", *replayed),
        HubEvent::Rejected { conn, reason } => l("rejected").with("conn", conn.0).with("reason", *reason),
        HubEvent::Ping { conn, .. } => l("ping").with("conn", conn.0),
        HubEvent::Pong { conn, stamp } => l("pong").with("conn", conn.0).with("stamp", stamp.as_str()),
        HubEvent::Message { conn, .. } => l("message").with("conn", conn.0),
        HubEvent::Malformed { conn, error } => {
            l("error").with("conn", conn.0).with("reason", error.to_string())
        }
        HubEvent::Closed { conn } => l("closed").with("conn", conn.0),
        other => l("other").with("debug", format!("{other:?}")),
    }
}

fn peer_name(p: &Peer) -> String {
    match p {
        Peer::App { device_id, v3, .. } => format!(
            "app{}{}",
            if *v3 { " v3" } else { "" },
            device_id
                .as_ref()
                .map(|d| format!(" device {d}"))
                .unwrap_or_default()
        ),
        Peer::Pos { .. } => "pos".into(),
        Peer::Vendor { vendor, .. } => format!("vendor {vendor}"),
        other => format!("{other:?}"),
    }
}

/// Publishes one JSON line read by `serve doshii`: `{"client_id":"..","event":"order_created","data":{..}}`
/// (to an app; backlogged for 10 minutes when it is offline).
pub fn publish_line(hub: &mut Hub, now: Instant, line: &str) -> Result<usize, String> {
    #[derive(serde::Deserialize)]
    struct In {
        client_id: String,
        event: String,
        data: Box<serde_json::value::RawValue>,
    }
    let i: In = serde_json::from_str(line)
        .map_err(|e| format!("expected {{\"client_id\",\"event\",\"data\"}}: {e}"))?;
    let data = feedwire_core::RawJson::from_json_str(i.data.get()).map_err(|e| e.to_string())?;
    hub.publish_to_app(now, &i.client_id, &i.event, &data)
        .map_err(|e| e.to_string())
}

/// `feedwire listen doshii`.
#[derive(clap::Args)]
pub struct ListenArgs {
    /// `sandbox`, `live`, or a host / base URL (`ws://127.0.0.1:9000` for a mock).
    #[arg(long, default_value = "sandbox")]
    pub env: String,
    /// `app`, `app-v3`, `pos` or `vendor`.
    #[arg(long, default_value = "app")]
    pub role: String,
    /// The app partner's client id (base64- and URL-encoded into `auth` for you; never printed).
    #[arg(long, env = "DOSHII_CLIENT_ID", hide_env_values = true)]
    pub client_id: Option<String>,
    /// The v3 device id.
    #[arg(long)]
    pub device_id: Option<String>,
    /// The POS location token or the vendor JWT.
    #[arg(long, env = "DOSHII_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The vendor's API name.
    #[arg(long)]
    pub vendor: Option<String>,
    /// The version sent in heartbeats.
    #[arg(long)]
    pub app_version: Option<String>,
    /// Stop after this many `message` events.
    #[arg(long)]
    pub count: Option<u64>,
}

/// What `listen` makes of Doshii events.
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
        matches!(ev, Event::Doshii(_))
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
        if matches!(e.status(), Some(401 | 403)) {
            return Some(
                "Doshii refused the credentials: check --client-id (or --token) and --env".to_owned(),
            );
        }
        crate::listen::common_hint(e, "a ws:// --env", "--env and --role")
    }
}

/// `feedwire listen doshii`.
pub async fn listen(
    out: &crate::out::Out,
    a: ListenArgs,
    rec: &crate::record::Recording,
) -> Result<std::process::ExitCode, String> {
    let c = client(
        &a.role,
        &a.env,
        a.client_id.as_deref(),
        a.device_id.as_deref(),
        a.token.as_deref(),
        a.vendor.as_deref(),
        a.app_version.as_deref(),
        Instant::now(),
        crate::out::unix_ms(),
    )?;
    out.status(format!("connecting to Doshii ({})", a.env));
    // the client id also travels base64-encoded in the URL's `auth`, which the recorder's URL redaction hides
    let url = c.config().url();
    let secrets = [
        a.client_id.as_deref().unwrap_or(""),
        a.token.as_deref().unwrap_or(""),
    ];
    let conn = rec.attach(
        feedwire_tungstenite::Connection::new(c),
        NAME,
        &url,
        &secrets,
        None,
    )?;
    crate::listen::run(out, conn, a.count, Listener, rec).await
}
