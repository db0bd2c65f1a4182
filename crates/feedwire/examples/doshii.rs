//! The Doshii app socket: every Doshii event (orders, members, ...), printed. The client id comes from
//! `DOSHII_CLIENT_ID`.
//!
//! Run with `DOSHII_CLIENT_ID=... cargo run -p feedwire --example doshii -- --count 3`; against a local
//! server, `-- --url ws://127.0.0.1:9000`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use feedwire::doshii::client::Environment;
use feedwire::doshii::{self, Config, Event};

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
    let (mut url, mut count) = (None, None);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--url" | "--host" => url = Some(v),
            "--count" => count = Some(v.parse::<usize>()?),
            _ => {
                return Err(format!("unknown argument {a:?} (usage: doshii [--url URL] [--count N])").into());
            }
        }
    }
    let client_id =
        std::env::var("DOSHII_CLIENT_ID").map_err(|_| "set DOSHII_CLIENT_ID to your Doshii client id")?;
    let mut config = Config::app(client_id, feedwire::unix_anchor_now());
    if let Some(u) = url {
        config = config.with_environment(Environment::Host(u));
    }
    let mut feed = doshii::connect(config).start()?;
    let mut seen = 0;
    while let Some(event) = feed.next_event().await {
        if let Event::Doshii(e) = event {
            println!("{e:?}");
            seen += 1;
            if count.is_some_and(|n| seen >= n) {
                break;
            }
        }
    }
    Ok(())
}
