//! `feedwire demo`: every protocol's hub on an ephemeral loopback port, its client connected through the
//! adapters, and a scripted tour a person can watch: events, auth, presence, a forced server-side drop, the
//! reconnect, the resubscriptions and the catch-up signal. Ends with a summary table; exits 0 when every
//! protocol received its events and came back after the drop.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use feedwire_core::{Close, RawJson, Secret};
use feedwire_pusher::client::{Client as PusherClient, DisconnectReason, Event as PusherEvent};
use feedwire_pusher::server::{Hub as PusherHub, HubConfig as PusherHubConfig};
use feedwire_tungstenite::{Connection, Server};

use crate::out::Out;
use crate::record::{RecordOpts, Recording};
use crate::{actioncable, doshii, igratech, pusher};

/// Options of `feedwire demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Give up on a step after this many seconds.
    #[arg(long, default_value_t = 5)]
    step_timeout: u64,
    /// Write each protocol's client session as a transcript into this directory (pusher.jsonl,
    /// actioncable.jsonl, doshii.jsonl, igratech.jsonl), for `feedwire replay`, `decode` and tests.
    #[arg(long, value_name = "DIR")]
    record: Option<std::path::PathBuf>,
}

/// What one protocol's tour achieved.
#[derive(Debug, Default)]
pub struct Tally {
    /// Protocol name.
    pub protocol: &'static str,
    /// Application events received (messages, orders, bets ...).
    pub events: u64,
    /// Reconnects after the forced drop.
    pub reconnects: u64,
    /// Subscriptions (or feeds) the session restored and reported as possibly gapped.
    pub resubscribed: u64,
    /// Wall time of the tour.
    pub elapsed: Duration,
    /// Whether every step happened.
    pub ok: bool,
    /// The step that failed, if one did.
    pub failure: Option<String>,
}

/// Prints the tour's narration.
pub struct Narrator<'a> {
    out: &'a Out,
    tag: &'static str,
    color: &'static str,
}

impl Narrator<'_> {
    #[allow(clippy::print_stdout)]
    fn say(&self, msg: impl std::fmt::Display) {
        if self.out.color() {
            println!("{}[{:>11}]\x1b[0m {msg}", self.color, self.tag);
        } else {
            println!("[{:>11}] {msg}", self.tag);
        }
    }
}

/// Runs one protocol's steps with its narrator, timing it and recording how it ended.
macro_rules! tour {
    ($out:expr, $step:expr, $record:expr, $protocol:literal, $color:literal, $steps:ident) => {{
        let start = Instant::now();
        let n = Narrator {
            out: $out,
            tag: $protocol,
            color: $color,
        };
        let mut tally = Tally {
            protocol: $protocol,
            ..Tally::default()
        };
        let rec = match $record {
            Some(dir) => Recording::to(RecordOpts {
                out: Some(dir.join(concat!($protocol, ".jsonl"))),
                max_bytes: 64 << 20,
                max_duration: None,
            }),
            None => Recording::off(),
        };
        match $steps(&n, $step, &mut tally, &rec).await {
            Ok(()) => tally.ok = true,
            Err(e) => {
                n.say(format!("step failed: {e}"));
                tally.failure = Some(e);
            }
        }
        tally.elapsed = start.elapsed();
        tally
    }};
}

