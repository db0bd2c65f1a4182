//! The client's configuration.

use std::fmt;
use std::time::Duration;

use feedwire_core::{BackoffConfig, ConnectRequest, Limits, UnixAnchor};

use crate::codec::{PROTOCOL_UNSUPPORTED, PROTOCOL_V1_EXT_JSON, PROTOCOL_V1_JSON};

/// Which protocol the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Flavour {
    /// Rails: offers `actioncable-v1-json, actioncable-unsupported`.
    #[default]
    Rails,
    /// AnyCable extensions: offers `actioncable-v1-ext-json` first (falls back to Rails when the server picks
    /// `actioncable-v1-json`).
    AnyCable,
}

/// Client configuration. Defaults follow @rails/actioncable 7+ (stale after 6 s, backoff
/// `6 s * 1.15^min(n,10) * (1 + jitter)`) and anycable-client (confirmation retried once after 5 s,
/// 250 ms before resubscribing a just-unsubscribed identifier).
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// `ws://` or `wss://` URL of the cable endpoint.
    pub url: String,
    /// Extra request headers (cookies, authorization). Their values never appear in `Debug`.
    pub headers: Vec<(String, String)>,
    /// Rails or AnyCable.
    pub flavour: Flavour,
    /// Subprotocols to offer; empty means the flavour's default list.
    pub subprotocols: Vec<String>,
    /// Stop when the server agrees to no subprotocol (default true).
    pub require_subprotocol: bool,
    /// No frame for this long means the connection is stale (default 6 s).
    pub stale_after: Duration,
    /// Reconnect backoff (default: the @rails/actioncable formula).
    pub backoff: BackoffConfig,
    /// Jitter of the first reconnect attempt (default 1.0, as Rails).
    pub first_attempt_jitter: f64,
    /// Base delay of a reconnect the server asked for (`disconnect` with `reconnect: true`); the actual delay is
    /// drawn in `[d, 2d)` (default 500 ms), so it never waits a stale window.
    pub restart_delay: Duration,
    /// How long to wait for `confirm_subscription` / `reject_subscription` (default 5 s).
    pub confirm_timeout: Duration,
    /// How many times a subscribe is re-sent after a confirmation timeout before giving up (default 1).
    pub confirm_retries: u32,
    /// Wait this long after an unsubscribe before subscribing the same identifier again (default 250 ms).
    pub resubscribe_cooldown: Duration,
    /// Whether a `disconnect` frame with `reconnect` absent or null means reconnect (default false: stop, as
    /// @rails/actioncable does).
    pub reconnect_when_unspecified: bool,
    /// Answer server pings with `{"command":"pong"}` on the AnyCable ext protocol (default true).
    pub answer_pings: bool,
    /// Seed of the jitter generator.
    pub seed: u64,
    /// Where Unix time is read from `Instant`s: AnyCable's `history.since` (without it, history requests
    /// carry stream positions only).
    pub unix_anchor: Option<UnixAnchor>,
    /// Frame and queue bounds.
    pub limits: Limits,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &ConnectRequest::new(self.url.clone()).redacted_url())
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .field("flavour", &self.flavour)
            .field("subprotocols", &self.subprotocols)
            .field("require_subprotocol", &self.require_subprotocol)
            .field("stale_after", &self.stale_after)
            .field("backoff", &self.backoff)
            .field("confirm_timeout", &self.confirm_timeout)
            .field("confirm_retries", &self.confirm_retries)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// The backoff of @rails/actioncable 7+: `6 s * 1.15^min(n,10) * (1 + 0.15 r)`.
