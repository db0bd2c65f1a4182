//! The smol / async-io runtime for the client driver (async-tungstenite).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use async_net::TcpStream;
use async_tungstenite::WebSocketStream;
use async_tungstenite::smol::ConnectStream;
use tungstenite::handshake::client::Request;

use crate::ClientConfig;
use crate::client::{ClientDriver, DialFuture, Runtime};

/// The smol runtime (feature `smol`): async-tungstenite transports over `async-net`, `async-io` timers. It
/// needs no particular executor (async-io runs its own reactor), so it serves smol, async-std and
/// `futures::executor` programs alike. With feature `rustls`, `wss://` uses futures-rustls with the webpki
/// roots, or [`ClientConfig::tls`] when set.
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

/// An `async-io` timer as a `Future<Output = ()>`.
#[derive(Debug)]
pub struct SmolSleep(async_io::Timer);

impl Future for SmolSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Runtime for Smol {
    type Transport = WebSocketStream<ConnectStream>;
    type Sleep = SmolSleep;

    fn sleep_until(deadline: Instant) -> Self::Sleep {
        SmolSleep(async_io::Timer::at(deadline))
    }

    fn connect(request: Request, config: &ClientConfig) -> DialFuture<Self::Transport> {
        let nodelay = config.nodelay;
        #[cfg(feature = "rustls")]
        let connector = config.tls.clone().map(futures_rustls::TlsConnector::from);
        #[cfg(not(feature = "rustls"))]
        let connector = None;
        let config = config.websocket;
        Box::pin(async move {
            let uri = request.uri();
            let host = uri
                .host()
                .ok_or(tungstenite::Error::Url(tungstenite::error::UrlError::NoHostName))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let tls = matches!(uri.scheme_str(), Some("wss" | "https"));
            let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
            // resolve on a blocking thread pool, as async-net does
            let addrs = async_net::resolve((host.as_str(), port)).await?;
            let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
            let mut socket = None;
            for addr in addrs {
                match TcpStream::connect(addr).await {
                    Ok(s) => {
                        socket = Some(s);
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            let socket = socket.ok_or(last)?;
            let _ = socket.set_nodelay(nodelay);
            async_tungstenite::smol::client_async_tls_with_connector_and_config(
                request,
                socket,
                connector,
                Some(config),
            )
            .await
        })
    }
}

/// The async client driver on smol / async-io: `SmolConnection::new(session)`.
pub type SmolConnection<S> = ClientDriver<S, Smol>;
