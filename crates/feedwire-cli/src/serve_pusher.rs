//! `feedwire serve pusher`: the Pusher hub behind the server loop, its HTTP API and its webhooks.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use feedwire_pusher::server::{
    Hub, HubConfig, HubEvent, WebhookConfig, WebhookKind, WebhookRequest, WebhookTarget,
};
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
    /// How long the first webhook event of a batch waits for more, in milliseconds.
    #[arg(long, default_value_t = 50, value_name = "MS")]
    webhook_batch_ms: u64,
}

fn parse_kind(s: &str) -> Result<WebhookKind, String> {
    WebhookKind::from_name(s).ok_or_else(|| {
        let names: Vec<_> = WebhookKind::ALL.iter().map(|k| k.name()).collect();
        format!("not a webhook event; one of {}", names.join(", "))
    })
}

fn webhook_config(a: &PusherServe) -> Result<Option<WebhookConfig>, String> {
    if a.webhooks.is_empty() {
        if !a.webhook_events.is_empty() {
            return Err("--webhook-event needs a --webhook URL".into());
        }
        return Ok(None);
    }
    let anchor = feedwire_core::UnixAnchor::new(Instant::now(), out::unix_ms());
    let mut config = WebhookConfig::new(anchor).with_batch_delay(Duration::from_millis(a.webhook_batch_ms));
    for url in &a.webhooks {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!("--webhook {url}: an http:// or https:// URL"));
        }
        let mut target = WebhookTarget::new(url.clone());
        if !a.webhook_events.is_empty() {
            target = target.with_kinds(a.webhook_events.iter().copied());
        }
        config = config.with_target(target);
    }
    Ok(Some(config))
}

/// Runs `feedwire serve pusher` until Ctrl-C.
pub async fn run(out: &Out, a: PusherServe) -> Result<ExitCode, String> {
    let webhooks = webhook_config(&a)?;
    let sender = match webhooks {
        Some(_) => Some(WebhookSender::new()?),
        None => None,
    };
    let mut rest_limits = feedwire_pusher::rest::RestLimits::default();
    rest_limits.max_body = a.max_http_body;
    let mut config = HubConfig::new(a.app_id.clone(), a.key.clone(), a.secret)
        .with_client_events(a.client_events)
        .with_client_events_per_second(a.max_client_events_per_second)
        .with_max_subscriptions(a.max_subscriptions.unwrap_or(usize::MAX))
        .with_max_channel_name_len(a.max_channel_name_len)
        .with_presence_limits(a.max_presence_members, a.max_presence_user_info)
        .with_rest_limits(rest_limits)
        .with_subscription_count(a.subscription_count)
        .with_seed(out::unix_ms());
    if let Some(w) = webhooks {
        config = config.with_webhooks(w);
    }
    let server = Server::builder(Hub::new(config))
        .config(ServerConfig::default().with_max_http_body(a.max_http_body))
        .http(pusher_rest)
        .bind(a.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", a.addr))?;
    out.status(format!(
        "pusher server on ws://{addr}/app/{} ; HTTP API on http://{addr}/apps/{}/events ; publish by writing {{\"channel\":..,\"event\":..,\"data\":..}} lines to stdin",
        a.key,
        a.app_id,
        addr = server.local_addr(),
    ));
    if !a.webhooks.is_empty() {
        out.status(format!("webhooks to {}", a.webhooks.join(", ")));
    }
    let handle = server.handle();
    crate::serve_loop(
        out,
        server,
        move |_, ev| {
            if let (HubEvent::Webhook(req), Some(sender)) = (ev, &sender) {
                sender.send(req.clone(), handle.clone());
                return webhook_line(req);
            }
            pusher::hub_line(ev)
        },
        pusher::publish_line,
    )
    .await
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
        let tls = crate::http::tls_config(None)?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .timeout(WEBHOOK_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot start the webhook client: {e}"))?;
        Ok(WebhookSender { client })
    }

    /// Sends `req` on a task of its own (never under the hub's lock) and reports the outcome.
    fn send(&self, req: WebhookRequest, handle: ServerHandle<Hub>) {
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
            handle.call(|hub| hub.webhook_response(Instant::now(), req.id, ok));
        });
    }
}

/// `feedwire serve pusher`'s HTTP route: the Channels HTTP API (`POST /apps/{id}/events`, `batch_events`,
/// `GET channels`, ...), signed as the official server SDKs sign it, checked against the current Unix time.
fn pusher_rest(hub: &mut Hub, req: feedwire_tungstenite::HttpRequest) -> feedwire_tungstenite::HttpResponse {
    let now_unix = out::unix_ms() / 1000;
    let resp = hub.handle_rest(
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
