//! `feedwire <command> pusher`.

use feedwire_core::{Frame, RawJson, Secret, StringOrJson};
use feedwire_pusher::auth;
use feedwire_pusher::client::{ChannelAuth, Client, Config, DisconnectReason, Event, StopReason};
use feedwire_pusher::codec::{self, ClientMessage, ServerMessage};
use serde_json::Value;

use crate::out::{Line, payload};

/// The protocol name in output lines.
pub const NAME: &str = "pusher";

fn data_value(d: &Option<StringOrJson>) -> Value {
    d.as_ref().map_or(Value::Null, |d| payload(d.raw().as_str()))
}

/// One session event as an output line.
pub fn event_line(ev: &Event) -> Line {
    let l = |kind: &str| Line::new(NAME, kind);
    match ev {
        Event::Connected { socket_id, activity_timeout } => l("connected")
            .with("socket_id", socket_id.to_string())
            .with("activity_timeout_s", activity_timeout.as_secs()),
        Event::AuthRequired { channel, .. } => l("auth_required").with("channel", channel.as_str()),
        Event::UserAuthRequired { .. } => l("user_auth_required"),
        Event::Subscribed { channel, data } => l("subscribed").with("channel", channel.as_str()).with("data", data_value(data)),
        Event::Resubscribed { channel, after } => {
            l("resubscribed").with("channel", channel.as_str()).with("after_ms", after.as_millis() as u64)
        }
        Event::SubscriptionFailed { channel, error } => l("subscription_failed")
            .opt("channel", channel.clone())
            .opt("status", error.status)
            .opt("message", error.error.as_ref().map(|e| e.to_string())),
        Event::Message { channel, event, data, user_id } => l("message")
            .opt("channel", channel.as_ref().map(|c| c.to_string()))
            .with("event", event.to_string())
            .with("data", data_value(data))
            .opt("user_id", user_id.as_ref().map(|u| u.to_string())),
        Event::UserEvent { event, data } => l("user_event").with("event", event.to_string()).with("data", data_value(data)),
        Event::MemberAdded { channel, user_id, user_info } => l("member_added")
            .with("channel", channel.as_str())
            .with("user_id", user_id.as_str())
            .with("user_info", user_info.as_ref().map_or(Value::Null, |i| payload(i.as_str()))),
        Event::MemberRemoved { channel, user_id } => {
            l("member_removed").with("channel", channel.as_str()).with("user_id", user_id.as_str())
        }
        Event::SubscriptionCount { channel, count } => {
            l("subscription_count").with("channel", channel.to_string()).with("count", *count)
        }
        Event::CacheMiss { channel } => l("cache_miss").with("channel", channel.to_string()),
        Event::SignedIn { user_id, .. } => l("signed_in").with("user_id", user_id.to_string()),
        Event::Watchlist { events } => l("watchlist").with(
            "events",
            events
                .iter()
                .map(|e| serde_json::json!({"name": e.name.to_string(), "user_ids": e.user_ids.iter().map(|u| u.to_string()).collect::<Vec<_>>()}))
                .collect::<Vec<_>>(),
        ),
        Event::DecryptionFailed { channel, event, error } => l("decryption_failed")
            .with("channel", channel.as_str())
            .with("event", event.to_string())
            .with("reason", error.to_string()),
        Event::ServerError { code, message, channel } => l("server_error")
            .opt("code", *code)
            .with("message", message.to_string())
            .opt("channel", channel.as_ref().map(|c| c.to_string())),
        Event::Unknown { frame } => l("unknown").with("raw", frame.as_str()),
        Event::Malformed { error, frame } => l("error").with("reason", error.to_string()).with("raw", frame.as_str()),
        Event::Disconnected { reason: DisconnectReason::Closed { close, action } } => l("closed")
            .opt("code", close.as_ref().map(|c| c.code.0))
            .opt("reason", close.as_ref().map(|c| c.reason.to_string()))
            .with("action", format!("{action:?}").to_lowercase()),
        Event::Disconnected { reason: DisconnectReason::TimedOut { kind } } => {
            l("timed_out").with("deadline", format!("{kind:?}").to_lowercase())
        }
        Event::Disconnected { reason } => l("disconnected").with("reason", format!("{reason:?}").to_lowercase()),
        Event::Stopped { reason } => l("stopped").with("reason", format!("{reason:?}")),
        Event::Unavailable => l("unavailable"),
        Event::Reconnecting { after, attempt } => l("reconnecting").reconnect(*after, *attempt),
        other => l("other").with("debug", format!("{other:?}")),
    }
}

