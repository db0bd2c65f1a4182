//! Driver and server configuration.

use std::time::Duration;

use tungstenite::protocol::WebSocketConfig;

/// The read buffer each client connection allocates eagerly (tungstenite's default is 128 KiB; servers use
/// [`DEFAULT_SERVER_READ_BUFFER_SIZE`]).
///
/// Feeds carry small JSON messages, so 4 KiB holds most of them in one read. A bigger message still works:
/// tungstenite reserves room for the whole message when it reads its header (up to
/// [`DEFAULT_MAX_MESSAGE_SIZE`]). Received frames are zero-copy slices of this buffer, so a
/// [`Frame`](feedwire_core::Frame) (or a `RawJson` cut from it) that the application keeps alive keeps that
/// buffer alive; the connection reads into a fresh one meanwhile. Measured: about 10 KiB resident per idle
/// client connection with 4 KiB, 147 KiB with tungstenite's 128 KiB default (see the crate documentation).
pub const DEFAULT_READ_BUFFER_SIZE: usize = 4 * 1024;

/// The read buffer tungstenite allocates for each server connection (512 bytes).
///
/// A server holds many idle connections, so its connections keep only this much in tungstenite (enough for a
/// typical subscribe message) and read the socket through a 16 KiB buffer on the stack: what one read brings
/// beyond it waits in a buffer that exists only while it holds bytes. Larger messages work as with the client
/// (tungstenite reserves room for the whole message), without more system calls; only the copy into
/// tungstenite is in smaller steps. [`ServerConfig::with_websocket`] sets another size.
pub const DEFAULT_SERVER_READ_BUFFER_SIZE: usize = 512;

/// The server's tungstenite write buffer (32 KiB): frames that wait together in a connection's queue are fed
/// into it and written with one flush (up to 16 KiB of payload a batch), so a burst costs one `write` per batch
/// rather than one per frame. A buffer grows only to the batch it held, and only on connections that were sent
/// bursts. With `write_buffer_size(0)` every frame is written on its own.
pub const DEFAULT_SERVER_WRITE_BUFFER_SIZE: usize = 32 * 1024;

/// The largest incoming message either side accepts before it drops the connection (4 MiB).
///
/// Sessions and hubs apply their own, smaller [`Limits`](feedwire_core::Limits) (1 MiB by default) and report
/// oversize frames as error events while the connection goes on; this transport bound only stops a peer from
/// making the process buffer an unbounded message.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 << 20;

/// The tungstenite settings both drivers and the server start from: a 4 KiB read buffer
/// ([`DEFAULT_READ_BUFFER_SIZE`]), no write batching (every frame is written when it is sent), a 4 MiB message
/// limit ([`DEFAULT_MAX_MESSAGE_SIZE`]) and a write buffer capped at 8 MiB.
pub fn default_websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(DEFAULT_READ_BUFFER_SIZE)
        .write_buffer_size(0)
        .max_write_buffer_size(8 << 20)
        .max_message_size(Some(DEFAULT_MAX_MESSAGE_SIZE))
        .max_frame_size(Some(DEFAULT_MAX_MESSAGE_SIZE))
}

/// What a driver does with a binary frame (feedwire sessions and hubs speak text only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BinaryPolicy {
    /// Close the connection with 1003 (unsupported data) and report that close to the session or hub as
    /// `handle_close(now, Some(Close { code: 1003, .. }))`, so its ordinary close handling (and backoff) applies.
    #[default]
    Close,
    /// Drop the frame silently and keep the connection; the driver counts dropped frames.
    Ignore,
}

/// Builder setters that store their argument as is, each documented as "Sets [`field`](Self::field)."
/// (setters that clamp or convert are written out).
macro_rules! setters {
    ($($name:ident($field:ident: $ty:ty);)*) => {
        $(
            #[doc = concat!("Sets [`", stringify!($field), "`](Self::", stringify!($field), ").")]
            pub fn $name(mut self, $field: $ty) -> Self {
                self.$field = $field;
                self
            }
        )*
    };
}

