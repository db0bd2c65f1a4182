//! Webhooks in hosted Pusher's format, sans-IO: what to POST, where and when.
//!
//! A [`WebhookQueue`] collects the hub's webhook events, batches them per target and hands out ready
//! [`WebhookRequest`]s; the host POSTs each one and reports the outcome with
//! [`WebhookQueue::handle_response`], and a failed request is retried with exponential backoff. Nothing here
//! reads a clock: time comes in as `now`, the deadline goes out through [`WebhookQueue::poll_timeout`], and
//! `time_ms` is derived from the [`UnixAnchor`] of the [`WebhookConfig`].
//!
//! The body is hosted Pusher's: `{"time_ms":1327078148132,"events":[{"name":"channel_occupied",
//! "channel":"test"}]}`, signed with the app secret: `X-Pusher-Key` is the app key and `X-Pusher-Signature`
//! the hex HMAC-SHA256 of the body (what `pusher.webhook(req).isValid()` of the official SDKs checks).
//!
//! Bounds: at most [`WebhookConfig::max_batch`] events per request, at most
//! [`WebhookConfig::max_in_flight`] requests per target sent or waiting for a retry (while a target is at that
//! bound its events wait), at most [`WebhookConfig::max_pending`] events waiting per target (later ones are
//! dropped and counted), and a request that failed [`WebhookConfig::max_attempts`] times is dropped and
//! counted.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use feedwire_core::{Secret, UnixAnchor};
//! use feedwire_pusher::server::{WebhookConfig, WebhookEvent, WebhookQueue, WebhookTarget};
//!
//! let t0 = Instant::now();
//! let config = WebhookConfig::new(UnixAnchor::new(t0, 1_700_000_000_000))
//!     .with_target(WebhookTarget::new("http://127.0.0.1:8080/pusher/webhooks"));
//! let mut q = WebhookQueue::new(config, "app-key", Secret::new("app-secret".to_owned()));
//! q.push(t0, &WebhookEvent::ChannelOccupied { channel: "room" });
//! assert!(q.poll_request(t0).is_none()); // batched for `batch_delay`
//! let due = q.poll_timeout().unwrap();
//! let req = q.poll_request(due).unwrap();
//! assert_eq!(req.body, r#"{"time_ms":1700000000050,"events":[{"name":"channel_occupied","channel":"room"}]}"#);
//! assert_eq!(req.headers()[1].0, "X-Pusher-Signature");
//! q.handle_response(due, req.id, true);
//! assert_eq!(q.stats().delivered_events, 1);
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use feedwire_core::{Secret, UnixAnchor};
use serde::Serialize;

/// The kinds of webhook events (hosted Pusher's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum WebhookKind {
    /// `channel_occupied`: a channel got its first subscriber.
    ChannelOccupied,
    /// `channel_vacated`: a channel lost its last subscriber.
    ChannelVacated,
    /// `member_added`: a user joined a presence channel.
    MemberAdded,
    /// `member_removed`: a user left a presence channel.
    MemberRemoved,
    /// `client_event`: a client event was relayed.
    ClientEvent,
    /// `cache_miss`: a client subscribed to a cache channel with nothing cached.
    CacheMiss,
    /// `subscription_count`: the subscriber count of a channel changed (only with
    /// [`HubConfig::subscription_count`](super::HubConfig::subscription_count)).
    SubscriptionCount,
}

impl WebhookKind {
    /// Every kind.
    pub const ALL: [WebhookKind; 7] = [
        WebhookKind::ChannelOccupied,
        WebhookKind::ChannelVacated,
        WebhookKind::MemberAdded,
        WebhookKind::MemberRemoved,
        WebhookKind::ClientEvent,
        WebhookKind::CacheMiss,
        WebhookKind::SubscriptionCount,
    ];

    /// The wire name (`channel_occupied`, ...).
    pub fn name(self) -> &'static str {
        match self {
            WebhookKind::ChannelOccupied => "channel_occupied",
            WebhookKind::ChannelVacated => "channel_vacated",
            WebhookKind::MemberAdded => "member_added",
            WebhookKind::MemberRemoved => "member_removed",
            WebhookKind::ClientEvent => "client_event",
            WebhookKind::CacheMiss => "cache_miss",
            WebhookKind::SubscriptionCount => "subscription_count",
        }
    }

    /// The kind of a wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        WebhookKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for WebhookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One webhook event, borrowed from the hub's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
