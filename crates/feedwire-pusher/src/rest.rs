//! The Channels HTTP API, sans-IO: method, path, query and body in; a verified [`RestCall`] out, and JSON
//! responses built for it.
//!
//! This is what lets the official `pusher` server SDKs trigger events through a feedwire hub. Every request is
//! authenticated the way hosted Pusher does it:
//!
//! ```text
//! string_to_sign = METHOD "\n" PATH "\n" canonical_query
//! canonical_query = every query parameter but auth_signature, percent-decoded, keys lowercased,
//!                   sorted by key, joined as k=v with "&"
//! auth_signature = lowercase_hex(HMAC-SHA256(app_secret, string_to_sign))
//! ```
//!
//! with `auth_key` equal to the app key, `auth_version=1.0`, `auth_timestamp` within 600 s of the Unix time the
//! caller gives (the library never reads a clock), and `body_md5` equal to the MD5 of a non-empty body.
//! Signatures are compared in constant time.
//!
//! ```
//! use feedwire_pusher::rest::{RestApi, RestCall, RestRequest};
//! let api = RestApi::new("app-id", "app-key", "app-secret");
//! // A request as the `pusher` npm SDK 5.3 signs it (vector captured from the SDK, see tests/rest.rs).
//! let req = RestRequest {
//!     method: "GET",
//!     path: "/apps/app-id/channels/presence-room/users",
//!     query: "auth_key=app-key&auth_timestamp=1764300000&auth_version=1.0&auth_signature=83b53eecfda5cf9f417727fccab9433048f0bfb3f0440c838bfaa16db7363f5c",
//!     body: b"",
//! };
//! let call = api.authenticate(&req, 1_764_300_000).unwrap();
//! assert!(matches!(call, RestCall::Users { ref channel } if channel == "presence-room"));
//! // ten minutes and one second later the same request is refused
//! assert_eq!(api.authenticate(&req, 1_764_300_601).unwrap_err().status(), 401);
//! ```

use std::fmt::Write as _;

use feedwire_core::{RawJson, Secret};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::Sha256;

/// How far `auth_timestamp` may be from the caller's Unix time, in seconds (hosted Pusher's 600).
pub const DEFAULT_MAX_CLOCK_SKEW: u64 = 600;

/// One HTTP request, as the host's HTTP server received it.
#[derive(Debug, Clone, Copy)]
pub struct RestRequest<'a> {
    /// `GET` or `POST` (case-sensitive, as HTTP methods are).
    pub method: &'a str,
    /// The path, without the query: `/apps/{app_id}/events`.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// The body bytes (empty for GET).
    pub body: &'a [u8],
}

/// One event to publish, from `POST /events` or one item of `POST /batch_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TriggerEvent {
    /// The event name.
    pub name: String,
    /// The channels to publish on (1 to 100).
    pub channels: Vec<String>,
    /// The `data` value exactly as sent (the SDKs send a JSON string); the hub writes it into the frame verbatim.
    pub data: RawJson,
    /// A socket id to exclude from the broadcast.
    pub socket_id: Option<String>,
}

/// A verified API call, for the hub to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestCall {
    /// `POST /apps/{id}/events` (one event) or `/batch_events` (up to 10): publish each; answer
    /// [`RestResponse::ok_empty`].
    Trigger(Vec<TriggerEvent>),
    /// `GET /apps/{id}/channels`: occupied channels, optionally filtered by prefix; `info` may ask for
    /// `user_count` (presence channels only).
    Channels {
        /// `filter_by_prefix`.
        prefix: Option<String>,
        /// The `info` attributes asked for.
        info: Vec<String>,
    },
    /// `GET /apps/{id}/channels/{name}`: one channel's state; `info` may ask for `user_count`,
    /// `subscription_count`.
    Channel {
        /// The channel.
        channel: String,
        /// The `info` attributes asked for.
        info: Vec<String>,
    },
    /// `GET /apps/{id}/channels/{name}/users`: the user ids of a presence channel.
    Users {
        /// The channel.
        channel: String,
    },
    /// `POST /apps/{id}/users/{user_id}/terminate_connections`: close every connection signed in as that
    /// user (the body, `{}` from the SDKs, is not read); answer [`RestResponse::ok_empty`].
    TerminateUser {
        /// The user id (percent-decoded).
        user_id: String,
    },
}

