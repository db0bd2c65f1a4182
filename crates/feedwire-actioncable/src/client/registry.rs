//! The subscriptions: local handles, the server subscriptions they share, and where each stands on the
//! current connection.

use std::time::{Duration, Instant};

use crate::codec::{HistoryRequest, IdentifierStr, StreamPosition};
use crate::identifier::Identifier;

use super::event::{Event, SubscriptionId};

/// Where one server subscription stands on the current connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SubState {
    /// Not sent on this connection; `send_at` delays it (the resubscribe cooldown).
    Wanted {
        send_at: Option<Instant>,
    },
    /// Sent; confirm or reject awaited until `deadline`.
    Pending {
        deadline: Instant,
        attempts: u32,
    },
    Confirmed,
    /// Neither confirm nor reject came after every retry.
    TimedOut,
}

/// An AnyCable stream position seen on a subscription.
#[derive(Debug, Clone)]
struct Stream {
    id: String,
    epoch: String,
    offset: u64,
}

/// One server subscription, shared by `refs` local handles.
#[derive(Debug, Clone)]
pub(super) struct Sub {
    pub(super) id: Identifier,
    pub(super) refs: u32,
    pub(super) state: SubState,
    /// Whether the server ever confirmed it (a later confirmation is a resubscription).
    pub(super) confirmed_once: bool,
    /// Since when it has been down (a confirmed subscription whose connection went away).
    pub(super) down_since: Option<Instant>,
    /// Whether a history request went out on this connection and is not answered yet.
    pub(super) history_pending: bool,
    streams: Vec<Stream>,
    /// The server's spelling of the identifier literal on this connection (Rails escapes `<`, `>` and `&`
    /// as `\u003c`...), learned from the first frame that names it, usually the confirmation.
    wire_id: Option<Box<str>>,
}

/// What [`Registry::add`] did.
pub(super) enum Added {
    /// A new server subscription, at this index.
    New(usize),
    /// Another handle of an existing subscription; `confirmed` when the server already confirmed it.
    Shared { confirmed: bool },
}

/// A subscription the server just confirmed.
pub(super) struct Confirmation {
    pub(super) id: Identifier,
    /// Whether it had been confirmed before (a resubscription).
    pub(super) reconnected: bool,
    /// Since when it was down, if it was.
    pub(super) down: Option<Instant>,
}

/// A subscription timer that fired.
pub(super) enum Due {
    /// Send subscription `i`'s subscribe (again).
    Send(usize),
    /// Neither confirm nor reject came after every retry.
    TimedOut { identifier: Identifier, attempts: u32 },
}

/// Every subscription of the session, and the handles the application holds.
#[derive(Debug, Default)]
pub(super) struct Registry {
    subs: Vec<Sub>,
    handles: Vec<(SubscriptionId, Identifier)>,
    next_handle: u64,
    /// Identifiers unsubscribed lately, and until when they may not be subscribed again.
    cooldowns: Vec<(Identifier, Instant)>,
    /// Since when the session has been without a connection (taken by the recovery).
    down_since: Option<Instant>,
    /// After a reconnect: the subscriptions confirmed again, and how long each was down.
    recovery: Option<Vec<(Identifier, Duration)>>,
}

