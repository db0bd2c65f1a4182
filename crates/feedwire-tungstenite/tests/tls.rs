//! `wss://` against a real TLS server on 127.0.0.1 (tokio-rustls in front of a tokio-tungstenite echo of the
//! topic protocol), with the test CA of `testdata/tls` in this crate (see its make.sh): every client driver completes the
//! handshake when told to trust that CA (`ClientConfig::with_tls`), and with the default webpki roots the
//! certificate is refused and the session sees a failed dial, not a panic. And our own server with
//! `ServerConfig::with_tls` and the test CA's certificate: wss and https on one port, plain ws refused.
#![cfg(feature = "rustls")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Ev, TopicClient};
use feedwire_tungstenite::rustls::pki_types::pem::PemObject;
use feedwire_tungstenite::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use feedwire_tungstenite::rustls::{self, RootCertStore};
use feedwire_tungstenite::tungstenite::Message;
use feedwire_tungstenite::tungstenite::handshake::server::{Request, Response};
use feedwire_tungstenite::tungstenite::http::HeaderValue;
use feedwire_tungstenite::{BlockingConnection, ClientConfig, Connection, SmolConnection};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);
const CA: &[u8] = include_bytes!("../testdata/tls/ca.pem");
const CERT: &[u8] = include_bytes!("../testdata/tls/server.pem");
const KEY: &[u8] = include_bytes!("../testdata/tls/server.key");

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls client that trusts the test CA only.
fn client_tls() -> rustls::ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(CA).unwrap()).unwrap();
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A client configuration that trusts the test CA only.
fn trusting_test_ca() -> ClientConfig {
    ClientConfig::default().with_tls(Arc::new(client_tls()))
}

/// The servers' TLS: the test certificate for 127.0.0.1, no client authentication.
fn server_tls() -> rustls::ServerConfig {
    let cert = CertificateDer::from_pem_slice(CERT).unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
    rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap()
}

/// A `wss://` server on 127.0.0.1 speaking the topic protocol of `common` (welcome, `sub:` answered with
/// `subscribed:`, then one message); returns its URL and a channel that reports each finished TLS handshake
/// (Ok) or refused one (Err).
async fn tls_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<Result<(), String>>) {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_tls()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("wss://127.0.0.1:{}/topics", listener.local_addr().unwrap().port());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        // serves until the test's runtime ends
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        let _ = tx.send(Ok(()));
                        tls
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                };
                // the topic client asks for subprotocol topic-v1 and insists on it (the error type is
                // tungstenite's, not ours to shrink)
                #[allow(clippy::result_large_err)]
                let agree = |_: &Request, mut response: Response| {
                    let v = HeaderValue::from_static("topic-v1");
                    response.headers_mut().insert("sec-websocket-protocol", v);
                    Ok(response)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tls, agree).await else {
                    return;
                };
                let _ = ws.send(Message::text("welcome")).await;
                while let Some(Ok(msg)) = ws.next().await {
                    if let Message::Text(t) = msg
                        && let Some(topic) = t.as_str().strip_prefix("sub:")
                    {
                        let _ = ws.send(Message::text(format!("subscribed:{topic}"))).await;
                        let _ = ws.send(Message::text(format!("{topic}: over TLS"))).await;
                    }
                }
            });
        }
    });
    (url, rx)
}

const EXPECTED: [&str; 2] = ["Subscribed(\"news\")", "Message(\"news: over TLS\")"];

#[tokio::test]
async fn tokio_driver_over_wss_with_a_private_ca() {
    let (url, mut handshakes) = tls_server().await;
    let mut conn = Connection::with_config(TopicClient::new(&url, "news"), trusting_test_ca());
    let mut got = Vec::new();
    while got.len() < 3 {
        let ev = timeout(WAIT, conn.next_event()).await.unwrap().unwrap();
        got.push(format!("{ev:?}"));
    }
    assert_eq!(got[0], format!("{:?}", Ev::Open(Some("topic-v1".into()))));
    assert_eq!(got[1..], EXPECTED);
    assert_eq!(handshakes.recv().await, Some(Ok(())));
}

