//! `feedwire serve pusher`: the Pusher hub behind the server loop, its HTTP API and its webhooks.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use feedwire_pusher::server::{
    AppEvent, Apps, ClusterConfig, HubConfig, HubEvent, WebhookConfig, WebhookKind, WebhookRequest,
    WebhookTarget,
};
use feedwire_redis::pusher::PusherCluster;
use feedwire_tungstenite::{Server, ServerConfig, ServerHandle};

use crate::out::{self, Line, Out};
use crate::pusher;

/// How long one webhook POST may take before it counts as failed (and is retried).
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Args)]
pub struct PusherServe {
    /// Where to listen: the WebSocket endpoint and the HTTP API share this port.
    #[arg(long, default_value = "127.0.0.1:6001")]
    addr: SocketAddr,
    /// The app id.
    #[arg(long, default_value = "app-id", env = "PUSHER_APP_ID")]
    app_id: String,
    /// The app key.
    #[arg(long, default_value = "app-key", env = "PUSHER_APP_KEY")]
    key: String,
    /// The app secret.
    #[arg(
        long,
        default_value = "app-secret",
        env = "PUSHER_APP_SECRET",
        hide_env_values = true
    )]
    secret: String,
    /// Allow client events.
    #[arg(long)]
    client_events: bool,
    /// Most client events per connection per second; one more gets `pusher:error` 4301.
    #[arg(long, default_value_t = 10, value_name = "N")]
    max_client_events_per_second: u32,
    /// Most subscriptions per connection (default: no limit); one more gets `pusher:subscription_error`.
    #[arg(long, value_name = "N")]
    max_subscriptions: Option<usize>,
    /// Longest channel name (at most the protocol's 164); a longer one gets `pusher:subscription_error`.
    #[arg(long, default_value_t = 164, value_name = "N")]
    max_channel_name_len: usize,
    /// Most members of one presence channel; one more gets `pusher:subscription_error`.
    #[arg(long, default_value_t = 100, value_name = "N")]
    max_presence_members: usize,
    /// Largest presence `user_info` in bytes; a larger one gets `pusher:subscription_error`.
    #[arg(long, default_value_t = 1024, value_name = "BYTES")]
    max_presence_user_info: usize,
    /// Largest HTTP API request body in bytes; a larger one is answered 413.
    #[arg(long, default_value_t = 256 * 1024, value_name = "BYTES")]
    max_http_body: usize,
    /// Send `pusher_internal:subscription_count` to subscribers (and `subscription_count` webhooks).
    #[arg(long)]
    subscription_count: bool,
    /// POST webhooks here, in hosted Pusher's format and signed with the app secret (`X-Pusher-Key`,
    /// `X-Pusher-Signature`); batched, retried with backoff on failure (repeat for more URLs).
    #[arg(long = "webhook", value_name = "URL")]
    webhooks: Vec<String>,
    /// Send only these webhook events (repeat for more; default: all): channel_occupied, channel_vacated,
    /// member_added, member_removed, client_event, cache_miss, subscription_count.
    #[arg(long = "webhook-event", value_name = "NAME", value_parser = parse_kind)]
    webhook_events: Vec<WebhookKind>,
    /// Apps from a JSON file: `{"apps":[{"id":..,"key":..,"secret":..,"enabled":true,"client_events":false,
    /// "webhooks":[{"url":..,"event_types":[..]}],"limits":{"max_subscriptions":..}}]}`; connections are routed
    /// by key (`/app/KEY`), HTTP API requests by id (`/apps/ID/...`). The limit flags are every app's defaults;
    /// --app-id, --key, --secret and --client-events are not used.
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    #[command(flatten)]
    tls: crate::tls::ServeTls,
    /// How long the first webhook event of a batch waits for more, in milliseconds.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    webhook_batch_ms: u64,
    /// Run as one node of a cluster over Redis (`redis://127.0.0.1:6379`): a publish on any node (HTTP API,
    /// stdin, client events) reaches the subscribers of every node, presence channels show the members of
    /// every node, and HTTP API queries answer for the whole cluster. Every node needs the same apps.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// The Redis channel the nodes of one cluster share.
    #[arg(long, default_value = feedwire_redis::pusher::DEFAULT_CHANNEL, value_name = "NAME", requires = "redis")]
    redis_channel: String,
    /// This node's id, unique in the cluster (default: this host's name and process id).
    #[arg(long, value_name = "ID", requires = "redis")]
    node_id: Option<String>,
    /// Seconds a node may stay silent (it sends a heartbeat every 2 s) before the others drop it and remove
    /// its presence members: how long a crashed node's members stay listed.
    #[arg(long, default_value_t = 10, value_name = "SECS", requires = "redis")]
    node_timeout: u64,
}

