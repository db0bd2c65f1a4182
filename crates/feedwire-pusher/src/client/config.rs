//! How the client connects and behaves.

use std::time::Duration;

use feedwire_core::{BackoffConfig, Limits};

/// How the session connects and behaves.
///
/// ```
/// use std::time::Duration;
/// use feedwire_pusher::client::Config;
/// let c = Config::new("app-key").with_cluster("eu").with_activity_timeout(Duration::from_secs(60));
/// assert_eq!(c.url(true), "wss://ws-eu.pusher.com:443/app/app-key?protocol=7&client=feedwire&version=0.1.0&flash=false");
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The app key.
    pub key: String,
    /// The hosted cluster (`mt1`, `eu`, ...), used when `host` is `None`.
    pub cluster: String,
    /// A custom host (`notifier.bitskins.com`, `127.0.0.1`); overrides the cluster.
    pub host: Option<String>,
    /// Port without TLS (default 80).
    pub ws_port: u16,
    /// Port with TLS (default 443).
    pub wss_port: u16,
    /// Whether to use TLS (default `true`). A 4000 close switches it on.
    pub tls: bool,
    /// An optional path before `/app` (for example `/pusher`).
    pub path: String,
    /// The `client` query parameter (default `feedwire`).
    pub client_name: String,
    /// The `version` query parameter (default this crate's version).
    pub client_version: String,
    /// The activity timeout (default 120 s); the effective one is the minimum of this and the server's.
    pub activity_timeout: Duration,
    /// How long to wait for any frame after a ping (default 30 s).
    pub pong_timeout: Duration,
    /// How long without a connection before the state becomes `unavailable` (default 10 s).
    pub unavailable_timeout: Duration,
    /// How long a connect attempt may take to reach `connection_established` (default 15 s, as pusher-js).
    pub handshake_timeout: Duration,
    /// Reconnect backoff (default 1 s doubling to 60 s, 20 % jitter).
    pub backoff: BackoffConfig,
    /// Frame size and queue bounds.
    pub limits: Limits,
    /// The jitter seed.
    pub seed: u64,
    /// Client events allowed per second (default 10, the protocol's limit).
    pub client_event_rate: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            key: String::new(),
            cluster: "mt1".into(),
            host: None,
            ws_port: 80,
            wss_port: 443,
            tls: true,
            path: String::new(),
            client_name: "feedwire".into(),
            client_version: env!("CARGO_PKG_VERSION").into(),
            activity_timeout: Duration::from_secs(120),
            pong_timeout: Duration::from_secs(30),
            unavailable_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(15),
            backoff: BackoffConfig::default(),
            limits: Limits::default(),
            seed: 0,
            client_event_rate: 10,
        }
    }
}

impl Config {
    /// The BitSkins public feed key.
    pub const BITSKINS_KEY: &'static str = "c0eef4118084f8164bec65e6253bf195";

    /// Defaults with `key`.
    pub fn new(key: impl Into<String>) -> Self {
        Config {
            key: key.into(),
            ..Config::default()
        }
    }

    /// The BitSkins public feed: key `c0eef4118084f8164bec65e6253bf195`, host `notifier.bitskins.com`, wss on 443.
    pub fn bitskins() -> Self {
        Config::new(Self::BITSKINS_KEY).with_host("notifier.bitskins.com")
    }

    /// Sets the hosted cluster.
    pub fn with_cluster(mut self, cluster: impl Into<String>) -> Self {
        self.cluster = cluster.into();
        self
    }
    /// Sets a custom host.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }
    /// Sets the port used without TLS.
    pub fn with_ws_port(mut self, port: u16) -> Self {
        self.ws_port = port;
        self
    }
    /// Sets the port used with TLS.
    pub fn with_wss_port(mut self, port: u16) -> Self {
        self.wss_port = port;
        self
    }
    /// Sets the port for both schemes.
    pub fn with_port(mut self, port: u16) -> Self {
        self.ws_port = port;
        self.wss_port = port;
        self
    }
    /// Turns TLS on or off.
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }
    /// Sets a path before `/app` (a leading `/` is added when missing).
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        let p: String = path.into();
        let p = p.trim_end_matches('/');
        self.path = if p.is_empty() || p.starts_with('/') {
            p.to_owned()
        } else {
            format!("/{p}")
        };
        self
    }
    /// Sets the `client` and `version` query parameters.
    pub fn with_client(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.client_name = name.into();
        self.client_version = version.into();
        self
    }
    /// Sets the activity timeout.
    pub fn with_activity_timeout(mut self, d: Duration) -> Self {
        self.activity_timeout = d;
        self
    }
    /// Sets the pong timeout.
    pub fn with_pong_timeout(mut self, d: Duration) -> Self {
        self.pong_timeout = d;
        self
    }
    /// Sets the unavailable timeout.
    pub fn with_unavailable_timeout(mut self, d: Duration) -> Self {
        self.unavailable_timeout = d;
        self
    }
    /// Sets the handshake timeout.
    pub fn with_handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }
    /// Sets the backoff.
    pub fn with_backoff(mut self, b: BackoffConfig) -> Self {
        self.backoff = b;
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, l: Limits) -> Self {
        self.limits = l;
        self
    }
    /// Sets the jitter seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the client event rate (per second).
    pub fn with_client_event_rate(mut self, per_second: u32) -> Self {
        self.client_event_rate = per_second;
        self
    }

    /// The connection URL.
    pub fn url(&self, tls: bool) -> String {
        let host = match &self.host {
            Some(h) => h.clone(),
            None => format!("ws-{}.pusher.com", self.cluster),
        };
        let (scheme, port) = if tls {
            ("wss", self.wss_port)
        } else {
            ("ws", self.ws_port)
        };
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "{scheme}://{host}:{port}{}/app/{}?protocol=7&client={}&version={}&flash=false",
            self.path,
            enc(&self.key),
            enc(&self.client_name),
            enc(&self.client_version)
        )
    }
}