/// Whether an event means the session stopped for good (the CLI then exits non-zero).
pub fn terminal_error(ev: &Event) -> Option<String> {
    match ev {
        Event::Stopped {
            reason: StopReason::Closed { close },
        } => Some(format!(
            "the server closed the connection with {close} and asked not to reconnect"
        )),
        _ => None,
    }
}

/// Decodes one frame (`in`: server to client, `out`: client to server) into an output line.
pub fn decode(text: &str, outbound: bool) -> Line {
    let frame = Frame::from(text.to_owned());
    let l = |kind: &str| Line::new(NAME, kind);
    if outbound {
        return match ClientMessage::decode(&frame) {
            Err(e) => l("error").with("error", e.to_string()),
            Ok(m) => match m {
                ClientMessage::Subscribe {
                    channel,
                    channel_data,
                    ..
                } => l("subscribe").with("channel", channel.to_string()).opt(
                    "channel_data",
                    channel_data.map(|d| payload(&serde_json::to_string(&d).unwrap_or_default())),
                ),
                ClientMessage::Unsubscribe { channel } => {
                    l("unsubscribe").with("channel", channel.to_string())
                }
                ClientMessage::Ping => l("ping"),
                ClientMessage::Pong => l("pong"),
                ClientMessage::Signin { user_data, .. } => l("signin").with(
                    "user_data",
                    payload(&serde_json::to_string(&user_data).unwrap_or_default()),
                ),
                ClientMessage::ClientEvent { event, channel, data } => l("client_event")
                    .with("channel", channel.to_string())
                    .with("event", event.to_string())
                    .with("data", payload(data.as_str())),
                ClientMessage::Other { event, channel, data } => l("other")
                    .with("event", event.to_string())
                    .opt("channel", channel.map(|c| c.to_string()))
                    .with("data", data_value(&data)),
                other => l("other").with("debug", format!("{other:?}")),
            },
        };
    }
    match ServerMessage::decode(&frame) {
        Err(e) => l("error").with("error", e.to_string()),
        Ok(m) => match m {
            ServerMessage::ConnectionEstablished(c) => l("connection_established")
                .with("socket_id", c.socket_id.to_string())
                .with("activity_timeout_s", c.activity_timeout),
            ServerMessage::Error(e) => l("server_error")
                .opt("code", e.code)
                .with("message", e.message.to_string())
                .opt("channel", e.channel.map(|c| c.to_string())),
            ServerMessage::Ping { .. } => l("ping"),
            ServerMessage::Pong { .. } => l("pong"),
            ServerMessage::SubscriptionSucceeded { channel, data } => l("subscription_succeeded")
                .with("channel", channel.to_string())
                .with("data", data_value(&data)),
            ServerMessage::SubscriptionError(e) => l("subscription_error")
                .opt("channel", e.channel.map(|c| c.to_string()))
                .opt("status", e.status)
                .opt("message", e.error.map(|c| c.to_string()))
                .with("shape", format!("{:?}", e.shape)),
            ServerMessage::MemberAdded {
                channel,
                user_id,
                user_info,
            } => l("member_added")
                .with("channel", channel.to_string())
                .with("user_id", user_id.to_string())
                .with(
                    "user_info",
                    user_info.map_or(Value::Null, |i| payload(i.as_str())),
                ),
            ServerMessage::MemberRemoved { channel, user_id } => l("member_removed")
                .with("channel", channel.to_string())
                .with("user_id", user_id.to_string()),
            ServerMessage::SubscriptionCount { channel, count } => l("subscription_count")
                .with("channel", channel.to_string())
                .with("count", count),
            ServerMessage::CacheMiss { channel } => l("cache_miss").with("channel", channel.to_string()),
            ServerMessage::SigninSuccess { user_id, .. } => {
                l("signin_success").with("user_id", user_id.to_string())
            }
            ServerMessage::WatchlistEvents(list) => l("watchlist_events").with("count", list.len()),
            ServerMessage::Event(e) => l("message")
                .opt("channel", e.channel.map(|c| c.to_string()))
                .with("event", e.event.to_string())
                .with("data", data_value(&e.data))
                .opt("user_id", e.user_id.map(|u| u.to_string())),
            other => l("other").with("debug", format!("{other:?}")),
        },
    }
}

