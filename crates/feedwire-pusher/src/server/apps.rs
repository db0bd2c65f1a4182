//! Several Pusher apps on one server: [`Apps`] routes WebSocket connections by the key in `/app/{key}` and
//! HTTP API requests by the id in `/apps/{id}/...` to one [`Hub`] per app.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use feedwire_core::{Close, ConnId, Frame, HubTransmit, OpenRequest};

use super::{ClusterMessage, Hub, HubConfig, HubEvent};

/// An event of one app's hub: `app` is its index in the configurations given to [`Apps::new`] (`None` for a
/// connection refused because its key names no enabled app).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct AppEvent {
    /// The app's index.
    pub app: Option<usize>,
    /// What its hub said.
    pub event: HubEvent,
}

/// One [`Hub`] per app behind one [`feedwire_core::Hub`]: a connection to `/app/{key}` goes to the app with
/// that key, an HTTP API request to `/apps/{id}/...` to the app with that id. A key or id of no app, or of a
/// disabled one, is refused as one hub refuses an unknown app (close 4001 after `pusher:error`; the HTTP API
/// answers as for a request signed for another app).
///
/// ```
/// use std::time::Instant;
/// use feedwire_core::{ConnId, Hub as _, HubTransmit, OpenRequest};
/// use feedwire_pusher::server::{Apps, HubConfig};
///
/// let mut apps = Apps::new(vec![HubConfig::new("1", "key-a", "s1"), HubConfig::new("2", "key-b", "s2")]);
/// let now = Instant::now();
/// apps.handle_open(now, ConnId(1), &OpenRequest::new("/app/key-b?protocol=7"));
/// assert_eq!(apps.app(1).unwrap().connection_count(), 1);
/// apps.handle_open(now, ConnId(2), &OpenRequest::new("/app/key-c?protocol=7"));
/// let closed = std::iter::from_fn(|| apps.poll_transmit())
///     .any(|(c, t)| c == ConnId(2) && matches!(t, HubTransmit::Close(c) if c.code.0 == 4001));
/// assert!(closed);
/// ```
#[derive(Debug)]
pub struct Apps {
    hubs: Vec<Hub>,
    enabled: Vec<bool>,
    /// Refuses connections to unknown keys (its key can never be in a path: it holds a `/`).
    nobody: Hub,
    by_key: HashMap<String, usize>,
    by_id: HashMap<String, usize>,
    conns: BTreeMap<ConnId, Option<usize>>,
    /// Where `poll_transmit` and `poll_event` start, so no app starves the others.
    turn: usize,
}

impl Apps {
    /// All apps enabled.
    pub fn new(configs: Vec<HubConfig>) -> Self {
        let enabled = vec![true; configs.len()];
        Apps::with_enabled(configs.into_iter().zip(enabled))
    }

    /// Apps with their enabled flag: a disabled app's key and id are refused like unknown ones.
    pub fn with_enabled(apps: impl IntoIterator<Item = (HubConfig, bool)>) -> Self {
        let mut a = Apps {
            hubs: Vec::new(),
            enabled: Vec::new(),
            nobody: Hub::new(HubConfig::new("/", "/", "")),
            by_key: HashMap::new(),
            by_id: HashMap::new(),
            conns: BTreeMap::new(),
            turn: 0,
        };
        for (i, (config, on)) in apps.into_iter().enumerate() {
            if on {
                a.by_key.entry(config.key.clone()).or_insert(i);
                a.by_id.entry(config.app_id.clone()).or_insert(i);
            }
            a.hubs.push(Hub::new(config));
            a.enabled.push(on);
        }
        a
    }

    /// The hub of app `i`.
    pub fn app(&self, i: usize) -> Option<&Hub> {
        self.hubs.get(i)
    }

    /// The hub of app `i`, to publish on or to report a webhook's outcome to.
    pub fn app_mut(&mut self, i: usize) -> Option<&mut Hub> {
        self.hubs.get_mut(i)
    }

