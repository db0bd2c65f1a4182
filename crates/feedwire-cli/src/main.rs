//! `feedwire`: listen to, serve, decode and demonstrate real-time vendor WebSocket feeds.
//!
//! ```text
//! feedwire demo                                   # all protocols on embedded local servers
//! feedwire listen pusher --key KEY --host notifier.bitskins.com --channel inventory_changes
//! feedwire serve pusher --addr 127.0.0.1:6001     # a local Pusher server + its HTTP API; or publish stdin lines
//! feedwire decode pusher < frames.txt             # one JSON line per frame
//! ```
//!
//! Every event is one JSON object per line on stdout (schema in `out.rs` and the README); human-readable
//! status goes to stderr. Exit status: 0 on success or Ctrl-C, 1 when a frame failed to decode or the
//! service ended the session for good (unknown app, unauthorized, logged out ...), 2 on bad arguments.
#![forbid(unsafe_code)]
#![allow(clippy::disallowed_methods)] // the CLI owns the clock: it drives sans-IO sessions with real time

mod actioncable;
mod demo;
mod doshii;
mod http;
mod igratech;
mod out;
mod pusher;
mod serve_pusher;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use feedwire_tungstenite::{Connection, Server};

use crate::out::{Line, Listen, Out};

#[derive(Parser)]
#[command(
    name = "feedwire",
    version,
    about = "Listen to, serve, decode and demonstrate real-time WebSocket feeds (Pusher, ActionCable, Doshii, Igratech)."
)]
struct Cli {
    /// Indented JSON instead of one object per line.
    #[arg(long, global = true)]
    pretty: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Connect to a real service and print every event as a JSON line.
    Listen {
        #[command(subcommand)]
        protocol: ListenProtocol,
    },
    /// Run a protocol's hub as a local server for tests; publish JSON lines read from stdin.
    Serve {
        #[command(subcommand)]
        protocol: ServeProtocol,
    },
    /// Decode frames (one per line, from stdin or files) and print each as a JSON line.
    Decode(DecodeArgs),
    /// Run every protocol against embedded local servers and show what the library does.
    Demo(demo::DemoArgs),
}

#[derive(Subcommand)]
enum ListenProtocol {
    /// Pusher Channels (protocol 7): hosted Pusher, soketi, BitSkins ...
    Pusher(PusherListen),
    /// Rails ActionCable (and AnyCable): metasmoke's ApiChannel ...
    Actioncable(CableListen),
    /// Doshii (app partner, POS or vendor socket).
    Doshii(DoshiiListen),
    /// The Igratech betting feed.
    Igratech(IgratechListen),
}

/// `--host`: a host name or address, refused with what to type instead when it is a URL or carries a port.
fn host_name(s: &str) -> Result<String, String> {
    if let Some((scheme, rest)) = s.split_once("://") {
        let tls = if matches!(scheme, "ws" | "http") {
            " --no-tls"
        } else {
            ""
        };
        let (host, port) = rest
            .split('/')
            .next()
            .map_or((rest, None), |a| match a.rsplit_once(':') {
                Some((h, p)) if p.parse::<u16>().is_ok() => (h, Some(p)),
                _ => (a, None),
            });
        let port = port.map(|p| format!(" --port {p}")).unwrap_or_default();
        return Err(format!("a host name, not a URL: try --host {host}{port}{tls}"));
    }
    if s.is_empty() || s.contains('/') {
        return Err("a host name such as notifier.bitskins.com".to_owned());
    }
    if let Some((host, port)) = s.rsplit_once(':')
        && !host.contains(':')
        && port.parse::<u16>().is_ok()
    {
        return Err(format!(
            "the port goes in --port: try --host {host} --port {port}"
        ));
    }
    Ok(s.to_owned())
}

/// `--url` of a WebSocket endpoint: ws:// or wss://, refused with the matching ws scheme for http(s)://.
fn ws_url(s: &str) -> Result<String, String> {
    match s.split_once("://") {
        Some(("ws" | "wss", rest)) if !rest.is_empty() => Ok(s.to_owned()),
        Some(("http", rest)) => Err(format!("a WebSocket URL: try ws://{rest}")),
        Some(("https", rest)) => Err(format!("a WebSocket URL: try wss://{rest}")),
        _ => Err("a WebSocket URL starting with ws:// or wss://".to_owned()),
    }
}

