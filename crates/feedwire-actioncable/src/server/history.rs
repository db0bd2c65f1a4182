//! AnyCable's reliable streams on the hub: a bounded buffer per stream, and the replays of history requests.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use feedwire_core::RawJson;

use crate::codec::HistoryRequest;

/// One message to replay: its stream, epoch, offset and payload.
pub(super) struct Replay {
    pub(super) stream: String,
    pub(super) epoch: String,
    pub(super) offset: u64,
    pub(super) message: RawJson,
}

#[derive(Debug)]
struct StreamHistory {
    epoch: String,
    next_offset: u64,
    entries: VecDeque<(u64, Instant, RawJson)>,
}

/// The history of every stream broadcast to.
#[derive(Debug, Default)]
pub(super) struct Histories {
    streams: HashMap<String, StreamHistory>,
}

impl Histories {
    /// How many streams have a history.
    pub(super) fn len(&self) -> usize {
        self.streams.len()
    }

    /// Records a broadcast on `stream` (kept when `now` is known, at most `limit` per stream); returns its
    /// epoch and offset.
    pub(super) fn append(
        &mut self,
        stream: &str,
        epoch: impl FnOnce() -> String,
        limit: usize,
        now: Option<Instant>,
        message: &RawJson,
    ) -> (String, u64) {
        let h = self
            .streams
            .entry(stream.to_owned())
            .or_insert_with(|| StreamHistory {
                epoch: epoch(),
                next_offset: 1,
                entries: VecDeque::new(),
            });
        let offset = h.next_offset;
        h.next_offset += 1;
        if let Some(now) = now {
            h.entries.push_back((offset, now, message.clone()));
        }
        while h.entries.len() > limit {
            h.entries.pop_front();
        }
        (h.epoch.clone(), offset)
    }

    /// Forgets messages older than `ttl`.
    pub(super) fn expire(&mut self, now: Instant, ttl: Duration) {
        for h in self.streams.values_mut() {
            while h
                .entries
                .front()
                .is_some_and(|e| now.saturating_duration_since(e.1) > ttl)
            {
                h.entries.pop_front();
            }
        }
    }

    /// What to replay for `req` on a subscription streaming from `streams`; `None` when it cannot be served
    /// (a position in an evicted range, another epoch, or an unknown stream). `unix_secs` reads the time a
    /// message was kept at, for `since`.
    pub(super) fn replay(
        &self,
        req: &HistoryRequest,
        streams: &[String],
        unix_secs: impl Fn(Instant) -> u64,
    ) -> Option<Vec<Replay>> {
        let mut replay = Vec::new();
        for stream in streams {
            let Some(h) = self.streams.get(stream) else {
                if req.streams.contains_key(stream) {
                    return None;
                }
                continue;
            };
            let entry = |(o, _, m): &(u64, Instant, RawJson)| Replay {
                stream: stream.clone(),
                epoch: h.epoch.clone(),
                offset: *o,
                message: m.clone(),
            };
            match req.streams.get(stream) {
                Some(p) => {
                    if p.epoch != h.epoch {
                        return None;
                    }
                    let oldest = h.entries.front().map(|e| e.0).unwrap_or(h.next_offset);
                    if p.offset.saturating_add(1) < oldest {
                        return None; // evicted
                    }
                    replay.extend(h.entries.iter().filter(|e| e.0 > p.offset).map(entry));
                }
                None => {
                    if let Some(since) = req.since {
                        replay.extend(h.entries.iter().filter(|e| unix_secs(e.1) >= since).map(entry));
                    }
                }
            }
        }
        Some(replay)
    }

    /// The buffers agree with themselves: at most `limit` entries per stream, offsets increasing and below
    /// the next one.
    #[cfg(feature = "fuzzing")]
    pub(super) fn check(&self, limit: usize) -> Result<(), String> {
        for (name, h) in &self.streams {
            if h.entries.len() > limit {
                return Err(format!(
                    "stream {name} keeps {} messages, limit {limit}",
                    h.entries.len()
                ));
            }
            let mut prev = 0;
            for (o, _, _) in &h.entries {
                if *o <= prev || *o >= h.next_offset {
                    return Err(format!(
                        "stream {name}: offset {o} after {prev}, next {}",
                        h.next_offset
                    ));
                }
                prev = *o;
            }
        }
        Ok(())
    }
}