/// Why a request was refused. [`RestError::status`] gives the HTTP status, [`RestError::response`] the body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RestError {
    /// No such route, or another app's id (404).
    #[error("not found: {0}")]
    NotFound(String),
    /// The route exists with another method (405).
    #[error("method {0} not allowed here")]
    MethodNotAllowed(String),
    /// The authentication failed: unknown key, bad version, expired timestamp, body_md5 or signature mismatch (401).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The request is malformed: bad JSON, missing fields, invalid names, too many channels (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The body or the event data is larger than allowed (413).
    #[error("payload too large: {0}")]
    TooLarge(String),
    /// The server cannot take the call now (503): a hub whose outgoing queue is full refuses triggers until
    /// its driver has sent what waits.
    #[error("service unavailable: {0}")]
    Unavailable(String),
}

impl RestError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            RestError::NotFound(_) => 404,
            RestError::MethodNotAllowed(_) => 405,
            RestError::Unauthorized(_) => 401,
            RestError::BadRequest(_) => 400,
            RestError::TooLarge(_) => 413,
            RestError::Unavailable(_) => 503,
        }
    }

    /// The response to send: the status and `{"error":"<reason>"}`.
    pub fn response(&self) -> RestResponse {
        RestResponse {
            status: self.status(),
            body: json_object(&[("error", &serde_json::json!(self.to_string()))]),
        }
    }
}

/// An HTTP response: a status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestResponse {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body.
    pub body: String,
}

/// One occupied channel, as the hub reports it for `GET /channels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSummary<'a> {
    /// The channel name.
    pub name: &'a str,
    /// Distinct users (presence channels only).
    pub user_count: Option<usize>,
}

impl RestResponse {
    /// `200 {}`: the answer to a trigger.
    pub fn ok_empty() -> Self {
        RestResponse {
            status: 200,
            body: "{}".to_owned(),
        }
    }

    /// `200 {"channels":{name:{"user_count":n}?}}` for `GET /channels`. `user_count` is written only when
    /// `info` asked for it and the channel has one.
    pub fn channels<'a>(channels: impl IntoIterator<Item = ChannelSummary<'a>>, info: &[String]) -> Self {
        let want_users = info.iter().any(|i| i == "user_count");
        let mut map = serde_json::Map::new();
        for c in channels {
            let mut attrs = serde_json::Map::new();
            if let (true, Some(n)) = (want_users, c.user_count) {
                attrs.insert("user_count".into(), n.into());
            }
            map.insert(c.name.to_owned(), attrs.into());
        }
        RestResponse {
            status: 200,
            body: json_object(&[("channels", &serde_json::Value::Object(map))]),
        }
    }

    /// `200 {"occupied":bool,"user_count"?:n,"subscription_count"?:n}` for `GET /channels/{name}`.
    pub fn channel(
        occupied: bool,
        user_count: Option<usize>,
        subscription_count: Option<usize>,
        info: &[String],
    ) -> Self {
        let mut fields: Vec<(&str, serde_json::Value)> = vec![("occupied", occupied.into())];
        if info.iter().any(|i| i == "user_count")
            && let Some(n) = user_count
        {
            fields.push(("user_count", n.into()));
        }
        if info.iter().any(|i| i == "subscription_count")
            && let Some(n) = subscription_count
        {
            fields.push(("subscription_count", n.into()));
        }
        let refs: Vec<(&str, &serde_json::Value)> = fields.iter().map(|(k, v)| (*k, v)).collect();
        RestResponse {
            status: 200,
            body: json_object(&refs),
        }
    }

    /// `200 {"users":[{"id":..},..]}` for `GET /channels/{name}/users`.
    pub fn users<'a>(ids: impl IntoIterator<Item = &'a str>) -> Self {
        let users: Vec<serde_json::Value> = ids
            .into_iter()
            .map(|id| serde_json::json!({ "id": id }))
            .collect();
        RestResponse {
            status: 200,
            body: json_object(&[("users", &serde_json::Value::Array(users))]),
        }
    }
}