#[tokio::test]
async fn default_webpki_roots_refuse_the_private_certificate() {
    let (url, mut handshakes) = tls_server().await;
    let mut conn = Connection::new(TopicClient::new(&url, "news").once());
    // the dial fails: the session hears a close without a frame and, being `once`, stops
    let mut got = Vec::new();
    while let Ok(Some(ev)) = timeout(WAIT, conn.next_event()).await {
        got.push(ev);
    }
    assert!(!got.iter().any(|e| matches!(e, Ev::Open(_))), "{got:?}");
    assert!(got.contains(&Ev::Closed(None)), "{got:?}");
    let refused = timeout(WAIT, handshakes.recv()).await.unwrap().unwrap();
    assert!(
        refused.is_err(),
        "the server saw the client refuse its certificate"
    );
    let reason = conn.last_error().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        reason.contains("certificate") || reason.contains("Certificate"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_and_smol_drivers_over_wss_with_a_private_ca() {
    let (url, _handshakes) = tls_server().await;
    let blocking_url = url.clone();
    let blocking = tokio::task::spawn_blocking(move || {
        let mut conn =
            BlockingConnection::with_config(TopicClient::new(&blocking_url, "news"), trusting_test_ca());
        (0..3)
            .map_while(|_| conn.next_event())
            .map(|e| format!("{e:?}"))
            .collect::<Vec<_>>()
    });
    let smol = tokio::task::spawn_blocking(move || {
        futures_executor_block_on(async {
            let mut conn = SmolConnection::with_config(TopicClient::new(&url, "news"), trusting_test_ca());
            let mut got = Vec::new();
            while got.len() < 3 {
                match conn.next_event().await {
                    Some(ev) => got.push(format!("{ev:?}")),
                    None => break,
                }
            }
            got
        })
    });
    for got in [timeout(WAIT, blocking).await, timeout(WAIT, smol).await] {
        let got = got.unwrap().unwrap();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[1..], EXPECTED);
    }
}

/// Runs a future to completion on this thread (async-io drives the smol driver's I/O and timers itself).
fn futures_executor_block_on<F: std::future::Future>(f: F) -> F::Output {
    async_io::block_on(f)
}

/// Our own server with `ServerConfig::with_tls`: the topic hub of `common` on https/wss only.
async fn our_tls_server() -> feedwire_tungstenite::Server<common::TopicHub> {
    let config = feedwire_tungstenite::ServerConfig::default().with_tls(Arc::new(server_tls()));
    feedwire_tungstenite::Server::builder(common::TopicHub::default())
        .config(config)
        .http(|hub, req| {
            feedwire_tungstenite::HttpResponse::json(
                200,
                format!(
                    r#"{{"path":"{}","subscribers":{}}}"#,
                    req.path,
                    hub.subscribers("news").len()
                ),
            )
        })
        .bind("127.0.0.1:0")
        .await
        .unwrap()
}

#[tokio::test]
async fn our_server_speaks_wss_and_https_with_a_certificate_of_the_test_ca() {
    let server = our_tls_server().await;
    let addr = server.local_addr();

    // wss: a client that trusts the test CA subscribes and receives a publish
    let url = format!("wss://127.0.0.1:{}/topics", addr.port());
    let mut conn = Connection::with_config(TopicClient::new(&url, "news"), trusting_test_ca());
    let ev = timeout(WAIT, conn.next_event()).await.unwrap().unwrap();
    assert_eq!(ev, Ev::Open(Some("topic-v1".into())));
    let ev = timeout(WAIT, conn.next_event()).await.unwrap().unwrap();
    assert_eq!(ev, Ev::Subscribed("news".into()));
    assert_eq!(server.call(|hub| hub.publish("news", "over our TLS")), 1);
    let ev = timeout(WAIT, conn.next_event()).await.unwrap().unwrap();
    assert_eq!(ev, Ev::Message("over our TLS".into()));

    // https: the HTTP handler and the built-in routes, on one keep-alive TLS connection
    let client = client_tls();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
        .unwrap();
    let mut c = common::http::HttpClient::new(tls);
    let a = timeout(WAIT, c.request("GET", "/apps/1/channels", &[], b""))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (a.status, a.text().as_str()),
        (200, r#"{"path":"/apps/1/channels","subscribers":1}"#)
    );
    let a = timeout(WAIT, c.request("GET", "/health", &[], b""))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.status, 200);

    // plain ws:// to the TLS port fails the dial into a close; the server goes on
    let plain = format!("ws://127.0.0.1:{}/topics", addr.port());
    let mut refused = Connection::new(TopicClient::new(&plain, "news").once());
    let mut got = Vec::new();
    while let Ok(Some(ev)) = timeout(WAIT, refused.next_event()).await {
        got.push(ev);
    }
    assert!(!got.iter().any(|e| matches!(e, Ev::Open(_))), "{got:?}");
    drop(conn);
    server.shutdown().await;
}
