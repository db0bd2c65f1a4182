//! A Pusher hub on 127.0.0.1 and a client of it in one program: the self-contained way to test your own
//! app's consumer without any service. The hub publishes `--count N` events (default 3) on `orders`; the
//! client prints them and stops.
//!
//! Run with `cargo run -p feedwire --example local_server -- --count 5`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use feedwire::core::RawJson;
use feedwire::pusher::{self, Config, Event, server};
use feedwire::tungstenite::Server;

/// Runs the hub and the client; `out` gets each event received, as text.
pub async fn run(count: usize, mut out: impl FnMut(String)) -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::bind("127.0.0.1:0", server::Hub::new(server::HubConfig::default())).await?;
    let port = server.local_addr().port();
    let config = Config::new("app-key")
        .with_host("127.0.0.1")
        .with_port(port)
        .with_tls(false);
    let mut feed = pusher::connect(config).channel("orders").start()?;
    let mut received = 0;
    while received < count {
        let Some(event) = feed.next_event().await else {
            break;
        };
        match event {
            Event::Subscribed { channel, .. } => {
                // the consumer is ready: publish, as your backend would (here through the hub directly)
                for i in 0..count {
                    let data = RawJson::from_json_str(&format!(r#""{{\"order\":{i}}}""#))?;
                    server.call(|hub| hub.publish(&[channel.as_str()], "order-created", &data, None))?;
                }
            }
            Event::Message { event, data, .. } => {
                received += 1;
                out(format!(
                    "{event} {}",
                    data.map(|d| d.text().into_owned()).unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
    feed.disconnect();
    while feed.next_event().await.is_some() {}
    server.shutdown().await;
    if received < count {
        return Err(format!("the connection ended after {received} of {count} events").into());
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut count = 3;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match (a.as_str(), args.next().map(|v| v.parse::<usize>())) {
            ("--count", Some(Ok(n))) => count = n,
            _ => {
                eprintln!("usage: local_server [--count N]");
                return ExitCode::from(2);
            }
        }
    }
    match run(count, |line| println!("{line}")).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
