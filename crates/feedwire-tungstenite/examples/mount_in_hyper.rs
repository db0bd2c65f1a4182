//! A hub mounted in a hyper server of the application's own: the application accepts the connections and
//! routes `/app` (and everything under it) to the hub, WebSocket upgrades and plain requests alike, and
//! answers `/hello` itself.
//!
//! ```text
//! cargo run -p feedwire-tungstenite --example mount_in_hyper -- 127.0.0.1:8080
//! websocat ws://127.0.0.1:8080/app        # echoes what you type
//! curl http://127.0.0.1:8080/hello        # the application's own route
//! curl http://127.0.0.1:8080/app/status   # the hub's HTTP handler
//! ```
//!
//! The hub runs in a *detached* server (it listens nowhere; it runs the hub's timer and events) and
//! [`ServerHandle::serve_http`] serves what the application hands it. `tests/mount.rs` runs this very code.
#![allow(clippy::print_stdout)] // an example says where it listens

use std::convert::Infallible;

use feedwire_core::testing::doc::EchoHub;
use feedwire_tungstenite::http_body_util::Full;
use feedwire_tungstenite::hyper::body::{Bytes, Incoming};
use feedwire_tungstenite::hyper::server::conn::http1;
use feedwire_tungstenite::hyper::service::service_fn;
use feedwire_tungstenite::hyper::{Request, Response, StatusCode};
use feedwire_tungstenite::{HttpResponse, ResponseBody, Server, ServerHandle};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// The hub's server, detached: its HTTP handler answers the plain requests routed to the hub.
pub fn hub_server() -> Server<EchoHub> {
    Server::builder(EchoHub::default())
        .http(|_hub, req| HttpResponse::text(200, format!("hub: {} {}\n", req.method, req.path)))
        .detached()
}

/// The application's router: `/app` and below to the hub, `/hello` here, anything else 404.
pub async fn route(hub: &ServerHandle<EchoHub>, req: Request<Incoming>) -> Response<ResponseBody> {
    let path = req.uri().path();
    if path == "/app" || path.starts_with("/app/") {
        return hub.serve_http(req).await;
    }
    let (status, text) = match path {
        "/hello" => (StatusCode::OK, "hello from the application\n"),
        _ => (StatusCode::NOT_FOUND, "not found\n"),
    };
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    resp
}

/// The application's accept loop: hyper's HTTP/1.1 on every connection, with upgrades enabled (the hub's
/// WebSocket connections need them).
pub async fn serve(listener: TcpListener, hub: ServerHandle<EchoHub>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let hub = hub.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let hub = hub.clone();
                async move { Ok::<_, Infallible>(route(&hub, req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("ws://{addr}/app echoes; http://{addr}/hello is the application's own");
    let server = hub_server();
    tokio::spawn(serve(listener, server.handle()));
    tokio::signal::ctrl_c().await?;
    server
        .shutdown_gracefully(std::time::Duration::from_secs(5))
        .await;
    Ok(())
}