fn parse_kind(s: &str) -> Result<WebhookKind, String> {
    WebhookKind::from_name(s).ok_or_else(|| {
        let names: Vec<_> = WebhookKind::ALL.iter().map(|k| k.name()).collect();
        format!("not a webhook event; one of {}", names.join(", "))
    })
}

/// The webhook settings of one app: its targets, each with its event filter (empty: every event).
fn webhook_config(
    targets: &[(String, Vec<WebhookKind>)],
    batch_ms: u64,
) -> Result<Option<WebhookConfig>, String> {
    if targets.is_empty() {
        return Ok(None);
    }
    let anchor = feedwire_core::UnixAnchor::new(Instant::now(), out::unix_ms());
    let mut config = WebhookConfig::new(anchor).with_batch_delay(Duration::from_millis(batch_ms));
    for (url, kinds) in targets {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("webhook {url}: an http:// or https:// URL"));
        }
        let mut target = WebhookTarget::new(url.clone());
        if !kinds.is_empty() {
            target = target.with_kinds(kinds.iter().copied());
        }
        config = config.with_target(target);
    }
    Ok(Some(config))
}

/// `--config FILE`: `{"apps":[{"id":..,"key":..,"secret":..}, ..]}` (see the README).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    apps: Vec<AppEntry>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AppEntry {
    id: String,
    key: String,
    secret: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    client_events: bool,
    #[serde(default)]
    subscription_count: bool,
    #[serde(default)]
    webhooks: Vec<WebhookEntry>,
    #[serde(default)]
    limits: LimitsEntry,
}

