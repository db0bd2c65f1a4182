//! The hub's indexes: a connection's subscriptions by identifier (in subscribe order) and the confirmed
//! subscriptions of each stream (issue 19: no scans over other connections or subscriptions).
//!
//! Both are ordered maps (`BTreeMap`), not hash maps: iteration order is deterministic (no ambient randomness)
//! and every lookup is O(log n) string comparisons.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use feedwire_core::{ConnId, HubOutbox};

use super::HubEvent;

/// One subscription of one connection.
#[derive(Debug, Clone)]
pub(super) struct HubSub {
    pub(super) identifier: Arc<str>,
    pub(super) confirmed: bool,
    /// The streams it streams from, in `stream_from` order, without duplicates.
    pub(super) streams: Vec<String>,
}

/// A connection's subscriptions: by a per-connection sequence number (subscribe order, for `subscriptions_of`
/// and AnyCable restores) and by identifier.
#[derive(Debug, Default)]
pub(super) struct Subs {
    by_seq: BTreeMap<u64, HubSub>,
    by_id: BTreeMap<Arc<str>, u64>,
    next_seq: u64,
}

impl Subs {
    pub(super) fn contains(&self, identifier: &str) -> bool {
        self.by_id.contains_key(identifier)
    }

    pub(super) fn by_seq(&self, seq: u64) -> Option<&HubSub> {
        self.by_seq.get(&seq)
    }

    pub(super) fn get_mut(&mut self, identifier: &str) -> Option<(u64, &mut HubSub)> {
        let seq = *self.by_id.get(identifier)?;
        self.by_seq.get_mut(&seq).map(|s| (seq, s))
    }

    /// Adds `sub` after the others; `None` (and nothing added) when its identifier is already there.
    pub(super) fn push(&mut self, sub: HubSub) -> Option<u64> {
        if self.by_id.contains_key(&*sub.identifier) {
            return None;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_id.insert(sub.identifier.clone(), seq);
        self.by_seq.insert(seq, sub);
        Some(seq)
    }

    pub(super) fn remove(&mut self, identifier: &str) -> Option<(u64, HubSub)> {
        let seq = self.by_id.remove(identifier)?;
        self.by_seq.remove(&seq).map(|s| (seq, s))
    }

    /// The subscriptions in subscribe order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &HubSub)> {
        self.by_seq.iter().map(|(k, v)| (*k, v))
    }

    /// Takes every subscription out, in subscribe order.
    pub(super) fn take_all(&mut self) -> Vec<(u64, HubSub)> {
        self.by_id.clear();
        std::mem::take(&mut self.by_seq).into_iter().collect()
    }

    /// The two maps agree (fuzzing checks).
    #[cfg(feature = "fuzzing")]
    pub(super) fn check(&self) -> Result<(), String> {
        if self.by_id.len() != self.by_seq.len() {
            return Err(format!(
                "{} identifiers indexed for {} subscriptions",
                self.by_id.len(),
                self.by_seq.len()
            ));
        }
        for (id, seq) in &self.by_id {
            match self.by_seq.get(seq) {
                Some(s) if s.identifier == *id => {}
                _ => {
                    return Err(format!(
                        "identifier index points to the wrong subscription ({seq})"
                    ));
                }
            }
            if *seq >= self.next_seq {
                return Err(format!("subscription {seq} beyond the next sequence number"));
            }
        }
        for (seq, sub) in &self.by_seq {
            for (i, s) in sub.streams.iter().enumerate() {
                if sub.streams[..i].contains(s) {
                    return Err(format!("subscription {seq} streams twice from one stream"));
                }
            }
        }
        Ok(())
    }
}

/// Which confirmed subscriptions stream from each stream; a stream has an entry only while it has at least one.
#[derive(Debug, Default)]
pub(super) struct StreamIndex {
    map: BTreeMap<String, BTreeSet<(ConnId, u64)>>,
    /// Queue `StreamStarted` / `StreamStopped` (config `stream_events`).
    events: bool,
}

type Out = HubOutbox<HubEvent>;

impl StreamIndex {
    pub(super) fn new(events: bool) -> Self {
        StreamIndex {
            map: BTreeMap::new(),
            events,
        }
    }

    /// The subscriptions (connection, sequence number) streaming from `stream`, ordered by connection, then
    /// subscribe order.
    pub(super) fn subscribers(&self, stream: &str) -> Option<&BTreeSet<(ConnId, u64)>> {
        self.map.get(stream)
    }

    /// The streams with at least one confirmed subscriber, in byte order.
    pub(super) fn streams(&self) -> impl Iterator<Item = &str> + '_ {
        self.map.keys().map(String::as_str)
    }

    pub(super) fn add(&mut self, out: &mut Out, stream: &str, key: (ConnId, u64)) {
        let set = match self.map.get_mut(stream) {
            Some(set) => set,
            None => self.map.entry(stream.to_owned()).or_default(),
        };
        let first = set.is_empty();
        set.insert(key);
        if first && self.events {
            out.push_event_kept(HubEvent::StreamStarted {
                stream: stream.to_owned(),
            });
        }
    }

    pub(super) fn remove(&mut self, out: &mut Out, stream: &str, key: (ConnId, u64)) {
        let Some(set) = self.map.get_mut(stream) else {
            return;
        };
        if set.remove(&key) && set.is_empty() {
            self.map.remove(stream);
            if self.events {
                out.push_event_kept(HubEvent::StreamStopped {
                    stream: stream.to_owned(),
                });
            }
        }
    }

    /// Indexes every stream of `sub` (when it is confirmed).
    pub(super) fn add_sub(&mut self, out: &mut Out, conn: ConnId, seq: u64, sub: &HubSub) {
        if sub.confirmed {
            for s in &sub.streams {
                self.add(out, s, (conn, seq));
            }
        }
    }

    /// Un-indexes every stream of `sub` (when it was confirmed).
    pub(super) fn remove_sub(&mut self, out: &mut Out, conn: ConnId, seq: u64, sub: &HubSub) {
        if sub.confirmed {
            for s in &sub.streams {
                self.remove(out, s, (conn, seq));
            }
        }
    }

    /// The index holds exactly the confirmed subscriptions' streams of `conns` (fuzzing checks).
    #[cfg(feature = "fuzzing")]
    pub(super) fn check<'a>(
        &self,
        conns: impl Iterator<Item = (ConnId, &'a Subs)> + Clone,
    ) -> Result<(), String> {
        let mut expected = 0usize;
        for (conn, subs) in conns.clone() {
            for (seq, sub) in subs.iter() {
                if !sub.confirmed {
                    continue;
                }
                for s in &sub.streams {
                    expected += 1;
                    if !self
                        .map
                        .get(s.as_str())
                        .is_some_and(|set| set.contains(&(conn, seq)))
                    {
                        return Err(format!(
                            "{conn:?} subscription {seq} streams from a stream the index misses"
                        ));
                    }
                }
            }
        }
        let mut indexed = 0usize;
        for set in self.map.values() {
            if set.is_empty() {
                return Err(String::from("an empty stream kept in the index"));
            }
            indexed += set.len();
        }
        if indexed != expected {
            return Err(format!(
                "{indexed} indexed stream subscriptions, {expected} in the connections"
            ));
        }
        Ok(())
    }
}