impl Registry {
    pub(super) fn len(&self) -> usize {
        self.subs.len()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Sub> {
        self.subs.iter()
    }

    pub(super) fn get(&self, i: usize) -> Option<&Sub> {
        self.subs.get(i)
    }

    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut Sub> {
        self.subs.get_mut(i)
    }

    /// The identifier of subscription `i`.
    pub(super) fn id(&self, i: usize) -> Option<Identifier> {
        self.subs.get(i).map(|s| s.id.clone())
    }

    pub(super) fn contains(&self, id: &Identifier) -> bool {
        self.subs.iter().any(|s| &s.id == id)
    }

    pub(super) fn is_confirmed(&self, id: &Identifier) -> bool {
        self.subs
            .iter()
            .any(|s| &s.id == id && s.state == SubState::Confirmed)
    }

    pub(super) fn has_handle(&self, handle: SubscriptionId) -> bool {
        self.handles.iter().any(|(h, _)| *h == handle)
    }

    /// A new handle on `id`, sharing its subscription when there is one.
    pub(super) fn add(&mut self, id: Identifier) -> (SubscriptionId, Added) {
        self.next_handle += 1;
        let handle = SubscriptionId(self.next_handle);
        self.handles.push((handle, id.clone()));
        if let Some(sub) = self.subs.iter_mut().find(|s| s.id == id) {
            sub.refs += 1;
            let confirmed = sub.state == SubState::Confirmed;
            return (handle, Added::Shared { confirmed });
        }
        self.subs.push(Sub {
            id,
            refs: 1,
            state: SubState::Wanted { send_at: None },
            confirmed_once: false,
            down_since: None,
            history_pending: false,
            streams: Vec::new(),
            wire_id: None,
        });
        (handle, Added::New(self.subs.len() - 1))
    }

    /// Drops a handle; returns its subscription when this was the last handle (the subscription is gone
    /// too), with whether a subscribe had been sent for it on this connection.
    pub(super) fn remove_handle(&mut self, handle: SubscriptionId) -> Option<(Identifier, bool)> {
        let pos = self.handles.iter().position(|(h, _)| *h == handle)?;
        let (_, id) = self.handles.remove(pos);
        let i = self.subs.iter().position(|s| s.id == id)?;
        let sub = self.subs.get_mut(i)?;
        sub.refs = sub.refs.saturating_sub(1);
        if sub.refs > 0 {
            return None;
        }
        let sent = !matches!(sub.state, SubState::Wanted { .. });
        self.subs.remove(i);
        Some((id, sent))
    }

    /// Forgets subscription `i` and every handle on it (a rejection).
    pub(super) fn remove(&mut self, i: usize) -> Option<Sub> {
        if i >= self.subs.len() {
            return None;
        }
        let sub = self.subs.remove(i);
        self.handles.retain(|(_, id)| *id != sub.id);
        Some(sub)
    }

    /// The subscription a frame's identifier names. A literal spelled as the server spelled it before is
    /// found with one byte comparison; otherwise escapes are decoded to compare, and the spelling is
    /// remembered (one allocation per subscription and connection, so data frames allocate nothing).
    #[inline]
    pub(super) fn find(&mut self, id: &IdentifierStr<'_>) -> Option<usize> {
        if let Some(raw) = id.literal()
            && let Some(i) = self.subs.iter().position(|s| s.wire_id.as_deref() == Some(raw))
        {
            return Some(i);
        }
        let i = self.subs.iter().position(|s| id.eq_str(s.id.as_str()))?;
        if let (Some(sub), Some(raw)) = (self.subs.get_mut(i), id.literal())
            && sub.wire_id.is_none()
        {
            sub.wire_id = Some(raw.into());
        }
        Some(i)
    }

    /// Subscription `i` is to be sent: pending until `deadline` (its identifier returned, to send), or waiting
    /// for the end of its cooldown (`None`).
    pub(super) fn begin_subscribe(
        &mut self,
        i: usize,
        now: Instant,
        deadline: Instant,
    ) -> Option<Identifier> {
        let cooldown = self.cooldown_of(&self.subs.get(i)?.id, now);
        let sub = self.subs.get_mut(i)?;
        if let Some(until) = cooldown {
            sub.state = SubState::Wanted { send_at: Some(until) };
            return None;
        }
        let attempts = match sub.state {
            SubState::Pending { attempts, .. } => attempts + 1,
            _ => 1,
        };
        sub.state = SubState::Pending { deadline, attempts };
        Some(sub.id.clone())
    }

    /// The server confirmed subscription `i` (at `now`); `None` when it already had (a duplicate confirm).
    pub(super) fn confirm(&mut self, i: usize, now: Instant) -> Option<Confirmation> {
        let sub = self.subs.get_mut(i)?;
        if sub.state == SubState::Confirmed {
            return None;
        }
        sub.state = SubState::Confirmed;
        let reconnected = sub.confirmed_once;
        sub.confirmed_once = true;
        let down = sub.down_since.take();
        if let (Some(rec), Some(since)) = (self.recovery.as_mut(), down) {
            rec.push((sub.id.clone(), now.saturating_duration_since(since)));
        }
        Some(Confirmation {
            id: sub.id.clone(),
            reconnected,
            down,
        })
    }

    /// A reconnect was welcomed: track the subscriptions until every one is settled.
    pub(super) fn start_recovery(&mut self) {
        self.recovery = Some(Vec::new());
    }

    /// The [`Event::Recovered`] of a reconnect whose subscriptions are all confirmed (or timed out or
    /// rejected) by `now`; `None` while some are still waited for, or when no reconnect is being tracked.
    pub(super) fn recovered(&mut self, now: Instant) -> Option<Event> {
        if self.recovery.is_none() || self.any_unsettled() {
            return None;
        }
        let subscriptions = self.recovery.take().unwrap_or_default();
        let outage = self
            .down_since
            .take()
            .map(|t| now.saturating_duration_since(t))
            .unwrap_or_default();
        Some(Event::Recovered {
            outage,
            subscriptions,
            still_down: self.timed_out(),
        })
    }

    /// The timers that fired by `now`: cooldowns that ended (sent now) and confirmations not answered in
    /// time (sent again while `attempts <= retries`, then given up).
    pub(super) fn due(&mut self, now: Instant, retries: u32) -> Vec<Due> {
        self.cooldowns.retain(|(_, until)| *until > now);
        let mut due = Vec::new();
        for (i, sub) in self.subs.iter_mut().enumerate() {
            match sub.state {
                SubState::Wanted { send_at: Some(t) } if t <= now => {
                    sub.state = SubState::Wanted { send_at: None };
                    due.push(Due::Send(i));
                }
                SubState::Pending { deadline, attempts } if deadline <= now => {
                    if attempts <= retries {
                        due.push(Due::Send(i));
                    } else {
                        sub.state = SubState::TimedOut;
                        due.push(Due::TimedOut {
                            identifier: sub.id.clone(),
                            attempts,
                        });
                    }
                }
                _ => {}
            }
        }
        due
    }

    /// Until when `id` may not be subscribed again, if that is after `now`.
    fn cooldown_of(&self, id: &Identifier, now: Instant) -> Option<Instant> {
        self.cooldowns
            .iter()
            .find(|(c, _)| c == id)
            .map(|(_, until)| *until)
            .filter(|until| *until > now)
    }

    /// `id` may not be subscribed again before `until`.
    pub(super) fn start_cooldown(&mut self, id: Identifier, now: Instant, until: Instant) {
        self.cooldowns.retain(|(c, t)| *t > now && *c != id);
        self.cooldowns.push((id, until));
    }

    /// The connection is gone: every subscription is wanted again on the next one, and confirmed ones are
    /// down from `since`.
    pub(super) fn all_down(&mut self, since: Instant) {
        self.down_since.get_or_insert(since);
        for sub in &mut self.subs {
            if sub.state == SubState::Confirmed && sub.down_since.is_none() {
                sub.down_since = Some(since);
            }
            sub.state = SubState::Wanted { send_at: None };
            sub.history_pending = false;
            sub.wire_id = None; // the next server may spell identifiers differently
        }
    }

    /// Records an AnyCable stream position on subscription `i`; `false` when the message is a replayed
    /// duplicate (at or before the last offset seen in the same epoch).
    pub(super) fn record_stream(&mut self, i: usize, stream_id: &str, epoch: &str, offset: u64) -> bool {
        let Some(sub) = self.subs.get_mut(i) else {
            return true;
        };
        match sub.streams.iter_mut().find(|s| s.id == stream_id) {
            Some(s) if s.epoch == epoch && offset <= s.offset => return false,
            Some(s) => {
                if s.epoch != epoch {
                    s.epoch = epoch.to_owned();
                }
                s.offset = offset;
            }
            None => sub.streams.push(Stream {
                id: stream_id.to_owned(),
                epoch: epoch.to_owned(),
                offset,
            }),
        }
        true
    }

    /// The history request that catches subscription `i` up (from `since`, Unix seconds, and its stream
    /// positions); `None` when it has seen no stream.
    pub(super) fn history_request(&self, i: usize, since: Option<u64>) -> Option<HistoryRequest> {
        let sub = self.subs.get(i)?;
        if sub.streams.is_empty() {
            return None;
        }
        let mut h = HistoryRequest {
            since,
            ..HistoryRequest::default()
        };
        for s in &sub.streams {
            h.streams.insert(
                s.id.clone(),
                StreamPosition {
                    epoch: s.epoch.clone(),
                    offset: s.offset,
                },
            );
        }
        Some(h)
    }

    /// Whether a subscription still waits to be sent or answered.
    fn any_unsettled(&self) -> bool {
        self.subs
            .iter()
            .any(|s| matches!(s.state, SubState::Wanted { .. } | SubState::Pending { .. }))
    }

    /// The subscriptions that timed out.
    fn timed_out(&self) -> Vec<Identifier> {
        self.subs
            .iter()
            .filter(|s| s.state == SubState::TimedOut)
            .map(|s| s.id.clone())
            .collect()
    }

    /// The earliest subscription deadline (confirmation timeouts, cooldowns).
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.subs
            .iter()
            .filter_map(|s| match s.state {
                SubState::Pending { deadline, .. } => Some(deadline),
                SubState::Wanted { send_at } => send_at,
                _ => None,
            })
            .min()
    }