fn json_object(fields: &[(&str, &serde_json::Value)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        feedwire_core::json::write_string(&mut out, k);
        // Writing to a String cannot fail.
        let _ = write!(out, ":{v}");
    }
    out.push('}');
    out
}

/// Limits of the HTTP API (hosted Pusher's by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestLimits {
    /// Largest request body in bytes (default 256 KiB).
    pub max_body: usize,
    /// Largest `data` of one event in bytes (default 10 KiB, hosted Pusher's limit).
    pub max_event_data: usize,
    /// Most channels one trigger may name (default 100).
    pub max_channels: usize,
    /// Most events in one batch (default 10).
    pub max_batch: usize,
    /// Longest event name (default 200).
    pub max_event_name: usize,
}

impl Default for RestLimits {
    fn default() -> Self {
        RestLimits {
            max_body: 256 * 1024,
            max_event_data: 10 * 1024,
            max_channels: 100,
            max_batch: 10,
            max_event_name: 200,
        }
    }
}

/// The HTTP API of one app: verifies requests and turns them into [`RestCall`]s.
#[derive(Debug, Clone)]
pub struct RestApi {
    app_id: String,
    key: String,
    secret: Secret<String>,
    max_clock_skew: u64,
    limits: RestLimits,
}

#[derive(Deserialize)]
struct EventBody<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    channels: Option<Vec<std::borrow::Cow<'a, str>>>,
    #[serde(borrow, default)]
    channel: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    socket_id: Option<std::borrow::Cow<'a, str>>,
}

#[derive(Deserialize)]
struct BatchBody<'a> {
    #[serde(borrow)]
    batch: Vec<EventBody<'a>>,
}

impl RestApi {
    /// The API of the app `app_id` with credentials `key` and `secret`.
    pub fn new(app_id: impl Into<String>, key: impl Into<String>, secret: impl Into<String>) -> Self {
        RestApi {
            app_id: app_id.into(),
            key: key.into(),
            secret: Secret::new(secret.into()),
            max_clock_skew: DEFAULT_MAX_CLOCK_SKEW,
            limits: RestLimits::default(),
        }
    }

    /// Sets how far `auth_timestamp` may be from the caller's Unix time.
    pub fn with_max_clock_skew(mut self, seconds: u64) -> Self {
        self.max_clock_skew = seconds;
        self
    }

