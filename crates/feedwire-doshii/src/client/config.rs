//! How a [`Client`](super::Client) connects: the role and its credential, the environment, the heartbeat.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use feedwire_core::{BackoffConfig, Limits, Secret, UnixAnchor};

use crate::codec::PosStatus;

/// Which Doshii socket to use, with its credential.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// An app partner: `/app/socket?auth=<base64(client id)>`.
    App,
    /// An app partner on the v3 socket: `/app/socket/v3?auth=..&deviceId=..`. The device id (the `doshiiId` of
    /// a device registered with `POST /devices`) restricts the connection to the events its filters match.
    AppV3 {
        /// The registered device's id, if any.
        device_id: Option<String>,
    },
    /// One POS venue: `/pos/socket?token=<location token>`.
    Pos {
        /// The location token.
        location_token: Secret<String>,
    },
    /// A cloud POS vendor: `/vendor/socket?token=<jwt>&vendor=<api name>`. The JWT expires after 10 minutes:
    /// give a fresh one with [`Client::set_token`](super::Client::set_token) before reconnects.
    Vendor {
        /// The JWT.
        jwt: Secret<String>,
        /// The vendor's API name.
        vendor: String,
    },
}

impl fmt::Debug for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::App => f.write_str("App"),
            Role::AppV3 { device_id } => f.debug_struct("AppV3").field("device_id", device_id).finish(),
            Role::Pos { location_token } => f
                .debug_struct("Pos")
                .field("location_token", location_token)
                .finish(),
            Role::Vendor { jwt, vendor } => f
                .debug_struct("Vendor")
                .field("jwt", jwt)
                .field("vendor", vendor)
                .finish(),
        }
    }
}

/// Which Doshii environment to connect to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Environment {
    /// `wss://socket.sandbox.doshii.co`.
    #[default]
    Sandbox,
    /// `wss://live-socket.doshii.co`.
    Live,
    /// An explicit host (`sandbox-socket.doshii.co`, `socket.live.doshii.co`, ...), with `wss://`, or a full
    /// base URL with a scheme (`ws://127.0.0.1:9000`, for a mock).
    Host(String),
}

impl Environment {
    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> String {
        match self {
            Environment::Sandbox => "wss://socket.sandbox.doshii.co".to_owned(),
            Environment::Live => "wss://live-socket.doshii.co".to_owned(),
            Environment::Host(h) => {
                let h = h.trim().trim_end_matches('/');
                if h.contains("://") {
                    h.to_owned()
                } else {
                    format!("wss://{h}")
                }
            }
        }
    }
}

