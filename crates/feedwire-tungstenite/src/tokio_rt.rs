//! The tokio runtime for the client driver (tokio-tungstenite).

use std::time::Instant;

use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tungstenite::handshake::client::Request;

use crate::ClientConfig;
use crate::client::{ClientDriver, DialFuture, Runtime};

/// The tokio runtime: tokio-tungstenite transports, `tokio::time` timers. With feature `rustls` (default),
/// `wss://` URLs use rustls with the webpki root certificates; without it they fail to dial (reported to the
/// session as `handle_close(now, None)`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

impl Runtime for Tokio {
    type Transport = WebSocketStream<MaybeTlsStream<TcpStream>>;
    type Sleep = tokio::time::Sleep;

    fn sleep_until(deadline: Instant) -> Self::Sleep {
        tokio::time::sleep_until(deadline.into())
    }

    fn connect(request: Request, config: &ClientConfig) -> DialFuture<Self::Transport> {
        #[cfg(feature = "rustls")]
        return Box::pin(tokio_tungstenite::connect_async_tls_with_config(
            request,
            Some(config.websocket),
            config.nodelay,
            config.tls.clone().map(tokio_tungstenite::Connector::Rustls),
        ));
        #[cfg(not(feature = "rustls"))]
        Box::pin(tokio_tungstenite::connect_async_with_config(
            request,
            Some(config.websocket),
            config.nodelay,
        ))
    }
}

/// The async client driver on tokio: `Connection::new(session)`.
///
/// ```no_run
/// # async fn demo() {
/// use feedwire_core::testing::doc::EchoClient;
/// use feedwire_tungstenite::Connection;
///
/// let mut conn = Connection::new(EchoClient::default());
/// let handle = conn.handle(); // for other tasks: handle.call(|s| { /* s.subscribe(..) */ })
/// # drop(handle);
/// while let Some(event) = conn.next_event().await {
///     let _ = event; // the session's events
/// }
/// # }
/// ```
pub type Connection<S> = ClientDriver<S, Tokio>;
