//! [`HttpAuthorizer`]: the session's authorization requests sent to the application's auth endpoint over
//! HTTP(S), with reqwest.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use feedwire_pusher::authorizer::{
    AuthError, AuthHttpRequest, AuthorizerConfig, HeaderLineError, parse_batch_response,
    parse_channel_response, parse_user_response,
};
use feedwire_pusher::{Client, Event};
use feedwire_tungstenite::{Hook, Jobs};
use reqwest::Url;

use super::jobs::{self, Verdicts};

/// The blocking driver starts each job on a thread at once: the channels of a round are collected this long
/// before the batch goes. The async driver needs none (its jobs are first polled once the round is handed).
const BLOCKING_BATCH_WINDOW: Duration = Duration::from_millis(10);

type DynamicHeaders = Arc<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// A [`Hook`] that answers the Pusher session's `AuthRequired` (and `UserAuthRequired`) events by asking the
/// application's auth endpoint, in pusher-js's request format ([`feedwire_pusher::authorizer`]), while the
/// driver keeps the connection going (frames and pings flow while a request is in flight).
///
/// - Static headers ([`header`](HttpAuthorizerBuilder::header)) and headers computed per request
///   ([`dynamic_headers`](HttpAuthorizerBuilder::dynamic_headers), for tokens that expire); extra form
///   params; values never reach `Debug` or logs.
/// - Batching ([`batching`](HttpAuthorizerBuilder::batching)): the channels asked in one round (all of them
///   after a connect) go in one request, in the pusher-js-auth plugin's format.
/// - Redirects (up to 5 by default), proxies from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`),
///   a response size cap (64 KiB), a request timeout (10 s), `https://user:pass@host/..` URLs sent with basic
///   auth, a TLS configuration of your own ([`tls`](HttpAuthorizerBuilder::tls)) for a private CA.
///
/// A refused or failed authorization fails that channel's subscription (`Event::SubscriptionFailed`, whose
/// error text names the HTTP status and the start of the body).
///
/// In the async driver ([`Connection`](feedwire_tungstenite::Connection)) the request runs on the driver's
/// tokio runtime; in the blocking driver on a thread of its own with a current-thread runtime.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use feedwire::pusher::HttpAuthorizer;
///
/// let auth = HttpAuthorizer::builder("https://example.com/pusher/auth")
///     .header("X-App", "orders")
///     .dynamic_headers(|| vec![("Authorization".into(), format!("Bearer {}", "fresh-token"))])
///     .param("team", "blue")
///     .batching(true)
///     .build()?;
/// # drop(auth); Ok(()) }
/// ```
#[derive(Clone)]
pub struct HttpAuthorizer {
    inner: Arc<Inner>,
    open: Option<Arc<Mutex<Batch>>>,
}

struct Inner {
    config: AuthorizerConfig,
    client: reqwest::Client,
    dynamic: Option<DynamicHeaders>,
    /// `user:pass` of the channel endpoint, sent as basic auth (the URL is stripped of it).
    basic: Option<(String, Option<String>)>,
    user_basic: Option<(String, Option<String>)>,
}

struct Batch {
    socket_id: String,
    channels: Vec<String>,
    taken: bool,
}

impl std::fmt::Debug for HttpAuthorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpAuthorizer")
            .field("config", &self.inner.config)
            .field("dynamic_headers", &self.inner.dynamic.is_some())
            .finish_non_exhaustive()
    }
}

/// Settings of an [`HttpAuthorizer`].
#[must_use]
pub struct HttpAuthorizerBuilder {
    config: AuthorizerConfig,
    dynamic: Option<DynamicHeaders>,
    timeout: Duration,
    max_redirects: usize,
    proxy_from_env: bool,
    tls: Option<rustls::ClientConfig>,
    error: Option<HttpAuthorizerError>,
}