/// Settings of the client drivers ([`ClientDriver`](crate::ClientDriver) and, with feature `blocking`,
/// `BlockingConnection`).
///
/// ```
/// use std::time::Duration;
/// use feedwire_tungstenite::ClientConfig;
/// let c = ClientConfig::default().with_dial_timeout(Duration::from_secs(5));
/// assert_eq!(c.dial_timeout, Duration::from_secs(5));
/// assert_eq!(c.websocket.read_buffer_size, 4096);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// How long DNS, TCP connect, TLS and the WebSocket handshake may take together (default 10 s). A dial that
    /// takes longer is abandoned and reported as `handle_close(now, None)`.
    pub dial_timeout: Duration,
    /// How long a closing connection may take to finish the close handshake before it is dropped (default 2 s).
    pub close_timeout: Duration,
    /// What to do with binary frames (default: close with 1003).
    pub binary: BinaryPolicy,
    /// The most frames waiting to be written on one connection (default 4,096). When a server stops reading and
    /// the queue overflows, the driver drops the connection and reports `handle_close(now, None)`.
    pub max_outbox: usize,
    /// Disable Nagle's algorithm (default true: feeds send small frames and want them out now).
    pub nodelay: bool,
    /// The tungstenite settings (read buffer, write buffer, message size limits); see
    /// [`default_websocket_config`].
    pub websocket: WebSocketConfig,
    /// The rustls client configuration for `wss://` (feature `rustls`). `None` (the default) is rustls with
    /// the webpki root certificates; set one to trust a private CA, pin a certificate or present a client
    /// certificate.
    #[cfg(feature = "rustls")]
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            dial_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            binary: BinaryPolicy::Close,
            max_outbox: 4096,
            nodelay: true,
            websocket: default_websocket_config(),
            #[cfg(feature = "rustls")]
            tls: None,
        }
    }
}

impl ClientConfig {
    setters! {
        with_dial_timeout(dial_timeout: Duration);
        with_close_timeout(close_timeout: Duration);
        with_binary(binary: BinaryPolicy);
        with_nodelay(nodelay: bool);
        with_websocket(websocket: WebSocketConfig);
    }
    /// Sets [`max_outbox`](Self::max_outbox) (at least 1).
    pub fn with_max_outbox(mut self, n: usize) -> Self {
        self.max_outbox = n.max(1);
        self
    }
    /// Sets the per-connection read buffer size (see [`DEFAULT_READ_BUFFER_SIZE`]).
    pub fn with_read_buffer_size(mut self, bytes: usize) -> Self {
        self.websocket = self.websocket.read_buffer_size(bytes);
        self
    }
    /// Sets the rustls configuration for `wss://` ([`tls`](Self::tls)), for example one that trusts a
    /// private CA:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use feedwire_tungstenite::ClientConfig;
    /// use feedwire_tungstenite::rustls::{self, RootCertStore};
    ///
    /// let roots = RootCertStore::empty(); // add your CA: roots.add(ca_der)?
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let tls = rustls::ClientConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()
    ///     .unwrap()
    ///     .with_root_certificates(roots)
    ///     .with_no_client_auth();
    /// let config = ClientConfig::default().with_tls(Arc::new(tls));
    /// # drop(config);
    /// ```
    #[cfg(feature = "rustls")]
    pub fn with_tls(mut self, tls: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }
}

