//! `feedwire <command> pusher`.

use feedwire_core::{Frame, RawJson, Secret, StringOrJson};
use feedwire_pusher::auth;
use feedwire_pusher::client::{ChannelAuth, Client, Config, DisconnectReason, Event, StopReason};
use feedwire_pusher::codec::{self, ClientMessage, ServerMessage};
use serde_json::Value;

use crate::listen::{Failure, Seen};
use crate::out::{Line, closed_reason, payload};

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
        Event::Disconnected { .. } => l("disconnected").with("reason", "requested"),
        Event::Stopped { reason: StopReason::Closed { close } } => {
            l("stopped").with("reason", closed_reason(Some(close))).with("code", close.code.0)
        }
        Event::Stopped { .. } => l("stopped").with("reason", "requested"),
        Event::Unavailable => l("unavailable"),
        Event::Reconnecting { after, attempt } => l("reconnecting").reconnect(*after, *attempt),
        other => l("other").with("debug", format!("{other:?}")),
    }
}

/// Whether an event means the session stopped for good (the CLI then exits non-zero): why, and what to check.
pub fn terminal_error(ev: &Event) -> Option<(String, Option<String>)> {
    match ev {
        Event::Stopped {
            reason: StopReason::Closed { close },
        } => {
            let hint = match close.code.0 {
                4001 => Some("check --key (and --cluster or --host: a key belongs to one cluster or server)"),
                4003 => Some("the app is disabled"),
                4004 | 4005 => Some("the app is over a quota"),
                4009 => Some("the connection is not authorized"),
                4301 => Some("too many client events (the limit is 10 per second per connection)"),
                _ => None,
            };
            Some((
                format!(
                    "the server ended the session for good (its close code says not to reconnect): {close}"
                ),
                hint.map(str::to_owned),
            ))
        }
        _ => None,
    }
}

/// Whether a server's error refuses client events because they are off (hosted Pusher and the hub say "enable
/// this feature in the Settings page of your dashboard").
fn client_events_off(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("client events") && m.contains("enable")
}

/// The hint for a refusal of client events by a server, naming the flag first.
pub fn client_events_hint(message: &str) -> Option<&'static str> {
    client_events_off(message).then_some(
        "client events are off on this server: `feedwire serve pusher --client-events` turns them on; on hosted Pusher, enable client events in the app's settings",
    )
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

/// How `listen` signs channels itself (an `--auth-endpoint` goes through the library's `HttpAuthorizer`).
pub enum Authorizer {
    /// No private channels.
    None,
    /// Sign locally with the app secret (for local testing).
    Secret {
        key: String,
        secret: Secret<String>,
        user_id: String,
    },
}

impl Authorizer {
    /// The auth for `channel`, or why there is none.
    pub fn authorize(&self, socket_id: &str, channel: &str) -> Result<ChannelAuth, String> {
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
        }
    }
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
            .with("reason", reason.as_str())
            .opt(
                "hint",
                client_events_off(reason)
                    .then_some("client events are off: restart with `feedwire serve pusher --client-events`"),
            ),
        H::SignedIn { conn, user_id } => l("signed_in")
            .with("conn", conn.0)
            .with("user_id", user_id.as_str()),
        H::PongTimeout { conn } => l("pong_timeout").with("conn", conn.0),
        H::NodeJoined { node } => l("node_joined").with("node", node.as_str()),
        H::NodeExpired { node } => l("node_expired").with("node", node.as_str()),
        H::BadFrame { conn, reason, frame } => l("bad_frame")
            .with("conn", conn.0)
            .with("reason", reason.as_str())
            .with("raw", crate::out::cut(frame.as_str())),
        other => l("other").with("debug", format!("{other:?}")),
    }
}

