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

    /// Checks that this configuration can work, before dialing: a host that is a URL
    /// (`ws://127.0.0.1:6001` would dial `wss://ws://127.0.0.1:6001:443/...`), a host with a port or a path,
    /// an empty key. The error says what to pass instead.
    ///
    /// ```
    /// use feedwire_pusher::client::{Config, ConfigError};
    /// let e = Config::new("key").with_host("ws://127.0.0.1:6001").check().unwrap_err();
    /// assert!(matches!(e, ConfigError::HostIsUrl { .. }));
    /// assert_eq!(
    ///     e.to_string(),
    ///     "host \"ws://127.0.0.1:6001\" is a URL, not a host: use \
    ///      .with_host(\"127.0.0.1\").with_port(6001).with_tls(false)"
    /// );
    /// assert!(Config::new("key").with_host("127.0.0.1").with_port(6001).check().is_ok());
    /// assert!(Config::new("key").with_host("[::1]").check().is_ok());
    /// ```
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.key.trim().is_empty() {
            return Err(ConfigError::EmptyKey);
        }
        if let Some(host) = &self.host {
            let h = host.as_str();
            if let Some((scheme, rest)) = h.split_once("://") {
                let tls = !matches!(scheme.to_ascii_lowercase().as_str(), "ws" | "http");
                let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
                let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
                let (name, port) = split_port(authority);
                let path = rest[authority.len().min(rest.len())..]
                    .split(['?', '#'])
                    .next()
                    .unwrap_or("");
                // `.../app/KEY` is the URL the session builds: the path is what comes before it
                let path = path.rfind("/app/").map_or(path, |i| &path[..i]);
                let path = path.strip_suffix("/app").unwrap_or(path).trim_end_matches('/');
                let mut hint = format!(".with_host({name:?})");
                if let Some(p) = port {
                    hint.push_str(&format!(".with_port({p})"));
                }
                if !tls {
                    hint.push_str(".with_tls(false)");
                }
                if !path.is_empty() {
                    hint.push_str(&format!(".with_path({path:?})"));
                }
                return Err(ConfigError::HostIsUrl {
                    host: host.clone(),
                    hint,
                });
            }
            let (name, port) = split_port(h);
            if let Some(p) = port {
                return Err(ConfigError::HostHasPort {
                    host: host.clone(),
                    hint: format!(".with_host({name:?}).with_port({p})"),
                });
            }
            let bad =
                |c: char| c.is_whitespace() || c.is_control() || matches!(c, '/' | '?' | '#' | '@' | '\\');
            // a bare IPv6 address needs brackets in a URL
            if h.is_empty() || h.contains(bad) || (h.contains(':') && !h.starts_with('[')) {
                return Err(ConfigError::BadHost { host: host.clone() });
            }
        }
        Ok(())
    }
}

/// `host:port` split when the part after the last `:` is a port (an IPv6 literal stays whole).
fn split_port(authority: &str) -> (&str, Option<u16>) {
    if let Some((name, port)) = authority.rsplit_once(':')
        && (!name.contains(':') || name.ends_with(']'))
        && let Ok(p) = port.parse::<u16>()
    {
        return (name, Some(p));
    }
    (authority, None)
}

/// A [`Config`] that cannot work ([`Config::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is empty.
    #[error("the app key is empty")]
    EmptyKey,
    /// A URL was given as the host.
    #[error("host {host:?} is a URL, not a host: use {hint}")]
    HostIsUrl {
        /// What was given.
        host: String,
        /// The calls to make instead.
        hint: String,
    },
    /// The host holds a port.
    #[error("host {host:?} holds a port: use {hint}")]
    HostHasPort {
        /// What was given.
        host: String,
        /// The calls to make instead.
        hint: String,
    },
    /// The host holds characters no host name has (a path, spaces, ...).
    #[error(
        "host {host:?} is not a host name or IP address (no path, no spaces; IPv6 in brackets: \"[::1]\")"
    )]
    BadHost {
        /// What was given.
        host: String,
    },
}

#[cfg(test)]
mod check_tests {
    use super::*;

    #[test]
    fn hosts_that_cannot_work_are_refused_with_what_to_pass() {
        let hint = |h: &str| match Config::new("k").with_host(h).check() {
            Err(ConfigError::HostIsUrl { hint, .. } | ConfigError::HostHasPort { hint, .. }) => hint,
            other => panic!("{h}: {other:?}"),
        };
        assert_eq!(
            hint("ws://127.0.0.1:6001"),
            r#".with_host("127.0.0.1").with_port(6001).with_tls(false)"#
        );
        assert_eq!(hint("wss://ws.example.com"), r#".with_host("ws.example.com")"#);
        assert_eq!(
            hint("http://h:80/app/k"),
            r#".with_host("h").with_port(80).with_tls(false)"#
        );
        assert_eq!(
            hint("https://h/pusher/app/k?protocol=7"),
            r#".with_host("h").with_path("/pusher")"#
        );
        assert_eq!(
            hint("127.0.0.1:6001"),
            r#".with_host("127.0.0.1").with_port(6001)"#
        );
        assert_eq!(hint("[::1]:6001"), r#".with_host("[::1]").with_port(6001)"#);
        assert!(matches!(
            Config::new("k").with_host("h/x").check(),
            Err(ConfigError::BadHost { .. })
        ));
        assert!(matches!(
            Config::new("k").with_host("").check(),
            Err(ConfigError::BadHost { .. })
        ));
        assert_eq!(Config::new(" ").check(), Err(ConfigError::EmptyKey));
        assert!(matches!(
            Config::new("k").with_host("::1").check(),
            Err(ConfigError::BadHost { .. })
        ));
        for ok in ["127.0.0.1", "[::1]", "notifier.bitskins.com", "localhost"] {
            assert_eq!(Config::new("k").with_host(ok).check(), Ok(()), "{ok}");
        }
        assert_eq!(Config::bitskins().check(), Ok(()));
    }
}