#[non_exhaustive]
pub enum WebhookEvent<'a> {
    /// A channel got its first subscriber.
    ChannelOccupied {
        /// The channel.
        channel: &'a str,
    },
    /// A channel lost its last subscriber.
    ChannelVacated {
        /// The channel.
        channel: &'a str,
    },
    /// A user joined a presence channel.
    MemberAdded {
        /// The channel.
        channel: &'a str,
        /// The user.
        user_id: &'a str,
    },
    /// A user left a presence channel.
    MemberRemoved {
        /// The channel.
        channel: &'a str,
        /// The user.
        user_id: &'a str,
    },
    /// A client event was relayed.
    ClientEvent {
        /// The channel.
        channel: &'a str,
        /// The event name (`client-*`).
        event: &'a str,
        /// The payload as a string (a JSON string's content, or the JSON text of anything else), as hosted
        /// Pusher sends it.
        data: &'a str,
        /// The sender's socket id.
        socket_id: &'a str,
        /// The sender's user id (presence channels only).
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<&'a str>,
    },
    /// A client subscribed to a cache channel with nothing cached.
    CacheMiss {
        /// The channel.
        channel: &'a str,
    },
    /// The subscriber count of a channel changed.
    SubscriptionCount {
        /// The channel.
        channel: &'a str,
        /// Its subscribers now.
        subscription_count: u64,
    },
}

impl WebhookEvent<'_> {
    /// The event's kind.
    pub fn kind(&self) -> WebhookKind {
        match self {
            WebhookEvent::ChannelOccupied { .. } => WebhookKind::ChannelOccupied,
            WebhookEvent::ChannelVacated { .. } => WebhookKind::ChannelVacated,
            WebhookEvent::MemberAdded { .. } => WebhookKind::MemberAdded,
            WebhookEvent::MemberRemoved { .. } => WebhookKind::MemberRemoved,
            WebhookEvent::ClientEvent { .. } => WebhookKind::ClientEvent,
            WebhookEvent::CacheMiss { .. } => WebhookKind::CacheMiss,
            WebhookEvent::SubscriptionCount { .. } => WebhookKind::SubscriptionCount,
        }
    }
}

/// Where webhooks go, and which.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookTarget {
    /// The URL the host POSTs to.
    pub url: String,
    /// The kinds sent there; `None`: every kind.
    pub kinds: Option<BTreeSet<WebhookKind>>,
}

impl WebhookTarget {
    /// A target receiving every kind.
    pub fn new(url: impl Into<String>) -> Self {
        WebhookTarget {
            url: url.into(),
            kinds: None,
        }
    }

    /// Restricts the target to `kinds`.
    pub fn with_kinds(mut self, kinds: impl IntoIterator<Item = WebhookKind>) -> Self {
        self.kinds = Some(kinds.into_iter().collect());
        self
    }

    fn wants(&self, kind: WebhookKind) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&kind))
    }
}

/// How webhooks are batched and retried.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WebhookConfig {
    /// The targets.
    pub targets: Vec<WebhookTarget>,
    /// Unix time of the hub's instants (for `time_ms`).
    pub unix_anchor: UnixAnchor,
    /// How long the first event of a batch waits for others (50 ms).
    pub batch_delay: Duration,
    /// Most events per request (100); a full batch is sent at once.
    pub max_batch: usize,
    /// Most events waiting per target (10,000); later ones are dropped and counted.
    pub max_pending: usize,
    /// Most requests per target sent and not answered, or waiting for a retry (8).
    pub max_in_flight: usize,
    /// Attempts per request, the first included (5).
    pub max_attempts: u32,
    /// The wait before the first retry (1 s), doubled for each later one.
    pub retry_delay: Duration,
    /// The longest wait between retries (60 s).
    pub max_retry_delay: Duration,
}

impl WebhookConfig {
    /// No targets yet, the defaults above, `time_ms` derived from `unix_anchor`.
    pub fn new(unix_anchor: UnixAnchor) -> Self {
        WebhookConfig {
            targets: Vec::new(),
            unix_anchor,
            batch_delay: Duration::from_millis(50),
            max_batch: 100,
            max_pending: 10_000,
            max_in_flight: 8,
            max_attempts: 5,
            retry_delay: Duration::from_secs(1),
            max_retry_delay: Duration::from_secs(60),
        }
    }

    /// Adds a target.
    pub fn with_target(mut self, target: WebhookTarget) -> Self {
        self.targets.push(target);
        self
    }

