//! Thin adapters that run any feedwire [`Session`](feedwire_core::Session) or [`Hub`](feedwire_core::Hub) on
//! real WebSockets, over [tungstenite](https://docs.rs/tungstenite). No protocol knowledge lives here: the
//! session or hub decides everything, the adapters only move frames, closes and time.
//!
//! - [`Connection`] (feature `tokio`, default): the async client driver on tokio. It is the alias of
//!   [`ClientDriver`], which is generic over a [`Runtime`] (a transport that is a
//!   `Sink<Message> + Stream<Item = Result<Message, _>>`, a dial function and a timer), so another runtime is
//!   one small trait implementation. Commands from other tasks go through a cloneable [`Handle`].
//! - `SmolConnection` (feature `smol`): the same driver on async-tungstenite, `async-net` and `async-io`
//!   timers; it runs under any executor (smol, async-std, `futures::executor`).
//! - `BlockingConnection` (feature `blocking`): the same loop over plain tungstenite for programs without an
//!   async runtime; socket read timeouts follow the session's deadlines.
//! - [`Server`] (feature `tokio`): serves hyper's HTTP/1.1 on a `TcpListener` and runs WebSocket upgrades
//!   through one hub; a [`ServerHandle`] calls hub methods (publish, broadcast, ...) from other tasks. Plain
//!   HTTP requests on the same port go to a handler of the host's that runs with the hub locked
//!   ([`Server::new_with_http`], [`HttpRequest`] -> [`HttpResponse`]): the place for a hub's REST API, such
//!   as `feedwire_pusher::server::Hub::handle_rest` (the Pusher HTTP API the official server SDKs trigger
//!   through). `GET /health`, `GET /ready` and (feature `metrics`) `GET /metrics` are built in. The route is
//!   protocol-agnostic. [`ServerBuilder`] combines the options; a
//!   [`detached`](ServerBuilder::detached) server listens nowhere and serves what a hyper or axum
//!   application of the host's routes to [`ServerHandle::serve_http`] (see `examples/mount_in_hyper.rs`).
//! - Flow control instead of disconnection (see [`ServerConfig`]): outgoing queues are counted in bytes, a
//!   connection that is behind is not read until it drains, everything is paused over a global budget (HTTP
//!   requests that may publish wait, then get 429), and only a client that stopped reading is closed, after
//!   [`ServerConfig::stall_timeout`]. Hosts await [`ServerHandle::ready_to_publish`] before publishing from
//!   their own tasks. [`ServerHandle::stats`] (and with feature `metrics` a `prometheus-client` registry)
//!   shows it at work.
//! - Graceful shutdown ([`Server::shutdown_gracefully`]): `/ready` answers 503, the hub says goodbye
//!   ([`Hub::handle_shutdown`](feedwire_core::Hub::handle_shutdown)), connections get a deadline to close,
//!   what is left is closed with 1001.
//! - TLS (`wss://`) through rustls with the webpki root certificates (feature `rustls`, default; `ring`
//!   provider), or with a rustls configuration of your own ([`ClientConfig::with_tls`]: a private CA, pinned
//!   certificates, client certificates). Plain `ws://` needs no TLS feature. A server speaks https and wss
//!   only with `ServerConfig::with_tls`.
//! - Feature `tracing`: debug-level records of why a dial or connection failed (also kept in
//!   [`ClientDriver::last_error`] as a [`TransportError`]). Nothing is printed without it.
//!
//! # Memory per connection
//!
//! tungstenite allocates each connection's read buffer eagerly; its default is 128 KiB. The client drivers use
//! 4 KiB ([`DEFAULT_READ_BUFFER_SIZE`], see [`default_websocket_config`]) and no write batching, since feeds
//! carry small JSON messages; larger messages still work (the buffer grows for them) up to
//! [`DEFAULT_MAX_MESSAGE_SIZE`]. Change it with [`ClientConfig::with_read_buffer_size`] or
//! [`ServerConfig::with_websocket`]. The server, which holds many idle connections, keeps 512 bytes in
//! tungstenite ([`DEFAULT_SERVER_READ_BUFFER_SIZE`]) and reads its sockets through a buffer on the stack; its
//! outgoing queues allocate only while frames wait.
//!
//! Measured resident memory (Linux x86_64, release build, 1,000 idle connections in one process, at most 64
//! handshakes in flight, each client a tokio task running a [`Connection`]; the server runs an echo hub;
//! `cargo run --release -p feedwire-tungstenite --example idle_memory`):
//!
//! | read buffer | client process, per connection | server process, per connection |
//! | --- | --- | --- |
//! | 4 KiB client, 512 B server (the defaults) | 9.7-10.3 KiB (three runs) | 4.6-5.1 KiB |
//! | 128 KiB client (tungstenite's default; pass `-- 1000 131072`) | 147.2 KiB (an earlier run) | - |
//!
//! The client figure covers everything one idle connection costs: the tokio task, the socket, tungstenite's
//! state and read buffer, the driver and its session. The server figure covers the connection's task, its
//! socket, tungstenite's state, its queue and byte count, and its entry in the router; a hub adds its own
//! per-connection state. Connection storms cost more for a while: each handshake in flight holds hyper's
//! buffers and task (about 15 KiB).

