//! `feedwire <command> actioncable`.

use std::time::Instant;

use feedwire_actioncable::client::{Client, Config, DisconnectReason, Event, Flavour, StopReason};
use feedwire_actioncable::codec::{ClientMessage, ServerMessage};
use feedwire_actioncable::identifier::Identifier;
use feedwire_actioncable::server::{Hub, HubEvent};
use feedwire_core::UnixAnchor;
use feedwire_redis::actioncable::{CableBroker, Routed};
use serde_json::Value;

use crate::listen::{Failure, Seen};
use crate::out::{Line, closed_reason, payload};

/// The protocol name in output lines.
pub const NAME: &str = "actioncable";

/// An identifier for output: its channel, and its text with any `key` parameter redacted (metasmoke's API key
/// travels in the identifier).
pub fn redacted_identifier(raw: &str) -> Value {
    match serde_json::from_str::<serde_json::Map<String, Value>>(raw) {
        Ok(mut m) => {
            for (k, v) in m.iter_mut() {
                if k.eq_ignore_ascii_case("key")
                    || k.to_ascii_lowercase().contains("token")
                    || k.to_ascii_lowercase().contains("secret")
                {
                    *v = Value::from("[redacted]");
                }
            }
            Value::Object(m)
        }
        Err(_) => Value::from("[unparsable identifier]"),
    }
}

fn ident(l: Line, id: &Identifier) -> Line {
    l.opt("channel", id.channel())
        .with("identifier", redacted_identifier(id.as_str()))
}

fn down(reason: &DisconnectReason) -> Value {
    match reason {
        DisconnectReason::Stale { silent_for } => {
            serde_json::json!({"stale_after_ms": silent_for.as_millis() as u64})
        }
        DisconnectReason::Closed(c) => serde_json::json!({"closed": c.as_ref().map(|c| c.code.0)}),
        DisconnectReason::ServerDisconnect { reason, reconnect } => {
            serde_json::json!({"disconnect": reason, "reconnect": reconnect})
        }
        _ => Value::from("other"),
    }
}

/// Why the session stopped, in words.
fn stop_text(reason: &StopReason) -> String {
    match reason {
        StopReason::Requested => "requested".to_owned(),
        StopReason::ServerDisconnect { reason } => format!(
            "the server disconnected this client ({}) and asked not to reconnect",
            reason.as_deref().unwrap_or("no reason given")
        ),
        StopReason::UnsupportedSubprotocol(p) => format!(
            "the server does not speak ActionCable's JSON protocol (it agreed to {})",
            p.as_deref().unwrap_or("no subprotocol")
        ),
        _ => "the session stopped".to_owned(),
    }
}

/// One session event as an output line.
pub fn event_line(ev: &Event) -> Line {
    let l = |kind: &str| Line::new(NAME, kind);
    match ev {
        Event::Connected { reconnected, sid, restored } => {
            l("connected").with("reconnected", *reconnected).opt("sid", sid.clone()).with("restored", *restored)
        }
        Event::Confirmed { identifier, reconnected, restored } => {
            ident(l("confirmed"), identifier).with("reconnected", *reconnected).with("restored", *restored)
        }
        Event::Rejected { identifier, .. } => ident(l("rejected"), identifier),
        Event::ConfirmationTimedOut { identifier, attempts } => ident(l("confirmation_timed_out"), identifier).with("attempts", *attempts),
        Event::Message { identifier, message, offset } => {
            ident(l("message"), identifier).with("data", payload(message.as_str())).opt("offset", *offset)
        }
        Event::Presence { identifier, message } => ident(l("presence"), identifier).with("data", payload(message.as_str())),
        Event::HistoryConfirmed { identifier } => ident(l("history_confirmed"), identifier),
        Event::HistoryGap { identifier } => ident(l("gap"), identifier),
        Event::Disconnected { reason } => l("disconnected").with("reason", down(reason)),
        Event::Reconnecting { after } => l("reconnecting").with("after_ms", after.as_millis() as u64),
        Event::Recovered { outage, subscriptions, still_down } => l("recovered")
            .with("outage_ms", outage.as_millis() as u64)
            .with(
                "subscriptions",
                subscriptions
                    .iter()
                    .map(|(id, d)| serde_json::json!({"channel": id.channel(), "identifier": redacted_identifier(id.as_str()), "down_ms": d.as_millis() as u64}))
                    .collect::<Vec<_>>(),
            )
            .with("still_down", still_down.iter().map(|id| redacted_identifier(id.as_str())).collect::<Vec<_>>()),
        Event::Stopped { reason } => l("stopped").with("reason", stop_text(reason)),
        Event::Unmatched { .. } => l("unmatched"),
        Event::Unknown { .. } => l("unknown"),
        Event::Malformed { error, .. } => l("error").with("reason", error.to_string()),
        _ => l("other"),
    }
}