/// Settings of the server loop ([`Server`](crate::Server), feature `tokio`).
///
/// # Flow control
///
/// A server must not let one client's slowness cost the others, nor buffer without bound. Its policy:
///
/// - Each connection's outgoing queue is unbounded in frames and counted in bytes (a frame's payload plus its
///   WebSocket header). A global count sums the queued bytes of every connection: a frame broadcast to N
///   connections counts N times (it is N writes pending), although its buffer is shared.
/// - A connection whose queued bytes exceed [`conn_budget`](Self::conn_budget) (default 1 MiB) is *behind*:
///   the server stops reading its socket, so its own requests cannot add replies, until it has drained below
///   the budget. It is never closed for being behind; a client that subscribes to 50,000 channels in one go
///   gets all 50,000 replies as fast as it reads them.
/// - A connection that has frames queued and made no write progress (not one byte accepted by its socket) for
///   [`stall_timeout`](Self::stall_timeout) (default 30 s) has *stopped reading*: it is closed with 1008
///   "slow reader: no progress for 30 s" and the hub gets `handle_close(now, conn, None)`. This is the only
///   close for slowness.
/// - While the global count exceeds [`global_budget`](Self::global_budget) (default 64 MiB), the server stops
///   reading every WebSocket connection's socket, and plain HTTP requests that may publish (any method but
///   GET, HEAD and OPTIONS) wait for the backlog to fall below the budget, for at most
///   [`publish_wait`](Self::publish_wait) (default 10 s); then they are answered 429 with `Retry-After: 1`
///   without calling the HTTP handler. A host that publishes from a task of its own awaits
///   [`ServerHandle::ready_to_publish`](crate::ServerHandle::ready_to_publish) before each publish.
///
/// Memory is therefore bounded by the global budget (plus one burst: a publish admitted just under the budget
/// is queued whole), and a client that stops reading holds its share for at most the stall timeout. The
/// counters of [`ServerStats`](crate::ServerStats) show the policy at work (read pauses, publish waits, 429s,
/// slow-reader closes, queued bytes).
///
/// ```
/// use std::time::Duration;
/// use feedwire_tungstenite::ServerConfig;
/// let c = ServerConfig::default().with_conn_budget(256 << 10).with_stall_timeout(Duration::from_secs(10));
/// assert_eq!(c.conn_budget, 256 << 10);
/// assert_eq!(c.global_budget, 64 << 20);
/// assert_eq!(c.backlog, 1024);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Queued outgoing bytes above which a connection is behind and is not read (default 1 MiB); see
    /// [flow control](Self#flow-control).
    pub conn_budget: usize,
    /// Queued outgoing bytes of all connections together above which no WebSocket connection is read and
    /// HTTP requests that may publish wait (default 64 MiB); see [flow control](Self#flow-control).
    pub global_budget: usize,
    /// How long a connection with frames queued may go without write progress before it is closed with 1008
    /// (default 30 s).
    pub stall_timeout: Duration,
    /// How long an HTTP request that may publish waits for the global backlog to fall below
    /// [`global_budget`](Self::global_budget) before it is answered 429 (default 10 s).
    pub publish_wait: Duration,
    /// How long the opening handshake may take (default 10 s): the TLS handshake, the request head (hyper's
    /// header read timeout: a head that does not arrive in time ends the connection, without an answer; the
    /// same bound ends an idle keep-alive connection), and for a plain HTTP request its body (answered 408
    /// when it does not arrive in time).
    pub handshake_timeout: Duration,
    /// How long a closing connection may take to finish the close handshake (default 2 s); also how long an
    /// HTTP request in progress may take to finish when the server stops.
    pub close_timeout: Duration,
    /// What to do with binary frames (default: close with 1003).
    pub binary: BinaryPolicy,
    /// Disable Nagle's algorithm on accepted sockets (default true).
    pub nodelay: bool,
    /// The kernel send buffer (`SO_SNDBUF`) of each accepted socket, in bytes (default 128 KiB; Linux doubles
    /// the value and turns its autotuning off for that socket). `None` leaves the kernel's default (on Linux
    /// autotuned up to `net.ipv4.tcp_wmem`'s maximum, 4 MiB a socket). Frames the kernel does not take wait
    /// in the connection's counted queue, so with a bound a client that does not read is held to
    /// [`conn_budget`](Self::conn_budget) plus this, not to whatever the kernel grows to.
    pub send_buffer: Option<usize>,
    /// The tungstenite settings: [`default_websocket_config`] with a read buffer of
    /// [`DEFAULT_SERVER_READ_BUFFER_SIZE`] and a write buffer of [`DEFAULT_SERVER_WRITE_BUFFER_SIZE`]. Its
    /// `max_message_size` and `max_frame_size` bound incoming messages: a larger one is answered with a 1009
    /// close.
    pub websocket: WebSocketConfig,
    /// The largest request head (request line and headers) read (default 16 KiB); a larger one is answered
    /// 431 and the connection closed.
    pub max_http_head: usize,
    /// The largest plain HTTP request body read for the HTTP handler (default 1 MiB), `Content-Length` or
    /// chunked; a larger one is answered 413.
    pub max_http_body: usize,
    /// The listen backlog of the sockets [`Server::bind`](crate::Server::bind) and
    /// [`ServerBuilder::bind`](crate::ServerBuilder::bind) create (default 1,024; the kernel may cap it, for
    /// example at `net.core.somaxconn` on Linux).
    pub backlog: u32,
    /// Whether the server answers `GET /health` (200 "ok" while the process serves), `GET /ready` (200 while
    /// accepting, 503 once a shutdown started) and, with feature `metrics` and a registry
    /// ([`with_metrics`](Self::with_metrics)), `GET /metrics` itself, before the HTTP handler sees them
    /// (default true; HEAD works too).
    pub builtin_routes: bool,
    /// The rustls server configuration (feature `rustls`): when set, the listener speaks https and wss only.
    /// Leave its ALPN protocols empty or set them to `http/1.1`: the server speaks HTTP/1.1.
    #[cfg(feature = "rustls")]
    pub tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    /// The registry `GET /metrics` serves (feature `metrics`); the server registers its own figures into it
    /// when it starts (see [`with_metrics`](Self::with_metrics)).
    #[cfg(feature = "metrics")]
    pub metrics: Option<std::sync::Arc<std::sync::Mutex<prometheus_client::registry::Registry>>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            conn_budget: 1 << 20,
            global_budget: 64 << 20,
            stall_timeout: Duration::from_secs(30),
            publish_wait: Duration::from_secs(10),
            max_http_head: 16 * 1024,
            max_http_body: 1 << 20,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            binary: BinaryPolicy::Close,
            nodelay: true,
            send_buffer: Some(128 << 10),
            websocket: default_websocket_config()
                .read_buffer_size(DEFAULT_SERVER_READ_BUFFER_SIZE)
                .write_buffer_size(DEFAULT_SERVER_WRITE_BUFFER_SIZE),
            backlog: 1024,
            builtin_routes: true,
            #[cfg(feature = "rustls")]
            tls: None,
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }
}

