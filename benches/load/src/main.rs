//! `feedwire-load`: the load generator of `benches/load/run.sh` (see `benches/load/README.md`).
//!
//! ```text
//! feedwire-load run --name feedwire --ws 127.0.0.1:6001[,127.0.0.1:6002] --http 127.0.0.1:6001 \
//!     --pids PID[,PID] --n 10000 --out feedwire.json [--fanout-events 20 --single-events 10000 ...]
//! feedwire-load report --out results/DATE.json [--meta key=value ...] feedwire=feedwire.json soketi=soketi.json
//! ```
//!
//! `run` drives one server (or one cluster) through every phase and writes the raw numbers as JSON; `report`
//! puts two of them side by side, prints the markdown table and writes the combined JSON.

// A load generator owns its clocks and sleeps (the workspace bans them in the sans-IO crates).
#![allow(clippy::disallowed_methods)]

mod api;
mod procfs;
mod pusher;
mod report;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use crate::api::{Api, PostStats};
use crate::procfs::Sample;
use crate::pusher::{SubResult, Tally};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Microseconds since the generator's epoch: the clock of publish stamps and receive times (one process).
pub fn now_us() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// `--key value` pairs (a key may repeat), and bare words.
pub struct Args {
    pub opts: BTreeMap<String, Vec<String>>,
    pub words: Vec<String>,
}

impl Args {
    pub fn parse(argv: &[String]) -> Result<Args, String> {
        let mut opts: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut words = Vec::new();
        let mut it = argv.iter();
        while let Some(a) = it.next() {
            if let Some(k) = a.strip_prefix("--") {
                let v = it.next().ok_or_else(|| format!("--{k} needs a value"))?;
                opts.entry(k.to_owned()).or_default().push(v.clone());
            } else {
                words.push(a.clone());
            }
        }
        Ok(Args { opts, words })
    }

    pub fn str(&self, k: &str) -> Option<&str> {
        self.opts.get(k).and_then(|v| v.last()).map(String::as_str)
    }

    pub fn all(&self, k: &str) -> &[String] {
        self.opts.get(k).map(Vec::as_slice).unwrap_or(&[])
    }

    fn num(&self, k: &str, default: usize) -> Result<usize, String> {
        match self.str(k) {
            None => Ok(default),
            Some(v) => v.replace('_', "").parse().map_err(|e| format!("--{k} {v}: {e}")),
        }
    }

    fn list<T: std::str::FromStr>(&self, k: &str) -> Result<Vec<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        let v = self.str(k).ok_or_else(|| format!("--{k} is required"))?;
        v.split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.trim().parse::<T>().map_err(|e| format!("--{k} {s}: {e}")))
            .collect()
    }
}