    /// Sets the limits.
    pub fn with_limits(mut self, limits: RestLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Routes and authenticates `req` at Unix time `now_unix` (seconds) and parses its body.
    pub fn authenticate(&self, req: &RestRequest<'_>, now_unix: u64) -> Result<RestCall, RestError> {
        let route = self.route(req)?;
        if req.body.len() > self.limits.max_body {
            return Err(RestError::TooLarge(format!(
                "body of {} bytes exceeds {}",
                req.body.len(),
                self.limits.max_body
            )));
        }
        self.verify_signature(req, now_unix)?;
        match route {
            Route::Events => Ok(RestCall::Trigger(vec![self.parse_event(req.body)?])),
            Route::BatchEvents => self.parse_batch(req.body).map(RestCall::Trigger),
            Route::Channels => {
                let params = parse_query(req.query)?;
                Ok(RestCall::Channels {
                    prefix: param(&params, "filter_by_prefix").map(str::to_owned),
                    info: info_list(&params),
                })
            }
            Route::Channel(channel) => {
                let params = parse_query(req.query)?;
                Ok(RestCall::Channel {
                    channel,
                    info: info_list(&params),
                })
            }
            Route::Users(channel) => {
                if !channel.starts_with("presence-") {
                    return Err(RestError::BadRequest(format!(
                        "{channel} is not a presence channel"
                    )));
                }
                Ok(RestCall::Users { channel })
            }
            Route::TerminateUser(user_id) if user_id.is_empty() => {
                Err(RestError::BadRequest("empty user id".into()))
            }
            Route::TerminateUser(user_id) => Ok(RestCall::TerminateUser { user_id }),
        }
    }

    fn route(&self, req: &RestRequest<'_>) -> Result<Route, RestError> {
        let not_found = || RestError::NotFound(req.path.to_owned());
        let rest = req.path.strip_prefix("/apps/").ok_or_else(not_found)?;
        let (app, rest) = rest.split_once('/').ok_or_else(not_found)?;
        if app != self.app_id {
            return Err(not_found());
        }
        let (route, method) = match rest.split('/').collect::<Vec<_>>().as_slice() {
            ["events"] => (Route::Events, "POST"),
            ["batch_events"] => (Route::BatchEvents, "POST"),
            ["channels"] => (Route::Channels, "GET"),
            ["channels", name] => (Route::Channel(decode_segment(name)?), "GET"),
            ["channels", name, "users"] => (Route::Users(decode_segment(name)?), "GET"),
            ["users", user, "terminate_connections"] => (Route::TerminateUser(decode_segment(user)?), "POST"),
            _ => return Err(not_found()),
        };
        if req.method != method {
            return Err(RestError::MethodNotAllowed(req.method.to_owned()));
        }
        Ok(route)
    }

    fn verify_signature(&self, req: &RestRequest<'_>, now_unix: u64) -> Result<(), RestError> {
        let unauthorized = |m: &str| RestError::Unauthorized(m.to_owned());
        let mut params = parse_query(req.query)?;
        let key = param(&params, "auth_key").ok_or_else(|| unauthorized("auth_key missing"))?;
        if key != self.key {
            return Err(unauthorized("unknown auth_key"));
        }
        if param(&params, "auth_version") != Some("1.0") {
            return Err(unauthorized("auth_version must be 1.0"));
        }
        let ts: u64 = param(&params, "auth_timestamp")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| unauthorized("auth_timestamp missing or not a number"))?;
        if ts.abs_diff(now_unix) > self.max_clock_skew {
            return Err(RestError::Unauthorized(format!(
                "auth_timestamp {ts} is more than {} s from the server time {now_unix}",
                self.max_clock_skew
            )));
        }
        if !req.body.is_empty() {
            let md5 = hex::encode(Md5::digest(req.body));
            match param(&params, "body_md5") {
                Some(given) if given.eq_ignore_ascii_case(&md5) => {}
                Some(_) => return Err(unauthorized("body_md5 does not match the body")),
                None => return Err(unauthorized("body_md5 missing")),
            }
        }
        let sig_hex =
            param(&params, "auth_signature").ok_or_else(|| unauthorized("auth_signature missing"))?;
        let sig = hex::decode(sig_hex).map_err(|_| unauthorized("auth_signature is not hex"))?;
        params.retain(|(k, _)| k != "auth_signature");
        params.sort();
        let mut to_sign = format!("{}\n{}\n", req.method, req.path);
        for (i, (k, v)) in params.iter().enumerate() {
            if i > 0 {
                to_sign.push('&');
            }
            to_sign.push_str(k);
            to_sign.push('=');
            to_sign.push_str(v);
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.expose().as_bytes())
            .map_err(|_| unauthorized("invalid secret"))?;
        mac.update(to_sign.as_bytes());
        // constant-time comparison
        mac.verify_slice(&sig)
            .map_err(|_| unauthorized("invalid signature"))
    }

    fn parse_event(&self, body: &[u8]) -> Result<TriggerEvent, RestError> {
        let ev: EventBody<'_> = serde_json::from_slice(body)
            .map_err(|e| RestError::BadRequest(format!("invalid event body: {e}")))?;
        self.check_event(ev)
    }