/// Whether an event means the session stopped for good (other than by Ctrl-C): why, and what to check.
pub fn terminal_error(ev: &Event) -> Option<(String, Option<String>)> {
    match ev {
        Event::Stopped {
            reason: StopReason::Requested,
        } => None,
        Event::Stopped {
            reason: reason @ StopReason::ServerDisconnect { reason: why },
        } => Some((
            stop_text(reason),
            (why.as_deref() == Some("unauthorized")).then(|| {
                "Rails refused the connection (reject_unauthorized_connection): check the credentials it wants (cookies, --header, the identifier's key)".to_owned()
            }),
        )),
        Event::Stopped { reason } => Some((stop_text(reason), None)),
        _ => None,
    }
}

/// Decodes one frame (`in`: server to client, `out`: client to server).
pub fn decode(text: &str, outbound: bool) -> Line {
    let l = |kind: &str| Line::new(NAME, kind);
    // a line of `kind` about one channel (its identifier redacted)
    let about = |kind: &str, identifier: &str| l(kind).with("identifier", redacted_identifier(identifier));
    if outbound {
        return match ClientMessage::decode_str(text) {
            Err(e) => l("error").with("error", e.to_string()),
            Ok(m) => match m {
                ClientMessage::Subscribe { identifier, .. } => about("subscribe", &identifier.to_cow()),
                ClientMessage::Unsubscribe { identifier } => about("unsubscribe", &identifier.to_cow()),
                ClientMessage::Message { identifier, data } => {
                    about("perform", &identifier.to_cow()).with("data", payload(data.get()))
                }
                other => l("command").with("debug", format!("{other:?}")),
            },
        };
    }
    match ServerMessage::decode_str(text) {
        Err(e) => l("error").with("error", e.to_string()),
        Ok(m) => match m {
            ServerMessage::Welcome { sid, restored, .. } => l("welcome")
                .opt("sid", sid.map(|s| s.into_owned()))
                .with("restored", restored),
            ServerMessage::Ping { message } => l("ping").opt("message", message),
            ServerMessage::Pong => l("pong"),
            ServerMessage::Confirm { identifier } => about("confirm_subscription", &identifier.to_cow()),
            ServerMessage::Reject { identifier } => about("reject_subscription", &identifier.to_cow()),
            ServerMessage::Disconnect { reason, reconnect } => l("disconnect")
                .with("reason", reason.map(|r| r.into_owned()))
                .opt("reconnect", reconnect),
            ServerMessage::Message {
                identifier,
                message,
                offset,
                ..
            } => about("message", &identifier.to_cow())
                .with("data", payload(message.get()))
                .opt("offset", offset),
            ServerMessage::ConfirmHistory { identifier } => about("confirm_history", &identifier.to_cow()),
            ServerMessage::RejectHistory { identifier } => about("reject_history", &identifier.to_cow()),
            ServerMessage::Presence { identifier, message } => {
                about("presence", &identifier.to_cow()).with("data", payload(message.get()))
            }
            ServerMessage::Unknown { kind, .. } => l("unknown").opt("type", kind.map(|k| k.into_owned())),
            other => l("other").with("debug", format!("{other:?}")),
        },
    }
}

