//! The Redis link: one pub/sub connection that follows a set of channels, one multiplexed connection that
//! publishes, both reconnecting with capped backoff, and counters.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

use crate::Error;

/// Where the link is and how it behaves. `Debug` hides the URL's password.
#[derive(Clone)]
pub struct LinkConfig {
    url: String,
    /// First wait before reconnecting: doubled after each failure up to `reconnect_max`, each wait plus up to
    /// 20% jitter (core's [`Backoff`](feedwire_core::Backoff)), so that nodes that lost Redis together do not
    /// all come back in the same instant.
    pub reconnect_min: Duration,
    /// Longest wait between two reconnect attempts.
    pub reconnect_max: Duration,
    /// How often the subscriber connection is pinged: a Redis that stops answering is noticed within
    /// `ping_interval + io_timeout`.
    pub ping_interval: Duration,
    /// How long a connect, a ping, a subscribe or a publish may take before the connection counts as lost.
    pub io_timeout: Duration,
    /// How many messages wait to be published while Redis is slow or away; one more is dropped and counted
    /// ([`LinkStats::dropped`]).
    pub publish_queue: usize,
}

impl LinkConfig {
    /// A link to `url` (`redis://[user:password@]host[:port][/db]`) with the defaults: reconnect after 100 ms
    /// doubling to 5 s, a ping every 2 s, 2 s for any Redis round trip, 65,536 messages waiting at most.
    pub fn new(url: impl Into<String>) -> Self {
        LinkConfig {
            url: url.into(),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            ping_interval: Duration::from_secs(2),
            io_timeout: Duration::from_secs(2),
            publish_queue: 65_536,
        }
    }

    /// The URL with its password replaced by `***` (for logs).
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

impl fmt::Debug for LinkConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkConfig")
            .field("url", &self.redacted_url())
            .field("reconnect_min", &self.reconnect_min)
            .field("reconnect_max", &self.reconnect_max)
            .field("ping_interval", &self.ping_interval)
            .field("io_timeout", &self.io_timeout)
            .field("publish_queue", &self.publish_queue)
            .finish()
    }
}

fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// The state of the subscriber connection (the one that tells whether other nodes can be heard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected yet.
    Connecting,
    /// Connected and subscribed to every channel asked for.
    Up,
    /// Lost; reconnecting with backoff.
    Down,
}

/// What the link has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkStats {
    /// Whether the subscriber connection is up.
    pub up: bool,
    /// Messages published.
    pub published: u64,
    /// Messages received on the followed channels.
    pub received: u64,
    /// Messages not published: the queue was full while Redis was slow or away.
    pub dropped: u64,
    /// Times the subscriber connection was lost.
    pub disconnects: u64,
}

#[derive(Default)]
struct Meters {
    up: AtomicBool,
    published: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    disconnects: AtomicU64,
}

enum Control {
    Subscribe(String),
    Unsubscribe(String),
}

type OnMessage = Box<dyn FnMut(&str, &[u8]) + Send>;
type OnUp = Box<dyn FnMut() + Send>;

