//! What the hub keeps per connection and per channel, and the invariants that tie them together.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use bytestring::ByteString;
use feedwire_core::{ConnId, RawJson};

/// One open connection (the handshake done).
pub(super) struct Conn {
    pub(super) socket_id: ByteString,
    /// Channels this connection is subscribed to, with its presence user id where it has one.
    pub(super) channels: BTreeMap<String, Option<String>>,
    pub(super) deadline: Instant,
    pub(super) pinged: bool,
    pub(super) user_id: Option<String>,
    pub(super) window_start: Instant,
    pub(super) window_count: u32,
}

/// One occupied channel.
#[derive(Default)]
pub(super) struct Channel {
    pub(super) subscribers: BTreeSet<ConnId>,
    /// Presence: user id -> (info, connections of that user on this channel).
    pub(super) members: BTreeMap<String, (Option<RawJson>, u32)>,
}

/// The `data` of a presence channel's `subscription_succeeded`: `{"presence":{"ids","hash","count"}}`.
pub(super) fn presence_data(members: &BTreeMap<&str, Option<&RawJson>>) -> String {
    let mut ids = Vec::new();
    let mut hash = serde_json::Map::new();
    for (id, info) in members {
        ids.push(serde_json::Value::from(*id));
        let info = info
            .and_then(|i| serde_json::from_str::<serde_json::Value>(i.as_str()).ok())
            .unwrap_or(serde_json::Value::Null);
        hash.insert((*id).to_owned(), info);
    }
    let count = ids.len();
    serde_json::json!({ "presence": { "ids": ids, "hash": hash, "count": count } }).to_string()
}

/// Every internal index agrees with every other: connections and channel subscriber sets mirror each other,
/// presence member counts equal the number of that user's subscribed connections, every connection has
/// exactly one deadline, socket ids index exactly the open connections, and no channel is kept empty.
#[cfg(feature = "fuzzing")]
pub(super) fn check(
    conns: &BTreeMap<ConnId, Conn>,
    by_socket_id: &BTreeMap<ByteString, ConnId>,
    channels: &BTreeMap<String, Channel>,
    deadlines: &BTreeSet<(Instant, ConnId)>,
) -> Result<(), String> {
    if deadlines.len() != conns.len() {
        return Err(format!(
            "{} deadlines for {} connections",
            deadlines.len(),
            conns.len()
        ));
    }
    if by_socket_id.len() != conns.len() {
        return Err(format!(
            "{} socket ids for {} connections",
            by_socket_id.len(),
            conns.len()
        ));
    }
    for (id, c) in conns {
        if !deadlines.contains(&(c.deadline, *id)) {
            return Err(format!("{id:?} deadline not indexed"));
        }
        if by_socket_id.get(&c.socket_id) != Some(id) {
            return Err(format!("{id:?} socket id not indexed"));
        }
        for ch in c.channels.keys() {
            let Some(chan) = channels.get(ch) else {
                return Err(format!("{id:?} on {ch} that does not exist"));
            };
            if !chan.subscribers.contains(id) {
                return Err(format!("{id:?} missing from {ch}'s subscribers"));
            }
        }
    }
    for (name, chan) in channels {
        if chan.subscribers.is_empty() {
            return Err(format!("empty channel {name} kept"));
        }
        for id in &chan.subscribers {
            let Some(c) = conns.get(id) else {
                return Err(format!("{name} lists closed {id:?}"));
            };
            if !c.channels.contains_key(name) {
                return Err(format!("{name} lists {id:?}, which does not list it"));
            }
        }
        for (user, (_, n)) in &chan.members {
            let holders = chan
                .subscribers
                .iter()
                .filter(|id| {
                    conns
                        .get(id)
                        .and_then(|c| c.channels.get(name))
                        .is_some_and(|u| u.as_deref() == Some(user))
                })
                .count();
            if u32::try_from(holders) != Ok(*n) {
                return Err(format!("{name}: member {user} counted {n}, held by {holders}"));
            }
        }
    }
    Ok(())
}