impl std::fmt::Debug for HttpAuthorizerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpAuthorizerBuilder")
            .field("config", &self.config)
            .field("timeout", &self.timeout)
            .field("max_redirects", &self.max_redirects)
            .field("proxy_from_env", &self.proxy_from_env)
            .field("custom_tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Why an [`HttpAuthorizer`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpAuthorizerError {
    /// An endpoint is not an absolute `http(s)://` URL.
    #[error("auth endpoint {url:?} is not an http:// or https:// URL: {reason}")]
    BadEndpoint {
        /// The endpoint (without its password).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// A header is not a valid HTTP header.
    #[error("invalid auth header {name:?}: {reason}")]
    BadHeader {
        /// The header name (the value is never shown).
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

impl From<HeaderLineError> for HttpAuthorizerError {
    fn from(e: HeaderLineError) -> Self {
        HttpAuthorizerError::BadHeader {
            name: e.got,
            reason: e.reason.to_owned(),
        }
    }
}

impl HttpAuthorizer {
    /// An authorizer for `endpoint` with the defaults.
    pub fn new(endpoint: impl Into<String>) -> Result<Self, HttpAuthorizerError> {
        Self::builder(endpoint).build()
    }

    /// Starts the settings of an authorizer for `endpoint`.
    pub fn builder(endpoint: impl Into<String>) -> HttpAuthorizerBuilder {
        Self::from_config(AuthorizerConfig::new(endpoint))
    }

    /// Starts from a sans-IO [`AuthorizerConfig`] (endpoint, headers, params, batching, user endpoint, cap).
    pub fn from_config(config: AuthorizerConfig) -> HttpAuthorizerBuilder {
        HttpAuthorizerBuilder {
            config,
            dynamic: None,
            timeout: Duration::from_secs(10),
            max_redirects: 5,
            proxy_from_env: true,
            tls: None,
            error: None,
        }
    }

    /// The sans-IO settings in use.
    pub fn config(&self) -> &AuthorizerConfig {
        &self.inner.config
    }
}

impl HttpAuthorizerBuilder {
    /// Adds a header to every request (an API token, a cookie, ...).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config = self.config.with_header(name, value);
        self
    }
    /// Adds a header given as one `Name: value` line (a CLI's `--auth-header`); a malformed line makes
    /// [`build`](Self::build) fail.
    pub fn header_line(mut self, line: &str) -> Self {
        match self.config.clone().with_header_line(line) {
            Ok(c) => self.config = c,
            Err(e) => self.error = self.error.or(Some(e.into())),
        }
        self
    }
    /// Calls `f` before each request for more headers (tokens that expire).
    pub fn dynamic_headers(mut self, f: impl Fn() -> Vec<(String, String)> + Send + Sync + 'static) -> Self {
        self.dynamic = Some(Arc::new(f));
        self
    }
    /// Adds a form parameter to every request.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config = self.config.with_param(name, value);
        self
    }
    /// Authorizes the channels of one round in one request (the pusher-js-auth plugin's batch format).
    pub fn batching(mut self, on: bool) -> Self {
        self.config = self.config.with_batching(on);
        self
    }
    /// The user-authentication endpoint for sign-in (a URL, or a path on the channel endpoint's origin;
    /// default `/pusher/user-auth`).
    pub fn user_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.config = self.config.with_user_endpoint(endpoint);
        self
    }
    /// The longest a request may take, answer included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    /// The most redirects followed (default 5; 0 follows none).
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.max_redirects = n;
        self
    }
    /// Ignores the proxy environment variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`).
    pub fn no_proxy(mut self) -> Self {
        self.proxy_from_env = false;
        self
    }
    /// The largest answer accepted (default 64 KiB).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.config = self.config.with_max_response_bytes(bytes);
        self
    }
    /// A rustls configuration of your own (a private CA, client certificates); the default trusts the webpki
    /// roots, on the `ring` provider.
    pub fn tls(mut self, tls: rustls::ClientConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Checks the endpoints and headers and sets up the HTTP client.
    pub fn build(self) -> Result<HttpAuthorizer, HttpAuthorizerError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut config = self.config;
        let (endpoint, basic) = check_url(&config.endpoint)?;
        config.endpoint = endpoint;
        // a path user endpoint is on the channel endpoint's origin (user info dropped from it above: basic
        // auth for it is the channel endpoint's)
        let relative = config.user_endpoint.starts_with('/');
        let (user_endpoint, user_basic) = check_url(&config.user_url())?;
        let user_basic = if relative { basic.clone() } else { user_basic };
        config.user_endpoint = user_endpoint;
        for (name, value) in &config.headers {
            let bad = |reason: String| HttpAuthorizerError::BadHeader {
                name: name.clone(),
                reason,
            };
            reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
            reqwest::header::HeaderValue::from_str(value.expose())
                .map_err(|_| bad("the value holds characters a header cannot".into()))?;
        }
        let tls = match self.tls {
            Some(t) => t,
            None => default_tls().map_err(HttpAuthorizerError::Client)?,
        };
        let redirects = if self.max_redirects == 0 {
            reqwest::redirect::Policy::none()
        } else {
            reqwest::redirect::Policy::limited(self.max_redirects)
        };
        let mut client = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(self.timeout)
            .redirect(redirects)
            .user_agent(concat!("feedwire/", env!("CARGO_PKG_VERSION")));
        if !self.proxy_from_env {
            client = client.no_proxy();
        }
        let client = client
            .build()
            .map_err(|e| HttpAuthorizerError::Client(error_chain(&e)))?;
        Ok(HttpAuthorizer {
            inner: Arc::new(Inner {
                config,
                client,
                dynamic: self.dynamic,
                basic,
                user_basic,
            }),
            open: None,
        })
    }
}