/// A parameter `key=value` as JSON: numbers and booleans stay typed, as JSON.stringify(params) would write
/// them. The value is never echoed in errors (it may be an API key).
fn param(p: &str, flag: &str) -> Result<(String, Value), String> {
    let (k, v) = p.split_once('=').ok_or_else(|| {
        format!(
            "{flag}: expected key=value, got {:?}",
            p.chars().take_while(|c| *c != ':').take(20).collect::<String>()
        )
    })?;
    let value: Value = match v.parse::<i64>() {
        Ok(n) => Value::from(n),
        Err(_) if v == "true" || v == "false" => Value::from(v == "true"),
        Err(_) => Value::from(v),
    };
    Ok((k.to_owned(), value))
}

/// Builds the identifier of one `--channel`: `NAME [key=value ...]` (the channel class, then its own params
/// separated by spaces), followed by every `--param`; or a whole identifier as JSON (`{"channel":..,..}`),
/// taken as it is.
pub fn identifier(spec: &str, params: &[String]) -> Result<Identifier, String> {
    let spec = spec.trim();
    if spec.starts_with('{') {
        if !params.is_empty() {
            return Err(
                "--param does not combine with a JSON --channel: put the parameter in the JSON".to_owned(),
            );
        }
        let id = Identifier::from_raw(spec).map_err(|e| format!("--channel (JSON identifier): {e}"))?;
        if id.channel().is_none() {
            return Err("--channel (JSON identifier): needs a \"channel\" field".to_owned());
        }
        return Ok(id);
    }
    let mut words = spec.split_whitespace();
    let channel = words
        .next()
        .ok_or("--channel: a channel class such as ApiChannel, then its params as key=value")?;
    let mut b = Identifier::builder(channel);
    for (p, flag) in words
        .map(|w| (w, "--channel"))
        .chain(params.iter().map(|p| (p.as_str(), "--param")))
    {
        let (k, v) = param(p, flag)?;
        b = b.param(&k, v).map_err(|e| format!("{flag} {k}=..: {e}"))?;
    }
    Ok(b.build())
}

/// A session configured from the command line.
pub fn client(
    url: &str,
    headers: &[String],
    ext: bool,
    ids: Vec<Identifier>,
    now: Instant,
    unix_ms: u64,
) -> Result<Client, String> {
    let mut config = Config::new(url).with_unix_anchor(UnixAnchor::new(now, unix_ms));
    if ext {
        config = config.with_flavour(Flavour::AnyCable);
    }
    for h in headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("--header {h}: expected 'Name: value'"))?;
        config = config.with_header(k.trim(), v.trim());
    }
    let mut c = Client::new(config);
    for id in ids {
        c.subscribe(now, id).map_err(|e| e.to_string())?;
    }
    Ok(c)
}

/// The host policy of `serve actioncable` and the demo: confirm every subscription and stream it from its
/// channel name (reject channels named `Reject*`), and echo every `perform` to that stream as
/// `{"action":..,"data":..}` when `echo` is on. Returns the line to print.
pub fn host(hub: &mut Hub, ev: &HubEvent, echo: bool, broker: Option<&CableBroker>) -> Line {
    let l = |kind: &str| Line::new(NAME, kind);
    match ev {
        HubEvent::Opened { conn, ext, .. } => l("opened").with("conn", conn.0).with("ext", *ext),
        HubEvent::SubscribeRequested { conn, identifier } => {
            let channel = identifier.channel().unwrap_or_default();
            let ok = !channel.starts_with("Reject");
            let r = if ok {
                hub.stream_from(*conn, identifier.as_str(), &channel)
                    .and_then(|()| hub.confirm(*conn, identifier.as_str()))
            } else {
                hub.reject(*conn, identifier.as_str())
            };
            ident(l(if ok { "confirmed" } else { "rejected" }), identifier)
                .with("conn", conn.0)
                .opt("error", r.err().map(|e| e.to_string()))
        }
        HubEvent::Perform {
            conn,
            identifier,
            action,
            data,
        } => {
            if echo {
                let channel = identifier.channel().unwrap_or_default();
                let msg = serde_json::json!({"action": action, "data": payload(data)}).to_string();
                let _ = broadcast(hub, &channel, &msg, broker);
            }
            ident(l("perform"), identifier)
                .with("conn", conn.0)
                .opt("action", action.clone())
                .with("data", payload(data))
        }
        HubEvent::Unsubscribed { conn, identifier } => {
            ident(l("unsubscribed"), identifier).with("conn", conn.0)
        }
        HubEvent::DuplicateSubscribe { conn, identifier } => {
            ident(l("duplicate_subscribe"), identifier).with("conn", conn.0)
        }
        HubEvent::BadInput { conn, reason, .. } => l("bad_input")
            .with("conn", conn.0)
            .with("reason", reason.as_str()),
        HubEvent::Closed { conn, close } => l("closed")
            .with("conn", conn.0)
            .opt("code", close.as_ref().map(|c| c.code.0)),
        other => l("other").with("debug", format!("{other:?}")),
    }
}

