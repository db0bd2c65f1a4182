//! `feedwire <command> actioncable`.

use std::time::Instant;

use feedwire_actioncable::client::{Client, Config, DisconnectReason, Event, Flavour, StopReason};
use feedwire_actioncable::codec::{ClientMessage, ServerMessage};
use feedwire_actioncable::identifier::Identifier;
use feedwire_actioncable::server::{Hub, HubEvent};
use feedwire_core::UnixAnchor;
use serde_json::Value;

use crate::out::{Line, Listen, payload};

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
        other => Value::from(format!("{other:?}")),
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
        Event::Stopped { reason } => l("stopped").with("reason", format!("{reason:?}")),
        Event::Unmatched { .. } => l("unmatched"),
        Event::Unknown { .. } => l("unknown"),
        Event::Malformed { error, .. } => l("error").with("reason", error.to_string()),
        _ => l("other"),
    }
}

/// How `listen` reports this protocol's session.
pub const LISTEN: Listen<Client> = Listen {
    line: event_line,
    terminal: terminal_error,
    is_message: |e| matches!(e, Event::Message { .. }),
};

/// Whether an event means the session stopped for good (other than by Ctrl-C).
pub fn terminal_error(ev: &Event) -> Option<String> {
    match ev {
        Event::Stopped {
            reason: StopReason::Requested,
        } => None,
        Event::Stopped { reason } => Some(format!("the session stopped: {reason:?}")),
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

/// Builds the identifier of `--channel NAME --param k=v ...` (channel first, params in the order given).
pub fn identifier(channel: &str, params: &[String]) -> Result<Identifier, String> {
    let mut b = Identifier::builder(channel);
    for p in params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("--param {p}: expected key=value"))?;
        // numbers and booleans stay typed, as JSON.stringify(params) would write them
        let value: Value = match v.parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) if v == "true" || v == "false" => Value::from(v == "true"),
            Err(_) => Value::from(v),
        };
        b = b.param(k, value).map_err(|e| format!("--param {p}: {e}"))?;
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
pub fn host(hub: &mut Hub, ev: &HubEvent, echo: bool) -> Line {
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
                let _ = hub.broadcast(&channel, &msg);
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

/// Broadcasts one JSON line read by `serve actioncable`: `{"stream":"ChatChannel","message":<any JSON>}`.
pub fn publish_line(hub: &mut Hub, line: &str) -> Result<usize, String> {
    #[derive(serde::Deserialize)]
    struct In {
        stream: String,
        message: Box<serde_json::value::RawValue>,
    }
    let i: In =
        serde_json::from_str(line).map_err(|e| format!("expected {{\"stream\",\"message\"}}: {e}"))?;
    hub.broadcast(&i.stream, i.message.get())
        .map_err(|e| e.to_string())
}