impl ServerConfig {
    setters! {
        with_stall_timeout(stall_timeout: Duration);
        with_publish_wait(publish_wait: Duration);
        with_max_http_body(max_http_body: usize);
        with_handshake_timeout(handshake_timeout: Duration);
        with_close_timeout(close_timeout: Duration);
        with_binary(binary: BinaryPolicy);
        with_nodelay(nodelay: bool);
        with_send_buffer(send_buffer: Option<usize>);
        with_websocket(websocket: WebSocketConfig);
        with_builtin_routes(builtin_routes: bool);
    }
    /// Sets [`conn_budget`](Self::conn_budget) (at least 1 byte).
    pub fn with_conn_budget(mut self, bytes: usize) -> Self {
        self.conn_budget = bytes.max(1);
        self
    }
    /// Sets [`global_budget`](Self::global_budget) (at least 1 byte).
    pub fn with_global_budget(mut self, bytes: usize) -> Self {
        self.global_budget = bytes.max(1);
        self
    }
    /// Sets [`max_http_head`](Self::max_http_head) (at least 256 bytes).
    pub fn with_max_http_head(mut self, bytes: usize) -> Self {
        self.max_http_head = bytes.max(256);
        self
    }
    /// Sets [`backlog`](Self::backlog) (at least 1).
    pub fn with_backlog(mut self, n: u32) -> Self {
        self.backlog = n.max(1);
        self
    }
    /// Makes the listener speak https and wss only, with this rustls configuration ([`tls`](Self::tls)):
    ///
    /// ```
    /// use std::sync::Arc;
    /// use feedwire_tungstenite::ServerConfig;
    /// use feedwire_tungstenite::rustls;
    ///
    /// # fn demo(cert_chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// #         key: rustls::pki_types::PrivateKeyDer<'static>) -> Result<(), rustls::Error> {
    /// let provider = Arc::new(rustls::crypto::ring::default_provider());
    /// let tls = rustls::ServerConfig::builder_with_provider(provider)
    ///     .with_safe_default_protocol_versions()?
    ///     .with_no_client_auth()
    ///     .with_single_cert(cert_chain, key)?;
    /// let config = ServerConfig::default().with_tls(Arc::new(tls));
    /// # drop(config);
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "rustls")]
    pub fn with_tls(mut self, tls: std::sync::Arc<rustls::ServerConfig>) -> Self {
        self.tls = Some(tls);
        self
    }
    /// Serves `registry` on `GET /metrics` (feature `metrics`) and registers the server's own figures into it
    /// (as `feedwire_server_*`, read at each scrape) when the server starts. Keep a clone to register the
    /// host's metrics (a hub's, for example) into the same registry, before or after.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use feedwire_tungstenite::ServerConfig;
    /// use feedwire_tungstenite::prometheus_client::registry::Registry;
    ///
    /// let registry = Arc::new(Mutex::new(Registry::default()));
    /// let config = ServerConfig::default().with_metrics(registry.clone());
    /// # drop(config);
    /// ```
    #[cfg(feature = "metrics")]
    pub fn with_metrics(
        mut self,
        registry: std::sync::Arc<std::sync::Mutex<prometheus_client::registry::Registry>>,
    ) -> Self {
        self.metrics = Some(registry);
        self
    }
}