/// A running link to Redis: follows channels, publishes, reconnects by itself. It runs on a thread of its own
/// (a single-threaded tokio runtime), so that a server busy writing a fan-out to thousands of connections does
/// not hold back what goes to and comes from the other nodes; the thread ends when the link is dropped.
pub struct Link {
    control: mpsc::UnboundedSender<Control>,
    publish: mpsc::Sender<(String, Vec<u8>)>,
    state: watch::Receiver<LinkState>,
    meters: Arc<Meters>,
    tasks: Vec<AbortHandle>,
    url: String,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("url", &self.url)
            .field("state", &*self.state.borrow())
            .field("stats", &self.stats())
            .finish()
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Link {
    /// Starts the link on a thread of its own (no runtime is needed by the caller). Fails only on a URL Redis
    /// cannot use, or when the thread cannot start; an unreachable Redis is retried forever, and reported
    /// through [`state`](Self::state) and the `tracing` log.
    ///
    /// `on_message` gets each message received on a followed channel (its Redis channel and payload), on
    /// the link's task: keep it short. `on_up` runs each time the subscriber connection is (re)established,
    /// after every followed channel is subscribed: what was published while it was down is lost, so this is
    /// where the owner resynchronizes.
    pub fn start(
        config: LinkConfig,
        on_message: impl FnMut(&str, &[u8]) + Send + 'static,
        on_up: impl FnMut() + Send + 'static,
    ) -> Result<Link, Error> {
        let on_message: OnMessage = Box::new(on_message);
        let on_up: OnUp = Box::new(on_up);
        let client = redis::Client::open(config.url.as_str()).map_err(|e| Error::Url {
            url: config.redacted_url(),
            reason: e.to_string(),
        })?;
        let meters = Arc::new(Meters::default());
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (publish_tx, publish_rx) = mpsc::channel(config.publish_queue.max(1));
        let (state_tx, state_rx) = watch::channel(LinkState::Connecting);
        let sub = Subscriber {
            client: client.clone(),
            config: config.clone(),
            control: control_rx,
            wanted: BTreeSet::new(),
            on_message,
            on_up,
            state: state_tx,
            meters: meters.clone(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Thread)?;
        let sub = rt.spawn(sub.run());
        let publ = rt.spawn(publisher(client, config.clone(), publish_rx, meters.clone()));
        let tasks = vec![sub.abort_handle(), publ.abort_handle()];
        std::thread::Builder::new()
            .name("feedwire-redis".into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = sub.await;
                    let _ = publ.await;
                });
            })
            .map_err(Error::Thread)?;
        Ok(Link {
            control: control_tx,
            publish: publish_tx,
            state: state_rx,
            meters,
            tasks,
            url: config.redacted_url(),
        })
    }

    /// Follows `channel` (now, and again after every reconnect).
    pub fn subscribe(&self, channel: impl Into<String>) {
        let _ = self.control.send(Control::Subscribe(channel.into()));
    }

    /// Stops following `channel`.
    pub fn unsubscribe(&self, channel: impl Into<String>) {
        let _ = self.control.send(Control::Unsubscribe(channel.into()));
    }

    /// Queues `payload` to be published on `channel`; `false` when it was dropped (and counted) because
    /// [`LinkConfig::publish_queue`] messages already wait. Messages are published in order; one that fails
    /// is retried after the reconnect, so a Redis that is away for a while gets what waited when it returns.
    pub fn publish(&self, channel: impl Into<String>, payload: impl Into<Vec<u8>>) -> bool {
        match self.publish.try_send((channel.into(), payload.into())) {
            Ok(()) => true,
            Err(_) => {
                self.meters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// The subscriber connection's state now.
    pub fn state(&self) -> LinkState {
        *self.state.borrow()
    }

    /// A receiver that sees every change of [`state`](Self::state).
    pub fn watch_state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }

    /// The counters.
    pub fn stats(&self) -> LinkStats {
        let m = &self.meters;
        LinkStats {
            up: m.up.load(Ordering::Relaxed),
            published: m.published.load(Ordering::Relaxed),
            received: m.received.load(Ordering::Relaxed),
            dropped: m.dropped.load(Ordering::Relaxed),
            disconnects: m.disconnects.load(Ordering::Relaxed),
        }
    }
}

struct Subscriber {
    client: redis::Client,
    config: LinkConfig,
    control: mpsc::UnboundedReceiver<Control>,
    wanted: BTreeSet<String>,
    on_message: OnMessage,
    on_up: OnUp,
    state: watch::Sender<LinkState>,
    meters: Arc<Meters>,
}

/// Why a session of the subscriber connection ended.
enum End {
    /// The `Link` is gone.
    Dropped,
    Lost(String),
}

impl Subscriber {
    async fn run(mut self) {
        let mut backoff = backoff(&self.config);
        loop {
            match self.session().await {
                End::Dropped => return,
                End::Lost(why) => {
                    if self.meters.up.swap(false, Ordering::Relaxed) {
                        self.meters.disconnects.fetch_add(1, Ordering::Relaxed);
                        backoff.reset();
                    }
                    if *self.state.borrow() != LinkState::Down {
                        tracing::warn!(
                            url = %self.config.redacted_url(),
                            "redis link down ({why}); local clients are still served, reconnecting"
                        );
                    }
                    self.state.send_replace(LinkState::Down);
                }
            }
            // wait out the backoff, still taking subscription changes
            let until = tokio::time::Instant::now() + backoff.next_delay();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => break,
                    c = self.control.recv() => match c {
                        None => return,
                        Some(c) => { self.apply_offline(c); }
                    },
                }
            }
        }
    }

    fn apply_offline(&mut self, c: Control) {
        match c {
            Control::Subscribe(ch) => {
                self.wanted.insert(ch);
            }
            Control::Unsubscribe(ch) => {
                self.wanted.remove(&ch);
            }
        }
    }

    /// One connection: connect, subscribe to everything wanted, then serve messages, changes and pings until
    /// something fails.
    async fn session(&mut self) -> End {
        let io = self.config.io_timeout;
        let pubsub = match tokio::time::timeout(io, self.client.get_async_pubsub()).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return End::Lost(e.to_string()),
            Err(_) => return End::Lost("connect timed out".into()),
        };
        let (mut sink, mut stream) = pubsub.split();
        // changes that came while connecting
        while let Ok(c) = self.control.try_recv() {
            self.apply_offline(c);
        }
        if !self.wanted.is_empty() {
            let all: Vec<&str> = self.wanted.iter().map(String::as_str).collect();
            match tokio::time::timeout(io, sink.subscribe(&all)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return End::Lost(e.to_string()),
                Err(_) => return End::Lost("subscribe timed out".into()),
            }
        }
        self.meters.up.store(true, Ordering::Relaxed);
        if *self.state.borrow() == LinkState::Down {
            tracing::info!(url = %self.config.redacted_url(), "redis link up again");
        }
        // the owner resynchronizes before anyone watching sees the link up
        (self.on_up)();
        self.state.send_replace(LinkState::Up);
        let mut ping = tokio::time::interval(self.config.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                m = stream.next() => match m {
                    Some(msg) => {
                        self.meters.received.fetch_add(1, Ordering::Relaxed);
                        (self.on_message)(msg.get_channel_name(), msg.get_payload_bytes());
                    }
                    None => return End::Lost("connection closed".into()),
                },
                c = self.control.recv() => {
                    let r = match c {
                        None => return End::Dropped,
                        Some(Control::Subscribe(ch)) => {
                            if !self.wanted.insert(ch.clone()) { continue; }
                            tokio::time::timeout(io, sink.subscribe(&ch)).await
                        }
                        Some(Control::Unsubscribe(ch)) => {
                            if !self.wanted.remove(&ch) { continue; }
                            tokio::time::timeout(io, sink.unsubscribe(&ch)).await
                        }
                    };
                    match r {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return End::Lost(e.to_string()),
                        Err(_) => return End::Lost("subscribe timed out".into()),
                    }
                }
                _ = ping.tick() => {
                    match tokio::time::timeout(io, sink.ping::<redis::Value>()).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return End::Lost(e.to_string()),
                        Err(_) => return End::Lost("ping timed out".into()),
                    }
                }
            }
        }
    }
}