/// How `listen` gets channel signatures.
pub enum Authorizer {
    /// No private channels.
    None,
    /// Sign locally with the app secret (for local testing).
    Secret {
        key: String,
        secret: Secret<String>,
        user_id: String,
    },
    /// POST `socket_id` and `channel_name` to this http:// or https:// endpoint, as pusher-js does.
    Endpoint {
        url: String,
        tls: std::sync::Arc<feedwire_tungstenite::rustls::ClientConfig>,
    },
}

impl Authorizer {
    /// The auth for `channel`, or why there is none.
    pub async fn authorize(&self, socket_id: &str, channel: &str) -> Result<ChannelAuth, String> {
        match self {
            Authorizer::None => Err(format!(
                "{channel} needs a signature: pass --auth-endpoint or --secret"
            )),
            Authorizer::Secret { key, secret, user_id } => {
                if channel.starts_with("presence-") {
                    let data = serde_json::json!({ "user_id": user_id }).to_string();
                    let sig = auth::sign_presence(key, secret, socket_id, channel, &data);
                    Ok(ChannelAuth::new(sig.expose().clone()).with_channel_data(data))
                } else {
                    Ok(ChannelAuth::new(
                        auth::sign_private(key, secret, socket_id, channel)
                            .expose()
                            .clone(),
                    ))
                }
            }
            Authorizer::Endpoint { url, tls } => {
                let body = format!("socket_id={}&channel_name={}", form(socket_id), form(channel));
                let (status, text) = crate::http::post_form(url, &body, tls)
                    .await
                    .map_err(|e| format!("auth endpoint: {e}"))?;
                if status != 200 {
                    return Err(format!(
                        "auth endpoint answered {status}: {}",
                        text.chars().take(200).collect::<String>()
                    ));
                }
                ChannelAuth::from_json(&text).map_err(|e| format!("auth endpoint answer: {e}"))
            }
        }
    }
}