fn yes() -> bool {
    true
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookEntry {
    url: String,
    /// soketi's name for the filter
    #[serde(default)]
    event_types: Vec<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsEntry {
    client_events_per_second: Option<u32>,
    max_subscriptions: Option<usize>,
    max_channel_name_len: Option<usize>,
    max_presence_members: Option<usize>,
    max_presence_user_info: Option<usize>,
    max_http_body: Option<usize>,
}

/// One app as the server runs it.
struct App {
    config: HubConfig,
    enabled: bool,
    max_http_body: usize,
    webhooks: Vec<String>,
}

/// The apps: from `--config` (the flags' limits are every app's defaults), or the one of the flags and the
/// environment.
fn apps(a: &PusherServe) -> Result<Vec<App>, String> {
    let base = |id: &str, key: &str, secret: &str, limits: &LimitsEntry| {
        let max_http_body = limits.max_http_body.unwrap_or(a.max_http_body);
        let mut rest_limits = feedwire_pusher::rest::RestLimits::default();
        rest_limits.max_body = max_http_body;
        let config = HubConfig::new(id, key, secret)
            .with_client_events_per_second(
                limits
                    .client_events_per_second
                    .unwrap_or(a.max_client_events_per_second),
            )
            .with_max_subscriptions(
                limits
                    .max_subscriptions
                    .or(a.max_subscriptions)
                    .unwrap_or(usize::MAX),
            )
            .with_max_channel_name_len(limits.max_channel_name_len.unwrap_or(a.max_channel_name_len))
            .with_presence_limits(
                limits.max_presence_members.unwrap_or(a.max_presence_members),
                limits.max_presence_user_info.unwrap_or(a.max_presence_user_info),
            )
            .with_rest_limits(rest_limits)
            .with_seed(out::unix_ms());
        (config, max_http_body)
    };
    let Some(path) = &a.config else {
        if a.webhooks.is_empty() && !a.webhook_events.is_empty() {
            return Err("--webhook-event needs a --webhook URL".into());
        }
        let (config, max_http_body) = base(&a.app_id, &a.key, &a.secret, &LimitsEntry::default());
        let targets: Vec<_> = a
            .webhooks
            .iter()
            .map(|u| (u.clone(), a.webhook_events.clone()))
            .collect();
        let mut config = config
            .with_client_events(a.client_events)
            .with_subscription_count(a.subscription_count);
        if let Some(w) = webhook_config(&targets, a.webhook_batch_ms)? {
            config = config.with_webhooks(w);
        }
        return Ok(vec![App {
            config,
            enabled: true,
            max_http_body,
            webhooks: a.webhooks.clone(),
        }]);
    };
    if !a.webhooks.is_empty() || !a.webhook_events.is_empty() {
        return Err(
            "with --config, webhooks are set per app in the file (\"webhooks\":[{\"url\":..}])".into(),
        );
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("--config {}: {e}", path.display()))?;
    let file: ConfigFile =
        serde_json::from_str(&text).map_err(|e| format!("--config {}: {e}", path.display()))?;
    if file.apps.is_empty() {
        return Err(format!("--config {}: no app in \"apps\"", path.display()));
    }
    let mut out = Vec::new();
    for app in file.apps {
        let (config, max_http_body) = base(&app.id, &app.key, &app.secret, &app.limits);
        let mut targets = Vec::new();
        for w in &app.webhooks {
            let kinds = w
                .event_types
                .iter()
                .map(|k| {
                    parse_kind(k)
                        .map_err(|e| format!("--config {}: app {}: {k}: {e}", path.display(), app.id))
                })
                .collect::<Result<Vec<_>, _>>()?;
            targets.push((w.url.clone(), kinds));
        }
        let mut config = config
            .with_client_events(app.client_events)
            .with_subscription_count(app.subscription_count);
        if let Some(w) = webhook_config(&targets, a.webhook_batch_ms)
            .map_err(|e| format!("--config {}: app {}: {e}", path.display(), app.id))?
        {
            config = config.with_webhooks(w);
        }
        out.push(App {
            config,
            enabled: app.enabled,
            max_http_body,
            webhooks: targets.into_iter().map(|(u, _)| u).collect(),
        });
    }
    Ok(out)
}

/// Runs `feedwire serve pusher` until Ctrl-C.
pub async fn run(out: &Out, a: PusherServe, metrics: &crate::Metrics) -> Result<ExitCode, String> {
    let apps = apps(&a)?;
    let sender = if apps.iter().any(|app| !app.webhooks.is_empty()) {
        Some(WebhookSender::new()?)
    } else {
        None
    };
    let max_http_body = apps
        .iter()
        .map(|app| app.max_http_body)
        .max()
        .unwrap_or(a.max_http_body);
    let ids: Vec<String> = apps.iter().map(|app| app.config.app_id.clone()).collect();
    let several = apps.len() > 1;
    let first: Vec<(String, String)> = apps
        .iter()
        .map(|app| (app.config.app_id.clone(), app.config.key.clone()))
        .collect();
    let webhooks: Vec<String> = apps
        .iter()
        .filter(|app| !several && !app.webhooks.is_empty())
        .map(|app| format!("webhooks to {}", app.webhooks.join(", ")))
        .collect();
    let summary: Vec<String> = apps
        .iter()
        .map(|app| {
            let mut s = format!("app {} key {}", app.config.app_id, app.config.key);
            if !app.enabled {
                s.push_str(" (disabled)");
            }
            if !app.webhooks.is_empty() {
                s.push_str(&format!(" webhooks to {}", app.webhooks.join(", ")));
            }
            s
        })
        .collect();
    let node = a
        .redis
        .as_ref()
        .map(|_| a.node_id.clone().unwrap_or_else(default_node_id));
    let cluster = node.as_ref().map(|node| {
        ClusterConfig::new(node.clone())
            .with_node_timeout(Duration::from_secs(a.node_timeout.max(1)))
            .with_epoch(out::unix_ms())
    });
    let hub = Apps::with_enabled(apps.into_iter().map(|app| {
        let config = match &cluster {
            Some(c) => app.config.with_cluster(c.clone()),
            None => app.config,
        };
        (config, app.enabled)
    }));
    let log = *out;
    let server = Server::builder(hub)
        .config({
            let config = ServerConfig::default()
                .with_max_http_body(max_http_body)
                .with_metrics(metrics.clone());
            match a.tls.server_config()? {
                Some(t) => config.with_tls(t),
                None => config,
            }
        })
        .http(move |apps: &mut Apps, req| crate::logged(&log, req, |req| pusher_rest(apps, req)))
        .bind(a.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", a.addr))?;
    let addr = server.local_addr();
    let (ws, http) = a.tls.schemes();
    match &first[..] {
        [(id, key)] => out.status(format!(
            "pusher server on {ws}://{addr}/app/{key} ; HTTP API on {http}://{addr}/apps/{id}/events ; publish by writing {{\"channel\":..,\"event\":..,\"data\":..}} lines to stdin"
        )),
        _ => out.status(format!(
            "pusher server on {ws}://{addr}/app/KEY ; HTTP API on {http}://{addr}/apps/ID/events ; publish by writing {{\"app\":ID,\"channel\":..,\"event\":..,\"data\":..}} lines to stdin"
        )),
    }
    for line in summary.iter().filter(|_| several).chain(webhooks.iter()) {
        out.status(line);
    }
    let handle = server.handle();
    let link = match (&a.redis, &node) {
        (Some(url), Some(node)) => {
            let config = feedwire_redis::LinkConfig::new(url.clone());
            out.status(format!(
                "node {node} of the cluster on Redis {} channel {}",
                config.redacted_url(),
                a.redis_channel
            ));
            let link = PusherCluster::start(config, a.redis_channel.clone(), server.handle())
                .map_err(|e| e.to_string())?;
            crate::report_link(*out, link.link().watch_state());
            link.link().register_metrics(&mut crate::lock(metrics));
            Some(link)
        }
        _ => None,
    };
    crate::serve_loop(
        out,
        server,
        move |_, ev: &AppEvent| {
            let line = match (&ev.event, &sender, ev.app) {
                (HubEvent::Cluster(msg), _, _) => {
                    if let Some(link) = &link {
                        link.publish(msg);
                    }
                    return None;
                }
                (HubEvent::Webhook(req), Some(sender), Some(app)) => {
                    sender.send(app, req.clone(), handle.clone());
                    webhook_line(req)
                }
                (event, _, _) => pusher::hub_line(event),
            };
            Some(match ev.app.and_then(|i| ids.get(i)) {
                Some(id) if several => line.with("app", id.as_str()),
                _ => line,
            })
        },
        |apps, line| crate::published(publish_line(apps, line)),
    )
    .await
}

/// A stdin line: published on the app its `"app"` field names (its id), else on the first app.
fn publish_line(apps: &mut Apps, line: &str) -> Result<usize, String> {
    #[derive(serde::Deserialize)]
    struct Target {
        #[serde(default)]
        app: Option<String>,
    }
    let target = serde_json::from_str::<Target>(line).ok().and_then(|t| t.app);
    let i = match &target {
        Some(id) => apps.by_id(id).ok_or_else(|| format!("no enabled app {id}"))?,
        None => 0,
    };
    let hub = apps.app_mut(i).ok_or("no app")?;
    pusher::publish_line(hub, line)
}

fn webhook_line(req: &WebhookRequest) -> Line {
    Line::new("pusher", "webhook")
        .with("id", req.id)
        .with("url", req.url.as_str())
        .with("attempt", req.attempt)
        .with("events", req.events as u64)
}

/// POSTs webhook requests and reports each outcome to the hub (which retries failures).
struct WebhookSender {
    client: reqwest::Client,
}

impl WebhookSender {
    fn new() -> Result<Self, String> {
        let tls = crate::tls::config(None)?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .timeout(WEBHOOK_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot start the webhook client: {e}"))?;
        Ok(WebhookSender { client })
    }

    /// Sends `req` of app `app` on a task of its own (never under the hub's lock) and reports the outcome.
    fn send(&self, app: usize, req: WebhookRequest, handle: ServerHandle<Apps>) {
        let mut post = self.client.post(&req.url).body(req.body.clone());
        for (name, value) in req.headers() {
            post = post.header(name, value);
        }
        tokio::spawn(async move {
            let failure = match post.send().await {
                Ok(resp) if resp.status().is_success() => None,
                Ok(resp) => Some(format!("answered {}", resp.status())),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = &failure {
                Out::new(false).error(format!(
                    "webhook {} to {} (attempt {}): {why}",
                    req.id, req.url, req.attempt
                ));
            }
            let ok = failure.is_none();
            handle.call(|apps| {
                if let Some(hub) = apps.app_mut(app) {
                    hub.webhook_response(Instant::now(), req.id, ok);
                }
            });
        });
    }
}

/// A node id unique on this network: the host's name (from the environment or /etc/hostname) and the
/// process id.
fn default_node_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".to_owned());
    format!("{host}-{}", std::process::id())
}

/// `feedwire serve pusher`'s HTTP route: the Channels HTTP API (`POST /apps/{id}/events`, `batch_events`,
/// `GET channels`, ...), signed as the official server SDKs sign it, checked against the current Unix time.
fn pusher_rest(
    apps: &mut Apps,
    req: feedwire_tungstenite::HttpRequest,
) -> feedwire_tungstenite::HttpResponse {
    let now_unix = out::unix_ms() / 1000;
    let resp = apps.handle_rest(
        &feedwire_pusher::rest::RestRequest {
            method: &req.method,
            path: &req.path,
            query: &req.query,
            body: &req.body,
        },
        now_unix,
    );
    feedwire_tungstenite::HttpResponse::json(resp.status, resp.body)
}
