//! The listener: binding with a backlog, accepting, TLS, and hyper's HTTP/1.1 on each connection.

use std::convert::Infallible;
use std::sync::Arc;

use feedwire_core::Hub;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrs};

use super::{Live, Phase, Shared, http, reached, stopped};

/// Binds the first address `addr` resolves to that accepts a bind, with `SO_REUSEADDR` on Unix (as tokio's
/// `TcpListener::bind` sets it) and a listen backlog of `backlog`.
pub(super) async fn bind(addr: impl ToSocketAddrs, backlog: u32) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        };
        let bound = socket.and_then(|socket| {
            #[cfg(unix)]
            socket.set_reuseaddr(true)?;
            socket.bind(addr)?;
            socket.listen(backlog)
        });
        match bound {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}

/// Accepts until a shutdown starts, one task per connection; then waits for those tasks (they end once the
/// server stops).
///
/// The tasks are counted, not joined: a finished task's memory is freed at once (a `JoinSet` keeps it until
/// it is joined, and during a connection storm the accept branch keeps winning; every HTTP connection that
/// upgraded has finished its task).
pub(super) async fn accept_loop<H>(shared: Arc<Shared<H>>, listener: TcpListener)
where
    H: Hub + Send + 'static,
    H::Event: Send,
{
    let mut phase = shared.phase.subscribe();
    let conns = Arc::new(Live::default());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                match accepted {
                    Ok((stream, _)) => {
                        let live = conns.enter();
                        let shared = shared.clone();
                        tokio::spawn(async move {
                            let _live = live;
                            serve_tcp(shared, stream).await;
                        });
                    }
                    // accept errors (EMFILE, ...) are transient: pause, then keep accepting
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                }
            }
            _ = reached(&mut phase, Phase::Draining) => break,
        }
    }
    drop(listener);
    conns.wait_all().await;
}

/// One accepted connection: TLS first when configured, then HTTP.
async fn serve_tcp<H>(shared: Arc<Shared<H>>, stream: TcpStream)
where
    H: Hub + Send + 'static,
    H::Event: Send,
{
    let _ = stream.set_nodelay(shared.config.nodelay);
    if let Some(bytes) = shared.config.send_buffer {
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(bytes);
    }
    #[cfg(feature = "rustls")]
    if let Some(tls) = shared.config.tls.clone() {
        let mut phase = shared.phase.subscribe();
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let accepted = tokio::select! {
            r = tokio::time::timeout(shared.config.handshake_timeout, acceptor.accept(stream)) => r,
            _ = stopped(&mut phase) => return,
        };
        if let Ok(Ok(stream)) = accepted {
            serve_io(shared, stream).await;
        }
        return;
    }
    serve_io(shared, stream).await
}

/// hyper's HTTP/1.1 on one connection, with upgrades, until the client leaves or the server stops (a request
/// in progress then gets the close timeout to finish).
async fn serve_io<H, I>(shared: Arc<Shared<H>>, io: I)
where
    H: Hub + Send + 'static,
    H::Event: Send,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = &shared.config;
    let mut phase = shared.phase.subscribe();
    let service = {
        let shared = shared.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, Infallible>(http::respond(&shared, req).await) }
        })
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(config.handshake_timeout)
        .max_header_size(config.max_http_head)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stopped(&mut phase) => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(config.close_timeout, conn).await;
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Duration;

    use super::*;

    /// How many of `n` connects complete while nobody accepts: Linux queues `backlog + 1` handshakes and
    /// drops the SYNs beyond (their connects wait for a retransmission, a second later).
    async fn queued(backlog: u32, n: usize) -> usize {
        let listener = bind("127.0.0.1:0", backlog).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut done = 0;
        let mut keep = Vec::new();
        for _ in 0..n {
            if let Ok(Ok(s)) =
                tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await
            {
                done += 1;
                keep.push(s);
            }
        }
        done
    }

    #[tokio::test]
    async fn the_backlog_is_the_configured_one() {
        assert!(queued(2, 8).await <= 4);
        assert_eq!(queued(1024, 8).await, 8);
    }

    #[tokio::test]
    async fn a_taken_address_is_an_error() {
        let taken = bind("127.0.0.1:0", 16).await.unwrap();
        let addr = taken.local_addr().unwrap();
        // SO_REUSEADDR does not let two listeners share a port
        assert!(bind(addr, 16).await.is_err());
    }
}