/// `feedwire listen pusher`.
#[derive(clap::Args)]
pub struct ListenArgs {
    /// The app key.
    #[arg(long)]
    pub key: String,
    /// A hosted Pusher cluster (ws-CLUSTER.pusher.com).
    #[arg(long, conflicts_with = "host")]
    pub cluster: Option<String>,
    /// A custom host (BitSkins: notifier.bitskins.com), without scheme or path; the port goes in --port.
    #[arg(long, value_parser = crate::host_name)]
    pub host: Option<String>,
    /// The port (default 443 with TLS, 80 without).
    #[arg(long)]
    pub port: Option<u16>,
    /// Plain ws:// instead of wss://.
    #[arg(long)]
    pub no_tls: bool,
    /// A channel to subscribe to (repeat for more); private-* and presence-* channels need --auth-endpoint
    /// (or --secret against a local server).
    #[arg(long = "channel", required = true)]
    pub channels: Vec<String>,
    /// Print only these events (repeat for more); status events are always printed.
    #[arg(long = "event")]
    pub events: Vec<String>,
    /// Authorize private/presence channels by POSTing socket_id and channel_name here (http:// or https://).
    #[arg(long, conflicts_with = "secret")]
    pub auth_endpoint: Option<String>,
    /// A header sent with every auth request, as `Name: value` (a cookie, a bearer token); repeatable.
    /// Never printed or recorded.
    #[arg(long = "auth-header", value_name = "HEADER", requires = "auth_endpoint")]
    pub auth_headers: Vec<String>,
    /// Also trust the CA certificates in this PEM file, for wss:// and an https:// auth endpoint (private
    /// servers); the public web roots stay trusted.
    #[arg(long)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Sign private/presence channels locally with the app secret (local testing only). Unlike `serve`,
    /// `listen` reads no PUSHER_APP_SECRET from the environment: exported for a server, it would silently
    /// turn a listener into a signer.
    #[arg(long)]
    pub secret: Option<String>,
    /// The presence user id used with --secret.
    #[arg(long, default_value = "feedwire-cli")]
    pub user_id: String,
    /// Stop after this many `message` events (default: run until Ctrl-C).
    #[arg(long)]
    pub count: Option<u64>,
}

/// Whether a channel needs a signature.
fn needs_auth(channel: &str) -> bool {
    channel.starts_with("private-") || channel.starts_with("presence-")
}

/// Refuses, before dialing, what cannot work: a private or presence channel without any way to sign it.
pub fn check(a: &ListenArgs) -> Result<(), String> {
    if let Some(url) = &a.auth_endpoint
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(format!(
            "--auth-endpoint {url}: an http:// or https:// URL, such as https://api.example/pusher/auth"
        ));
    }
    match a.channels.iter().find(|c| needs_auth(c)) {
        Some(c) if a.auth_endpoint.is_none() && a.secret.is_none() => Err(format!(
            "--channel {c} needs a signature: add --auth-endpoint URL (your backend's auth endpoint), or --secret SECRET against a local server such as `feedwire serve pusher`"
        )),
        _ => Ok(()),
    }
}

/// The hook that answers the session's `AuthRequired` events, concurrently with the connection (pings and
/// frames keep flowing while a request is in flight): the library's `HttpAuthorizer` for `--auth-endpoint`
/// (pusher-js's request format, `--auth-header`s, redirects, proxies from the environment, a size cap, a
/// timeout), else local signing with `--secret`.
fn auth_hook(a: &ListenArgs, tls: &feedwire_tungstenite::rustls::ClientConfig) -> Result<AuthHook, String> {
    if let Some(url) = &a.auth_endpoint {
        let mut b = feedwire::pusher::HttpAuthorizer::builder(url.as_str()).tls(tls.clone());
        for h in &a.auth_headers {
            b = b.header_line(h);
        }
        return b
            .build()
            .map(AuthHook::Http)
            .map_err(|e| format!("--auth-endpoint: {e}"));
    }
    Ok(AuthHook::Local(match &a.secret {
        Some(s) => Authorizer::Secret {
            key: a.key.clone(),
            secret: Secret::new(s.clone()),
            user_id: a.user_id.clone(),
        },
        None => Authorizer::None,
    }))
}

