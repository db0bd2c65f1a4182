//! Channel authorization and user authentication over an application's HTTP endpoint, sans-IO: the
//! requests to send and the verdicts on the answers, in pusher-js's formats. No IO, no clock: the
//! `feedwire` crate's `pusher::HttpAuthorizer` sends these requests with an HTTP client; any other client
//! (or a test) can too.
//!
//! - One channel (pusher-js's `channelAuthorization`): `POST endpoint`, `Content-Type:
//!   application/x-www-form-urlencoded`, body `socket_id=..&channel_name=..` plus the extra params; the answer
//!   is `{"auth":"..","channel_data":"..","shared_secret":".."}`.
//! - Batched (the pusher-js-auth plugin's format, which Laravel and others implement): body
//!   `socket_id=..&channel_name[0]=a&channel_name[1]=b`; the answer maps each channel to
//!   `{"status":200,"data":{"auth":".."}}` (`status` optional on success; a channel missing from the answer
//!   is a 404 for it).
//! - User authentication for `pusher:signin` (pusher-js's `userAuthentication`, default endpoint
//!   `/pusher/user-auth`): body `socket_id=..` plus the params; the answer is `{"auth":"..","user_data":".."}`.
//!
//! ```
//! use feedwire_pusher::authorizer::{AuthorizerConfig, parse_channel_response};
//!
//! let config = AuthorizerConfig::new("https://example.com/pusher/auth")
//!     .with_header("Authorization", "Bearer t0ken")
//!     .with_param("team", "a&b");
//! let req = config.channel_request("1.2", "private-orders");
//! assert_eq!(req.url, "https://example.com/pusher/auth");
//! assert_eq!(req.body, "socket_id=1.2&channel_name=private-orders&team=a%26b");
//! assert!(!format!("{req:?}").contains("t0ken")); // header values never reach Debug
//!
//! let auth = parse_channel_response(200, br#"{"auth":"key:sig"}"#, config.max_response_bytes).unwrap();
//! assert_eq!(auth.auth.expose(), "key:sig");
//! let err = parse_channel_response(403, b"Forbidden: no session", config.max_response_bytes).unwrap_err();
//! assert_eq!(err.to_string(), "auth endpoint answered HTTP 403: Forbidden: no session");
//! ```

use std::fmt;

use feedwire_core::Secret;
use serde::Deserialize;
use serde_json::Value;

use crate::client::{ChannelAuth, UserAuth};

/// The form content type of every request.
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// pusher-js's default user-authentication endpoint (`userAuthentication.endpoint`).
pub const DEFAULT_USER_ENDPOINT: &str = "/pusher/user-auth";

/// The default cap on an answer's body: auth answers are a few hundred bytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// How much of a body an error quotes.
const QUOTE_CHARS: usize = 200;

/// Where and how to ask for authorizations.
#[derive(Clone)]
#[non_exhaustive]
pub struct AuthorizerConfig {
    /// The channel authorization endpoint (pusher-js `channelAuthorization.endpoint`).
    pub endpoint: String,
    /// The user authentication endpoint for `pusher:signin`; a path (starting with `/`) is taken on the
    /// channel endpoint's origin. Default [`DEFAULT_USER_ENDPOINT`].
    pub user_endpoint: String,
    /// Headers sent with every request (values may be tokens: never shown in `Debug`).
    pub headers: Vec<(String, Secret<String>)>,
    /// Extra form parameters sent with every request.
    pub params: Vec<(String, String)>,
    /// Whether the channels of one round are authorized in one batched request.
    pub batch: bool,
    /// The largest answer body accepted ([`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub max_response_bytes: usize,
}

impl fmt::Debug for AuthorizerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, _)| (n.as_str(), "<redacted>"))
            .collect();
        f.debug_struct("AuthorizerConfig")
            .field("endpoint", &self.endpoint)
            .field("user_endpoint", &self.user_endpoint)
            .field("headers", &headers)
            .field("params", &self.params)
            .field("batch", &self.batch)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
    }
}