    /// The index of the enabled app with id `id`.
    pub fn by_id(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// How many apps (enabled or not).
    pub fn len(&self) -> usize {
        self.hubs.len()
    }

    /// Whether there is no app.
    pub fn is_empty(&self) -> bool {
        self.hubs.is_empty()
    }

    /// Serves an HTTP API request with the hub of the app its path names (`/apps/{id}/...`); see
    /// [`Hub::handle_rest`].
    #[cfg(feature = "rest")]
    pub fn handle_rest(
        &mut self,
        req: &crate::rest::RestRequest<'_>,
        now_unix: u64,
    ) -> crate::rest::RestResponse {
        let id = req
            .path
            .strip_prefix("/apps/")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or("");
        match self.by_id.get(id).copied().and_then(|i| self.hubs.get_mut(i)) {
            Some(hub) => hub.handle_rest(req, now_unix),
            None => self.nobody.handle_rest(req, now_unix),
        }
    }

    /// Hands a message of another node to the hub of the enabled app whose id it names
    /// ([`ClusterMessage::app_id`]); a message for no such app is ignored. See [`Hub::handle_cluster`].
    pub fn handle_cluster(&mut self, now: Instant, msg: ClusterMessage) {
        if let Some(hub) = self
            .by_id
            .get(msg.app_id())
            .copied()
            .and_then(|i| self.hubs.get_mut(i))
        {
            hub.handle_cluster(now, msg);
        }
    }

    /// The broker link came back: every app's hub sends its snapshot at once. See [`Hub::cluster_resync`].
    pub fn cluster_resync(&mut self, now: Instant) {
        for hub in &mut self.hubs {
            hub.cluster_resync(now);
        }
    }

    fn hub_of(&mut self, conn: ConnId) -> Option<&mut Hub> {
        match self.conns.get(&conn)? {
            Some(i) => self.hubs.get_mut(*i),
            None => Some(&mut self.nobody),
        }
    }

    fn key_of(path: &str) -> Option<&str> {
        path.rsplit_once("/app/").map(|(_, k)| k)
    }
}

impl feedwire_core::Hub for Apps {
    type Event = AppEvent;

    fn handle_open(&mut self, now: Instant, conn: ConnId, request: &OpenRequest) {
        let app = Apps::key_of(request.path()).and_then(|k| self.by_key.get(k).copied());
        self.conns.insert(conn, app);
        if let Some(hub) = self.hub_of(conn) {
            hub.handle_open(now, conn, request);
        }
    }

    fn handle_frame(&mut self, now: Instant, conn: ConnId, frame: Frame) {
        if let Some(hub) = self.hub_of(conn) {
            hub.handle_frame(now, conn, frame);
        }
    }

    fn handle_close(&mut self, now: Instant, conn: ConnId, close: Option<Close>) {
        if let Some(hub) = self.hub_of(conn) {
            hub.handle_close(now, conn, close);
        }
        self.conns.remove(&conn);
    }

    fn handle_timeout(&mut self, now: Instant) {
        for hub in &mut self.hubs {
            if hub.poll_timeout().is_some_and(|t| t <= now) {
                hub.handle_timeout(now);
            }
        }
    }

    fn handle_shutdown(&mut self, now: Instant) {
        for hub in &mut self.hubs {
            hub.handle_shutdown(now);
        }
    }

    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
        let t = self.nobody.poll_transmit().or_else(|| {
            let n = self.hubs.len();
            (0..n).find_map(|k| {
                let i = (self.turn + k) % n;
                let t = self.hubs[i].poll_transmit();
                if t.is_some() {
                    self.turn = (i + 1) % n;
                }
                t
            })
        })?;
        if matches!(t.1, HubTransmit::Close(_)) {
            self.conns.remove(&t.0);
        }
        Some(t)
    }

    fn poll_event(&mut self) -> Option<AppEvent> {
        if let Some(event) = self.nobody.poll_event() {
            return Some(AppEvent { app: None, event });
        }
        let n = self.hubs.len();
        (0..n).find_map(|k| {
            let i = (self.turn + k) % n;
            self.hubs[i]
                .poll_event()
                .map(|event| AppEvent { app: Some(i), event })
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.hubs
            .iter()
            .filter_map(feedwire_core::Hub::poll_timeout)
            .min()
    }
}