/// Broadcasts `message` on `stream`: through Redis with a broker, else to the hub's own connections.
fn broadcast(
    hub: &mut Hub,
    stream: &str,
    message: &str,
    broker: Option<&CableBroker>,
) -> Result<String, String> {
    match broker {
        Some(b) => match b.broadcast(hub, stream, message) {
            Ok(Routed::Redis) => Ok(format!("published to Redis channel {}", b.channel(stream))),
            Ok(Routed::LocalOnly(n)) => Ok(format!(
                "published to {n} connections of this server only: Redis is unreachable"
            )),
            Err(e) => Err(e.to_string()),
        },
        None => crate::published(hub.broadcast(stream, message).map_err(|e| e.to_string())),
    }
}

/// Broadcasts one JSON line read by `serve actioncable`: `{"stream":"ChatChannel","message":<any JSON>}`.
pub fn publish_line(hub: &mut Hub, line: &str, broker: Option<&CableBroker>) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct In {
        stream: String,
        message: Box<serde_json::value::RawValue>,
    }
    let i: In =
        serde_json::from_str(line).map_err(|e| format!("expected {{\"stream\",\"message\"}}: {e}"))?;
    broadcast(hub, &i.stream, i.message.get(), broker)
}

/// `feedwire listen actioncable`.
#[derive(clap::Args)]
pub struct ListenArgs {
    /// The cable URL (metasmoke: wss://metasmoke.erwaysoftware.com/cable).
    #[arg(long, value_parser = crate::ws_url)]
    pub url: String,
    /// A channel to subscribe to (repeat for more): its class, then its own params as key=value separated by
    /// spaces (`--channel 'ChatChannel room=lobby'`), or its whole identifier as JSON
    /// (`--channel '{"channel":"ChatChannel","room":"a b"}'`).
    #[arg(long = "channel", required = true)]
    pub channels: Vec<String>,
    /// A parameter added to every channel given by name, after its own (repeat), for values with spaces or
    /// shared by all: `--param key=KEY --param 'events=posts#create'`. A key, token or secret is never printed.
    #[arg(long = "param")]
    pub params: Vec<String>,
    /// An extra request header (repeat): `--header 'Cookie: a=b'`.
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// Speak AnyCable's extended protocol (session restore, history).
    #[arg(long)]
    pub ext: bool,
    /// Stop after this many `message` events.
    #[arg(long)]
    pub count: Option<u64>,
}

/// Refuses, before dialing, channels whose identifiers cannot be built.
pub fn check(a: &ListenArgs) -> Result<(), String> {
    a.channels
        .iter()
        .try_for_each(|c| identifier(c, &a.params).map(drop))
}

/// What `listen` makes of ActionCable events: when the server rejected every channel, nothing can arrive.
struct Listener {
    /// identifiers asked for and not rejected
    alive: Vec<Identifier>,
    /// the channels rejected
    rejected: Vec<String>,
}

impl crate::listen::Protocol for Listener {
    type Session = Client;