/// The webpki roots on the `ring` provider (the provider the WebSocket TLS uses too; no process-wide default
/// is installed or needed).
fn default_tls() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

type Basic = Option<(String, Option<String>)>;

/// An absolute http(s) URL, without its user info, and that user info (percent-decoded) for basic auth.
fn check_url(url: &str) -> Result<(String, Basic), HttpAuthorizerError> {
    let mut parsed = Url::parse(url).map_err(|e| HttpAuthorizerError::BadEndpoint {
        url: redact(url),
        reason: format!("{e} (give a full URL, e.g. https://example.com/pusher/auth)"),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(HttpAuthorizerError::BadEndpoint {
            url: redact(url),
            reason: format!("the scheme is {:?}", parsed.scheme()),
        });
    }
    let basic = if parsed.username().is_empty() && parsed.password().is_none() {
        None
    } else {
        let dec = |s: &str| {
            let bytes: Vec<u8> = percent_decode(s);
            String::from_utf8(bytes).map_err(|_| HttpAuthorizerError::BadEndpoint {
                url: redact(url),
                reason: "the user or password is not UTF-8 once percent-decoded".into(),
            })
        };
        let user = dec(parsed.username())?;
        let pass = parsed.password().map(dec).transpose()?;
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        Some((user, pass))
    };
    Ok((parsed.to_string(), basic))
}

/// `%XX` decoding (user info in URLs).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = b.get(i + 1..i + 3)
            && let Ok(h) = std::str::from_utf8(h)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// A URL as text without its password (found by text: the URL may not parse).
fn redact(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |j| start + j);
    if let Some(at) = url[start..end].rfind('@')
        && let Some(colon) = url[start..start + at].find(':')
    {
        return format!("{}:***{}", &url[..start + colon], &url[start + at..]);
    }
    url.to_owned()
}

/// An error and its causes, on one line (reqwest's own text is terse: "error sending request").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

impl Inner {
    async fn send(&self, req: AuthHttpRequest, basic: &Basic) -> Result<(u16, Vec<u8>), AuthError> {
        let max = self.config.max_response_bytes;
        let mut rb = self.client.post(&req.url);
        for (name, value) in &req.headers {
            rb = rb.header(name.as_str(), value.expose().as_str());
        }
        if let Some(f) = &self.dynamic {
            for (name, value) in f() {
                rb = rb.header(name, value);
            }
        }
        if let Some((user, pass)) = basic {
            rb = rb.basic_auth(user, pass.as_ref());
        }
        let transport = |e: reqwest::Error| AuthError::Transport(error_chain(&e.without_url()));
        let mut resp = rb.body(req.body).send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(AuthError::TooLarge { status, limit: max });
        }
        let mut body = Vec::new();
        // chunks are bytes: a chunk boundary inside a UTF-8 character is only a boundary
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > max {
                return Err(AuthError::TooLarge { status, limit: max });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }

    async fn channels(&self, socket_id: String, channels: Vec<String>) -> Verdicts {
        let max = self.config.max_response_bytes;
        let verdicts = if channels.len() == 1 && !self.config.batch {
            let req = self.config.channel_request(&socket_id, &channels[0]);
            let v = match self.send(req, &self.basic).await {
                Ok((status, body)) => parse_channel_response(status, &body, max),
                Err(e) => Err(e),
            };
            channels.into_iter().map(|c| (c, v.clone())).collect()
        } else {
            let req = self.config.batch_request(&socket_id, &channels);
            let v = match self.send(req, &self.basic).await {
                Ok((status, body)) => parse_batch_response(status, &body, &channels, max),
                Err(e) => channels.iter().map(|_| Err(e.clone())).collect(),
            };
            channels.into_iter().zip(v).collect()
        };
        Verdicts::Channels { socket_id, verdicts }
    }

