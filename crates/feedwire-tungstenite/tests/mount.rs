//! A hub mounted in a hyper server of the application's own: the code of `examples/mount_in_hyper.rs` runs
//! here on 127.0.0.1, a WebSocket client talks to the hub through `/app`, and plain HTTP requests reach the
//! application's `/hello` and the hub's handler under `/app`.

#[path = "../examples/mount_in_hyper.rs"]
#[allow(dead_code)] // its `main` is the example's, not ours
mod example;

mod common;

use std::time::Duration;

use common::http::HttpClient;
use feedwire_tungstenite::tungstenite::Message;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn the_example_serves_the_hub_under_app_and_its_own_routes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = example::hub_server();
    let app = tokio::spawn(example::serve(listener, server.handle()));

    // the hub, through the application's router: the echo hub echoes
    let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{addr}/app?client=test"))
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("hello hub")).await.unwrap();
    let echo = timeout(WAIT, ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(echo, Message::text("hello hub"));
    assert_eq!(server.handle().connections(), 1);

    // plain requests: the application's own route, the hub's handler, the application's 404
    let mut c = HttpClient::new(TcpStream::connect(addr).await.unwrap());
    let a = c.request("GET", "/hello", &[], b"").await.unwrap();
    assert_eq!(
        (a.status, a.text().as_str()),
        (200, "hello from the application\n")
    );
    let a = c.request("POST", "/app/status", &[], b"{}").await.unwrap();
    assert_eq!((a.status, a.text().as_str()), (200, "hub: POST /app/status\n"));
    let a = c.request("GET", "/elsewhere", &[], b"").await.unwrap();
    assert_eq!(a.status, 404);
    let stats = server.handle().stats();
    assert_eq!(stats.http_responses[..2], [1, 1], "{stats:?}");

    // the detached server's graceful shutdown closes the mounted connection with 1001 (the echo hub says no
    // goodbye), while the application keeps running
    let shutdown = tokio::spawn(server.shutdown_gracefully(Duration::from_millis(100)));
    let close = timeout(WAIT, async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Close(f) = m {
                return f.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .unwrap();
    assert_eq!(close, Some(1001));
    drop(ws); // the server need not wait for our half of the close handshake
    timeout(WAIT, shutdown).await.unwrap().unwrap();
    let a = c.request("GET", "/hello", &[], b"").await.unwrap();
    assert_eq!(a.status, 200);
    app.abort();
}