//! # Example
//!
//! A server running a hub and a client session talking to it over loopback:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use feedwire_core::testing::doc::EchoHub;
//! use feedwire_core::{Close, ConnectRequest, Frame, Lifecycle, Session, Transmit};
//! use feedwire_tungstenite::{Connection, Server};
//! # use std::collections::VecDeque;
//! # use std::time::Instant;
//!
//! // A session that says hello once connected and stops after the first echo.
//! struct Hello { url: String, out: VecDeque<Transmit>, events: VecDeque<String>, open: bool, stopped: bool }
//! impl Session for Hello {
//!     type Event = String;
//!     fn handle_open(&mut self, _: Instant, _: Option<&str>) {
//!         self.open = true;
//!         self.out.push_back(Transmit::Send(Frame::from("hello")));
//!     }
//!     fn handle_frame(&mut self, now: Instant, frame: Frame) {
//!         self.events.push_back(frame.as_str().to_owned());
//!         self.disconnect(now);
//!     }
//!     fn handle_close(&mut self, _: Instant, _: Option<Close>) { self.open = false; self.stopped = true; }
//!     fn handle_timeout(&mut self, _: Instant) {}
//!     fn poll_transmit(&mut self) -> Option<Transmit> { self.out.pop_front() }
//!     fn poll_event(&mut self) -> Option<String> { self.events.pop_front() }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//! }
//! // The driver calls `connect` on its first poll and ends its stream once `is_stopped`.
//! impl Lifecycle for Hello {
//!     fn connect(&mut self, _: Instant) {
//!         self.out.push_back(Transmit::Connect(ConnectRequest::new(self.url.clone())));
//!     }
//!     fn disconnect(&mut self, _: Instant) {
//!         self.out.push_back(Transmit::Close(Close::normal()));
//!         self.stopped = true;
//!     }
//!     fn is_open(&self) -> bool { self.open }
//!     fn is_stopped(&self) -> bool { self.stopped }
//! }
//!
//! let server = Server::bind("127.0.0.1:0", EchoHub::default()).await?;
//! let url = format!("ws://{}/echo", server.local_addr());
//! let session = Hello { url, out: VecDeque::new(), events: VecDeque::new(), open: false, stopped: false };
//! let mut conn = Connection::new(session);
//! assert_eq!(conn.next_event().await.as_deref(), Some("hello"));
//! assert_eq!(conn.next_event().await, None); // stopped: the stream ends
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
mod config;
mod error;
mod hook;
mod log;
mod wire;

#[cfg(feature = "blocking")]
mod blocking;
#[cfg(feature = "tokio")]
mod server;
#[cfg(feature = "smol")]
mod smol_rt;
#[cfg(feature = "tokio")]
mod tokio_rt;

pub use client::{ClientDriver, DialFuture, DriverStats, Handle, HandleError, Runtime, Update};
pub use config::{
    BinaryPolicy, ClientConfig, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_READ_BUFFER_SIZE,
    DEFAULT_SERVER_READ_BUFFER_SIZE, DEFAULT_SERVER_WRITE_BUFFER_SIZE, ServerConfig,
    default_websocket_config,
};
pub use error::TransportError;
pub use hook::{Apply, Hook, Job, Jobs, Tap};

#[cfg(feature = "blocking")]
pub use blocking::BlockingConnection;
#[cfg(feature = "tokio")]
pub use server::{HttpRequest, HttpResponse, ResponseBody, Server, ServerBuilder, ServerHandle, ServerStats};
#[cfg(feature = "smol")]
pub use smol_rt::{Smol, SmolConnection, SmolSleep};
#[cfg(feature = "tokio")]
pub use tokio_rt::{Connection, Tokio};

/// http-body-util, re-exported for [`ResponseBody`] (`Full<Bytes>`).
#[cfg(feature = "tokio")]
pub use http_body_util;
/// hyper, re-exported for the types of [`ServerHandle::serve_http`] (`hyper::Request`, `hyper::Response`,
/// `hyper::body::Body`) when mounting a hub in an application of your own.
#[cfg(feature = "tokio")]
pub use hyper;
/// prometheus-client, re-exported for [`ServerConfig::with_metrics`] and [`ServerHandle::register_metrics`].
#[cfg(feature = "metrics")]
pub use prometheus_client;
/// The rustls this crate's `wss://` uses, for building a [`ClientConfig::with_tls`] configuration.
#[cfg(feature = "rustls")]
pub use rustls;
/// tungstenite, re-exported for its [`WebSocketConfig`](tungstenite::protocol::WebSocketConfig) and
/// [`Message`](tungstenite::Message) types.
pub use tungstenite;

/// The crate README's examples, compiled and run as doctests so the README cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