pub fn rails_backoff() -> BackoffConfig {
    BackoffConfig::default()
        .with_initial(Duration::from_secs(6))
        .with_multiplier(1.15)
        .with_max(Duration::from_secs_f64(6.0 * 1.15f64.powi(10)))
        .with_jitter(0.15)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            url: String::from("ws://127.0.0.1:3000/cable"),
            headers: Vec::new(),
            flavour: Flavour::Rails,
            subprotocols: Vec::new(),
            require_subprotocol: true,
            stale_after: Duration::from_secs(6),
            backoff: rails_backoff(),
            first_attempt_jitter: 1.0,
            restart_delay: Duration::from_millis(500),
            confirm_timeout: Duration::from_secs(5),
            confirm_retries: 1,
            resubscribe_cooldown: Duration::from_millis(250),
            reconnect_when_unspecified: false,
            answer_pings: true,
            seed: 0,
            unix_anchor: None,
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// Defaults for `url`. An `http://` or `https://` URL becomes `ws://` or `wss://`, as
    /// @rails/actioncable's `createWebSocketURL` does.
    ///
    /// ```
    /// use feedwire_actioncable::client::Config;
    /// assert_eq!(Config::new("https://metasmoke.erwaysoftware.com/cable").url, "wss://metasmoke.erwaysoftware.com/cable");
    /// assert_eq!(Config::new("HTTP://127.0.0.1:3000/cable").url, "ws://127.0.0.1:3000/cable");
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        let mut url: String = url.into();
        let lower = url.get(..8).unwrap_or(&url).to_ascii_lowercase();
        if lower.starts_with("https://") {
            url.replace_range(..5, "wss");
        } else if lower.starts_with("http://") {
            url.replace_range(..4, "ws");
        }
        Config {
            url,
            ..Config::default()
        }
    }

    /// Checks that the URL can work, before dialing: an absolute `ws://` or `wss://` URL with a host (an
    /// `http(s)://` URL set in the field directly is refused with the `ws(s)://` one to use).
    ///
    /// ```
    /// use feedwire_actioncable::client::Config;
    /// assert!(Config::new("wss://example.com/cable").check().is_ok());
    /// let mut c = Config::default();
    /// c.url = "https://example.com/cable".into();
    /// assert_eq!(c.check().unwrap_err().to_string(),
    ///     "cable URL \"https://example.com/cable\" is not ws:// or wss://: use \"wss://example.com/cable\"");
    /// assert!(Config::new("example.com/cable").check().is_err());
    /// ```
    pub fn check(&self) -> Result<(), ConfigError> {
        let url = ConnectRequest::new(self.url.clone()).redacted_url().to_owned();
        let Some((scheme, rest)) = self.url.split_once("://") else {
            return Err(ConfigError::BadUrl {
                url,
                hint: "an absolute URL such as wss://example.com/cable".into(),
            });
        };
        let hint = match scheme.to_ascii_lowercase().as_str() {
            "ws" | "wss" => None,
            "http" => Some(format!("{:?}", format!("ws://{rest}"))),
            "https" => Some(format!("{:?}", format!("wss://{rest}"))),
            _ => Some("a ws:// or wss:// URL".to_owned()),
        };
        if let Some(hint) = hint {
            return Err(ConfigError::BadUrl { url, hint });
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if authority.rsplit('@').next().unwrap_or("").is_empty() || rest.contains(char::is_whitespace) {
            return Err(ConfigError::BadUrl {
                url,
                hint: "a URL with a host, without spaces, such as wss://example.com/cable".into(),
            });
        }
        Ok(())
    }
    /// Adds a request header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Sets the flavour.
    pub fn with_flavour(mut self, flavour: Flavour) -> Self {
        self.flavour = flavour;
        self
    }
    /// Sets the subprotocols to offer.
    pub fn with_subprotocols(mut self, protocols: Vec<String>) -> Self {
        self.subprotocols = protocols;
        self
    }
    /// Sets whether a negotiated subprotocol is required.
    pub fn with_require_subprotocol(mut self, required: bool) -> Self {
        self.require_subprotocol = required;
        self
    }
    /// Sets the stale threshold.
    pub fn with_stale_after(mut self, d: Duration) -> Self {
        self.stale_after = d;
        self
    }
    /// Sets the backoff.
    pub fn with_backoff(mut self, b: BackoffConfig) -> Self {
        self.backoff = b;
        self
    }
    /// Sets the server-requested reconnect delay.
    pub fn with_restart_delay(mut self, d: Duration) -> Self {
        self.restart_delay = d;
        self
    }
    /// Sets the confirmation timeout and retries.
    pub fn with_confirm_timeout(mut self, timeout: Duration, retries: u32) -> Self {
        self.confirm_timeout = timeout;
        self.confirm_retries = retries;
        self
    }
    /// Sets the resubscribe cooldown.
    pub fn with_resubscribe_cooldown(mut self, d: Duration) -> Self {
        self.resubscribe_cooldown = d;
        self
    }
    /// Sets what a `disconnect` without `reconnect` means.
    pub fn with_reconnect_when_unspecified(mut self, reconnect: bool) -> Self {
        self.reconnect_when_unspecified = reconnect;
        self
    }
    /// Sets whether pings are answered on the ext protocol.
    pub fn with_answer_pings(mut self, answer: bool) -> Self {
        self.answer_pings = answer;
        self
    }
    /// Sets the jitter seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the Unix-time anchor.
    pub fn with_unix_anchor(mut self, anchor: UnixAnchor) -> Self {
        self.unix_anchor = Some(anchor);
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The request that dials `url`, with AnyCable's `?sid=` when there is a session to restore.
    pub(super) fn connect_request(&self, sid: Option<&str>) -> ConnectRequest {
        let mut url = self.url.clone();
        if self.flavour == Flavour::AnyCable
            && let Some(sid) = sid
        {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("sid=");
            url.extend(form_urlencoded::byte_serialize(sid.as_bytes()));
        }
        let mut req = ConnectRequest::new(url);
        req.subprotocols = self.offered_subprotocols();
        req.headers = self.headers.clone();
        req
    }

    /// The subprotocols offered, in order.
    pub fn offered_subprotocols(&self) -> Vec<String> {
        if !self.subprotocols.is_empty() {
            return self.subprotocols.clone();
        }
        let mut v = Vec::with_capacity(3);
        if self.flavour == Flavour::AnyCable {
            v.push(PROTOCOL_V1_EXT_JSON.to_owned());
        }
        v.push(PROTOCOL_V1_JSON.to_owned());
        v.push(PROTOCOL_UNSUPPORTED.to_owned());
        v
    }
}

/// A [`Config`] that cannot work ([`Config::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The URL is not an absolute `ws://` or `wss://` URL.
    #[error("cable URL {url:?} is not ws:// or wss://: use {hint}")]
    BadUrl {
        /// The URL (credentials redacted).
        url: String,
        /// What to pass instead.
        hint: String,
    },
}