impl AuthorizerConfig {
    /// Asks `endpoint` for channel authorizations, one request per channel, no headers, no params.
    pub fn new(endpoint: impl Into<String>) -> Self {
        AuthorizerConfig {
            endpoint: endpoint.into(),
            user_endpoint: DEFAULT_USER_ENDPOINT.to_owned(),
            headers: Vec::new(),
            params: Vec::new(),
            batch: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
    /// Adds a header to every request.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), Secret::new(value.into())));
        self
    }
    /// Adds a header given as one `Name: value` line (a CLI's `--auth-header`).
    pub fn with_header_line(self, line: &str) -> Result<Self, HeaderLineError> {
        let (name, value) = parse_header_line(line)?;
        Ok(self.with_header(name, value))
    }
    /// Adds a form parameter to every request.
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }
    /// Batches the channels of one round into one request (the pusher-js-auth plugin's format).
    pub fn with_batching(mut self, on: bool) -> Self {
        self.batch = on;
        self
    }
    /// Sets the user authentication endpoint (a URL, or a path on the channel endpoint's origin).
    pub fn with_user_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.user_endpoint = endpoint.into();
        self
    }
    /// Sets the largest answer body accepted.
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The request that authorizes one channel.
    pub fn channel_request(&self, socket_id: &str, channel: &str) -> AuthHttpRequest {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("socket_id", socket_id);
        form.append_pair("channel_name", channel);
        self.request(self.endpoint.clone(), form)
    }

    /// The request that authorizes `channels` at once (the batch format).
    pub fn batch_request<S: AsRef<str>>(&self, socket_id: &str, channels: &[S]) -> AuthHttpRequest {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("socket_id", socket_id);
        for (i, c) in channels.iter().enumerate() {
            form.append_pair(&format!("channel_name[{i}]"), c.as_ref());
        }
        self.request(self.endpoint.clone(), form)
    }

    /// The request that authenticates the user for `pusher:signin`.
    pub fn user_request(&self, socket_id: &str) -> AuthHttpRequest {
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("socket_id", socket_id);
        self.request(self.user_url(), form)
    }

    /// The user endpoint as a URL: a path is joined to the channel endpoint's origin.
    pub fn user_url(&self) -> String {
        if !self.user_endpoint.starts_with('/') {
            return self.user_endpoint.clone();
        }
        let origin = match self.endpoint.find("://") {
            Some(i) => {
                let rest = &self.endpoint[i + 3..];
                let end = rest
                    .find(['/', '?', '#'])
                    .map_or(self.endpoint.len(), |j| i + 3 + j);
                &self.endpoint[..end]
            }
            None => "",
        };
        format!("{origin}{}", self.user_endpoint)
    }

    fn request(&self, url: String, mut form: form_urlencoded::Serializer<'_, String>) -> AuthHttpRequest {
        for (k, v) in &self.params {
            form.append_pair(k, v);
        }
        let mut headers = Vec::with_capacity(self.headers.len() + 1);
        headers.push(("Content-Type".to_owned(), Secret::new(CONTENT_TYPE.to_owned())));
        headers.extend(self.headers.iter().cloned());
        AuthHttpRequest {
            method: "POST",
            url,
            headers,
            body: form.finish(),
        }
    }
}

/// What a custom authorizer is asked: sign `socket_id:channel` (pusher-js's `customHandler` parameters).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelAuthRequest {
    /// The socket id.
    pub socket_id: String,
    /// The channel.
    pub channel: String,
}

impl ChannelAuthRequest {
    /// A request for `channel` on `socket_id`.
    pub fn new(socket_id: impl Into<String>, channel: impl Into<String>) -> Self {
        ChannelAuthRequest {
            socket_id: socket_id.into(),
            channel: channel.into(),
        }
    }
}

/// An HTTP request to send (always a form `POST`).
#[derive(Clone)]
#[non_exhaustive]
pub struct AuthHttpRequest {
    /// `POST`.
    pub method: &'static str,
    /// The endpoint.
    pub url: String,
    /// `Content-Type` first, then the configured headers (values never in `Debug`).
    pub headers: Vec<(String, Secret<String>)>,
    /// The form body.
    pub body: String,
}

impl fmt::Debug for AuthHttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("AuthHttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &self.body)
            .finish()
    }
}