async fn publisher(
    client: redis::Client,
    config: LinkConfig,
    mut rx: mpsc::Receiver<(String, Vec<u8>)>,
    meters: Arc<Meters>,
) {
    let io = config.io_timeout;
    let mut conn: Option<redis::aio::MultiplexedConnection> = None;
    let mut backoff = backoff(&config);
    while let Some((channel, payload)) = rx.recv().await {
        // retried until it is published: what waits behind it waits in the bounded queue
        loop {
            let c = match &mut conn {
                Some(c) => c,
                None => {
                    let connected =
                        match tokio::time::timeout(io, client.get_multiplexed_async_connection()).await {
                            Ok(r) => r.map_err(|e| e.to_string()),
                            Err(_) => Err("timed out".to_owned()),
                        };
                    match connected {
                        Ok(c) => conn.insert(c),
                        Err(why) => {
                            tracing::debug!("redis publisher: connect failed: {why}");
                            tokio::time::sleep(backoff.next_delay()).await;
                            continue;
                        }
                    }
                }
            };
            let mut cmd = redis::cmd("PUBLISH");
            cmd.arg(&channel).arg(&payload[..]);
            match tokio::time::timeout(io, cmd.query_async::<i64>(c)).await {
                Ok(Ok(_)) => {
                    meters.published.fetch_add(1, Ordering::Relaxed);
                    backoff.reset();
                    break;
                }
                Ok(Err(e)) => tracing::debug!("redis publisher: {e}"),
                Err(_) => tracing::debug!("redis publisher: publish timed out"),
            }
            conn = None;
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }
}

/// The reconnect delays of `config` (core's capped exponential backoff with jitter), seeded from the
/// process's hasher keys: an adapter may draw randomness, and two links should not reconnect in step.
fn backoff(config: &LinkConfig) -> feedwire_core::Backoff {
    use std::hash::{BuildHasher, Hasher};
    let seed = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let c = feedwire_core::BackoffConfig::default()
        .with_initial(config.reconnect_min)
        .with_max(config.reconnect_max);
    feedwire_core::Backoff::new(c, seed)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(
            redact("redis://:s3cret@10.0.0.1:6379/2"),
            "redis://:***@10.0.0.1:6379/2"
        );
        assert_eq!(redact("redis://app:s3cret@h/0"), "redis://app:***@h/0");
        assert_eq!(redact("redis://h:6379"), "redis://h:6379");
        assert_eq!(redact("rediss://u:p@x@h"), "rediss://u:***@h");
    }
}