/// What to try when the auth endpoint could not sign a channel, when it is obvious.
fn auth_hint(why: &str) -> Option<String> {
    if why.contains("certificate") {
        Some("the auth endpoint's TLS certificate is not trusted: pass its CA with --ca-file".into())
    } else if why.contains("auth request failed") {
        Some("is the auth endpoint running, and is the --auth-endpoint URL right?".into())
    } else if why.contains("HTTP 401") || why.contains("HTTP 403") {
        Some("the auth endpoint refused this client: does it need a cookie or token (--auth-header)?".into())
    } else {
        None
    }
}

/// Answers `AuthRequired` through an auth endpoint or by signing locally.
enum AuthHook {
    Http(feedwire::pusher::HttpAuthorizer),
    Local(Authorizer),
}

impl feedwire_tungstenite::Hook<Client> for AuthHook {
    fn on_event(
        &mut self,
        client: &mut Client,
        event: Event,
        jobs: &mut feedwire_tungstenite::Jobs<Client>,
    ) -> Option<Event> {
        match self {
            // the authorizer takes the event; listen still says a signature was asked for
            AuthHook::Http(h) => match &event {
                Event::AuthRequired { .. } => {
                    let shown = event.clone();
                    let _ = h.on_event(client, event, jobs);
                    Some(shown)
                }
                _ => h.on_event(client, event, jobs),
            },
            AuthHook::Local(authorizer) => {
                if let Event::AuthRequired { socket_id, channel } = &event {
                    let refused = match authorizer.authorize(socket_id, channel) {
                        Ok(auth) => client.provide_auth(channel, auth).err().map(|e| e.to_string()),
                        Err(reason) => Some(reason),
                    };
                    if let Some(reason) = refused {
                        // the channel fails with this reason (SubscriptionFailed), which listen reports
                        let _ = client.fail_auth(channel, &reason);
                    }
                }
                Some(event)
            }
        }
    }
}

/// What `listen` makes of Pusher events: channels that failed for good are tracked, and when every channel
/// asked for failed, nothing can arrive.
struct Listener {
    events: Vec<String>,
    /// channels asked for that have not failed
    alive: Vec<String>,
    /// why each failed channel failed
    failed: Vec<String>,
    no_tls: bool,
}

impl crate::listen::Protocol for Listener {
    type Session = Client;