/// What `run` does.
#[derive(Clone)]
struct Config {
    name: String,
    ws: Vec<SocketAddr>,
    api: Api,
    pids: Vec<u32>,
    /// Helper processes (redis-server) whose CPU is reported for the whole run, outside the per-message figures.
    aux_pids: Vec<u32>,
    n: usize,
    fanout_events: usize,
    single_events: usize,
    batch_events: usize,
    batch_size: usize,
    tp_subscribers: usize,
    in_flight: usize,
    burst_channels: usize,
    connect_concurrency: usize,
    clk_tck: u64,
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let result = match argv.first().map(String::as_str) {
        Some("run") => run_cmd(&argv[1..]),
        Some("report") => report::main(&argv[1..]),
        _ => Err("usage: feedwire-load run --name NAME --ws ADDR[,ADDR] --http ADDR --pids PID[,PID] --out FILE [options] | feedwire-load report --out FILE [--meta k=v] NAME=FILE.. (see benches/load/README.md)".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("feedwire-load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_cmd(argv: &[String]) -> Result<(), String> {
    let a = Args::parse(argv)?;
    let http: SocketAddr = a
        .str("http")
        .ok_or("--http is required")?
        .parse()
        .map_err(|e| format!("--http: {e}"))?;
    let cfg = Config {
        name: a.str("name").unwrap_or("server").to_owned(),
        ws: a.list("ws")?,
        api: Api {
            addr: http,
            app_id: a.str("app-id").unwrap_or("app-id").to_owned(),
            key: a.str("key").unwrap_or("app-key").to_owned(),
            secret: a.str("secret").unwrap_or("app-secret").to_owned(),
        },
        pids: a.list("pids")?,
        aux_pids: if a.str("aux-pids").is_some() {
            a.list("aux-pids")?
        } else {
            Vec::new()
        },
        n: a.num("n", 10_000)?,
        fanout_events: a.num("fanout-events", 20)?,
        single_events: a.num("single-events", 10_000)?,
        batch_events: a.num("batch-events", 20_000)?,
        batch_size: a.num("batch-size", 10)?,
        tp_subscribers: a.num("tp-subscribers", 100)?,
        in_flight: a.num("in-flight", 24)?,
        burst_channels: a.num("burst-channels", 50_000)?,
        connect_concurrency: a.num("connect-concurrency", 256)?,
        clk_tck: a.num("clk-tck", 100)? as u64,
    };
    let out = a.str("out").ok_or("--out is required")?.to_owned();
    if cfg.ws.is_empty() || cfg.pids.is_empty() {
        return Err("--ws and --pids need at least one entry".into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    now_us();
    let value = rt.block_on(run(cfg));
    let text = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
    std::fs::write(&out, text + "\n").map_err(|e| format!("{out}: {e}"))?;
    // the subscriber tasks are all joined; do not wait for stray HTTP connection tasks
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

macro_rules! progress {
    ($cfg:expr, $($t:tt)*) => {
        eprintln!("  [{}] {}", $cfg.name, format!($($t)*))
    };
}

/// The connections of one phase.
struct Subscribers {
    handles: Vec<JoinHandle<Option<SubResult>>>,
    stop: watch::Sender<bool>,
    requested: usize,
    connected: usize,
    failures: BTreeMap<String, usize>,
    seconds: f64,
}

/// Opens `n` subscribers of `channel` (spread evenly over the nodes, `connect_concurrency` handshakes in
/// flight) and returns once each is subscribed or failed.
async fn open_subscribers(
    cfg: &Config,
    n: usize,
    channel: &str,
    tally: Arc<Tally>,
    record_latency: bool,
) -> Subscribers {
    let (stop_tx, stop_rx) = watch::channel(false);
    let sem = Arc::new(Semaphore::new(cfg.connect_concurrency.max(1)));
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let start = now_us();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        let addr = cfg.ws[i % cfg.ws.len()];
        let key = cfg.api.key.clone();
        let channel = channel.to_owned();
        let (sem, ready, tally, stop) = (sem.clone(), ready_tx.clone(), tally.clone(), stop_rx.clone());
        handles.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await;
            let res = tokio::time::timeout(Duration::from_secs(60), async {
                let mut ws = pusher::connect(addr, &key).await?;
                pusher::subscribe(&mut ws, &channel).await?;
                Ok::<_, String>(ws)
            })
            .await
            .unwrap_or_else(|_| Err("no subscription in 60 s".into()));
            drop(permit);
            match res {
                Ok(ws) => {
                    let _ = ready.send(Ok(()));
                    Some(pusher::run_subscriber(ws, tally, stop, record_latency).await)
                }
                Err(e) => {
                    let _ = ready.send(Err(e));
                    None
                }
            }
        }));
    }
    drop(ready_tx);
    let (mut connected, mut failures, mut last) = (0usize, BTreeMap::new(), start);
    let mut done = 0usize;
    while let Some(r) = ready_rx.recv().await {
        done += 1;
        match r {
            Ok(()) => {
                connected += 1;
                last = now_us();
            }
            Err(e) => {
                // group failures by their kind, without the per-connection detail
                let kind: String = e.chars().take(80).collect();
                *failures.entry(kind).or_insert(0) += 1;
            }
        }
        if n >= 5000 && done.is_multiple_of(2000) {
            progress!(cfg, "{done} of {n} handshakes done ({connected} subscribed)");
        }
        if done == n {
            break;
        }
    }
    Subscribers {
        handles,
        stop: stop_tx,
        requested: n,
        connected,
        failures,
        seconds: (last - start) as f64 / 1e6,
    }
}

/// Everything the subscribers of one phase saw, once they are stopped.
struct Closed {
    results: Vec<SubResult>,
    closed_by_server: BTreeMap<String, usize>,
    closed: usize,
    duplicates: u64,
    malformed: u64,
    pings: u64,
    errors: Vec<String>,
}

async fn close_subscribers(subs: Subscribers) -> Closed {
    let _ = subs.stop.send(true);
    let mut c = Closed {
        results: Vec::with_capacity(subs.handles.len()),
        closed_by_server: BTreeMap::new(),
        closed: 0,
        duplicates: 0,
        malformed: 0,
        pings: 0,
        errors: Vec::new(),
    };
    for h in subs.handles {
        if let Ok(Some(r)) = h.await {
            if let Some(why) = &r.closed_by_server {
                c.closed += 1;
                *c.closed_by_server
                    .entry(why.chars().take(80).collect())
                    .or_insert(0) += 1;
            }
            c.duplicates += r.duplicates;
            c.malformed += r.malformed;
            c.pings += r.pings;
            for e in &r.errors {
                if c.errors.len() < 5 {
                    c.errors.push(e.clone());
                }
            }
            c.results.push(r);
        }
    }
    c
}

fn connect_json(cfg: &Config, s: &Subscribers) -> Value {
    json!({
        "requested": s.requested,
        "connected": s.connected,
        "failed": s.requested - s.connected,
        "failures": s.failures,
        "seconds": s.seconds,
        "connect_concurrency": cfg.connect_concurrency,
    })
}

fn closed_json(c: &Closed) -> Value {
    json!({
        "closed_by_server": c.closed,
        "close_reasons": c.closed_by_server,
        "duplicates": c.duplicates,
        "malformed": c.malformed,
        "pusher_pings_answered": c.pings,
        "pusher_errors": c.errors,
    })
}

fn cpu_json(cfg: &Config, a: &Sample, b: &Sample, messages: u64) -> Value {
    let ticks = b.ticks.saturating_sub(a.ticks);
    let secs = ticks as f64 / cfg.clk_tck as f64;
    json!({
        "ticks": ticks,
        "sys_ticks": b.sys_ticks.saturating_sub(a.sys_ticks),
        "seconds": secs,
        "us_per_message": if messages > 0 { Some(secs * 1e6 / messages as f64) } else { None },
        "rss_kib_after": b.rss_kib,
        "server_alive": b.alive,
    })
}

fn percentile(sorted: &[u32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    Some(sorted[i.min(sorted.len() - 1)] as f64 / 1000.0)
}

/// Waits until `tally` reaches `expected`, or nothing new arrived for `stall`.
async fn wait_for(tally: &Tally, expected: u64, stall: Duration, seq: Option<usize>) -> bool {
    let count = |t: &Tally| match seq {
        Some(s) => t.seq(s) as u64,
        None => t.total(),
    };
    let mut seen = count(tally);
    let mut since = Instant::now();
    loop {
        let c = count(tally);
        if c >= expected {
            return true;
        }
        if c != seen {
            seen = c;
            since = Instant::now();
        } else if since.elapsed() >= stall {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn run(cfg: Config) -> Value {
    let gen0 = procfs::sample_self();
    let aux0 = procfs::sample(&cfg.aux_pids);
    let load_before = procfs::loadavg();
    let mut out = serde_json::Map::new();
    out.insert("name".into(), json!(cfg.name));
    out.insert("nodes".into(), json!(cfg.ws.len()));
    out.insert(
        "ws".into(),
        json!(cfg.ws.iter().map(|a| a.to_string()).collect::<Vec<_>>()),
    );
    out.insert("http".into(), json!(cfg.api.addr.to_string()));
    out.insert("n".into(), json!(cfg.n));
    out.insert("loadavg_before".into(), json!(load_before));

    // 1. connect + subscribe N subscribers on one public channel; memory at N idle subscribers
    let idle = procfs::sample(&cfg.pids);
    progress!(
        cfg,
        "connecting {} subscribers to one channel ({} handshakes in flight)",
        cfg.n,
        cfg.connect_concurrency
    );
    let tally = Tally::new(cfg.fanout_events);
    let subs = open_subscribers(&cfg, cfg.n, "fanout", tally.clone(), true).await;
    let connect = connect_json(&cfg, &subs);
    progress!(
        cfg,
        "{} of {} subscribed in {:.2} s",
        subs.connected,
        cfg.n,
        subs.seconds
    );
    out.insert("connect".into(), connect);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let at_n = procfs::sample(&cfg.pids);
    let per_conn = if subs.connected > 0 {
        Some((at_n.rss_kib as f64 - idle.rss_kib as f64) / subs.connected as f64)
    } else {
        None
    };
    out.insert(
        "memory".into(),
        json!({"rss_before_kib": idle.rss_kib, "rss_at_n_kib": at_n.rss_kib, "connections": subs.connected, "kib_per_connection": per_conn}),
    );

    // 2. fan-out: events one after another, each waited for at every subscriber
    progress!(
        cfg,
        "fan-out: {} events to {} subscribers",
        cfg.fanout_events,
        subs.connected
    );
    let cpu0 = procfs::sample(&cfg.pids);
    let mut stats = PostStats::default();
    let mut conn = None;
    let path = cfg.api.events_path();
    let mut incomplete = 0;
    for s in 0..cfg.fanout_events {
        let accepted = cfg
            .api
            .post(&mut conn, &path, &mut stats, || {
                api::event_body("fanout", pusher::EVENT, s as u64, now_us())
            })
            .await;
        if accepted && !wait_for(&tally, subs.connected as u64, Duration::from_secs(5), Some(s)).await {
            incomplete += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu1 = procfs::sample(&cfg.pids);
    let delivered = tally.total();
    let closed = close_subscribers(subs).await;
    let mut lat: Vec<u32> = closed
        .results
        .iter()
        .flat_map(|r| r.latencies_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let expected = (closed.results.len() * cfg.fanout_events) as u64;
    progress!(
        cfg,
        "fan-out: {delivered} of {expected} delivered, p50 {:?} ms, p99 {:?} ms",
        percentile(&lat, 50.0),
        percentile(&lat, 99.0)
    );
    let mut fanout = json!({
        "events": cfg.fanout_events,
        "subscribers": closed.results.len(),
        "expected": expected,
        "delivered": delivered,
        "events_not_everywhere": incomplete,
        "p50_ms": percentile(&lat, 50.0),
        "p90_ms": percentile(&lat, 90.0),
        "p99_ms": percentile(&lat, 99.0),
        "max_ms": lat.last().map(|v| *v as f64 / 1000.0),
        "cpu": cpu_json(&cfg, &cpu0, &cpu1, delivered),
        "http": stats.to_json(),
    });
    merge(&mut fanout, closed_json(&closed));
    out.insert("fanout".into(), fanout);
    drop(lat);
    drop(closed);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // 3. throughput: single triggers, then batches; everything must arrive everywhere
    let single = throughput(&cfg, "single", cfg.single_events, 1).await;
    out.insert("single".into(), single);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let batch = throughput(&cfg, "batch", cfg.batch_events, cfg.batch_size).await;
    out.insert("batch".into(), batch);

    // 4. burst subscribe: one connection, many channels at once
    if cfg.burst_channels > 0 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        progress!(
            cfg,
            "burst subscribe: one connection, {} channels",
            cfg.burst_channels
        );
        let c0 = procfs::sample(&cfg.pids);
        let b = pusher::burst_subscribe(
            cfg.ws[0],
            &cfg.api.key,
            cfg.burst_channels,
            Duration::from_secs(30),
        )
        .await;
        let c1 = procfs::sample(&cfg.pids);
        progress!(
            cfg,
            "burst subscribe: {} answered, {} refused in {:.2} s",
            b.answered,
            b.refused,
            b.seconds
        );
        out.insert(
            "burst".into(),
            json!({
                "channels": b.channels,
                "answered": b.answered,
                "refused": b.refused,
                "all_answered": b.answered as usize == b.channels,
                "seconds": b.seconds,
                "closed_by_server": b.closed_by_server,
                "error": b.error,
                "first_refusals": b.first_refusals,
                "cpu": cpu_json(&cfg, &c0, &c1, b.answered),
            }),
        );
    }

    let end = procfs::sample(&cfg.pids);
    let gen1 = procfs::sample_self();
    if !cfg.aux_pids.is_empty() {
        let aux1 = procfs::sample(&cfg.aux_pids);
        out.insert(
            "aux".into(),
            json!({"pids": cfg.aux_pids, "what": "redis-server", "cpu_seconds_whole_run": aux1.ticks.saturating_sub(aux0.ticks) as f64 / cfg.clk_tck as f64, "rss_kib": aux1.rss_kib}),
        );
    }
    out.insert("server_alive_at_end".into(), json!(end.alive));
    out.insert("rss_end_kib".into(), json!(end.rss_kib));
    out.insert(
        "generator".into(),
        json!({"cpu_seconds": gen1.ticks.saturating_sub(gen0.ticks) as f64 / cfg.clk_tck as f64, "rss_kib": gen1.rss_kib, "worker_threads": 2}),
    );
    out.insert("loadavg_after".into(), json!(procfs::loadavg()));
    Value::Object(out)
}

fn merge(a: &mut Value, b: Value) {
    if let (Value::Object(a), Value::Object(b)) = (a, b) {
        a.extend(b);
    }
}

/// `subscribers` subscribers of one channel; `events` events published through `in_flight` concurrent HTTP
/// connections, `batch` per request (1: `/events`, more: `/batch_events`).
async fn throughput(cfg: &Config, name: &str, events: usize, batch: usize) -> Value {
    let channel = format!("tp-{name}");
    let tally = Tally::new(events);
    let subs = open_subscribers(cfg, cfg.tp_subscribers, &channel, tally.clone(), false).await;
    let connected = subs.connected;
    progress!(
        cfg,
        "throughput {name}: {events} events, {batch} per request, {} requests in flight, to {connected} subscribers",
        cfg.in_flight
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu0 = procfs::sample(&cfg.pids);
    let requests = events.div_ceil(batch.max(1)) as u64;
    let next = Arc::new(AtomicU64::new(0));
    let start = now_us();
    let mut workers = Vec::new();
    for _ in 0..cfg.in_flight.max(1) {
        let (api, next, channel) = (cfg.api.clone(), next.clone(), channel.clone());
        workers.push(tokio::spawn(async move {
            let mut stats = PostStats::default();
            let mut conn = None;
            let path = if batch > 1 {
                api.batch_path()
            } else {
                api.events_path()
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= requests {
                    break;
                }
                let seqs = i * batch as u64..((i + 1) * batch as u64).min(events as u64);
                api.post(&mut conn, &path, &mut stats, || {
                    if batch > 1 {
                        api::batch_body(&channel, pusher::EVENT, seqs.clone(), now_us())
                    } else {
                        api::event_body(&channel, pusher::EVENT, seqs.start, now_us())
                    }
                })
                .await;
            }
            stats
        }));
    }
    let mut stats = PostStats::default();
    for w in workers {
        if let Ok(s) = w.await {
            stats.add(&s);
        }
    }
    let published_us = now_us();
    let expected = (connected * events) as u64;
    let complete = wait_for(&tally, expected, Duration::from_secs(10), None).await;
    let cpu1 = procfs::sample(&cfg.pids);
    let delivered = tally.total();
    let last = tally.last_us.load(Ordering::Acquire);
    let closed = close_subscribers(subs).await;
    let seconds = last.saturating_sub(start) as f64 / 1e6;
    let everything =
        complete && connected == cfg.tp_subscribers && closed.closed == 0 && delivered == expected;
    let short: usize = closed
        .results
        .iter()
        .filter(|r| (r.received as usize) < events)
        .count();
    progress!(
        cfg,
        "throughput {name}: {delivered} of {expected} delivered in {seconds:.2} s ({:.0} events/s); 429s: {}; given up: {}; closed by server: {}",
        if seconds > 0.0 {
            events as f64 / seconds
        } else {
            0.0
        },
        stats.status_429,
        stats.given_up,
        closed.closed
    );
    let mut v = json!({
        "events": events,
        "per_request": batch,
        "requests": requests,
        "in_flight": cfg.in_flight,
        "subscribers_requested": cfg.tp_subscribers,
        "subscribers": connected,
        "expected": expected,
        "delivered": delivered,
        "everything_delivered": everything,
        "subscribers_missing_events": short,
        "seconds": seconds,
        "publish_seconds": published_us.saturating_sub(start) as f64 / 1e6,
        "events_per_second": if seconds > 0.0 { Some(events as f64 / seconds) } else { None },
        "messages_per_second": if seconds > 0.0 { Some(delivered as f64 / seconds) } else { None },
        "cpu": cpu_json(cfg, &cpu0, &cpu1, delivered),
        "http": stats.to_json(),
    });
    merge(&mut v, closed_json(&closed));
    v
}
