//! The Igratech feed with settings (language, games): every message, printed. The token comes from
//! `IGRATECH_TOKEN`.
//!
//! Run with `IGRATECH_TOKEN=... cargo run -p feedwire --example igratech -- --lang en --game 7 --count 3`;
//! against a local server, `-- --url ws://127.0.0.1:8080/ws`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use feedwire::igratech::codec::{Id, Settings};
use feedwire::igratech::{self, Config, Event};

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
    let (mut url, mut count, mut lang, mut games) = (None, None, None, Vec::new());
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let v = it.next().ok_or(format!("{a} needs a value"))?;
        match a.as_str() {
            "--url" | "--host" => url = Some(v),
            "--count" => count = Some(v.parse::<usize>()?),
            "--lang" => lang = Some(v),
            "--game" => games.push(Id::Int(v.parse()?)),
            _ => return Err(format!("unknown argument {a:?}").into()),
        }
    }
    let mut config = Config::default();
    if let Ok(token) = std::env::var("IGRATECH_TOKEN") {
        config = config.with_token(token);
    }
    if let Some(u) = url {
        config = config.with_url(u);
    }
    let settings = Settings {
        lang,
        odds_format: None,
        game_ids: (!games.is_empty()).then_some(games),
        extra: Default::default(),
    };
    let mut feed = igratech::connect(config.with_settings(settings)).start()?;
    let mut seen = 0;
    while let Some(event) = feed.next_event().await {
        println!("{event:?}");
        if matches!(
            event,
            Event::Incident(_) | Event::Bet(_) | Event::BetsResult(_) | Event::Balance(_) | Event::Stats(_)
        ) {
            seen += 1;
            if count.is_some_and(|n| seen >= n) {
                break;
            }
        }
    }
    Ok(())
}