    fn parse_batch(&self, body: &[u8]) -> Result<Vec<TriggerEvent>, RestError> {
        let b: BatchBody<'_> = serde_json::from_slice(body)
            .map_err(|e| RestError::BadRequest(format!("invalid batch body: {e}")))?;
        if b.batch.is_empty() || b.batch.len() > self.limits.max_batch {
            return Err(RestError::BadRequest(format!(
                "a batch holds 1 to {} events, not {}",
                self.limits.max_batch,
                b.batch.len()
            )));
        }
        b.batch.into_iter().map(|e| self.check_event(e)).collect()
    }

    fn check_event(&self, ev: EventBody<'_>) -> Result<TriggerEvent, RestError> {
        let bad = |m: String| RestError::BadRequest(m);
        if ev.name.is_empty() || ev.name.len() > self.limits.max_event_name {
            return Err(bad(format!(
                "event name must be 1 to {} characters",
                self.limits.max_event_name
            )));
        }
        let mut channels: Vec<String> = match (ev.channels, ev.channel) {
            (Some(list), None) => list.into_iter().map(|c| c.into_owned()).collect(),
            (None, Some(one)) => vec![one.into_owned()],
            (Some(_), Some(_)) => return Err(bad("give `channels` or `channel`, not both".into())),
            (None, None) => return Err(bad("`channels` is missing".into())),
        };
        if channels.is_empty() || channels.len() > self.limits.max_channels {
            return Err(bad(format!(
                "an event goes to 1 to {} channels, not {}",
                self.limits.max_channels,
                channels.len()
            )));
        }
        for c in &channels {
            validate_channel(c).map_err(bad)?;
        }
        channels.dedup();
        let data = ev.data.ok_or_else(|| bad("`data` is missing".into()))?;
        let data_len = data.get().len();
        if data_len > self.limits.max_event_data {
            return Err(RestError::TooLarge(format!(
                "event data of {data_len} bytes exceeds {}",
                self.limits.max_event_data
            )));
        }
        let data = RawJson::from_json_str(data.get()).map_err(|e| bad(e.to_string()))?;
        let socket_id = match ev.socket_id {
            Some(s) if crate::codec::is_socket_id(&s) => Some(s.into_owned()),
            Some(s) => return Err(bad(format!("socket_id {s:?} is not of the form 123.456"))),
            None => None,
        };
        Ok(TriggerEvent {
            name: ev.name.into_owned(),
            channels,
            data,
            socket_id,
        })
    }
}

enum Route {
    Events,
    BatchEvents,
    Channels,
    Channel(String),
    Users(String),
    TerminateUser(String),
}

fn decode_segment(s: &str) -> Result<String, RestError> {
    let decoded: String = form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    validate_channel(&decoded).map_err(RestError::BadRequest)?;
    Ok(decoded)
}

/// Query parameters, percent-decoded, keys lowercased. Duplicate keys are refused (the signature would be
/// ambiguous).
fn parse_query(query: &str) -> Result<Vec<(String, String)>, RestError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let k = k.to_ascii_lowercase();
        if out.iter().any(|(seen, _)| *seen == k) {
            return Err(RestError::BadRequest(format!("query parameter {k} given twice")));
        }
        out.push((k, v.into_owned()));
    }
    Ok(out)
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn info_list(params: &[(String, String)]) -> Vec<String> {
    param(params, "info")
        .map(|i| {
            i.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A channel name the API may publish to: a valid subscribable name, or `#server-to-user-{id}`.
fn validate_channel(c: &str) -> Result<(), String> {
    match c.strip_prefix("#server-to-user-") {
        Some("") => Err(format!("channel name {c:?} names no user")),
        Some(user) => crate::codec::validate_channel_name(user).map_err(|e| e.to_string()),
        None => crate::codec::validate_channel_name(c).map_err(|e| e.to_string()),
    }
}
