//! The apps the hub knows: their connections, and the events they missed while away, kept 10 minutes for
//! replay, as Doshii does.
//!
//! Everything is indexed by client id, and the backlogs by when they next expire, so a connect, a
//! disconnect or a publish touches only its own app and the entries that expired: nothing scans every app
//! seen in the last ten minutes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use feedwire_core::{ConnId, Frame};

/// How long undelivered app events are kept for replay: 10 minutes, as Doshii does.
pub const BACKLOG_WINDOW: Duration = Duration::from_secs(10 * 60);

/// One event kept for an app key that was away.
pub(super) struct Backlogged {
    pub at: Instant,
    pub name: String,
    pub location_id: Option<String>,
    pub frame: Frame,
}

/// One app key's (client id and device) undelivered events, and when its last connection ended.
#[derive(Default)]
struct KeyBacklog {
    since: Option<Instant>,
    queue: VecDeque<Backlogged>,
    /// The key's entry in [`Apps::expiry`].
    indexed: Option<Instant>,
}

/// One client id: its open connections (with their device) and the backlogs of its keys that are away.
#[derive(Default)]
struct App {
    conns: BTreeMap<ConnId, Option<String>>,
    keys: BTreeMap<Option<String>, KeyBacklog>,
}

/// Every app with a connection or a backlog.
#[derive(Default)]
pub(super) struct Apps {
    apps: BTreeMap<String, App>,
    /// One entry per backlog: the earliest instant that matters to it (its oldest event, or when its
    /// connection ended), so pruning visits only what expired.
    expiry: BTreeSet<(Instant, String, Option<String>)>,
}

fn expired(now: Instant, t: Instant) -> bool {
    now.saturating_duration_since(t) > BACKLOG_WINDOW
}