    /// Sets how long a batch waits for more events.
    pub fn with_batch_delay(mut self, d: Duration) -> Self {
        self.batch_delay = d;
        self
    }

    /// Sets the most events per request (at least 1).
    pub fn with_max_batch(mut self, n: usize) -> Self {
        self.max_batch = n.max(1);
        self
    }

    /// Sets the attempts per request (at least 1) and the first retry delay.
    pub fn with_retries(mut self, max_attempts: u32, retry_delay: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.retry_delay = retry_delay;
        self
    }
}

/// One POST to make: send `body` to `url` with [`headers`](Self::headers), then report the outcome with
/// [`WebhookQueue::handle_response`] (or `Hub::webhook_response`) and the same `id`.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookRequest {
    /// Identifies the request to [`WebhookQueue::handle_response`] (the same on every retry).
    pub id: u64,
    /// The index of the target in [`WebhookConfig::targets`].
    pub target: usize,
    /// Where to POST.
    pub url: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// How many events the body holds.
    pub events: usize,
    /// The JSON body.
    pub body: String,
    key: String,
    signature: String,
}

impl WebhookRequest {
    /// The headers to send: `Content-Type: application/json`, `X-Pusher-Key` and `X-Pusher-Signature`.
    pub fn headers(&self) -> [(&'static str, &str); 3] {
        [
            ("X-Pusher-Key", &self.key),
            ("X-Pusher-Signature", &self.signature),
            ("Content-Type", "application/json"),
        ]
    }
}

impl fmt::Debug for WebhookRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // the body may hold client data: its size only
        f.debug_struct("WebhookRequest")
            .field("id", &self.id)
            .field("target", &self.target)
            .field("url", &self.url)
            .field("attempt", &self.attempt)
            .field("events", &self.events)
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// What a [`WebhookQueue`] has done.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WebhookStats {
    /// Requests answered with success.
    pub delivered_requests: u64,
    /// Events in them.
    pub delivered_events: u64,
    /// Attempts that failed (each retry counts).
    pub failed_attempts: u64,
    /// Events dropped: over `max_pending`, or in a request that failed `max_attempts` times.
    pub dropped_events: u64,
    /// Events waiting to be batched.
    pub pending_events: usize,
    /// Requests sent and not answered, or waiting for a retry.
    pub in_flight: usize,
}

struct Lane {
    pending: VecDeque<String>,
    /// When the pending batch is due (set by its first event).
    due: Option<Instant>,
    in_flight: usize,
}

struct InFlight {
    request: WebhookRequest,
    /// `Some`: failed, to be sent again then; `None`: with the host.
    retry_at: Option<Instant>,
}

/// Batches webhook events per target and retries failed requests. See the [module documentation](self).
pub struct WebhookQueue {
    config: WebhookConfig,
    key: String,
    secret: Secret<String>,
    lanes: Vec<Lane>,
    in_flight: BTreeMap<u64, InFlight>,
    next_id: u64,
    stats: WebhookStats,
}

