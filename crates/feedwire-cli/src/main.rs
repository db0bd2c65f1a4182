//! `feedwire`: listen to, serve, decode and demonstrate real-time vendor WebSocket feeds.
//!
//! ```text
//! feedwire demo                                   # all protocols on embedded local servers
//! feedwire listen pusher --key KEY --host notifier.bitskins.com --channel inventory_changes
//! feedwire serve pusher --addr 127.0.0.1:6001     # a local Pusher server + its HTTP API; or publish stdin lines
//! feedwire decode pusher < frames.txt             # one JSON line per frame (or a transcript's frames)
//! feedwire replay session.jsonl --port 6001        # serve a recorded session to any client
//! ```
//!
//! Every event is one JSON object per line on stdout (schema in `out.rs` and the README); human-readable
//! status goes to stderr (why each connection failed, once per change of reason, with a hint; `-v` and
//! `RUST_LOG` add the libraries' tracing). Exit status: 0 on success or Ctrl-C (after a close frame), 1 when a
//! frame failed to decode or nothing `listen` was asked for can arrive any more (the service ended the session
//! for good: unknown app, unauthorized, logged out ...; or every channel failed for good), 2 on bad arguments
//! and on input that cannot work (refused before dialing, with what to type instead).
#![forbid(unsafe_code)]
#![allow(clippy::disallowed_methods)] // the CLI owns the clock: it drives sans-IO sessions with real time

mod actioncable;
mod decode;
mod demo;
mod doshii;
mod igratech;
mod listen;
mod out;
mod pusher;
mod record;
mod replay;
mod serve_pusher;
mod tls;

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
use feedwire_tungstenite::Server;

use crate::out::{Line, Out};

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
    /// Show the libraries' diagnostics on stderr (-v: debug, -vv: trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
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
    /// Listen like `listen`, and write the session as a transcript (--out FILE) for replay, decode and tests.
    Record {
        #[command(flatten)]
        opts: record::RecordOpts,
        #[command(subcommand)]
        protocol: ListenProtocol,
    },
    /// Run a protocol's hub as a local server for tests; publish JSON lines read from stdin.
    Serve {
        #[command(subcommand)]
        protocol: ServeProtocol,
    },
    /// Decode frames (one per line, or a transcript, from stdin or files) and print each as a JSON line.
    Decode(DecodeArgs),
    /// Run every protocol against embedded local servers and show what the library does.
    Demo(demo::DemoArgs),
    /// Serve a recorded transcript's server side to any WebSocket client, and report where it differs.
    Replay(replay::ReplayArgs),
}

#[derive(Subcommand)]
enum ListenProtocol {
    /// Pusher Channels (protocol 7): hosted Pusher, soketi, BitSkins ...
    Pusher(pusher::ListenArgs),
    /// Rails ActionCable (and AnyCable): metasmoke's ApiChannel ...
    Actioncable(actioncable::ListenArgs),
    /// Doshii (app partner, POS or vendor socket).
    Doshii(doshii::ListenArgs),
    /// The Igratech betting feed.
    Igratech(igratech::ListenArgs),
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
    #[command(flatten)]
    tls: tls::ServeTls,
    /// Echo every `perform` to the channel's stream.
    #[arg(long)]
    echo: bool,
    /// Also speak AnyCable's extended protocol: offer `actioncable-v1-ext-json` (session recovery with
    /// `restored`, stream history) to clients that ask for it, such as @anycable/core with
    /// `protocol: 'actioncable-v1-ext-json'`; `actioncable-v1-json` clients are served as before.
    #[arg(long)]
    anycable: bool,
    /// Share broadcasts over Redis in the format of Rails' `redis` adapter (`redis://127.0.0.1:6379`): a
    /// Rails application with `adapter: redis` on the same Redis and prefix, and other `serve actioncable
    /// --redis` servers, reach this server's clients, and this server's broadcasts reach theirs.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// The `channel_prefix` of the Rails application's `cable.yml` (Redis channels are `PREFIX:stream`;
    /// default: none, as in Rails).
    #[arg(long, value_name = "PREFIX", requires = "redis")]
    redis_prefix: Option<String>,
}

#[derive(Args)]
struct DoshiiServe {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:9000")]
    addr: SocketAddr,
    #[command(flatten)]
    tls: tls::ServeTls,
}

#[derive(Args)]
struct IgratechServe {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:9100")]
    addr: SocketAddr,
    #[command(flatten)]
    tls: tls::ServeTls,
}

