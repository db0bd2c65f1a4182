//! Drives the Pusher client by hand, with no network, through the BitSkins public feed configuration: the
//! "driver" here is a few lines that hand the session the frames a server would send and print what it asks.
//!
//! Run with `cargo run -p feedwire-pusher --example bitskins`.
#![allow(clippy::print_stdout, clippy::disallowed_methods)] // an example prints; one real Instant as origin

use std::time::{Duration, Instant};

use feedwire_core::{Close, Frame, Session, Transmit};
use feedwire_pusher::client::{Client, Config, Event};

/// Drains the session as a driver must after every call: transmits first, then events.
fn drain(client: &mut Client, label: &str) -> Vec<Event> {
    println!("-- {label}");
    while let Some(t) = client.poll_transmit() {
        match t {
            Transmit::Connect(req) => println!("   dial   {}", req.url),
            Transmit::Send(f) => println!("   send   {f}"),
            Transmit::Close(c) => println!("   close  {c}"),
        }
    }
    let mut events = Vec::new();
    while let Some(ev) = client.poll_event() {
        println!("   event  {ev:?}");
        events.push(ev);
    }
    if let Some(t) = client.poll_timeout() {
        println!(
            "   next deadline in {:?}",
            t.saturating_duration_since(*START.get_or_init(Instant::now))
        );
    }
    events
}

static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

#[derive(serde::Deserialize, Debug)]
#[allow(dead_code)] // read through Debug
struct Listed {
    id: String,
    name: String,
    price: u64,
}

fn established(socket: &str) -> Frame {
    Frame::from(format!(
        r#"{{"event":"pusher:connection_established","data":"{{\"socket_id\":\"{socket}\",\"activity_timeout\":120}}"}}"#
    ))
}

fn main() {
    let t0 = *START.get_or_init(Instant::now);
    // key c0eef4118084f8164bec65e6253bf195, host notifier.bitskins.com, wss on 443
    let mut client = Client::new(
        Config::bitskins()
            .with_client("pusher-client", "1.1.0")
            .with_seed(7),
    );
    client
        .subscribe("inventory_changes")
        .expect("a valid channel name");
    drain(&mut client, "connect");

    client.handle_open(t0, None);
    client.handle_frame(t0, established("8237.1234567"));
    drain(&mut client, "connection_established");

    client.handle_frame(
        t0,
        Frame::from(
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"inventory_changes","data":"{}"}"#,
        ),
    );
    drain(&mut client, "subscription_succeeded");

    let listed = include_str!("../testdata/frames/server_bitskins_listed.json");
    client.handle_frame(t0 + Duration::from_secs(1), Frame::from(listed));
    for ev in drain(&mut client, "a listed event (417 bytes)") {
        if let Event::Message {
            event,
            data: Some(data),
            ..
        } = ev
        {
            let item: Listed = data.parse().expect("BitSkins listed payload");
            println!("   {event}: {item:?}");
        }
    }

    // the network drops: back off, reconnect, resubscribe, and learn how long the channel was down
    let t1 = t0 + Duration::from_secs(5);
    client.handle_close(t1, None);
    drain(&mut client, "connection lost");
    let t2 = client.poll_timeout().expect("a reconnect is scheduled");
    client.handle_timeout(t2);
    drain(&mut client, "backoff elapsed");
    client.handle_open(t2, None);
    client.handle_frame(t2, established("8237.7654321"));
    client.handle_frame(
        t2,
        Frame::from(
            r#"{"event":"pusher_internal:subscription_succeeded","channel":"inventory_changes","data":"{}"}"#,
        ),
    );
    for ev in drain(&mut client, "reconnected") {
        if let Event::Resubscribed { channel, after } = ev {
            println!("   catch up over REST: {channel} was down for {after:?}");
        }
    }

    // the server restarts with 4200: reconnect at once
    client.handle_close(t2 + Duration::from_secs(60), Some(Close::new(4200, "restarting")));
    drain(&mut client, "closed with 4200");

    client.disconnect(t2 + Duration::from_secs(61));
    drain(&mut client, "disconnect");
}