impl fmt::Debug for WebhookQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookQueue")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl WebhookQueue {
    /// A queue signing with the app's `key` and `secret`.
    pub fn new(config: WebhookConfig, key: &str, secret: Secret<String>) -> Self {
        WebhookQueue {
            lanes: config
                .targets
                .iter()
                .map(|_| Lane {
                    pending: VecDeque::new(),
                    due: None,
                    in_flight: 0,
                })
                .collect(),
            config,
            key: key.to_owned(),
            secret,
            in_flight: BTreeMap::new(),
            next_id: 1,
            stats: WebhookStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    /// Queues `event` for every target that wants its kind.
    pub fn push(&mut self, now: Instant, event: &WebhookEvent<'_>) {
        let kind = event.kind();
        let mut json = None;
        for (target, lane) in self.config.targets.iter().zip(&mut self.lanes) {
            if !target.wants(kind) {
                continue;
            }
            if lane.pending.len() >= self.config.max_pending {
                self.stats.dropped_events += 1;
                continue;
            }
            let Some(text) = json
                .get_or_insert_with(|| serde_json::to_string(event).ok())
                .clone()
            else {
                return;
            };
            lane.pending.push_back(text);
            let due = if lane.pending.len() >= self.config.max_batch {
                now
            } else {
                lane.due.unwrap_or(now + self.config.batch_delay)
            };
            lane.due = Some(due);
        }
    }

    /// When [`poll_request`](Self::poll_request) next has something: a batch is due or a retry is.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let batches = self
            .lanes
            .iter()
            .filter(|l| l.in_flight < self.config.max_in_flight)
            .filter_map(|l| l.due);
        let retries = self.in_flight.values().filter_map(|f| f.retry_at);
        batches.chain(retries).min()
    }

    /// The next request to send at `now`: a retry that is due, else a batch that is due.
    pub fn poll_request(&mut self, now: Instant) -> Option<WebhookRequest> {
        if let Some(f) = self
            .in_flight
            .values_mut()
            .filter(|f| f.retry_at.is_some_and(|t| t <= now))
            .min_by_key(|f| f.retry_at)
        {
            f.retry_at = None;
            f.request.attempt += 1;
            return Some(f.request.clone());
        }
        let max_in_flight = self.config.max_in_flight;
        let (target, lane) = self
            .lanes
            .iter_mut()
            .enumerate()
            .find(|(_, l)| l.in_flight < max_in_flight && l.due.is_some_and(|d| d <= now))?;
        let n = lane.pending.len().min(self.config.max_batch);
        let events: Vec<String> = lane.pending.drain(..n).collect();
        lane.due = match lane.pending.len() {
            0 => None,
            m if m >= self.config.max_batch => Some(now),
            _ => Some(now + self.config.batch_delay),
        };
        lane.in_flight += 1;
        let body = format!(
            r#"{{"time_ms":{},"events":[{}]}}"#,
            self.config.unix_anchor.unix_ms(now),
            events.join(",")
        );
        let signature = crate::auth::signature(&self.secret, &body);
        let id = self.next_id;
        self.next_id += 1;
        let request = WebhookRequest {
            id,
            target,
            url: self.config.targets[target].url.clone(),
            attempt: 1,
            events: events.len(),
            body,
            key: self.key.clone(),
            signature,
        };
        self.in_flight.insert(
            id,
            InFlight {
                request: request.clone(),
                retry_at: None,
            },
        );
        Some(request)
    }

    /// The outcome of request `id` at `now`: `ok` (a 2xx answer) forgets it; a failure schedules a retry
    /// after `retry_delay * 2^(attempt-1)` (at most `max_retry_delay`), or drops it after `max_attempts`.
    /// Unknown ids and requests not with the host are ignored.
    pub fn handle_response(&mut self, now: Instant, id: u64, ok: bool) {
        let Some(f) = self.in_flight.get_mut(&id) else {
            return;
        };
        if f.retry_at.is_some() {
            return;
        }
        if !ok {
            self.stats.failed_attempts += 1;
            if f.request.attempt < self.config.max_attempts {
                let factor = 1u32 << (f.request.attempt - 1).min(16);
                let wait = self
                    .config
                    .retry_delay
                    .saturating_mul(factor)
                    .min(self.config.max_retry_delay);
                f.retry_at = Some(now + wait);
                return;
            }
        }
        let Some(f) = self.in_flight.remove(&id) else {
            return;
        };
        if let Some(lane) = self.lanes.get_mut(f.request.target) {
            lane.in_flight = lane.in_flight.saturating_sub(1);
        }
        let events = f.request.events as u64;
        if ok {
            self.stats.delivered_requests += 1;
            self.stats.delivered_events += events;
        } else {
            self.stats.dropped_events += events;
        }
    }

    /// What the queue has done and holds.
    pub fn stats(&self) -> WebhookStats {
        WebhookStats {
            pending_events: self.lanes.iter().map(|l| l.pending.len()).sum(),
            in_flight: self.in_flight.len(),
            ..self.stats
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // one real Instant as the virtual clock's origin
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn queue(t0: Instant, config: impl FnOnce(WebhookConfig) -> WebhookConfig) -> WebhookQueue {
        let c = config(
            WebhookConfig::new(UnixAnchor::new(t0, 1_000_000)).with_target(WebhookTarget::new("http://a/")),
        );
        WebhookQueue::new(c, "app-key", Secret::new("app-secret".to_owned()))
    }

    fn occupied(ch: &str) -> WebhookEvent<'_> {
        WebhookEvent::ChannelOccupied { channel: ch }
    }

    #[test]
    fn events_wait_for_the_batch_delay_then_go_in_one_signed_request() {
        let t0 = Instant::now();
        let mut q = queue(t0, |c| c);
        q.push(t0, &occupied("a"));
        q.push(
            t0 + 10 * MS,
            &WebhookEvent::MemberAdded {
                channel: "presence-a",
                user_id: "u1",
            },
        );
        q.push(
            t0 + 20 * MS,
            &WebhookEvent::ClientEvent {
                channel: "private-a",
                event: "client-x",
                data: r#"{"n":1}"#,
                socket_id: "1.2",
                user_id: None,
            },
        );
        assert_eq!(
            q.poll_timeout(),
            Some(t0 + 50 * MS),
            "the first event sets the deadline"
        );
        assert!(q.poll_request(t0 + 49 * MS).is_none());
        let r = q.poll_request(t0 + 50 * MS).expect("due");
        assert_eq!(
            r.body,
            r#"{"time_ms":1000050,"events":[{"name":"channel_occupied","channel":"a"},{"name":"member_added","channel":"presence-a","user_id":"u1"},{"name":"client_event","channel":"private-a","event":"client-x","data":"{\"n\":1}","socket_id":"1.2"}]}"#
        );
        assert_eq!((r.events, r.attempt, r.url.as_str()), (3, 1, "http://a/"));
        // the signature is hex HMAC-SHA256 of the body with the secret (checked against a known vector in
        // auth's tests): recompute it here independently of the queue
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"app-secret").unwrap();
        mac.update(r.body.as_bytes());
        let expected = hex::encode(mac.finalize().into_bytes());
        assert_eq!(
            r.headers(),
            [
                ("X-Pusher-Key", "app-key"),
                ("X-Pusher-Signature", expected.as_str()),
                ("Content-Type", "application/json")
            ]
        );
        assert_eq!(
            q.poll_timeout(),
            None,
            "nothing left, and the request is with the host"
        );
        q.handle_response(t0 + 60 * MS, r.id, true);
        let s = q.stats();
        assert_eq!((s.delivered_requests, s.delivered_events, s.in_flight), (1, 3, 0));
    }

    #[test]
    fn a_full_batch_goes_at_once_and_the_rest_waits() {
        let t0 = Instant::now();
        let mut q = queue(t0, |c| c.with_max_batch(2));
        q.push(t0, &occupied("a"));
        q.push(t0, &occupied("b"));
        q.push(t0, &occupied("c"));
        assert_eq!(q.poll_timeout(), Some(t0));
        let r = q.poll_request(t0).unwrap();
        assert_eq!(r.events, 2);
        assert_eq!(q.poll_timeout(), Some(t0 + 50 * MS));
        assert!(q.poll_request(t0 + 10 * MS).is_none());
        let r2 = q.poll_request(t0 + 50 * MS).unwrap();
        assert_eq!(r2.events, 1);
        assert!(r2.body.contains(r#""channel":"c""#));
        assert_ne!(r.id, r2.id);
    }

    #[test]
    fn failures_are_retried_with_doubling_backoff_then_dropped() {
        let t0 = Instant::now();
        let mut q = queue(t0, |c| c.with_retries(3, Duration::from_secs(1)));
        q.push(t0, &occupied("a"));
        let r = q.poll_request(t0 + 50 * MS).unwrap();
        let t1 = t0 + 100 * MS;
        q.handle_response(t1, r.id, false);
        assert_eq!(q.poll_timeout(), Some(t1 + Duration::from_secs(1)));
        assert!(q.poll_request(t1 + 999 * MS).is_none());
        let again = q.poll_request(t1 + Duration::from_secs(1)).unwrap();
        assert_eq!((again.id, again.attempt), (r.id, 2));
        assert_eq!(again.body, r.body, "a retry sends the same signed body");
        let t2 = t1 + Duration::from_secs(1);
        q.handle_response(t2, r.id, false);
        assert_eq!(q.poll_timeout(), Some(t2 + Duration::from_secs(2)), "doubled");
        let third = q.poll_request(t2 + Duration::from_secs(2)).unwrap();
        assert_eq!(third.attempt, 3);
        q.handle_response(t2 + Duration::from_secs(2), r.id, false);
        let s = q.stats();
        assert_eq!((s.failed_attempts, s.dropped_events, s.in_flight), (3, 1, 0));
        assert_eq!(q.poll_timeout(), None);
    }

    #[test]
    fn targets_filter_kinds_and_batch_separately() {
        let t0 = Instant::now();
        let c = WebhookConfig::new(UnixAnchor::new(t0, 0))
            .with_target(WebhookTarget::new("http://all/"))
            .with_target(WebhookTarget::new("http://presence/").with_kinds([WebhookKind::MemberAdded]));
        let mut q = WebhookQueue::new(c, "k", Secret::new("s".to_owned()));
        q.push(t0, &occupied("a"));
        q.push(
            t0,
            &WebhookEvent::MemberAdded {
                channel: "presence-a",
                user_id: "u",
            },
        );
        let due = t0 + 50 * MS;
        let mut got: Vec<(String, usize)> = std::iter::from_fn(|| q.poll_request(due))
            .map(|r| (r.url, r.events))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [("http://all/".to_owned(), 2), ("http://presence/".to_owned(), 1)]
        );
    }

    #[test]
    fn a_dead_target_holds_at_most_max_in_flight_requests_and_max_pending_events() {
        let t0 = Instant::now();
        let mut q = queue(t0, |mut c| {
            c.max_in_flight = 2;
            c.max_pending = 3;
            c.with_max_batch(1)
        });
        for ch in ["a", "b", "c", "d", "e", "f"] {
            q.push(t0, &occupied(ch));
        }
        assert_eq!(q.stats().dropped_events, 3, "over max_pending");
        assert!(q.poll_request(t0).is_some());
        assert!(q.poll_request(t0).is_some());
        assert!(q.poll_request(t0).is_none(), "two in flight: the third waits");
        assert_eq!(q.poll_timeout(), None, "nothing to do until the host answers");
        q.handle_response(t0, 1, true);
        assert_eq!(q.poll_timeout(), Some(t0));
        assert!(q.poll_request(t0).is_some());
        assert_eq!(q.stats().pending_events, 0);
    }

    #[test]
    fn kinds_round_trip_their_names() {
        for k in WebhookKind::ALL {
            assert_eq!(WebhookKind::from_name(k.name()), Some(k));
        }
        assert_eq!(WebhookKind::from_name("nope"), None);
    }

    /// The hub fills the queue and hands requests out as events at its deadlines.
    #[test]
    fn the_hub_raises_webhooks_at_its_deadline_and_retries_them() {
        use crate::server::{Hub, HubConfig, HubEvent};
        use feedwire_core::{ConnId, Frame, Hub as _, OpenRequest};
        let t0 = Instant::now();
        let hooks = WebhookConfig::new(UnixAnchor::new(t0, 5_000))
            .with_target(WebhookTarget::new("http://hooks/"))
            .with_retries(2, Duration::from_secs(1));
        let mut hub = Hub::new(HubConfig::default().with_webhooks(hooks));
        let webhooks = |hub: &mut Hub| {
            std::iter::from_fn(|| hub.poll_event())
                .filter_map(|e| match e {
                    HubEvent::Webhook(r) => Some(r),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        hub.handle_open(t0, ConnId(1), &OpenRequest::new("/app/app-key?protocol=7"));
        hub.handle_frame(
            t0 + 10 * MS,
            ConnId(1),
            Frame::from(r#"{"event":"pusher:subscribe","data":{"channel":"cache-room"}}"#),
        );
        hub.handle_close(t0 + 20 * MS, ConnId(1), None);
        while hub.poll_transmit().is_some() {}
        assert!(webhooks(&mut hub).is_empty(), "batched");
        let due = hub.poll_timeout().unwrap();
        assert_eq!(due, t0 + 60 * MS, "the first event's time plus the batch delay");
        hub.handle_timeout(due);
        let got = webhooks(&mut hub);
        assert_eq!(got.len(), 1);
        assert_eq!(
            got[0].body,
            r#"{"time_ms":5060,"events":[{"name":"channel_occupied","channel":"cache-room"},{"name":"cache_miss","channel":"cache-room"},{"name":"channel_vacated","channel":"cache-room"}]}"#
        );
        hub.webhook_response(due, got[0].id, false);
        assert_eq!(hub.poll_timeout(), Some(due + Duration::from_secs(1)));
        hub.handle_timeout(due + Duration::from_secs(1));
        let again = webhooks(&mut hub);
        assert_eq!((again.len(), again[0].attempt), (1, 2));
        hub.webhook_response(due + Duration::from_secs(1), again[0].id, true);
        assert_eq!(hub.webhook_stats().unwrap().delivered_events, 3);
        assert_eq!(hub.poll_timeout(), None);
    }
}