fn form(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Publishes one JSON line read by `serve pusher`: `{"channel":"c"|"channels":[..],"event":"e","data":..,"socket_id"?:".."}`.
/// `data` is written as given (a string stays a JSON string, as the server SDKs send it).
pub fn publish_line(hub: &mut feedwire_pusher::server::Hub, line: &str) -> Result<usize, String> {
    #[derive(serde::Deserialize)]
    struct In {
        #[serde(default)]
        channel: Option<String>,
        #[serde(default)]
        channels: Vec<String>,
        event: String,
        data: Box<serde_json::value::RawValue>,
        #[serde(default)]
        socket_id: Option<String>,
    }
    let i: In = serde_json::from_str(line)
        .map_err(|e| format!("expected {{\"channel\",\"event\",\"data\"}}: {e}"))?;
    let mut channels = i.channels;
    channels.extend(i.channel);
    if channels.is_empty() {
        return Err("no channel given".into());
    }
    codec::validate_event_name(&i.event).map_err(|e| e.to_string())?;
    let data = RawJson::from_json_str(i.data.get()).map_err(|e| e.to_string())?;
    let names: Vec<&str> = channels.iter().map(String::as_str).collect();
    hub.publish(&names, &i.event, &data, i.socket_id.as_deref())
        .map_err(|e| e.to_string())
}

/// A session configured from the command line.
#[allow(clippy::too_many_arguments)]
pub fn client(
    key: &str,
    cluster: Option<&str>,
    host: Option<&str>,
    port: Option<u16>,
    tls: bool,
    channels: &[String],
) -> Result<Client, String> {
    let mut config = Config::new(key)
        .with_tls(tls)
        .with_client("feedwire-cli", env!("CARGO_PKG_VERSION"));
    if let Some(c) = cluster {
        config = config.with_cluster(c);
    }
    if let Some(h) = host {
        config = config.with_host(h);
    }
    if let Some(p) = port {
        config = config.with_port(p);
    }
    let mut c = Client::new(config);
    for ch in channels {
        c.subscribe(ch).map_err(|e| format!("--channel {ch}: {e}"))?;
    }
    Ok(c)
}

/// The default local app (soketi's).
pub const LOCAL_APP: (&str, &str, &str) = ("app-id", "app-key", "app-secret");

/// One hub event as an output line (for `serve pusher`).
pub fn hub_line(ev: &feedwire_pusher::server::HubEvent) -> Line {
    use feedwire_pusher::server::HubEvent as H;
    let l = |kind: &str| Line::new(NAME, kind);
    match ev {
        H::Connected { conn, socket_id } => l("connected")
            .with("conn", conn.0)
            .with("socket_id", socket_id.as_str()),
        H::Rejected { conn, code, reason } => l("rejected")
            .with("conn", conn.0)
            .with("code", *code)
            .with("reason", reason.as_str()),
        H::Disconnected {
            conn,
            socket_id,
            close,
        } => l("disconnected")
            .with("conn", conn.0)
            .with("socket_id", socket_id.as_str())
            .opt("code", close.as_ref().map(|c| c.code.0)),
        H::Subscribed { conn, channel } => l("subscribed")
            .with("conn", conn.0)
            .with("channel", channel.as_str()),
        H::SubscriptionRefused {
            conn,
            channel,
            reason,
        } => l("subscription_refused")
            .with("conn", conn.0)
            .with("channel", channel.as_str())
            .with("reason", reason.as_str()),
        H::Unsubscribed { conn, channel } => l("unsubscribed")
            .with("conn", conn.0)
            .with("channel", channel.as_str()),
        H::ChannelOccupied { channel } => l("channel_occupied").with("channel", channel.as_str()),
        H::ChannelVacated { channel } => l("channel_vacated").with("channel", channel.as_str()),
        H::MemberAdded { channel, user_id } => l("member_added")
            .with("channel", channel.as_str())
            .with("user_id", user_id.as_str()),
        H::MemberRemoved { channel, user_id } => l("member_removed")
            .with("channel", channel.as_str())
            .with("user_id", user_id.as_str()),
        H::ClientEvent {
            conn,
            channel,
            event,
            data,
            user_id,
        } => l("client_event")
            .with("conn", conn.0)
            .with("channel", channel.as_str())
            .with("event", event.as_str())
            .with("data", payload(data.as_str()))
            .opt("user_id", user_id.clone()),
        H::ClientEventRejected {
            conn,
            channel,
            reason,
        } => l("client_event_rejected")
            .with("conn", conn.0)
            .with("channel", channel.as_str())
            .with("reason", reason.as_str()),
        H::SignedIn { conn, user_id } => l("signed_in")
            .with("conn", conn.0)
            .with("user_id", user_id.as_str()),
        H::PongTimeout { conn } => l("pong_timeout").with("conn", conn.0),
        H::BadFrame { conn, reason, frame } => l("bad_frame")
            .with("conn", conn.0)
            .with("reason", reason.as_str())
            .with("raw", crate::out::cut(frame.as_str())),
        other => l("other").with("debug", format!("{other:?}")),
    }
}