    async fn user(&self, socket_id: String) -> Verdicts {
        let req = self.config.user_request(&socket_id);
        let verdict = match self.send(req, &self.user_basic).await {
            Ok((status, body)) => parse_user_response(status, &body, self.config.max_response_bytes),
            Err(e) => Err(e),
        };
        Verdicts::User { socket_id, verdict }
    }
}

impl Hook<Client> for HttpAuthorizer {
    fn on_event(&mut self, _: &mut Client, event: Event, jobs: &mut Jobs<Client>) -> Option<Event> {
        match event {
            Event::AuthRequired { socket_id, channel } => {
                let socket_id = socket_id.to_string();
                let placeholder = Verdicts::Channels {
                    socket_id: socket_id.clone(),
                    verdicts: vec![(channel.clone(), Err(AuthError::Refused(String::new())))],
                };
                let inner = self.inner.clone();
                if !inner.config.batch {
                    jobs::spawn(jobs, placeholder, async move {
                        inner.channels(socket_id, vec![channel]).await
                    });
                    return None;
                }
                if let Some(open) = &self.open {
                    let mut b = open.lock().unwrap_or_else(PoisonError::into_inner);
                    if !b.taken && b.socket_id == socket_id {
                        b.channels.push(channel);
                        return None;
                    }
                }
                let batch = Arc::new(Mutex::new(Batch {
                    socket_id,
                    channels: vec![channel],
                    taken: false,
                }));
                self.open = Some(batch.clone());
                let window = if jobs.is_blocking_driver() {
                    BLOCKING_BATCH_WINDOW
                } else {
                    Duration::ZERO
                };
                jobs::spawn(jobs, placeholder, async move {
                    if !window.is_zero() {
                        tokio::time::sleep(window).await;
                    }
                    let (socket_id, channels) = {
                        let mut b = batch.lock().unwrap_or_else(PoisonError::into_inner);
                        b.taken = true;
                        (b.socket_id.clone(), std::mem::take(&mut b.channels))
                    };
                    inner.channels(socket_id, channels).await
                });
                None
            }
            Event::UserAuthRequired { socket_id } => {
                let socket_id = socket_id.to_string();
                let placeholder = Verdicts::User {
                    socket_id: socket_id.clone(),
                    verdict: Err(AuthError::Refused(String::new())),
                };
                let inner = self.inner.clone();
                jobs::spawn(jobs, placeholder, async move { inner.user(socket_id).await });
                None
            }
            other => Some(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_user_info_becomes_basic_auth() {
        let (u, b) = check_url("https://al%40ice:p%3Ass@h.example/auth?x=1").unwrap();
        assert_eq!(u, "https://h.example/auth?x=1");
        assert_eq!(b, Some(("al@ice".into(), Some("p:ss".into()))));
        assert_eq!(check_url("http://h/a").unwrap().1, None);
        let e = check_url("ftp://u:secret@h/a").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        assert!(e.to_string().contains("scheme is \"ftp\""), "{e}");
        let e = check_url("/pusher/auth").unwrap_err();
        assert!(e.to_string().contains("give a full URL"), "{e}");
        let e = check_url("u:secret@h/a").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn builder_refuses_bad_headers_and_never_shows_values() {
        let e = HttpAuthorizer::builder("http://h/a")
            .header_line("X-Token abc")
            .build()
            .unwrap_err();
        assert!(matches!(e, HttpAuthorizerError::BadHeader { .. }), "{e}");
        let e = HttpAuthorizer::builder("http://h/a")
            .header("X", "a\u{7f}b")
            .build()
            .unwrap_err();
        assert!(matches!(e, HttpAuthorizerError::BadHeader { .. }), "{e}");
        let a = HttpAuthorizer::builder("http://u:pw@h/a")
            .header_line("Authorization: Bearer s3cr3t")
            .build()
            .unwrap();
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("s3cr3t") && !dbg.contains("pw"), "{dbg}");
        assert_eq!(a.config().user_endpoint, "http://h/pusher/user-auth");
    }
}
