//! Driver and server configuration.

use std::time::Duration;

use tungstenite::protocol::WebSocketConfig;

/// The read buffer each connection allocates eagerly (tungstenite's default is 128 KiB).
///
/// Feeds carry small JSON messages, so 4 KiB holds most of them in one read. A bigger message still works:
/// tungstenite reserves room for the whole message when it reads its header (up to
/// [`DEFAULT_MAX_MESSAGE_SIZE`]). Received frames are zero-copy slices of this buffer, so a
/// [`Frame`](feedwire_core::Frame) (or a `RawJson` cut from it) that the application keeps alive keeps that
/// buffer alive; the connection reads into a fresh one meanwhile. Measured: about 15 KiB resident per idle
/// client connection with 4 KiB, 147 KiB with tungstenite's 128 KiB default (see the crate documentation).
pub const DEFAULT_READ_BUFFER_SIZE: usize = 4 * 1024;

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
    /// Sets [`dial_timeout`](Self::dial_timeout).
    pub fn with_dial_timeout(mut self, d: Duration) -> Self {
        self.dial_timeout = d;
        self
    }
    /// Sets [`close_timeout`](Self::close_timeout).
    pub fn with_close_timeout(mut self, d: Duration) -> Self {
        self.close_timeout = d;
        self
    }
    /// Sets [`binary`](Self::binary).
    pub fn with_binary(mut self, p: BinaryPolicy) -> Self {
        self.binary = p;
        self
    }
    /// Sets [`max_outbox`](Self::max_outbox) (at least 1).
    pub fn with_max_outbox(mut self, n: usize) -> Self {
        self.max_outbox = n.max(1);
        self
    }
    /// Sets [`nodelay`](Self::nodelay).
    pub fn with_nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }
    /// Sets [`websocket`](Self::websocket).
    pub fn with_websocket(mut self, c: WebSocketConfig) -> Self {
        self.websocket = c;
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

/// Settings of the server loop.
///
/// ```
/// use feedwire_tungstenite::ServerConfig;
/// let c = ServerConfig::default().with_queue_capacity(64);
/// assert_eq!(c.queue_capacity, 64);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Frames waiting to be written to one connection (default 1,024). A connection whose queue is full when
    /// the hub sends it another frame is a slow reader: it is closed with 1008 (policy violation) and the hub
    /// gets `handle_close(now, conn, None)`. Memory per connection is therefore bounded by this many frames
    /// (frames broadcast to many connections share one buffer) plus tungstenite's write buffer.
    pub queue_capacity: usize,
    /// How long the opening handshake may take (default 10 s). With an HTTP handler, the same bound covers
    /// reading the request head and, for a plain HTTP request, its body and the response: a slow client is
    /// dropped (answered 408 when its head was incomplete) when it runs out.
    pub handshake_timeout: Duration,
    /// How long a closing connection may take to finish the close handshake (default 2 s).
    pub close_timeout: Duration,
    /// What to do with binary frames (default: close with 1003).
    pub binary: BinaryPolicy,
    /// Disable Nagle's algorithm on accepted sockets (default true).
    pub nodelay: bool,
    /// The tungstenite settings; see [`default_websocket_config`].
    pub websocket: WebSocketConfig,
    /// With an HTTP handler ([`Server::new_with_http`](crate::Server::new_with_http)): the largest request
    /// head (request line and headers) read before deciding between WebSocket and plain HTTP (default 16 KiB).
    /// A plain HTTP request whose head is larger is answered 431 and closed.
    pub max_http_head: usize,
    /// With an HTTP handler: the largest `Content-Length` body accepted (default 1 MiB); a larger one is
    /// answered 413 without being read. Requests without `Content-Length` have no body; chunked bodies are
    /// answered 411.
    pub max_http_body: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            queue_capacity: 1024,
            max_http_head: 16 * 1024,
            max_http_body: 1 << 20,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            binary: BinaryPolicy::Close,
            nodelay: true,
            websocket: default_websocket_config(),
        }
    }
}

impl ServerConfig {
    /// Sets [`queue_capacity`](Self::queue_capacity) (at least 1).
    pub fn with_queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(1);
        self
    }
    /// Sets [`max_http_head`](Self::max_http_head) (at least 256 bytes).
    pub fn with_max_http_head(mut self, bytes: usize) -> Self {
        self.max_http_head = bytes.max(256);
        self
    }
    /// Sets [`max_http_body`](Self::max_http_body).
    pub fn with_max_http_body(mut self, bytes: usize) -> Self {
        self.max_http_body = bytes;
        self
    }
    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    pub fn with_handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }
    /// Sets [`close_timeout`](Self::close_timeout).
    pub fn with_close_timeout(mut self, d: Duration) -> Self {
        self.close_timeout = d;
        self
    }
    /// Sets [`binary`](Self::binary).
    pub fn with_binary(mut self, p: BinaryPolicy) -> Self {
        self.binary = p;
        self
    }
    /// Sets [`nodelay`](Self::nodelay).
    pub fn with_nodelay(mut self, on: bool) -> Self {
        self.nodelay = on;
        self
    }
    /// Sets [`websocket`](Self::websocket).
    pub fn with_websocket(mut self, c: WebSocketConfig) -> Self {
        self.websocket = c;
        self
    }
}