    /// The bookkeeping agrees with itself and with the connection: `open` (the transport is up) and
    /// `welcomed` (the server welcomed it).
    #[cfg(feature = "fuzzing")]
    pub(super) fn check(&self, open: bool, welcomed: bool) -> Result<(), String> {
        for (i, sub) in self.subs.iter().enumerate() {
            if self.subs[..i].iter().any(|s| s.id == sub.id) {
                return Err(format!("two subscriptions for {}", sub.id));
            }
            let handles = self.handles.iter().filter(|(_, id)| *id == sub.id).count();
            if sub.refs == 0 || usize::try_from(sub.refs).ok() != Some(handles) {
                return Err(format!("{} has {} refs and {handles} handles", sub.id, sub.refs));
            }
            let fresh = sub.state == (SubState::Wanted { send_at: None });
            if !open && (!fresh || sub.wire_id.is_some() || sub.history_pending) {
                return Err(format!(
                    "{} keeps a closed connection's state: {:?}",
                    sub.id, sub.state
                ));
            }
            if open
                && !welcomed
                && !matches!(
                    sub.state,
                    SubState::Wanted { send_at: None } | SubState::Confirmed
                )
            {
                return Err(format!("{} is {:?} before the welcome", sub.id, sub.state));
            }
            if welcomed && fresh {
                return Err(format!("{} is not sent on a welcomed connection", sub.id));
            }
        }
        if let Some((_, id)) = self.handles.iter().find(|(_, id)| !self.contains(id)) {
            return Err(format!("a handle on {id} outlived its subscription"));
        }
        Ok(())
    }
}