#[derive(Args)]
struct CableListen {
    /// The cable URL (metasmoke: wss://metasmoke.erwaysoftware.com/cable).
    #[arg(long, value_parser = ws_url)]
    url: String,
    /// The channel class (ApiChannel, ChatChannel ...).
    #[arg(long)]
    channel: String,
    /// An identifier parameter, in order (repeat): `--param key=KEY --param events=posts#create`.
    #[arg(long = "param")]
    params: Vec<String>,
    /// An extra request header (repeat): `--header 'Cookie: a=b'`.
    #[arg(long = "header")]
    headers: Vec<String>,
    /// Speak AnyCable's extended protocol (session restore, history).
    #[arg(long)]
    ext: bool,
    /// Stop after this many `message` events.
    #[arg(long)]
    count: Option<u64>,
}

#[derive(Args)]
struct DoshiiListen {
    /// `sandbox`, `live`, or a host / base URL (`ws://127.0.0.1:9000` for a mock).
    #[arg(long, default_value = "sandbox")]
    env: String,
    /// `app`, `app-v3`, `pos` or `vendor`.
    #[arg(long, default_value = "app")]
    role: String,
    /// The app partner's client id (base64- and URL-encoded into `auth` for you; never printed).
    #[arg(long, env = "DOSHII_CLIENT_ID", hide_env_values = true)]
    client_id: Option<String>,
    /// The v3 device id.
    #[arg(long)]
    device_id: Option<String>,
    /// The POS location token or the vendor JWT.
    #[arg(long, env = "DOSHII_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The vendor's API name.
    #[arg(long)]
    vendor: Option<String>,
    /// The version sent in heartbeats.
    #[arg(long)]
    app_version: Option<String>,
    /// Stop after this many `message` events.
    #[arg(long)]
    count: Option<u64>,
}

#[derive(Args)]
struct IgratechListen {
    /// The feed URL.
    #[arg(long, default_value = "ws://ws.igratech.webspark.dev/wspublic", value_parser = ws_url)]
    url: String,
    /// The session token, if the feed wants one.
    #[arg(long, env = "IGRATECH_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Settings to send (and re-send after every reconnect): `{"lang":"en","oddsFormat":"decimal","gameIds":[1]}`.
    #[arg(long)]
    settings: Option<String>,
    /// Stop after this many `message` events.
    #[arg(long)]
    count: Option<u64>,
}