#[derive(Args)]
struct DecodeArgs {
    /// Which protocol's frames.
    protocol: Protocol,
    /// `in`: frames a client receives; `out`: frames a client sends.
    #[arg(long, value_enum, default_value = "in")]
    direction: Direction,
    /// Files to read (default: stdin). Each line is one frame; empty lines are skipped. A transcript (its
    /// first line a `feedwire_transcript` header) is read as one: its frames in both directions, with their
    /// `t` and `conn`.
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
    if let Err((protocol, message)) = check(&cli) {
        let mut cmd = Cli::command();
        cmd.build();
        let command = match cli.command {
            Command::Record { .. } => "record",
            _ => "listen",
        };
        let sub = cmd
            .find_subcommand_mut(command)
            .and_then(|l| l.find_subcommand_mut(protocol));
        match sub {
            Some(sub) => sub
                .error(clap::error::ErrorKind::MissingRequiredArgument, message)
                .exit(),
            None => cmd
                .error(clap::error::ErrorKind::MissingRequiredArgument, message)
                .exit(),
        }
    }
    init_tracing(cli.verbose);
    let out = Out::new(cli.pretty);
    // `serve` runs a worker thread per core (its connections' reads and writes spread over them); the clients
    // (`listen`, `record`, `demo`, `replay`) need only one thread
    let rt = match &cli.command {
        Command::Serve { .. } => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            out.error(format!("cannot start the runtime: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Decode(args) => decode::run(&out, args),
        Command::Listen { protocol } => rt.block_on(listen(&out, protocol, &record::Recording::off())),
        Command::Record { opts, protocol } => {
            rt.block_on(listen(&out, protocol, &record::Recording::to(opts)))
        }
        Command::Serve { protocol } => rt.block_on(serve(&out, protocol)),
        Command::Demo(args) => rt.block_on(demo::run(&out, args)),
        Command::Replay(args) => rt.block_on(replay::run(&out, args)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            out.error(e);
            ExitCode::FAILURE
        }
    }
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Pusher => pusher::NAME,
        Protocol::Actioncable => actioncable::NAME,
        Protocol::Doshii => doshii::NAME,
        Protocol::Igratech => igratech::NAME,
    }
}

/// `feedwire listen`: each protocol module owns its loop.
async fn listen(out: &Out, protocol: ListenProtocol, rec: &record::Recording) -> Result<ExitCode, String> {
    match protocol {
        ListenProtocol::Pusher(a) => pusher::listen(out, a, rec).await,
        ListenProtocol::Actioncable(a) => actioncable::listen(out, a, rec).await,
        ListenProtocol::Doshii(a) => doshii::listen(out, a, rec).await,
        ListenProtocol::Igratech(a) => igratech::listen(out, a, rec).await,
    }
}

/// Refuses, before anything is dialled, arguments that each parse but cannot work together (exit 2, with
/// what to add).
fn check(cli: &Cli) -> Result<(), (&'static str, String)> {
    let protocol = match &cli.command {
        Command::Listen { protocol } => protocol,
        Command::Record { opts, protocol } => {
            if opts.out.is_none() {
                return Err((
                    "record",
                    "record needs --out FILE: where the transcript goes".into(),
                ));
            }
            protocol
        }
        _ => return Ok(()),
    };
    match protocol {
        ListenProtocol::Pusher(a) => pusher::check(a).map_err(|e| ("pusher", e)),
        ListenProtocol::Actioncable(a) => actioncable::check(a).map_err(|e| ("actioncable", e)),
        _ => Ok(()),
    }
}

/// Installs the tracing subscriber (stderr): `RUST_LOG` when set, else `-v` shows the libraries' debug
/// diagnostics (why a dial or connection failed) and `-vv` everything they trace.
fn init_tracing(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    const CRATES: [&str; 7] = [
        "feedwire",
        "feedwire_core",
        "feedwire_pusher",
        "feedwire_actioncable",
        "feedwire_doshii",
        "feedwire_igratech",
        "feedwire_tungstenite",
    ];
    let filter = match std::env::var("RUST_LOG") {
        Ok(f) if !f.trim().is_empty() => EnvFilter::try_new(f).unwrap_or_else(|_| EnvFilter::new("warn")),
        _ => {
            let level = match verbose {
                0 => "warn",
                1 => "debug",
                _ => "trace",
            };
            let base = if verbose >= 2 { "debug" } else { "warn" };
            let mut f = EnvFilter::new(base);
            for c in CRATES {
                if let Ok(d) = format!("{c}={level}").parse() {
                    f = f.add_directive(d);
                }
            }
            f
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn serve(out: &Out, protocol: ServeProtocol) -> Result<ExitCode, String> {
    // event lines never block the server: a stdout that does not keep up loses lines, counted
    out::nonblocking_stdout();
    let metrics = Metrics::default();
    match protocol {
        ServeProtocol::Pusher(a) => serve_pusher::run(out, a, &metrics).await,
        ServeProtocol::Actioncable(a) => {
            let addr = a.addr;
            let hub = feedwire_actioncable::server::Hub::new(
                feedwire_actioncable::server::HubConfig::default()
                    .with_anycable(a.anycable)
                    .with_stream_events(a.redis.is_some())
                    .with_seed(out::unix_ms())
                    .with_unix_anchor(feedwire_core::UnixAnchor::new(Instant::now(), out::unix_ms())),
            );
            let echo = a.echo;
            let server = bind(out, addr, hub, "ws://{addr}/cable", &metrics, &a.tls).await?;
            let broker = match &a.redis {
                Some(url) => {
                    let config = feedwire_redis::LinkConfig::new(url.clone());
                    out.status(format!(
                        "broadcasts shared over Redis {} (channels {})",
                        config.redacted_url(),
                        a.redis_prefix
                            .as_deref()
                            .map_or("STREAM".to_owned(), |p| format!("{p}:STREAM"))
                    ));
                    let broker = feedwire_redis::actioncable::CableBroker::start(
                        config,
                        a.redis_prefix.clone(),
                        server.handle(),
                    )
                    .map_err(|e| e.to_string())?;
                    report_link(*out, broker.link().watch_state());
                    broker.link().register_metrics(&mut lock(&metrics));
                    Some(std::sync::Arc::new(broker))
                }
                None => None,
            };
            let b = broker.clone();
            serve_loop(
                out,
                server,
                move |hub, ev| {
                    if b.as_ref().is_some_and(|b| b.handle_event(ev)) {
                        return None;
                    }
                    Some(actioncable::host(hub, ev, echo, b.as_deref()))
                },
                move |hub, line| actioncable::publish_line(hub, line, broker.as_deref()),
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
                    &metrics,
                    &a.tls,
                )
                .await?,
                |_, ev| Some(doshii::hub_line(ev)),
                |hub, line| published(doshii::publish_line(hub, Instant::now(), line)),
            )
            .await
        }
        ServeProtocol::Igratech(a) => {
            let addr = a.addr;
            let hub = feedwire_igratech::server::Hub::new(feedwire_igratech::server::HubConfig::default());
            serve_loop(
                out,
                bind(out, addr, hub, "ws://{addr}/wspublic", &metrics, &a.tls).await?,
                |_, ev| Some(igratech::hub_line(ev)),
                |hub, line| published(igratech::publish_line(hub, line)),
            )
            .await
        }
    }
}

/// Answers an HTTP API call through `handle` and logs it on stderr: method, path, status and the time taken
/// (never the query or the body, which carry the signature and the payload).
pub(crate) fn logged(
    out: &Out,
    req: feedwire_tungstenite::HttpRequest,
    handle: impl FnOnce(feedwire_tungstenite::HttpRequest) -> feedwire_tungstenite::HttpResponse,
) -> feedwire_tungstenite::HttpResponse {
    let started = Instant::now();
    let (method, path) = (req.method.clone(), req.path.clone());
    let resp = handle(req);
    out.status(format!(
        "http {method} {path} {} in {:.1} ms",
        resp.status,
        started.elapsed().as_secs_f64() * 1000.0
    ));
    resp
}

/// The serve loop shared by the protocols: hub events become lines (through `host`, which may act on the
/// hub), stdin lines are published through `publish`.
async fn bind<H>(
    out: &Out,
    addr: SocketAddr,
    hub: H,
    url_template: &str,
    metrics: &Metrics,
    tls: &tls::ServeTls,
) -> Result<Server<H>, String>
where
    H: feedwire_core::Hub + Send + 'static,
    H::Event: Send,
{
    let mut config = feedwire_tungstenite::ServerConfig::default().with_metrics(metrics.clone());
    if let Some(t) = tls.server_config()? {
        config = config.with_tls(t);
    }
    let server = Server::builder(hub)
        .config(config)
        .bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    out.status(format!(
        "listening on {}; publish by writing JSON lines to stdin",
        url_template
            .replace("ws://", &format!("{}://", tls.schemes().0))
            .replace("{addr}", &server.local_addr().to_string())
    ));
    Ok(server)
}

/// The registry `serve` answers `GET /metrics` from: the server's figures, and the Redis link's with `--redis`.
pub(crate) type Metrics = std::sync::Arc<std::sync::Mutex<prometheus_client::registry::Registry>>;

/// What `serve` says of a stdin line published to `n` connections.
pub(crate) fn published(r: Result<usize, String>) -> Result<String, String> {
    r.map(|n| format!("published to {n} connections"))
}

/// The registry, also after a panic elsewhere (it holds no invariant a panic could break).
pub(crate) fn lock(m: &Metrics) -> std::sync::MutexGuard<'_, prometheus_client::registry::Registry> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Says on stderr each time a Redis link goes down or comes back.
pub(crate) fn report_link(out: Out, mut state: tokio::sync::watch::Receiver<feedwire_redis::LinkState>) {
    tokio::spawn(async move {
        use feedwire_redis::LinkState;
        // from the link's first state: it runs on a thread of its own and may have changed already
        let mut was = LinkState::Connecting;
        loop {
            let now = *state.borrow_and_update();
            match (was, now) {
                (_, LinkState::Down) if was != now => out.error(
                    "redis is unreachable: this server keeps serving its own clients; other servers' messages are missed until it is back (retrying)",
                ),
                (LinkState::Down, LinkState::Up) => {
                    out.status("redis is back: sharing again")
                }
                (_, LinkState::Up) if was != now => out.status("redis connected"),
                _ => {}
            }
            was = now;
            if state.changed().await.is_err() {
                break;
            }
        }
    });
}

/// The serve loop shared by every protocol: hub events become lines (through `host`, which may act on the
/// hub, and returns `None` for an event that is not for the user's eyes), stdin lines are published through
/// `publish` (which returns what to say), until Ctrl-C or SIGTERM; then the server shuts down
/// gracefully: the hub tells its clients the protocol's "reconnect now" (`Hub::handle_shutdown`: Pusher 4200,
/// ActionCable `disconnect` with `server_restart`), and waits for them to close.
async fn serve_loop<H>(
    out: &Out,
    server: Server<H>,
    host: impl Fn(&mut H, &H::Event) -> Option<Line>,
    publish: impl Fn(&mut H, &str) -> Result<String, String> + Clone + Send + 'static,
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
    let stop = stop_signal(*out);
    let mut hints_said: Vec<String> = Vec::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            ev = server.next_event() => match ev {
                Some(ev) => {
                    let Some(line) = server.call(|hub| host(hub, &ev)) else { continue };
                    // a refusal with an obvious fix (client events off) is said once on stderr too
                    if let Some(hint) = line.get("hint").and_then(|h| h.as_str())
                        && !hints_said.iter().any(|h| h == hint)
                    {
                        let kind = line.get("kind").and_then(|k| k.as_str()).unwrap_or("refused");
                        out.error(format!("{}: {hint}", kind.replace('_', " ")));
                        hints_said.push(hint.to_owned());
                    }
                    out.line(line);
                }
                None => break,
            },
            line = rx.recv(), if stdin_open => match line {
                Some(line) if line.trim().is_empty() => {}
                Some(line) => {
                    let publish = publish.clone();
                    match server.call(move |hub| publish(hub, &line)) {
                        Ok(said) => out.status(said),
                        Err(e) => out.error(e),
                    }
                }
                None => stdin_open = false,
            },
            _ = &mut stop => break,
        }
    }
    out.status("shutting down: closing every connection gracefully");
    let _ = server.shutdown_gracefully(SHUTDOWN_GRACE).await;
    let dropped = out::flush_stdout(std::time::Duration::from_secs(1));
    if dropped > 0 {
        out.status(format!(
            "{dropped} event lines were dropped: stdout did not keep up"
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// How long `serve` waits for its clients to close after the hub said goodbye (then it closes them with 1001).
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Completes on Ctrl-C or SIGTERM (`kill`, `docker stop`, systemd), saying which.
async fn stop_signal(out: Out) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => out.status("interrupted"),
                _ = term.recv() => out.status("terminated (SIGTERM)"),
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    out.status("interrupted");
}