    fn name(&self) -> &'static str {
        NAME
    }

    fn line(&self, ev: &Event) -> Option<Line> {
        Some(event_line(ev))
    }

    fn is_message(&self, ev: &Event) -> bool {
        matches!(ev, Event::Message { .. })
    }

    fn assess(&mut self, ev: &Event) -> Seen {
        match ev {
            Event::Connected { .. } => Seen::Connected,
            Event::Rejected { identifier, .. } => {
                let name = identifier.channel().unwrap_or_else(|| "a channel".to_owned());
                self.alive.retain(|id| id.as_str() != identifier.as_str());
                self.rejected.push(name.clone());
                if self.alive.is_empty() {
                    return Seen::Fatal(
                        format!(
                            "nothing can arrive: the server rejected every channel ({})",
                            self.rejected.join(", ")
                        ),
                        Some(
                            "check each channel's class and params (a key, the records it names)".to_owned(),
                        ),
                    );
                }
                Seen::Failure(
                    Failure::new(
                        "rejected",
                        format!("the server rejected {name} (it stays rejected)"),
                    )
                    .hint(Some("check the channel's class and params".to_owned())),
                )
            }
            Event::Disconnected { reason } => match reason {
                DisconnectReason::Closed(Some(c)) => {
                    Seen::Failure(Failure::new("close", closed_reason(Some(c))).code(Some(c.code.0)))
                }
                DisconnectReason::ServerDisconnect { reason, reconnect } if *reconnect != Some(false) => {
                    Seen::Failure(Failure::new(
                        "disconnect",
                        format!(
                            "the server disconnected this client ({})",
                            reason.as_deref().unwrap_or("no reason given")
                        ),
                    ))
                }
                DisconnectReason::Stale { silent_for } => Seen::Failure(Failure::new(
                    "timeout",
                    format!(
                        "no ping from the server for {} s: the connection went stale",
                        silent_for.as_secs()
                    ),
                )),
                _ => Seen::Nothing,
            },
            _ => match terminal_error(ev) {
                Some((why, hint)) => Seen::Fatal(why, hint),
                None => Seen::Nothing,
            },
        }
    }

    fn hint(&self, e: &feedwire_tungstenite::TransportError) -> Option<String> {
        crate::listen::common_hint(
            e,
            "ws:// instead of wss://",
            "the URL's path (Rails mounts the cable on /cable)",
        )
    }
}

/// `feedwire listen actioncable`.
pub async fn listen(
    out: &crate::out::Out,
    a: ListenArgs,
    rec: &crate::record::Recording,
) -> Result<std::process::ExitCode, String> {
    let ids = a
        .channels
        .iter()
        .map(|c| identifier(c, &a.params))
        .collect::<Result<Vec<_>, _>>()?;
    let c = client(
        &a.url,
        &a.headers,
        a.ext,
        ids.clone(),
        Instant::now(),
        crate::out::unix_ms(),
    )?;
    out.status(format!("connecting to {}", a.url.split('?').next().unwrap_or("")));
    let listener = Listener {
        alive: ids,
        rejected: Vec::new(),
    };
    let secrets = secrets(&listener.alive, &a.headers);
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let conn = rec.attach(
        feedwire_tungstenite::Connection::new(c),
        NAME,
        &a.url,
        &secrets,
        None,
    )?;
    crate::listen::run(out, conn, a.count, listener, rec).await
}

/// What a recording must not show: the identifiers' secret parameters (the ones [`redacted_identifier`]
/// hides: metasmoke's `key`, tokens, secrets) and every `--header` value (cookies, bearer tokens).
fn secrets(ids: &[Identifier], headers: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        if let Ok(m) = serde_json::from_str::<serde_json::Map<String, Value>>(id.as_str()) {
            for (k, v) in m {
                let k = k.to_ascii_lowercase();
                if (k == "key" || k.contains("token") || k.contains("secret"))
                    && let Some(v) = v.as_str()
                {
                    out.push(v.to_owned());
                }
            }
        }
    }
    for h in headers {
        if let Some((_, v)) = h.split_once(':') {
            out.push(v.trim().to_owned());
        }
    }
    out
}