/// Runs the tour.
pub async fn run(out: &Out, args: DemoArgs) -> Result<ExitCode, String> {
    let start = Instant::now();
    let step = Duration::from_secs(args.step_timeout);
    let dir = args.record.as_deref();
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let tallies = vec![
        tour!(out, step, dir, "pusher", "\x1b[35m", pusher_steps),
        tour!(out, step, dir, "actioncable", "\x1b[36m", actioncable_steps),
        tour!(out, step, dir, "doshii", "\x1b[33m", doshii_steps),
        tour!(out, step, dir, "igratech", "\x1b[32m", igratech_steps),
    ];
    if let Some(dir) = dir {
        out.status(format!("transcripts written to {}", dir.display()));
    }
    print_summary(out, &tallies, start.elapsed());
    Ok(if tallies.iter().all(|t| t.ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[allow(clippy::print_stdout)]
fn print_summary(out: &Out, tallies: &[Tally], total: Duration) {
    let (bold, reset) = if out.color() {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("", "")
    };
    println!();
    println!(
        "{bold}{:<12} {:>7} {:>11} {:>13} {:>9}  result{reset}",
        "protocol", "events", "reconnects", "resubscribed", "time"
    );
    for t in tallies {
        let result = if t.ok {
            "ok".to_owned()
        } else {
            format!("FAILED: {}", t.failure.as_deref().unwrap_or("?"))
        };
        println!(
            "{:<12} {:>7} {:>11} {:>13} {:>7}ms  {result}",
            t.protocol,
            t.events,
            t.reconnects,
            t.resubscribed,
            t.elapsed.as_millis()
        );
    }
    println!("{bold}total {:.2}s{reset}", total.as_secs_f64());
}

/// Waits for the next event of a connection, for at most `step`.
async fn next<S: feedwire_core::Lifecycle + 'static>(
    conn: &mut Connection<S>,
    step: Duration,
) -> Result<S::Event, String> {
    match tokio::time::timeout(step, conn.next_event()).await {
        Ok(Some(ev)) => Ok(ev),
        Ok(None) => Err("the session stopped".into()),
        Err(_) => Err(format!("nothing happened for {step:?}")),
    }
}

const PUSHER_CHANNELS: [&str; 3] = ["inventory_changes", "private-bitskins-orders", "presence-traders"];

/// Handles auth requests with the local secret; returns the event for the caller to look at.
async fn pusher_next(
    conn: &mut Connection<PusherClient>,
    step: Duration,
    who: &str,
) -> Result<PusherEvent, String> {
    let ev = next(conn, step).await?;
    if let PusherEvent::AuthRequired { socket_id, channel } = &ev {
        let (_, key, secret) = pusher::LOCAL_APP;
        let a = pusher::Authorizer::Secret {
            key: key.into(),
            secret: Secret::new(secret.into()),
            user_id: who.into(),
        };
        let auth = a.authorize(socket_id, channel)?;
        let channel = channel.clone();
        conn.session_mut()
            .provide_auth(&channel, auth)
            .map_err(|e| e.to_string())?;
    }
    Ok(ev)
}

async fn pusher_steps(
    n: &Narrator<'_>,
    step: Duration,
    tally: &mut Tally,
    rec: &Recording,
) -> Result<(), String> {
    let (app_id, key, secret) = pusher::LOCAL_APP;
    let hub = PusherHub::new(PusherHubConfig::new(app_id, key, secret).with_seed(7));
    let server = Server::bind("127.0.0.1:0", hub)
        .await
        .map_err(|e| e.to_string())?;
    let port = server.local_addr().port();
    n.say(format!(
        "hub up on ws://127.0.0.1:{port}/app/{key} (a local stand-in for notifier.bitskins.com)"
    ));
    let chans: Vec<String> = PUSHER_CHANNELS.iter().map(|s| s.to_string()).collect();
    let client = pusher::client(key, None, Some("127.0.0.1"), Some(port), false, &chans)?;
    let url = client.config().url(false);
    let mut alice = rec.attach(
        Connection::new(client),
        "pusher",
        &url,
        &[secret],
        Some(pusher::signatures),
    )?;

    // 1. connect, authorize, subscribe
    let mut subscribed = 0;
    while subscribed < chans.len() {
        match pusher_next(&mut alice, step, "alice").await? {
            PusherEvent::Connected { socket_id, .. } => n.say(format!("connected, socket id {socket_id}")),
            PusherEvent::AuthRequired { channel, .. } => n.say(format!(
                "signed {channel} with the app secret (auth is an event the app answers)"
            )),
            PusherEvent::Subscribed { channel, .. } => {
                subscribed += 1;
                n.say(format!("subscribed {channel}"));
            }
            _ => {}
        }
    }

    // 2. BitSkins-style inventory events
    let events = [
        (
            "listed",
            r#"{"asset_id":"29418923512","name":"AK-47 | Redline (Field-Tested)","price":12.5}"#,
        ),
        (
            "price_changed",
            r#"{"asset_id":"29418923512","old_price":12.5,"price":11.9}"#,
        ),
        ("extra_info", r#"{"asset_id":"29418923512","float_value":0.2514}"#),
        (
            "delisted_or_sold",
            r#"{"asset_id":"29418923512","reason":"sold"}"#,
        ),
    ];
    for (event, data) in events {
        let data = RawJson::from_value(data).map_err(|e| e.to_string())?; // string-encoded, as the server SDKs send it
        server
            .call(|hub| hub.publish(&["inventory_changes"], event, &data, None))
            .map_err(|e| e.to_string())?;
    }
    let order = RawJson::from_value(r#"{"order":"42","status":"paid"}"#).map_err(|e| e.to_string())?;
    server
        .call(|hub| hub.publish(&["private-bitskins-orders"], "order_update", &order, None))
        .map_err(|e| e.to_string())?;
    let mut got = 0;
    while got < events.len() + 1 {
        if let PusherEvent::Message {
            channel, event, data, ..
        } = pusher_next(&mut alice, step, "alice").await?
        {
            got += 1;
            tally.events += 1;
            let text = data.map(|d| d.text().into_owned()).unwrap_or_default();
            n.say(format!("{} {event}: {text}", channel.as_deref().unwrap_or("-")));
        }
    }

    // 3. presence: a second trader joins
    let bob_client = pusher::client(
        key,
        None,
        Some("127.0.0.1"),
        Some(port),
        false,
        &["presence-traders".to_string()],
    )?;
    let mut bob = Connection::new(bob_client);
    loop {
        if let PusherEvent::Subscribed { .. } = pusher_next(&mut bob, step, "bob").await? {
            break;
        }
    }
    loop {
        if let PusherEvent::MemberAdded { channel, user_id, .. } =
            pusher_next(&mut alice, step, "alice").await?
        {
            n.say(format!(
                "{channel}: {user_id} joined (members: {:?})",
                alice
                    .session()
                    .members(&channel)
                    .map(|m| m.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
            ));
            break;
        }
    }

    // 4. the server drops every connection (a deploy, a proxy restart ...)
    n.say("forcing a server-side drop (close 4200: reconnect immediately)");
    server.call(|hub| {
        let ids: Vec<_> = (0..64)
            .map(feedwire_core::ConnId)
            .filter(|c| hub.socket_id(*c).is_some())
            .collect();
        for c in ids {
            hub.disconnect(c, Close::new(4200, "demo: forced restart"));
        }
    });
    let mut resubscribed = 0;
    while resubscribed < chans.len() {
        match pusher_next(&mut alice, step, "alice").await? {
            PusherEvent::Disconnected {
                reason: DisconnectReason::Closed { close, action },
            } => n.say(format!(
                "closed ({}), next: {action:?}",
                close
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "no close frame".into())
            )),
            PusherEvent::Reconnecting { after, .. } => {
                tally.reconnects += 1;
                n.say(format!("reconnecting in {after:?}"));
            }
            PusherEvent::Resubscribed { channel, after } => {
                resubscribed += 1;
                tally.resubscribed += 1;
                n.say(format!("resubscribed {channel} after {after:?}: catch up on what was published meanwhile (BitSkins: over REST)"));
            }
            _ => {}
        }
    }
    drop(bob);

    // 5. the feed goes on
    let data = RawJson::from_value(r#"{"asset_id":"29418923513","name":"AWP | Asiimov","price":88.0}"#)
        .map_err(|e| e.to_string())?;
    server
        .call(|hub| hub.publish(&["inventory_changes"], "listed", &data, None))
        .map_err(|e| e.to_string())?;
    loop {
        if let PusherEvent::Message { event, .. } = pusher_next(&mut alice, step, "alice").await? {
            tally.events += 1;
            n.say(format!("after the reconnect: {event} arrives as before"));
            break;
        }
    }
    drop(alice);
    server.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// ActionCable: a metasmoke-style ApiChannel with an events filter, a chat channel, a server restart.

/// The next client event, hosting the hub's subscription requests (confirm + stream_from) meanwhile.
async fn cable_next(
    conn: &mut Connection<feedwire_actioncable::client::Client>,
    server: &Server<feedwire_actioncable::server::Hub>,
    step: Duration,
) -> Result<feedwire_actioncable::client::Event, String> {
    let deadline = tokio::time::Instant::now() + step;
    loop {
        tokio::select! {
            ev = conn.next_event() => return ev.ok_or_else(|| "the session stopped".to_owned()),
            hev = server.next_event() => {
                if let Some(hev) = hev {
                    server.call(|hub| actioncable::host(hub, &hev, true, None));
                }
            }
            _ = tokio::time::sleep_until(deadline) => return Err(format!("nothing happened for {step:?}")),
        }
    }
}

async fn actioncable_steps(
    n: &Narrator<'_>,
    step: Duration,
    tally: &mut Tally,
    rec: &Recording,
) -> Result<(), String> {
    use feedwire_actioncable::client::Event as E;
    use feedwire_actioncable::identifier::{ApiChannel, Identifier, ModelEvent};
    let now = Instant::now();
    let unix = crate::out::unix_ms();
    let hub = feedwire_actioncable::server::Hub::new(
        feedwire_actioncable::server::HubConfig::default()
            .with_unix_anchor(feedwire_core::UnixAnchor::new(now, unix)),
    );
    let server = Server::bind("127.0.0.1:0", hub)
        .await
        .map_err(|e| e.to_string())?;
    let url = format!("ws://{}/cable", server.local_addr());
    n.say(format!(
        "hub up on {url} (a local stand-in for metasmoke's /cable)"
    ));
    let api = ApiChannel::new("demo-api-key")
        .with_events("posts", &[ModelEvent::Create])
        .and_then(|a| a.with_events("statistics", &[ModelEvent::Create, ModelEvent::Update]))
        .and_then(|a| a.identifier())
        .map_err(|e| e.to_string())?;
    n.say(format!(
        "subscribing {api:?} (metasmoke's events filter; the API key never reaches Debug or logs)"
    ));
    let chat = Identifier::channel_only("ChatChannel");
    let client = actioncable::client(&url, &[], false, vec![api.clone(), chat.clone()], now, unix)?;
    let mut c = rec.attach(
        Connection::new(client),
        "actioncable",
        &url,
        &["demo-api-key"],
        None,
    )?;
    let mut confirmed = 0;
    while confirmed < 2 {
        match cable_next(&mut c, &server, step).await? {
            E::Connected { .. } => n.say("welcome"),
            E::Confirmed { identifier, .. } => {
                confirmed += 1;
                n.say(format!("confirmed {}", identifier.channel().unwrap_or_default()));
            }
            _ => {}
        }
    }
    let post = r#"{"event_class":"Post","event_type":"create","object":{"id":3117,"title":"Buy cheap \u003cpills\u003e"}}"#;
    server
        .call(|hub| hub.broadcast("ApiChannel", post))
        .map_err(|e| e.to_string())?;
    c.session_mut()
        .perform(&chat, "speak", serde_json::json!({"text": "spam flagged"}))
        .map_err(|e| e.to_string())?;
    let mut got = 0;
    while got < 2 {
        if let E::Message {
            identifier, message, ..
        } = cable_next(&mut c, &server, step).await?
        {
            got += 1;
            tally.events += 1;
            n.say(format!(
                "{}: {}",
                identifier.channel().unwrap_or_default(),
                message.as_str()
            ));
        }
    }
    n.say("server restart: disconnect {reason: server_restart, reconnect: true} to every connection");
    server.call(|hub| {
        let conns: Vec<_> = hub.connections().collect();
        for conn in conns {
            let _ = hub.disconnect(conn, Some("server_restart"), Some(true));
        }
    });
    loop {
        match cable_next(&mut c, &server, step * 3).await? {
            E::Reconnecting { after } => {
                tally.reconnects += 1;
                n.say(format!("disconnected, reconnecting in {after:?}"));
            }
            E::Confirmed {
                identifier,
                reconnected: true,
                ..
            } => n.say(format!(
                "resubscribed {}",
                identifier.channel().unwrap_or_default()
            )),
            E::Recovered {
                outage,
                subscriptions,
                ..
            } => {
                tally.resubscribed += subscriptions.len() as u64;
                n.say(format!(
                    "recovered after {outage:?}: {} subscriptions were down; fetch what they missed",
                    subscriptions.len()
                ));
                break;
            }
            _ => {}
        }
    }
    server
        .call(|hub| {
            hub.broadcast(
                "ApiChannel",
                r#"{"event_class":"Statistic","event_type":"update"}"#,
            )
        })
        .map_err(|e| e.to_string())?;
    loop {
        if let E::Message { .. } = cable_next(&mut c, &server, step).await? {
            tally.events += 1;
            n.say("after the restart: broadcasts arrive as before");
            break;
        }
    }
    drop(c);
    let _ = server.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Doshii: an app partner's socket, orders with heartbeats, a drop while an order is published, the replay and
// the catch-up window.

async fn doshii_steps(
    n: &Narrator<'_>,
    step: Duration,
    tally: &mut Tally,
    rec: &Recording,
) -> Result<(), String> {
    use feedwire_doshii::client::Event as E;
    let server = Server::bind("127.0.0.1:0", feedwire_doshii::server::Hub::default())
        .await
        .map_err(|e| e.to_string())?;
    let base = format!("ws://{}", server.local_addr());
    n.say(format!("mock Doshii up on {base}"));
    let client = doshii::client(
        "app",
        &base,
        Some("demo-partner"),
        None,
        None,
        None,
        Some("feedwire-demo 1.0"),
        Instant::now(),
        crate::out::unix_ms(),
    )?;
    let url = client.config().url();
    let mut c = rec.attach(Connection::new(client), "doshii", &url, &["demo-partner"], None)?;
    loop {
        match next(&mut c, step).await? {
            E::Connected { .. } => n.say("connected; the handshake ping went out at once"),
            E::Pong { stamp, .. } => {
                n.say(format!("heartbeat pong {}", stamp.as_str()));
                break;
            }
            _ => {}
        }
    }
    let order = |id: u32, status: &str| -> Result<feedwire_core::RawJson, String> {
        feedwire_core::RawJson::from_json_str(&format!(r#"{{"id":"{id}","status":"{status}","locationId":"loc-1","uri":"https://sandbox.doshii.co/partner/v3/orders/{id}"}}"#)).map_err(|e| e.to_string())
    };
    let created = order(501, "pending")?;
    let updated = order(501, "accepted")?;
    server
        .call(|hub| {
            let now = Instant::now();
            hub.publish_to_app(now, "demo-partner", "order_created", &created)?;
            hub.publish_to_app(now, "demo-partner", "order_updated", &updated)
        })
        .map_err(|e| e.to_string())?;
    let mut got = 0;
    while got < 2 {
        if let E::Doshii(ev) = next(&mut c, step).await? {
            got += 1;
            tally.events += 1;
            n.say(format!(
                "{} order {} -> {}",
                ev.name(),
                ev.data.id().unwrap_or_default(),
                ev.data.status().unwrap_or_default()
            ));
        }
    }
    n.say("dropping the connection (1012 service restart); an order changes while the app is away");
    server.call(|hub| {
        let now = Instant::now();
        let conns: Vec<_> = hub.connections().map(|(c, _)| c).collect();
        for conn in conns {
            hub.close(now, conn, feedwire_core::Close::new(1012, "restart"));
        }
    });
    let paid = order(501, "complete")?;
    server
        .call(|hub| hub.publish_to_app(Instant::now(), "demo-partner", "order_updated", &paid))
        .map_err(|e| e.to_string())?;
    let mut replayed = false;
    let mut caught_up = false;
    while !(replayed && caught_up) {
        match next(&mut c, step * 2).await? {
            E::Reconnecting { after, .. } => {
                tally.reconnects += 1;
                n.say(format!("reconnecting in {after:?}"));
            }
            E::CatchUp(w) => {
                caught_up = true;
                tally.resubscribed += 1;
                n.say(format!(
                    "catch-up window {}..{} s: GET {} (Doshii also replays up to 10 minutes itself)",
                    w.from, w.to, w.orders_updated_query
                ));
            }
            E::Doshii(ev) => {
                replayed = true;
                tally.events += 1;
                n.say(format!(
                    "replayed from the backlog: {} order {} -> {}",
                    ev.name(),
                    ev.data.id().unwrap_or_default(),
                    ev.data.status().unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
    drop(c);
    let _ = server.shutdown().await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Igratech: bets, balance and stats, then a real server restart; settings re-sent, gap reported.

async fn igratech_steps(
    n: &Narrator<'_>,
    step: Duration,
    tally: &mut Tally,
    rec: &Recording,
) -> Result<(), String> {
    use feedwire_igratech::client::Event as E;
    use feedwire_igratech::server::{Hub, HubConfig};
    let server = Server::bind("127.0.0.1:0", Hub::new(HubConfig::default()))
        .await
        .map_err(|e| e.to_string())?;
    let addr = server.local_addr();
    let url = format!("ws://{addr}/wspublic");
    n.say(format!("mock Igratech up on {url}"));
    let settings = igratech::settings(r#"{"lang":"en","oddsFormat":"decimal","gameIds":[77]}"#)?;
    let client = igratech::client(
        &url,
        Some("demo-user"),
        Some(settings),
        Instant::now(),
        crate::out::unix_ms(),
    );
    let mut c = rec.attach(Connection::new(client), "igratech", &url, &["demo-user"], None)?;
    let mut ready = (false, false);
    while !(ready.0 && ready.1) {
        match next(&mut c, step).await? {
            E::Connected { status } => {
                ready.0 = true;
                n.say(format!("connected: {}", status.raw()));
            }
            E::Settings(p) => {
                ready.1 = true;
                n.say(format!("settings applied: {}", p.raw()));
            }
            _ => {}
        }
    }
    let frames = [
        r#"{"event":"bet","data":{"gameId":77,"bets":[{"betId":"b-1","market":"1x2","outcome":"home","odds":1.85,"stake":10.0,"status":"open"}]}}"#,
        r#"{"event":"balance","data":{"balance":90.0,"currency":"EUR"}}"#,
        r#"{"event":"stats","data":{"gameId":77,"stats":{"corners":4,"shots":11}}}"#,
        r#"{"event":"incident","data":{"gameId":77,"incidents":[{"id":"i-1","type":"goal","minute":23,"team":"home","startsAt":"2026-11-28T07:00:00Z"}]}}"#,
    ];
    for f in frames {
        server.call(|hub| igratech::publish_line(hub, f))?;
    }
    let mut got = 0;
    while got < frames.len() {
        let delivered = match next(&mut c, step).await? {
            E::Bet(p) => format!("bet {}", p.raw()),
            E::Balance(p) => format!("balance {}", p.raw()),
            E::Stats(p) => format!("stats {}", p.raw()),
            E::Incident(p) => format!("incident {}", p.raw()),
            _ => continue,
        };
        got += 1;
        tally.events += 1;
        n.say(delivered);
    }
    n.say("restarting the server (the same hub, the same port)");
    let hub = server
        .shutdown()
        .await
        .unwrap_or_else(|| Hub::new(HubConfig::default()));
    let server = Server::bind(addr, hub)
        .await
        .map_err(|e| format!("rebinding {addr}: {e}"))?;
    let mut gap = false;
    let mut settings_again = false;
    while !(gap && settings_again) {
        match next(&mut c, step * 2).await? {
            E::Reconnecting { after, .. } => {
                tally.reconnects += 1;
                n.say(format!("reconnecting in {after:?}"));
            }
            E::Gap {
                from_unix_ms,
                to_unix_ms,
                ..
            } => {
                gap = true;
                tally.resubscribed += 1;
                n.say(format!(
                    "gap of {} ms: fetch bets and results of that window",
                    to_unix_ms.saturating_sub(from_unix_ms)
                ));
            }
            E::Settings(_) => {
                settings_again = true;
                n.say("settings re-sent and applied after the reconnect");
            }
            _ => {}
        }
    }
    server.call(|hub| igratech::publish_line(hub, frames[0]))?;
    loop {
        if let E::Bet(_) = next(&mut c, step).await? {
            tally.events += 1;
            n.say("after the restart: bets arrive as before");
            break;
        }
    }
    drop(c);
    let _ = server.shutdown().await;
    Ok(())
}