/// A `Name: value` header line that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a header is written `Name: value` (got {got:?}): {reason}")]
pub struct HeaderLineError {
    /// The name part of the line (the value is never quoted: it may be a token).
    pub got: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// Splits a `Name: value` header line; the name must be an HTTP token, the value must not hold a line break.
pub fn parse_header_line(line: &str) -> Result<(String, String), HeaderLineError> {
    let Some((name, value)) = line.split_once(':') else {
        // the first word only: the rest may be a token
        return Err(HeaderLineError {
            got: cut(line.split_whitespace().next().unwrap_or(""), 40),
            reason: "no `:`",
        });
    };
    let name = name.trim();
    let err = |reason| HeaderLineError {
        got: cut(name, 40),
        reason,
    };
    if name.is_empty() {
        return Err(err("the name is empty"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(err("the name may hold only letters, digits and !#$%&'*+-.^_`|~"));
    }
    let value = value.trim();
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(err("the value holds a line break or NUL"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// Why an authorization failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The endpoint answered a status other than 2xx (for a batch, the channel's own status; a channel
    /// missing from a batch answer is a 404).
    #[error("auth endpoint answered HTTP {status}: {body}")]
    Status {
        /// The status.
        status: u16,
        /// The start of the body (text, cut).
        body: String,
    },
    /// The answer's body is larger than the cap.
    #[error("auth endpoint answered HTTP {status} with a body over {limit} bytes")]
    TooLarge {
        /// The status.
        status: u16,
        /// The cap.
        limit: usize,
    },
    /// The answer is not the expected JSON (not UTF-8, not JSON, no `auth`).
    #[error("auth endpoint answered HTTP {status} with an invalid body ({reason}): {body}")]
    Invalid {
        /// The status.
        status: u16,
        /// What is wrong.
        reason: String,
        /// The start of the body (text, cut).
        body: String,
    },
    /// The request could not be made or its answer not read (connection refused, timeout, TLS, ...).
    #[error("auth request failed: {0}")]
    Transport(String),
    /// A custom authorizer refused.
    #[error("{0}")]
    Refused(String),
}

impl AuthError {
    /// The HTTP status, if an answer came.
    pub fn status(&self) -> Option<u16> {
        match self {
            AuthError::Status { status, .. }
            | AuthError::TooLarge { status, .. }
            | AuthError::Invalid { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The first `n` characters of `s` (on a character boundary), with `…` when cut.
fn cut(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// The start of a body as text (invalid UTF-8 replaced, control characters escaped), cut.
fn quote(body: &[u8]) -> String {
    let head = &body[..body.len().min(QUOTE_CHARS * 4)];
    let text = String::from_utf8_lossy(head);
    let text: String = text
        .chars()
        .flat_map(|c| {
            let esc: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            esc
        })
        .collect();
    let mut out = cut(text.trim(), QUOTE_CHARS);
    if head.len() < body.len() && !out.ends_with('…') {
        out.push('…');
    }
    out
}

/// Checks status and size and gives the body as text.
fn checked(status: u16, body: &[u8], max: usize) -> Result<&str, AuthError> {
    if body.len() > max {
        return Err(AuthError::TooLarge { status, limit: max });
    }
    if !(200..300).contains(&status) {
        return Err(AuthError::Status {
            status,
            body: quote(body),
        });
    }
    std::str::from_utf8(body).map_err(|e| AuthError::Invalid {
        status,
        reason: format!("not UTF-8: {e}"),
        body: quote(body),
    })
}

fn invalid(status: u16, reason: impl fmt::Display, body: &[u8]) -> AuthError {
    AuthError::Invalid {
        status,
        reason: reason.to_string(),
        body: quote(body),
    }
}

/// The verdict on a one-channel answer.
pub fn parse_channel_response(status: u16, body: &[u8], max_bytes: usize) -> Result<ChannelAuth, AuthError> {
    let text = checked(status, body, max_bytes)?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| invalid(status, format!("not JSON: {e}"), body))?;
    channel_auth(status, value, body)
}

fn channel_auth(status: u16, value: Value, body: &[u8]) -> Result<ChannelAuth, AuthError> {
    #[derive(Deserialize)]
    struct Json {
        auth: String,
        #[serde(default)]
        channel_data: Option<String>,
        #[serde(default)]
        shared_secret: Option<String>,
    }
    let j: Json = serde_json::from_value(value).map_err(|e| invalid(status, e, body))?;
    if j.auth.is_empty() {
        return Err(invalid(status, "`auth` is empty", body));
    }
    let mut a = ChannelAuth::new(j.auth);
    a.channel_data = j.channel_data;
    a.shared_secret = j.shared_secret.map(Secret::new);
    Ok(a)
}

/// The verdicts on a batch answer, one per channel asked for, in order.
pub fn parse_batch_response<S: AsRef<str>>(
    status: u16,
    body: &[u8],
    channels: &[S],
    max_bytes: usize,
) -> Vec<Result<ChannelAuth, AuthError>> {
    let all = |e: AuthError| channels.iter().map(|_| Err(e.clone())).collect();
    let text = match checked(status, body, max_bytes) {
        Ok(t) => t,
        Err(e) => return all(e),
    };
    let mut map: serde_json::Map<String, Value> = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            return all(invalid(
                status,
                format!("not a JSON object of channels: {e}"),
                body,
            ));
        }
    };
    channels
        .iter()
        .map(|c| {
            let Some(entry) = map.remove(c.as_ref()) else {
                return Err(AuthError::Status {
                    status: 404,
                    body: format!("no entry for {:?} in the batch answer", cut(c.as_ref(), 100)),
                });
            };
            let Value::Object(mut entry) = entry else {
                return Err(invalid(
                    status,
                    format!("the entry for {:?} is not an object", c.as_ref()),
                    body,
                ));
            };
            let st = match entry.get("status") {
                None | Some(Value::Null) => status,
                Some(v) => match v.as_u64().and_then(|n| u16::try_from(n).ok()) {
                    Some(n) => n,
                    None => {
                        return Err(invalid(
                            status,
                            format!("the status of {:?} is not a number", c.as_ref()),
                            body,
                        ));
                    }
                },
            };
            let data = entry.remove("data").unwrap_or(Value::Null);
            if !(200..300).contains(&st) {
                let text = match &data {
                    Value::Null => String::new(),
                    Value::String(s) => s.clone(),
                    v => v.to_string(),
                };
                return Err(AuthError::Status {
                    status: st,
                    body: quote(text.as_bytes()),
                });
            }
            channel_auth(st, data, body)
        })
        .collect()
}

/// The verdict on a user-authentication answer.
pub fn parse_user_response(status: u16, body: &[u8], max_bytes: usize) -> Result<UserAuth, AuthError> {
    #[derive(Deserialize)]
    struct Json {
        auth: String,
        user_data: String,
    }
    let text = checked(status, body, max_bytes)?;
    let j: Json = serde_json::from_str(text).map_err(|e| invalid(status, e, body))?;
    if j.auth.is_empty() {
        return Err(invalid(status, "`auth` is empty", body));
    }
    Ok(UserAuth::new(j.auth, j.user_data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAX: usize = DEFAULT_MAX_RESPONSE_BYTES;

    #[test]
    fn batch_request_and_answer() {
        let c = AuthorizerConfig::new("http://h/auth")
            .with_batching(true)
            .with_param("x", "1 2");
        let r = c.batch_request("1.2", &["private-a", "presence-b"]);
        assert_eq!(
            r.body,
            "socket_id=1.2&channel_name%5B0%5D=private-a&channel_name%5B1%5D=presence-b&x=1+2"
        );
        let body = br#"{"private-a":{"status":200,"data":{"auth":"k:a"}},"presence-b":{"status":403},"x":1}"#;
        let v = parse_batch_response(200, body, &["private-a", "presence-b", "private-c"], MAX);
        assert_eq!(v[0].as_ref().unwrap().auth.expose(), "k:a");
        assert_eq!(v[1].as_ref().unwrap_err().status(), Some(403));
        assert_eq!(v[2].as_ref().unwrap_err().status(), Some(404));
        // status optional on success
        let v = parse_batch_response(
            200,
            br#"{"a":{"data":{"auth":"k:s","channel_data":"{}"}}}"#,
            &["a"],
            MAX,
        );
        assert_eq!(v[0].as_ref().unwrap().channel_data.as_deref(), Some("{}"));
        // a failing whole answer fails every channel
        let v = parse_batch_response(500, b"boom", &["a", "b"], MAX);
        assert!(
            v.iter()
                .all(|r| r.as_ref().unwrap_err().to_string() == "auth endpoint answered HTTP 500: boom")
        );
    }

    #[test]
    fn user_request_and_answer() {
        let c = AuthorizerConfig::new("https://u:p@h:8443/a/auth?x=1");
        assert_eq!(c.user_request("1.2").url, "https://u:p@h:8443/pusher/user-auth");
        assert_eq!(c.user_request("1.2").body, "socket_id=1.2");
        let c = c.with_user_endpoint("http://other/ua");
        assert_eq!(c.user_url(), "http://other/ua");
        let u = parse_user_response(200, br#"{"auth":"k:s","user_data":"{\"id\":\"1\"}"}"#, MAX).unwrap();
        assert_eq!(u.user_data, r#"{"id":"1"}"#);
        assert!(parse_user_response(200, br#"{"auth":"k:s"}"#, MAX).is_err());
    }

    #[test]
    fn errors_name_status_and_body() {
        let e = parse_channel_response(200, b"<html>oops</html>", MAX).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("auth endpoint answered HTTP 200 with an invalid body (not JSON"),
            "{e}"
        );
        assert!(e.to_string().ends_with("<html>oops</html>"), "{e}");
        let e = parse_channel_response(200, b"{}", MAX).unwrap_err();
        assert!(e.to_string().contains("missing field `auth`"), "{e}");
        let e = parse_channel_response(200, &[b'"', 0xe2, 0x82], MAX).unwrap_err();
        assert!(e.to_string().contains("not UTF-8"), "{e}");
        let e = parse_channel_response(200, &vec![b' '; MAX + 1], MAX).unwrap_err();
        assert_eq!(
            e,
            AuthError::TooLarge {
                status: 200,
                limit: MAX
            }
        );
        let long = "é".repeat(1000);
        let e = parse_channel_response(500, long.as_bytes(), MAX).unwrap_err();
        let AuthError::Status { body, .. } = e else {
            panic!()
        };
        assert_eq!(body.chars().count(), QUOTE_CHARS + 1);
        assert!(parse_channel_response(204, b"", MAX).is_err());
    }

    #[test]
    fn header_lines() {
        assert_eq!(
            parse_header_line("X-Token:  abc ").unwrap(),
            ("X-Token".into(), "abc".into())
        );
        assert_eq!(parse_header_line("Cookie: a=b; c=d:e").unwrap().1, "a=b; c=d:e");
        assert!(parse_header_line("no colon").is_err());
        assert!(parse_header_line(": v").is_err());
        assert!(parse_header_line("Bad Name: v").is_err());
        assert!(parse_header_line("X: a\r\nInjected: 1").is_err());
        let e = AuthorizerConfig::new("e")
            .with_header_line("X secret-token")
            .unwrap_err();
        assert_eq!(e.got, "X"); // no colon: only the first word is quoted
        let c = AuthorizerConfig::new("e")
            .with_header_line("Authorization: Bearer s3cr3t")
            .unwrap();
        assert!(!format!("{c:?}").contains("s3cr3t"));
        assert!(format!("{c:?}").contains("Authorization"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn answers_never_panic(status in any::<u16>(), body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let one = parse_channel_response(status, &body, 256);
            let user = parse_user_response(status, &body, 256);
            let batch = parse_batch_response(status, &body, &["private-a", "presence-b"], 256);
            for r in [one.as_ref().map(|_| ()), user.as_ref().map(|_| ())].into_iter().chain(batch.iter().map(|r| r.as_ref().map(|_| ()))) {
                match r {
                    Ok(()) => prop_assert!((200..300).contains(&status) && body.len() <= 256),
                    Err(e) => {
                        let text = e.to_string();
                        prop_assert!(text.chars().count() < 700, "{}", text);
                    }
                }
            }
            if let Ok(a) = one {
                prop_assert!(!a.auth.expose().is_empty());
            }
            if !(200..300).contains(&status) {
                prop_assert!(parse_channel_response(status, &body, 256).is_err());
            }
        }

        #[test]
        fn json_answers_are_read(status in 200u16..300, auth in "[a-z0-9:]{1,40}", data in proptest::option::of("[ -~]{0,40}")) {
            let mut v = serde_json::json!({"auth": auth});
            if let Some(d) = &data { v["channel_data"] = d.clone().into(); }
            let a = parse_channel_response(status, v.to_string().as_bytes(), MAX).unwrap();
            prop_assert_eq!(a.auth.expose(), &auth);
            prop_assert_eq!(a.channel_data, data);
        }

        #[test]
        fn form_bodies_round_trip(socket in "[ -~]{0,20}", chans in proptest::collection::vec("[ -~]{1,20}", 1..5), k in "[ -~]{1,10}", val in "\\PC{0,10}") {
            let c = AuthorizerConfig::new("http://h/a").with_param(k.clone(), val.clone());
            let r = c.batch_request(&socket, &chans);
            let pairs: Vec<(String, String)> = form_urlencoded::parse(r.body.as_bytes()).into_owned().collect();
            prop_assert_eq!(&pairs[0], &("socket_id".to_owned(), socket.clone()));
            for (i, ch) in chans.iter().enumerate() {
                prop_assert_eq!(&pairs[i + 1], &(format!("channel_name[{i}]"), ch.clone()));
            }
            prop_assert_eq!(pairs.last().unwrap(), &(k.clone(), val.clone()));
            let r = c.channel_request(&socket, &chans[0]);
            let pairs: Vec<(String, String)> = form_urlencoded::parse(r.body.as_bytes()).into_owned().collect();
            prop_assert_eq!(pairs, vec![("socket_id".into(), socket), ("channel_name".into(), chans[0].clone()), (k, val)]);
        }
    }
}