#[derive(Args)]
struct PusherListen {
    /// The app key.
    #[arg(long)]
    key: String,
    /// A hosted Pusher cluster (ws-CLUSTER.pusher.com).
    #[arg(long, conflicts_with = "host")]
    cluster: Option<String>,
    /// A custom host (BitSkins: notifier.bitskins.com), without scheme or path; the port goes in --port.
    #[arg(long, value_parser = host_name)]
    host: Option<String>,
    /// The port (default 443 with TLS, 80 without).
    #[arg(long)]
    port: Option<u16>,
    /// Plain ws:// instead of wss://.
    #[arg(long)]
    no_tls: bool,
    /// A channel to subscribe to (repeat for more).
    #[arg(long = "channel", required = true)]
    channels: Vec<String>,
    /// Print only these events (repeat for more); status events are always printed.
    #[arg(long = "event")]
    events: Vec<String>,
    /// Authorize private/presence channels by POSTing socket_id and channel_name here (http:// or https://).
    #[arg(long, conflicts_with = "secret")]
    auth_endpoint: Option<String>,
    /// Also trust the CA certificates in this PEM file, for wss:// and an https:// auth endpoint (private
    /// servers); the public web roots stay trusted.
    #[arg(long)]
    ca_file: Option<std::path::PathBuf>,
    /// Sign private/presence channels locally with the app secret (local testing only). Unlike `serve`,
    /// `listen` reads no PUSHER_APP_SECRET from the environment: exported for a server, it would silently
    /// turn a listener into a signer.
    #[arg(long)]
    secret: Option<String>,
    /// The presence user id used with --secret.
    #[arg(long, default_value = "feedwire-cli")]
    user_id: String,
    /// Stop after this many `message` events (default: run until Ctrl-C).
    #[arg(long)]
    count: Option<u64>,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once at startup: its size is irrelevant
enum ServeProtocol {
    /// A local Pusher server (soketi's defaults: app-id / app-key / app-secret) and its HTTP API, one port.
    ///
    /// The port of `--addr` serves the WebSocket endpoint (`ws://ADDR/app/KEY`) and the Channels HTTP API
    /// (`POST /apps/ID/events` and `/batch_events`, `GET /apps/ID/channels`, `/channels/NAME`,
    /// `/channels/NAME/users`), signed as hosted Pusher signs it, so the official `pusher` server SDKs can
    /// trigger through it: `new Pusher({ appId: 'app-id', key: 'app-key', secret: 'app-secret', host:
    /// '127.0.0.1', port: '6001', useTLS: false })`. Lines written to stdin are published too:
    /// `{"channel":"my-channel","event":"my-event","data":{..}}`.
    Pusher(serve_pusher::PusherServe),
    /// A local ActionCable server on /cable: confirms every subscription, streams it from its channel name,
    /// rejects `Reject*` channels; publish `{"stream":"ChatChannel","message":..}` lines.
    Actioncable(CableServe),
    /// A mock Doshii; publish `{"client_id":..,"event":"order_created","data":..}` lines.
    Doshii(DoshiiServe),
    /// A mock Igratech feed; publish `{"event":"bet","data":..}` lines.
    Igratech(IgratechServe),
}

#[derive(Args)]
struct CableServe {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:28080")]
    addr: SocketAddr,
    /// Echo every `perform` to the channel's stream.
    #[arg(long)]
    echo: bool,
    /// Also speak AnyCable's extended protocol: offer `actioncable-v1-ext-json` (session recovery with
    /// `restored`, stream history) to clients that ask for it, such as @anycable/core with
    /// `protocol: 'actioncable-v1-ext-json'`; `actioncable-v1-json` clients are served as before.
    #[arg(long)]
    anycable: bool,
}

#[derive(Args)]
struct DoshiiServe {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:9000")]
    addr: SocketAddr,
}

#[derive(Args)]
struct IgratechServe {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:9100")]
    addr: SocketAddr,
}

#[derive(Args)]
struct DecodeArgs {
    /// Which protocol's frames.
    protocol: Protocol,
    /// `in`: frames a client receives; `out`: frames a client sends.
    #[arg(long, value_enum, default_value = "in")]
    direction: Direction,
    /// Files to read (default: stdin). Each line is one frame; empty lines are skipped.
    files: Vec<std::path::PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Protocol {
    Pusher,
    Actioncable,
    Doshii,
    Igratech,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Direction {
    In,
    Out,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out::new(cli.pretty);
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            out.error(format!("cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Decode(args) => decode(&out, args),
        Command::Listen { protocol } => rt.block_on(listen(&out, protocol)),
        Command::Serve { protocol } => rt.block_on(serve(&out, protocol)),
        Command::Demo(args) => rt.block_on(demo::run(&out, args)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            out.error(e);
            ExitCode::FAILURE
        }
    }
}

fn decode(out: &Out, args: DecodeArgs) -> Result<ExitCode, String> {
    let mut inputs: Vec<Box<dyn BufRead>> = Vec::new();
    if args.files.is_empty() {
        inputs.push(Box::new(std::io::stdin().lock()));
    }
    for f in &args.files {
        let file = std::fs::File::open(f).map_err(|e| format!("{}: {e}", f.display()))?;
        inputs.push(Box::new(std::io::BufReader::new(file)));
    }
    let outbound = args.direction == Direction::Out;
    let mut failed = 0u64;
    let mut total = 0u64;
    for input in inputs {
        for line in input.split(b'\n') {
            let line = line.map_err(|e| e.to_string())?;
            let text = match String::from_utf8(line) {
                Ok(t) => t,
                Err(e) => {
                    failed += 1;
                    total += 1;
                    out.line(
                        Line::new(protocol_name(args.protocol), "error")
                            .with("error", format!("not UTF-8: {e}")),
                    );
                    continue;
                }
            };
            let text = text.trim_end_matches('\r');
            if text.trim().is_empty() {
                continue;
            }
            total += 1;
            let line = match args.protocol {
                Protocol::Pusher => pusher::decode(text, outbound),
                Protocol::Actioncable => actioncable::decode(text, outbound),
                Protocol::Doshii => doshii::decode(text, outbound),
                Protocol::Igratech => igratech::decode(text, outbound),
            };
            if line.get("error").is_some() {
                failed += 1;
            }
            out.line(line);
        }
    }
    out.status(format!("decoded {total} frames, {failed} failed"));
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Pusher => pusher::NAME,
        Protocol::Actioncable => actioncable::NAME,
        Protocol::Doshii => doshii::NAME,
        Protocol::Igratech => igratech::NAME,
    }
}

async fn listen(out: &Out, protocol: ListenProtocol) -> Result<ExitCode, String> {
    match protocol {
        ListenProtocol::Pusher(a) => {
            // one TLS configuration for the wss:// connection and an https:// auth endpoint
            let tls = crate::http::tls_config(a.ca_file.as_deref())?;
            let authorizer = match (&a.auth_endpoint, &a.secret) {
                (Some(url), _) => pusher::Authorizer::Endpoint {
                    url: url.clone(),
                    tls: tls.clone(),
                },
                (None, Some(s)) => pusher::Authorizer::Secret {
                    key: a.key.clone(),
                    secret: feedwire_core::Secret::new(s.clone()),
                    user_id: a.user_id.clone(),
                },
                (None, None) => pusher::Authorizer::None,
            };
            let client = pusher::client(
                &a.key,
                a.cluster.as_deref(),
                a.host.as_deref(),
                a.port,
                !a.no_tls,
                &a.channels,
            )?;
            out.status(format!(
                "connecting to {}",
                client.config().url(!a.no_tls).split('?').next().unwrap_or("")
            ));
            let mut config = feedwire_tungstenite::ClientConfig::default();
            if a.ca_file.is_some() {
                config = config.with_tls(tls);
            }
            let mut conn = Connection::with_config(client, config);
            let mut messages = 0u64;
            loop {
                let Some(ev) = next_or_interrupted(out, &mut conn).await else {
                    return Ok(ExitCode::SUCCESS);
                };
                if let feedwire_pusher::client::Event::AuthRequired { socket_id, channel } = &ev {
                    let answer = authorizer.authorize(socket_id, channel).await;
                    let channel = channel.clone();
                    let s = conn.session_mut();
                    let r = match answer {
                        Ok(auth) => s.provide_auth(&channel, auth),
                        Err(reason) => {
                            out.error(&reason);
                            s.fail_auth(&channel, &reason)
                        }
                    };
                    if let Err(e) = r {
                        out.error(format!("auth for {channel}: {e}"));
                    }
                }
                if let Some(why) = pusher::terminal_error(&ev) {
                    out.line(pusher::event_line(&ev));
                    out.error(why);
                    return Ok(ExitCode::FAILURE);
                }
                if let feedwire_pusher::client::Event::Message { event, .. } = &ev {
                    if !a.events.is_empty() && !a.events.iter().any(|e| **e == **event) {
                        continue;
                    }
                    messages += 1;
                }
                out.line(pusher::event_line(&ev));
                if a.count.is_some_and(|n| messages >= n) {
                    return Ok(ExitCode::SUCCESS);
                }
            }
        }
        ListenProtocol::Actioncable(a) => {
            let id = actioncable::identifier(&a.channel, &a.params)?;
            let client = actioncable::client(
                &a.url,
                &a.headers,
                a.ext,
                vec![id],
                Instant::now(),
                out::unix_ms(),
            )?;
            out.status(format!("connecting to {}", a.url.split('?').next().unwrap_or("")));
            run_listen(out, Connection::new(client), a.count, actioncable::LISTEN).await
        }
        ListenProtocol::Doshii(a) => {
            let client = doshii::client(
                &a.role,
                &a.env,
                a.client_id.as_deref(),
                a.device_id.as_deref(),
                a.token.as_deref(),
                a.vendor.as_deref(),
                a.app_version.as_deref(),
                Instant::now(),
                out::unix_ms(),
            )?;
            out.status(format!("connecting to Doshii ({})", a.env));
            run_listen(out, Connection::new(client), a.count, doshii::LISTEN).await
        }
        ListenProtocol::Igratech(a) => {
            let settings = a.settings.as_deref().map(igratech::settings).transpose()?;
            let client = igratech::client(
                &a.url,
                a.token.as_deref(),
                settings,
                Instant::now(),
                out::unix_ms(),
            );
            out.status(format!("connecting to {}", a.url.split('?').next().unwrap_or("")));
            run_listen(out, Connection::new(client), a.count, igratech::LISTEN).await
        }
    }
}

/// The connection's next event; `None` when the session ended, or on Ctrl-C (said on stderr).
async fn next_or_interrupted<S>(out: &Out, conn: &mut Connection<S>) -> Option<S::Event>
where
    S: feedwire_core::Lifecycle + Send + 'static,
{
    tokio::select! {
        ev = conn.next_event() => ev,
        _ = tokio::signal::ctrl_c() => {
            out.status("interrupted");
            None
        }
    }
}

/// The listen loop shared by the protocols without auth round trips.
async fn run_listen<S>(
    out: &Out,
    mut conn: Connection<S>,
    count: Option<u64>,
    listen: Listen<S>,
) -> Result<ExitCode, String>
where
    S: feedwire_core::Lifecycle + Send + 'static,
{
    let Listen {
        line,
        terminal,
        is_message,
    } = listen;
    let mut messages = 0u64;
    loop {
        let Some(ev) = next_or_interrupted(out, &mut conn).await else {
            return Ok(ExitCode::SUCCESS);
        };
        out.line(line(&ev));
        if let Some(why) = terminal(&ev) {
            out.error(why);
            return Ok(ExitCode::FAILURE);
        }
        if is_message(&ev) {
            messages += 1;
            if count.is_some_and(|n| messages >= n) {
                return Ok(ExitCode::SUCCESS);
            }
        }
    }
}

async fn serve(out: &Out, protocol: ServeProtocol) -> Result<ExitCode, String> {
    // event lines never block the server: a stdout that does not keep up loses lines, counted
    out::nonblocking_stdout();
    match protocol {
        ServeProtocol::Pusher(a) => serve_pusher::run(out, a).await,
        ServeProtocol::Actioncable(a) => {
            let addr = a.addr;
            let hub = feedwire_actioncable::server::Hub::new(
                feedwire_actioncable::server::HubConfig::default()
                    .with_anycable(a.anycable)
                    .with_seed(out::unix_ms())
                    .with_unix_anchor(feedwire_core::UnixAnchor::new(Instant::now(), out::unix_ms())),
            );
            let echo = a.echo;
            serve_loop(
                out,
                bind(out, addr, hub, "ws://{addr}/cable").await?,
                move |hub, ev| actioncable::host(hub, ev, echo),
                actioncable::publish_line,
            )
            .await
        }
        ServeProtocol::Doshii(a) => {
            let addr = a.addr;
            serve_loop(
                out,
                bind(
                    out,
                    addr,
                    feedwire_doshii::server::Hub::default(),
                    "ws://{addr}/app/socket?auth=..",
                )
                .await?,
                |_, ev| doshii::hub_line(ev),
                |hub, line| doshii::publish_line(hub, Instant::now(), line),
            )
            .await
        }
        ServeProtocol::Igratech(a) => {
            let addr = a.addr;
            let hub = feedwire_igratech::server::Hub::new(feedwire_igratech::server::HubConfig::default());
            serve_loop(
                out,
                bind(out, addr, hub, "ws://{addr}/wspublic").await?,
                |_, ev| igratech::hub_line(ev),
                igratech::publish_line,
            )
            .await
        }
    }
}

/// The serve loop shared by the protocols: hub events become lines (through `host`, which may act on the
/// hub), stdin lines are published through `publish`.
async fn bind<H>(out: &Out, addr: SocketAddr, hub: H, url_template: &str) -> Result<Server<H>, String>
where
    H: feedwire_core::Hub + Send + 'static,
    H::Event: Send,
{
    let server = Server::bind(addr, hub)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    out.status(format!(
        "listening on {}; publish by writing JSON lines to stdin",
        url_template.replace("{addr}", &server.local_addr().to_string())
    ));
    Ok(server)
}

/// The serve loop shared by every protocol: hub events become lines (through `host`, which may act on the
/// hub), stdin lines are published through `publish`, until Ctrl-C.
async fn serve_loop<H>(
    out: &Out,
    server: Server<H>,
    host: impl Fn(&mut H, &H::Event) -> Line,
    publish: impl Fn(&mut H, &str) -> Result<usize, String> + Clone + Send + 'static,
) -> Result<ExitCode, String>
where
    H: feedwire_core::Hub + Send + 'static,
    H::Event: Send,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdin_open = true;
    loop {
        tokio::select! {
            ev = server.next_event() => match ev {
                Some(ev) => {
                    let line = server.call(|hub| host(hub, &ev));
                    out.line(line);
                }
                None => break,
            },
            line = rx.recv(), if stdin_open => match line {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => {
                    let publish = publish.clone();
                    match server.call(move |hub| publish(hub, &line)) {
                        Ok(n) => out.status(format!("published to {n} connections")),
                        Err(e) => out.error(e),
                    }
                }
                None => stdin_open = false,
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    let _ = server.shutdown().await;
    let dropped = out::flush_stdout(std::time::Duration::from_secs(1));
    if dropped > 0 {
        out.status(format!(
            "{dropped} event lines were dropped: stdout did not keep up"
        ));
    }
    Ok(ExitCode::SUCCESS)
}