    fn name(&self) -> &'static str {
        NAME
    }

    fn line(&self, ev: &Event) -> Option<Line> {
        if let Event::Message { event, .. } = ev
            && !self.events.is_empty()
            && !self.events.iter().any(|e| **e == **event)
        {
            return None;
        }
        Some(event_line(ev))
    }

    fn is_message(&self, ev: &Event) -> bool {
        matches!(ev, Event::Message { event, .. } if self.events.is_empty() || self.events.iter().any(|e| **e == **event))
    }

    fn assess(&mut self, ev: &Event) -> Seen {
        match ev {
            Event::Connected { .. } => Seen::Connected,
            Event::SubscriptionFailed { channel, error } => {
                let channel = channel
                    .clone()
                    .or_else(|| (self.alive.len() == 1).then(|| self.alive[0].clone()));
                let why = error
                    .error
                    .as_ref()
                    .map(|e| e.to_string())
                    .or_else(|| error.status.map(|s| format!("status {s}")))
                    .unwrap_or_else(|| "the server refused it".to_owned());
                let name = channel.as_deref().unwrap_or("a channel");
                let why = match error.status {
                    Some(s) if !why.contains(&s.to_string()) => format!("{why} (status {s})"),
                    _ => why,
                };
                self.alive.retain(|c| Some(c) != channel.as_ref());
                self.failed.push(format!("{name}: {why}"));
                let hint = auth_hint(&why);
                if self.alive.is_empty() {
                    return Seen::Fatal(
                        format!(
                            "nothing can arrive: every channel failed for good ({})",
                            self.failed.join("; ")
                        ),
                        hint,
                    );
                }
                Seen::Failure(
                    Failure::new(
                        "subscription",
                        format!("subscription to {name} failed for good: {why}"),
                    )
                    .hint(hint),
                )
            }
            Event::ServerError { message, .. } => match client_events_hint(message) {
                Some(hint) => Seen::Failure(
                    Failure::new(
                        "server_error",
                        format!("the server refused a client event: {message}"),
                    )
                    .hint(Some(hint.to_owned())),
                ),
                None => Seen::Nothing,
            },
            Event::Disconnected {
                reason:
                    DisconnectReason::Closed {
                        close: Some(close),
                        action,
                    },
            } if *action != feedwire_pusher::client::CloseAction::Stop => Seen::Failure(
                Failure::new("close", closed_reason(Some(close)))
                    .code(Some(close.code.0))
                    .hint(
                        (close.code.0 == 4000 && self.no_tls)
                            .then(|| "the app wants TLS: drop --no-tls".to_owned()),
                    ),
            ),
            Event::Disconnected {
                reason: DisconnectReason::TimedOut { kind },
            } => Seen::Failure(match kind {
                feedwire_pusher::client::TimeoutKind::Handshake => Failure::new(
                    "timeout",
                    "the server sent no pusher:connection_established in time",
                )
                .hint(Some(
                    "is this a Pusher (protocol 7) server? check --host, --port and --key".to_owned(),
                )),
                _ => Failure::new("timeout", "the server stopped answering pings"),
            }),
            _ => match terminal_error(ev) {
                Some((why, hint)) => Seen::Fatal(why, hint),
                None => Seen::Nothing,
            },
        }
    }

    fn hint(&self, e: &feedwire_tungstenite::TransportError) -> Option<String> {
        if e.kind_name() == "handshake" && self.no_tls {
            return Some("does the server speak TLS? drop --no-tls".to_owned());
        }
        crate::listen::common_hint(e, "--no-tls", "--key and the host: Pusher serves /app/KEY")
    }
}

/// `feedwire listen pusher`.
pub async fn listen(
    out: &crate::out::Out,
    a: ListenArgs,
    rec: &crate::record::Recording,
) -> Result<std::process::ExitCode, String> {
    // one TLS configuration for the wss:// connection and an https:// auth endpoint
    let tls = crate::tls::config(a.ca_file.as_deref())?;
    let c = client(
        &a.key,
        a.cluster.as_deref(),
        a.host.as_deref(),
        a.port,
        !a.no_tls,
        &a.channels,
    )?;
    out.status(format!(
        "connecting to {}",
        c.config().url(!a.no_tls).split('?').next().unwrap_or("")
    ));
    let mut config = feedwire_tungstenite::ClientConfig::default();
    if a.ca_file.is_some() {
        config = config.with_tls(tls.clone());
    }
    let url = c.config().url(!a.no_tls);
    let conn = feedwire_tungstenite::Connection::with_config(c, config).with_hook(auth_hook(&a, &tls)?);
    // the signing secret and every --auth-header value (cookies, tokens) are redacted
    let mut secrets = vec![a.secret.as_deref().unwrap_or("")];
    secrets.extend(
        a.auth_headers
            .iter()
            .filter_map(|h| h.split_once(':'))
            .map(|(_, v)| v.trim()),
    );
    let conn = rec.attach(conn, NAME, &url, &secrets, Some(signatures))?;
    let listener = Listener {
        events: a.events,
        alive: a.channels,
        failed: Vec::new(),
        no_tls: a.no_tls,
    };
    crate::listen::run(out, conn, a.count, listener, rec).await
}

/// The channel and user signatures in a frame the client sends (`pusher:subscribe`, `pusher:signin`): each is
/// a credential for this socket, so a recording redacts it (the app key before the `:` stays readable).
pub fn signatures(frame: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(frame) else {
        return Vec::new();
    };
    let auth = v.get("data").and_then(|d| d.get("auth")).and_then(Value::as_str);
    auth.and_then(|a| a.rsplit_once(':'))
        .map(|(_, sig)| sig)
        .filter(|sig| !sig.is_empty())
        .map(|sig| vec![sig.to_owned()])
        .unwrap_or_default()
}