impl Apps {
    /// The connections of `client_id` and their devices.
    pub fn conns_of<'a>(&'a self, client_id: &str) -> impl Iterator<Item = (ConnId, Option<&'a str>)> + 'a {
        self.apps
            .get(client_id)
            .into_iter()
            .flat_map(|app| app.conns.iter().map(|(c, d)| (*c, d.as_deref())))
    }

    /// `conn` opened for the key (`client_id`, `device`): the key's backlog, oldest first, to replay.
    pub fn open(
        &mut self,
        now: Instant,
        conn: ConnId,
        client_id: &str,
        device: Option<&str>,
    ) -> VecDeque<Backlogged> {
        self.prune(now);
        let app = self.apps.entry(client_id.to_owned()).or_default();
        app.conns.insert(conn, device.map(str::to_owned));
        let key = device.map(str::to_owned);
        match app.keys.remove(&key) {
            Some(b) => {
                if let Some(t) = b.indexed {
                    self.expiry.remove(&(t, client_id.to_owned(), key));
                }
                b.queue
            }
            None => VecDeque::new(),
        }
    }

    /// `conn` of `client_id` closed: when it was its key's last connection, events for the key are
    /// backlogged from now on.
    pub fn close(&mut self, now: Instant, conn: ConnId, client_id: &str) {
        if let Some(app) = self.apps.get_mut(client_id)
            && let Some(device) = app.conns.remove(&conn)
            && !app.conns.values().any(|d| *d == device)
        {
            let b = app.keys.entry(device.clone()).or_default();
            b.since = Some(now);
            reindex(&mut self.expiry, client_id, &device, b, now);
        }
        self.forget_if_empty(client_id);
        self.prune(now);
    }

    /// Keeps `item` for every key of `client_id` that is known (it had a backlog or a connection) and not
    /// connected now; with no connection at all, the plain key (no device) keeps it too. Each backlog keeps
    /// its `max` newest events.
    pub fn backlog(&mut self, now: Instant, client_id: &str, item: Backlogged, max: usize) {
        self.prune(now);
        let app = self.apps.entry(client_id.to_owned()).or_default();
        if app.conns.is_empty() {
            app.keys.entry(None).or_default();
        }
        let App { conns, keys } = app;
        let mut item = Some(item);
        let mut away = keys
            .iter_mut()
            .filter(|(device, _)| !conns.values().any(|d| d == *device))
            .peekable();
        while let Some((device, b)) = away.next() {
            if b.queue.len() >= max.max(1) {
                b.queue.pop_front();
            }
            // the last key takes the item itself, the others a copy (the frame is shared, not copied)
            let this = if away.peek().is_some() {
                item.as_ref().map(|i| Backlogged {
                    at: i.at,
                    name: i.name.clone(),
                    location_id: i.location_id.clone(),
                    frame: i.frame.clone(),
                })
            } else {
                item.take()
            };
            if let Some(this) = this {
                b.queue.push_back(this);
            }
            reindex(&mut self.expiry, client_id, device, b, now);
        }
        self.forget_if_empty(client_id);
    }

    /// Events waiting for replay for `client_id` (all of its devices).
    pub fn backlog_len(&self, client_id: &str) -> usize {
        self.apps
            .get(client_id)
            .map_or(0, |app| app.keys.values().map(|b| b.queue.len()).sum())
    }

    /// Drops the events older than the window, and the keys with nothing to replay that have been away
    /// longer than the window. Visits only the expired index entries.
    pub fn prune(&mut self, now: Instant) {
        while let Some((t, client_id, device)) = self.expiry.first().cloned() {
            if !expired(now, t) {
                break;
            }
            self.expiry.pop_first();
            let Some(app) = self.apps.get_mut(&client_id) else {
                continue;
            };
            let Some(b) = app.keys.get_mut(&device) else {
                continue;
            };
            b.indexed = None;
            while b.queue.front().is_some_and(|e| expired(now, e.at)) {
                b.queue.pop_front();
            }
            reindex(&mut self.expiry, &client_id, &device, b, now);
            if b.indexed.is_none() {
                app.keys.remove(&device);
            }
            self.forget_if_empty(&client_id);
        }
    }

    fn forget_if_empty(&mut self, client_id: &str) {
        if self
            .apps
            .get(client_id)
            .is_some_and(|app| app.conns.is_empty() && app.keys.is_empty())
        {
            self.apps.remove(client_id);
        }
    }

    /// The index is consistent with the backlogs, every backlog is within `max` events, no app is empty,
    /// and every connection of an app is in `conns`.
    #[cfg(feature = "fuzzing")]
    pub fn check(&self, max: usize, is_open: impl Fn(ConnId) -> bool) -> Result<(), String> {
        let mut indexed = 0;
        for (client_id, app) in &self.apps {
            if app.conns.is_empty() && app.keys.is_empty() {
                return Err(format!("app {client_id} kept with nothing in it"));
            }
            if let Some(c) = app.conns.keys().find(|c| !is_open(**c)) {
                return Err(format!("app {client_id} lists closed connection {c:?}"));
            }
            for (device, b) in &app.keys {
                if b.queue.len() > max.max(1) {
                    return Err(format!(
                        "backlog of {client_id} {device:?}: {} events",
                        b.queue.len()
                    ));
                }
                let Some(t) = b.indexed else {
                    return Err(format!("backlog of {client_id} {device:?} not indexed"));
                };
                if !self.expiry.contains(&(t, client_id.clone(), device.clone())) {
                    return Err(format!("index entry of {client_id} {device:?} missing"));
                }
                indexed += 1;
            }
        }
        if indexed != self.expiry.len() {
            return Err(format!(
                "{} index entries for {indexed} backlogs",
                self.expiry.len()
            ));
        }
        Ok(())
    }
}

/// Re-files `b` in the index at the earliest instant that still matters to it: its oldest event, or when
/// its connection ended if that is within the window. A backlog with neither is left unindexed (the caller
/// drops it).
fn reindex(
    expiry: &mut BTreeSet<(Instant, String, Option<String>)>,
    client_id: &str,
    device: &Option<String>,
    b: &mut KeyBacklog,
    now: Instant,
) {
    let since = b.since.filter(|t| !expired(now, *t));
    let at = match (b.queue.front().map(|e| e.at), since) {
        (Some(a), Some(s)) => Some(a.min(s)),
        (a, s) => a.or(s),
    };
    if at == b.indexed {
        return;
    }
    if let Some(old) = b.indexed.take() {
        expiry.remove(&(old, client_id.to_owned(), device.clone()));
    }
    if let Some(at) = at {
        expiry.insert((at, client_id.to_owned(), device.clone()));
        b.indexed = Some(at);
    }
}