/// How a [`Client`](super::Client) connects and keeps its connection.
///
/// `Debug` never shows the client id, the location token or the JWT.
///
/// ```
/// use std::time::{Duration, Instant};
/// use feedwire_core::UnixAnchor;
/// use feedwire_doshii::client::{Config, Environment};
/// # #[allow(clippy::disallowed_methods)]
/// let anchor = UnixAnchor::new(Instant::now(), 1_700_000_000_000);
/// let config = Config::app("my-client-id", anchor)
///     .with_environment(Environment::Live)
///     .with_app_version("1.2.3")
///     .with_pong_timeout(Duration::from_secs(10));
/// assert_eq!(config.url(), "wss://live-socket.doshii.co/app/socket?auth=bXktY2xpZW50LWlk");
/// assert!(!format!("{config:?}").contains("my-client-id"));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// The socket and its credential.
    pub role: Role,
    /// The environment (default: sandbox).
    pub environment: Environment,
    /// The Doshii client id (app roles): standard base64, URL-encoded, becomes the `auth` query parameter.
    pub client_id: Secret<String>,
    /// The `version` sent in every ping (default: `feedwire-doshii/<crate version>`).
    pub app_version: String,
    /// The POS `status` sent in pings, if any.
    pub pos_status: Option<PosStatus>,
    /// Time between pings (default 30 s; at least 1 ms).
    pub heartbeat_interval: Duration,
    /// How long a ping may wait for its pong before the connection counts as dead (default 10 s; at least 1 ms).
    pub pong_timeout: Duration,
    /// Reconnect backoff (default: 1 s doubling to 60 s, 20 % jitter).
    pub backoff: BackoffConfig,
    /// Seed for the backoff jitter.
    pub seed: u64,
    /// Where Unix time comes from (required: every ping carries Unix milliseconds).
    pub unix_anchor: UnixAnchor,
    /// Frame and queue bounds.
    pub limits: Limits,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("role", &self.role)
            .field("environment", &self.environment)
            .field("client_id", &self.client_id)
            .field("app_version", &self.app_version)
            .field("pos_status", &self.pos_status)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("pong_timeout", &self.pong_timeout)
            .field("backoff", &self.backoff)
            .field("seed", &self.seed)
            .field("unix_anchor", &self.unix_anchor)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Config {
    /// The default heartbeat interval: 30 s.
    pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);
    /// The default pong timeout: 10 s.
    pub const PONG_TIMEOUT: Duration = Duration::from_secs(10);

    fn base(role: Role, client_id: Secret<String>, unix_anchor: UnixAnchor) -> Config {
        Config {
            role,
            environment: Environment::Sandbox,
            client_id,
            app_version: concat!("feedwire-doshii/", env!("CARGO_PKG_VERSION")).to_owned(),
            pos_status: None,
            heartbeat_interval: Self::HEARTBEAT_INTERVAL,
            pong_timeout: Self::PONG_TIMEOUT,
            backoff: BackoffConfig::default(),
            seed: 0,
            unix_anchor,
            limits: Limits::default(),
        }
    }

    /// An app partner on `/app/socket`.
    pub fn app(client_id: impl Into<String>, anchor: UnixAnchor) -> Config {
        Self::base(Role::App, Secret::new(client_id.into()), anchor)
    }

    /// An app partner on `/app/socket/v3`, optionally restricted to a registered device.
    pub fn app_v3(client_id: impl Into<String>, device_id: Option<String>, anchor: UnixAnchor) -> Config {
        Self::base(Role::AppV3 { device_id }, Secret::new(client_id.into()), anchor)
    }

    /// One POS venue on `/pos/socket`.
    pub fn pos(location_token: impl Into<String>, anchor: UnixAnchor) -> Config {
        Self::base(
            Role::Pos {
                location_token: Secret::new(location_token.into()),
            },
            Secret::new(String::new()),
            anchor,
        )
    }

    /// A cloud POS vendor on `/vendor/socket`.
    pub fn vendor(jwt: impl Into<String>, vendor: impl Into<String>, anchor: UnixAnchor) -> Config {
        Self::base(
            Role::Vendor {
                jwt: Secret::new(jwt.into()),
                vendor: vendor.into(),
            },
            Secret::new(String::new()),
            anchor,
        )
    }

    /// Sets the role.
    pub fn with_role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }
    /// Sets the environment.
    pub fn with_environment(mut self, env: Environment) -> Self {
        self.environment = env;
        self
    }
    /// Sets the client id.
    pub fn with_client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Secret::new(id.into());
        self
    }
    /// Sets the version sent in pings.
    pub fn with_app_version(mut self, v: impl Into<String>) -> Self {
        self.app_version = v.into();
        self
    }
    /// Sets the POS status sent in pings.
    pub fn with_pos_status(mut self, s: Option<PosStatus>) -> Self {
        self.pos_status = s;
        self
    }
    /// Sets the heartbeat interval.
    pub fn with_heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }
    /// Sets the pong timeout.
    pub fn with_pong_timeout(mut self, d: Duration) -> Self {
        self.pong_timeout = d;
        self
    }
    /// Sets the backoff.
    pub fn with_backoff(mut self, b: BackoffConfig) -> Self {
        self.backoff = b;
        self
    }
    /// Sets the jitter seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Sets the Unix-time anchor.
    pub fn with_unix_anchor(mut self, anchor: UnixAnchor) -> Self {
        self.unix_anchor = anchor;
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The socket URL for this role and environment, credentials included (keep it out of logs).
    pub fn url(&self) -> String {
        let base = self.environment.base_url();
        let auth = || {
            let b64 = base64::engine::general_purpose::STANDARD.encode(self.client_id.expose().as_bytes());
            encode_query(&b64)
        };
        match &self.role {
            Role::App => format!("{base}/app/socket?auth={}", auth()),
            Role::AppV3 { device_id: None } => format!("{base}/app/socket/v3?auth={}", auth()),
            Role::AppV3 { device_id: Some(d) } => format!(
                "{base}/app/socket/v3?auth={}&deviceId={}",
                auth(),
                encode_query(d)
            ),
            Role::Pos { location_token } => {
                format!(
                    "{base}/pos/socket?token={}",
                    encode_query(location_token.expose())
                )
            }
            Role::Vendor { jwt, vendor } => format!(
                "{base}/vendor/socket?token={}&vendor={}",
                encode_query(jwt.expose()),
                encode_query(vendor)
            ),
        }
    }

    pub(super) fn interval(&self) -> Duration {
        self.heartbeat_interval.max(Duration::from_millis(1))
    }

    pub(super) fn pong_wait(&self) -> Duration {
        self.pong_timeout.max(Duration::from_millis(1))
    }
}

/// Percent-encodes a query value (`+`, `/`, `=` and every other reserved byte).
fn encode_query(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
