//! The BitSkins public feed (a Pusher app): every `inventory_changes` event, printed.
//!
//! Run with `cargo run -p feedwire --example bitskins -- --count 5`; against a local server,
//! `feedwire serve pusher --key c0eef4118084f8164bec65e6253bf195` and `-- --url ws://127.0.0.1:6001`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use feedwire::pusher::{self, Config, Event};

/// The command line.
#[derive(Debug, Default)]
pub struct Args {
    /// `ws://host:port` (or `wss://`) instead of BitSkins' server.
    pub url: Option<String>,
    /// Stop after this many messages.
    pub count: Option<usize>,
}

/// Reads `--url URL` and `--count N`.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut out = Args::default();
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--url" | "--host" => out.url = Some(value()?),
            "--count" => out.count = Some(value()?.parse().map_err(|e| format!("--count: {e}"))?),
            _ => {
                return Err(format!(
                    "unknown argument {a:?} (usage: bitskins [--url ws://HOST:PORT] [--count N])"
                ));
            }
        }
    }
    Ok(out)
}

/// A Pusher config for a `ws(s)://host:port[/path]` URL.
pub fn config_for_url(key: &str, url: &str) -> Result<Config, String> {
    let (tls, rest) = match url.split_once("://") {
        Some(("ws" | "http", rest)) => (false, rest),
        Some(("wss" | "https", rest)) => (true, rest),
        Some(_) | None => (false, url), // a bare host[:port]: plain, as a local server
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut config = Config::new(key).with_tls(tls);
    config = match authority.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => config
            .with_host(host)
            .with_port(port.parse().map_err(|_| format!("bad port in {url:?}"))?),
        _ => config.with_host(authority),
    };
    let path = path.split("app/").next().unwrap_or("").trim_end_matches('/');
    if !path.is_empty() {
        config = config.with_path(path);
    }
    Ok(config)
}

/// Listens until `count` messages arrived (forever without it); `out` gets each as text.
pub async fn run(args: Args, mut out: impl FnMut(String)) -> Result<(), Box<dyn std::error::Error>> {
    let config = match &args.url {
        Some(url) => config_for_url(Config::BITSKINS_KEY, url)?,
        None => Config::bitskins(),
    };
    let mut feed = pusher::connect(config).channel("inventory_changes").start()?;
    let mut seen = 0;
    while let Some(event) = feed.next_event().await {
        match event {
            Event::Message { event, data, .. } => {
                out(format!(
                    "{event} {}",
                    data.map(|d| d.text().into_owned()).unwrap_or_default()
                ));
                seen += 1;
                if args.count.is_some_and(|n| seen >= n) {
                    break;
                }
            }
            Event::SubscriptionFailed { error, .. } => {
                return Err(format!("subscription failed: {error:?}").into());
            }
            _ => {}
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(args, |line| println!("{line}")).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
