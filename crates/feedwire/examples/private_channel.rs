//! Private and presence Pusher channels authorized by your application's auth endpoint through
//! `HttpAuthorizer`: prints every event.
//!
//! ```text
//! cargo run -p feedwire --example private_channel -- \
//!     --url ws://127.0.0.1:6001 --key app-key \
//!     --auth-endpoint http://127.0.0.1:3000/pusher/auth --auth-header 'Authorization: Bearer T' \
//!     --channel private-orders --channel presence-room [--batch] [--count N]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use feedwire::pusher::{self, Config, Event, HttpAuthorizer};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Vec<String>) -> Result<(), Box<dyn std::error::Error>> {
    let (mut url, mut key, mut endpoint, mut count, mut batch) = (None, None, None, None, false);
    let (mut headers, mut channels) = (Vec::new(), Vec::new());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        if a == "--batch" {
            batch = true;
            continue;
        }
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--url" | "--host" => url = Some(v),
            "--key" => key = Some(v),
            "--auth-endpoint" => endpoint = Some(v),
            "--auth-header" => headers.push(v),
            "--channel" => channels.push(v),
            "--count" => count = Some(v.parse::<usize>()?),
            _ => return Err(format!("unknown argument {a:?}").into()),
        }
    }
    let key = key.ok_or("--key is required")?;
    let endpoint = endpoint.ok_or("--auth-endpoint is required")?;
    let config = match url {
        Some(u) => {
            let (tls, rest) = match u.split_once("://") {
                Some(("wss" | "https", r)) => (true, r),
                Some((_, r)) => (false, r),
                None => (false, u.as_str()),
            };
            let authority = rest.split('/').next().unwrap_or(rest);
            match authority.rsplit_once(':') {
                Some((h, p)) => Config::new(&key).with_host(h).with_port(p.parse()?).with_tls(tls),
                None => Config::new(&key).with_host(authority).with_tls(tls),
            }
        }
        None => Config::new(&key),
    };
    let mut auth = HttpAuthorizer::builder(endpoint).batching(batch);
    for h in &headers {
        auth = auth.header_line(h);
    }
    let mut feed = pusher::connect(config)
        .channels(channels)
        .authorizer(auth.build()?)
        .start()?;
    let mut seen = 0;
    while let Some(event) = feed.next_event().await {
        match &event {
            Event::Message { .. } | Event::MemberAdded { .. } | Event::MemberRemoved { .. } => {
                println!("{event:?}");
                seen += 1;
                if count.is_some_and(|n| seen >= n) {
                    break;
                }
            }
            Event::Subscribed { channel, .. } => println!("subscribed to {channel}"),
            Event::SubscriptionFailed { channel, error } => {
                println!("{channel:?} failed: {}", error.error.as_deref().unwrap_or("?"))
            }
            _ => {}
        }
    }
    Ok(())
}