/// The link's figures in a `prometheus-client` registry (feature `metrics`): read from its atomics at each
/// scrape.
#[cfg(feature = "metrics")]
mod metrics {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;

    use super::Meters;

    #[derive(Debug)]
    pub(super) struct Figures(pub(super) Arc<Meters>);

    impl std::fmt::Debug for Meters {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Meters").finish_non_exhaustive()
        }
    }

    impl Collector for Figures {
        fn encode(&self, mut enc: DescriptorEncoder<'_>) -> std::fmt::Result {
            let m = &self.0;
            let up = ConstGauge::new(i64::from(m.up.load(Ordering::Relaxed)));
            up.encode(enc.encode_descriptor(
                "link_up",
                "1 while the subscriber connection to Redis is up, 0 while it is lost",
                None,
                up.metric_type(),
            )?)?;
            let counters = [
                ("published", "Messages published to Redis", &m.published),
                (
                    "received",
                    "Messages received from Redis on the followed channels",
                    &m.received,
                ),
                (
                    "dropped",
                    "Messages not published: the publish queue was full while Redis was slow or away",
                    &m.dropped,
                ),
                (
                    "disconnects",
                    "Times the subscriber connection to Redis was lost",
                    &m.disconnects,
                ),
            ];
            for (name, help, v) in counters {
                let c = ConstCounter::new(v.load(Ordering::Relaxed));
                c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)?;
            }
            Ok(())
        }
    }
}

#[cfg(feature = "metrics")]
impl Link {
    /// Registers the link's figures into `registry` as `feedwire_redis_*` metrics, read at each scrape:
    /// `link_up` (gauge), `published`, `received`, `dropped`, `disconnects` (counters).
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        registry
            .sub_registry_with_prefix("feedwire_redis")
            .register_collector(Box::new(metrics::Figures(self.meters.clone())));
    }
}
