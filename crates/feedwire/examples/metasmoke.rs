//! metasmoke's ActionCable `ApiChannel`: new posts flagged as spam, printed. The API key comes from
//! `METASMOKE_KEY`.
//!
//! Run with `METASMOKE_KEY=... cargo run -p feedwire --example metasmoke -- --count 3`; against a local
//! server, `-- --url ws://127.0.0.1:3000/cable`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use feedwire::actioncable::identifier::{ApiChannel, ModelEvent};
use feedwire::actioncable::{self, Config, Event};

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
    let (mut url, mut count) = ("wss://metasmoke.erwaysoftware.com/cable".to_owned(), None);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--url" => url = v,
            "--count" => count = Some(v.parse::<usize>()?),
            _ => {
                return Err(
                    format!("unknown argument {a:?} (usage: metasmoke [--url URL] [--count N])").into(),
                );
            }
        }
    }
    let key = std::env::var("METASMOKE_KEY").map_err(|_| "set METASMOKE_KEY to your metasmoke API key")?;
    let channel = ApiChannel::new(key)
        .with_events("posts", &[ModelEvent::Create])?
        .identifier()?;
    let mut feed = actioncable::connect(Config::new(url)).channel(channel).start()?;
    let mut seen = 0;
    while let Some(event) = feed.next_event().await {
        match event {
            Event::Message { message, .. } => {
                println!("{message}");
                seen += 1;
                if count.is_some_and(|n| seen >= n) {
                    break;
                }
            }
            Event::Rejected { identifier, .. } => {
                return Err(format!("rejected: {}", identifier.as_str()).into());
            }
            _ => {}
        }
    }
    Ok(())
}
