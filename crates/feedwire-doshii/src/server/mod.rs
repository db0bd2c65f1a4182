//! A mock Doshii server, for tests and demos.
//!
//! The [`Hub`] accepts the four sockets (`/app/socket`, `/app/socket/v3`, `/pos/socket`, `/vendor/socket`),
//! answers pings with pongs carrying the same stamp, emits events in the wire shape `{"emit":[name,data]}`,
//! filters app connections by their registered device (`events`, `locationIds`), keeps 10 minutes of
//! undelivered events per app (per client id and device) and replays them when the app connects again, and can
//! end a connection with `"primus::server::close"`.
//!
//! Its queues follow [`feedwire_core::Outbox`]: the publishing commands are refused with
//! [`HubError::QueueFull`] (nothing changed) while the driver has not sent what is queued; pongs and replays
//! are the hub's own frames, bounded; [`HubEvent`] says which events are kept.
//!
//! ```
//! use std::time::Instant;
//! use feedwire_core::{ConnId, Frame, Hub as _, HubTransmit, OpenRequest, RawJson};
//! use feedwire_doshii::server::{Hub, HubConfig};
//!
//! # #[allow(clippy::disallowed_methods)]
//! let now = Instant::now();
//! let mut hub = Hub::new(HubConfig::default());
//! // auth = base64("client-id")
//! hub.handle_open(now, ConnId(1), &OpenRequest::new("/app/socket?auth=Y2xpZW50LWlk"));
//! hub.handle_frame(now, ConnId(1), Frame::from(r#"{"doshii":{"ping":5,"version":"1.2.3"}}"#));
//! let data = RawJson::from_json_str(r#"{"id":"1","status":"accepted"}"#).unwrap();
//! assert_eq!(hub.publish_to_app(now, "client-id", "order_updated", &data), Ok(1));
//! let sent: Vec<_> = std::iter::from_fn(|| hub.poll_transmit()).collect();
//! assert_eq!(sent, vec![
//!     (ConnId(1), HubTransmit::Send(Frame::from(r#"{"doshii":{"pong":5,"version":"3.2.123"}}"#))),
//!     (ConnId(1), HubTransmit::Send(Frame::from(r#"{"emit":["order_updated",{"id":"1","status":"accepted"}]}"#))),
//! ]);
//! ```

mod backlog;
mod config;
mod event;
mod peer;

pub use backlog::BACKLOG_WINDOW;
pub use config::HubConfig;
pub use event::{HubError, HubEvent};
pub use peer::{DeviceFilter, Peer};

use std::collections::BTreeMap;
use std::time::Instant;

use feedwire_core::{
    Close, CloseCode, ConnId, Frame, HubOutbox, HubTransmit, OpenRequest, QueueStats, RawJson,
};

use crate::codec::{
    ClientMessage, DecodeError, Event, EventData, EventKind, Heartbeat, PRIMUS_SERVER_CLOSE, ServerMessage,
    Stamp,
};
use backlog::{Apps, Backlogged};

/// The mock Doshii server. See the [module docs](self).
pub struct Hub {
    config: HubConfig,
    conns: BTreeMap<ConnId, Peer>,
    devices: BTreeMap<String, DeviceFilter>,
    apps: Apps,
    out: HubOutbox<HubEvent>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(HubConfig::default())
    }
}

impl Hub {
    /// A hub with `config`.
    pub fn new(config: HubConfig) -> Hub {
        Hub {
            out: HubOutbox::new(&config.limits),
            config,
            conns: BTreeMap::new(),
            devices: BTreeMap::new(),
            apps: Apps::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Whether pings are answered (turn off to test pong timeouts).
    pub fn set_answer_pings(&mut self, on: bool) {
        self.config.answer_pings = on;
    }

    /// Registers (or replaces) a device and its filters, as `POST /devices` does.
    pub fn register_device(&mut self, device_id: impl Into<String>, filter: DeviceFilter) {
        self.devices.insert(device_id.into(), filter);
    }

    /// The open connections and who is on them.
    pub fn connections(&self) -> impl Iterator<Item = (ConnId, &Peer)> {
        self.conns.iter().map(|(c, p)| (*c, p))
    }

    /// Events waiting for replay for an app (all of its devices).
    pub fn backlog_len(&self, client_id: &str) -> usize {
        self.apps.backlog_len(client_id)
    }

    /// What the queues hold and have dropped.
    pub fn queue_stats(&self) -> QueueStats {
        self.out.stats()
    }

    /// Sends an event to every connection of app `client_id` whose device filter matches; app keys (client id
    /// and device) seen before but not connected now, and the app itself when nothing of it is connected, get
    /// the event in their 10-minute backlog. Returns how many connections got it.
    pub fn publish_to_app(
        &mut self,
        now: Instant,
        client_id: &str,
        name: &str,
        data: &RawJson,
    ) -> Result<usize, HubError> {
        self.out.check_room()?;
        self.apps.prune(now);
        let frame = emit(name, data);
        let location_id = EventData::new(data.clone()).location_id().map(|l| l.into_owned());
        let mut sent = 0;
        for (conn, device) in self.apps.conns_of(client_id) {
            let pass = device
                .and_then(|d| self.devices.get(d))
                .is_none_or(|f| f.matches(name, location_id.as_deref()));
            if pass {
                self.out.push_transmit((conn, HubTransmit::Send(frame.clone())));
                sent += 1;
            }
        }
        let item = Backlogged {
            at: now,
            name: name.to_owned(),
            location_id,
            frame,
        };
        self.apps
            .backlog(now, client_id, item, self.config.limits.max_queued);
        Ok(sent)
    }

    /// Sends an event to every POS connection with location token `token`. Returns how many got it.
    pub fn publish_to_pos(&mut self, token: &str, name: &str, data: &RawJson) -> Result<usize, HubError> {
        self.publish_to(|p| matches!(p, Peer::Pos { token: t } if t == token), name, data)
    }

    /// Sends an event to every vendor connection of `vendor`. Returns how many got it.
    pub fn publish_to_vendor(&mut self, vendor: &str, name: &str, data: &RawJson) -> Result<usize, HubError> {
        self.publish_to(
            |p| matches!(p, Peer::Vendor { vendor: v, .. } if v == vendor),
            name,
            data,
        )
    }

    fn publish_to(
        &mut self,
        to: impl Fn(&Peer) -> bool,
        name: &str,
        data: &RawJson,
    ) -> Result<usize, HubError> {
        self.out.check_room()?;
        let frame = emit(name, data);
        let mut sent = 0;
        for (conn, _) in self.conns.iter().filter(|(_, p)| to(p)) {
            self.out.push_transmit((*conn, HubTransmit::Send(frame.clone())));
            sent += 1;
        }
        Ok(sent)
    }

    /// Sends any frame to one connection (nothing when it is not open).
    pub fn send(&mut self, conn: ConnId, frame: Frame) -> Result<(), HubError> {
        self.out.check_room()?;
        if self.conns.contains_key(&conn) {
            self.out.push_transmit((conn, HubTransmit::Send(frame)));
        }
        Ok(())
    }

    /// Pings a connection: `{"doshii":{"ping":<ms>}}`.
    pub fn ping(&mut self, conn: ConnId, unix_ms: u64) -> Result<(), HubError> {
        self.send(conn, ServerMessage::Ping(Heartbeat::new(unix_ms)).encode())
    }

    /// Sends a POS `health_check` event: `{"emit":["health_check",{"ping":<ms>}]}`.
    pub fn health_check(&mut self, conn: ConnId, unix_ms: u64) -> Result<(), HubError> {
        let data = RawJson::from_json_str(&format!("{{\"ping\":{unix_ms}}}"))
            .unwrap_or_else(|_| RawJson::empty_object());
        self.send(conn, emit(EventKind::HealthCheck.as_str(), &data))
    }

    /// Ends a connection on purpose: `"primus::server::close"`, then a normal close. The client must not
    /// reconnect.
    pub fn server_close(&mut self, now: Instant, conn: ConnId) -> Result<(), HubError> {
        self.out.check_room()?;
        if self.conns.contains_key(&conn) {
            let frame = Frame::from(PRIMUS_SERVER_CLOSE);
            self.out.push_transmit((conn, HubTransmit::Send(frame)));
            self.close(now, conn, Close::normal());
        }
        Ok(())
    }

    /// Closes a connection with `close` (the client will reconnect). Never refused.
    pub fn close(&mut self, now: Instant, conn: ConnId, close: Close) {
        if self.forget(now, conn) {
            self.out.push_transmit((conn, HubTransmit::Close(close)));
        }
    }

    /// Fuzzing only (unstable): the hub's invariants. The index of apps and backlogs is consistent with the
    /// connections, every backlog holds at most `max_queued` events, message events never exceed
    /// `max_queued`, and the frames queued stay within the outbox policy's bound: twice `max_queued` for the
    /// hub's own frames, plus one command's fan-out (one frame per connection), plus a frame per connection
    /// being closed.
    #[cfg(feature = "fuzzing")]
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        let max = self.out.max_queued();
        self.apps.check(max, |c| self.conns.contains_key(&c))?;
        for (conn, peer) in &self.conns {
            if let Peer::App { client_id, .. } = peer
                && !self.apps.conns_of(client_id).any(|(c, _)| c == *conn)
            {
                return Err(format!("app connection {conn:?} missing from the index"));
            }
        }
        let droppable = self
            .out
            .events()
            .filter(|e| {
                !matches!(
                    e,
                    HubEvent::Opened { .. } | HubEvent::Rejected { .. } | HubEvent::Closed { .. }
                )
            })
            .count();
        if droppable > max {
            return Err(format!("{droppable} message events queued, max_queued {max}"));
        }
        let closes = self
            .out
            .transmits()
            .filter(|(_, t)| matches!(t, HubTransmit::Close(_)))
            .count();
        let sends = self.out.queued_transmits() - closes;
        if sends > 2 * max + self.conns.len() + closes {
            return Err(format!(
                "{sends} frames queued: max_queued {max}, {} connections, {closes} closing",
                self.conns.len()
            ));
        }
        Ok(())
    }

    /// Drops a connection's state; returns whether it was open.
    fn forget(&mut self, now: Instant, conn: ConnId) -> bool {
        let Some(peer) = self.conns.remove(&conn) else {
            return false;
        };
        // From now on, events for this app key are backlogged until it comes back.
        if let Peer::App { client_id, .. } = &peer {
            self.apps.close(now, conn, client_id);
        } else {
            self.apps.prune(now);
        }
        self.out.push_event_kept(HubEvent::Closed { conn });
        true
    }

    fn on_message(&mut self, conn: ConnId, msg: ClientMessage) {
        match msg {
            ClientMessage::Ping(h) => {
                if self.config.answer_pings {
                    let pong = pong(&self.config.version, h.stamp.clone());
                    self.out.push_reply((conn, HubTransmit::Send(pong)));
                }
                self.out.push_event(HubEvent::Ping { conn, heartbeat: h });
            }
            ClientMessage::PrimusPing(stamp) => {
                if self.config.answer_pings {
                    let pong = ServerMessage::PrimusPong(stamp.clone()).encode();
                    self.out.push_reply((conn, HubTransmit::Send(pong)));
                }
                let heartbeat = Heartbeat::from_stamp(stamp);
                self.out.push_event(HubEvent::Ping { conn, heartbeat });
            }
            ClientMessage::Pong(h) => {
                self.out.push_event(HubEvent::Pong { conn, stamp: h.stamp });
            }
            ClientMessage::PrimusPong(stamp) => {
                self.out.push_event(HubEvent::Pong { conn, stamp });
            }
            message => {
                self.out.push_event(HubEvent::Message { conn, message });
            }
        }
    }
}

/// `{"emit":[name,data]}`.
fn emit(name: &str, data: &RawJson) -> Frame {
    ServerMessage::Event(Event::new(EventKind::from_name(name), data.clone())).encode()
}

/// `{"doshii":{"pong":<stamp>,"version":<version>}}`.
fn pong(version: &str, stamp: Stamp) -> Frame {
    ServerMessage::Pong(Heartbeat::from_stamp(stamp).with_version(version)).encode()
}

impl feedwire_core::Hub for Hub {
    type Event = HubEvent;

    fn handle_open(&mut self, now: Instant, conn: ConnId, request: &OpenRequest) {
        let peer = match Peer::parse(request) {
            Ok(p) => p,
            Err(reason) => {
                let close = Close::new(CloseCode::POLICY_VIOLATION, reason);
                self.out.push_transmit((conn, HubTransmit::Close(close)));
                self.out.push_event_kept(HubEvent::Rejected { conn, reason });
                return;
            }
        };
        let mut replayed = 0;
        match &peer {
            Peer::App {
                client_id, device_id, ..
            } => {
                let backlog = self.apps.open(now, conn, client_id, device_id.as_deref());
                let filter = device_id.as_deref().and_then(|d| self.devices.get(d));
                for b in backlog {
                    if filter.is_none_or(|f| f.matches(&b.name, b.location_id.as_deref())) {
                        self.out.push_reply((conn, HubTransmit::Send(b.frame)));
                        replayed += 1;
                    }
                }
            }
            _ => self.apps.prune(now),
        }
        self.conns.insert(conn, peer.clone());
        self.out
            .push_event_kept(HubEvent::Opened { conn, peer, replayed });
    }

    fn handle_frame(&mut self, _now: Instant, conn: ConnId, frame: Frame) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        let max = self.config.limits.max_frame_size;
        let decoded = if frame.len() > max {
            Err(DecodeError::TooLarge {
                len: frame.len(),
                max,
            })
        } else {
            ClientMessage::decode(&frame)
        };
        match decoded {
            Ok(msg) => self.on_message(conn, msg),
            Err(error) => {
                self.out.push_event(HubEvent::Malformed { conn, error });
            }
        }
    }

    fn handle_close(&mut self, now: Instant, conn: ConnId, _close: Option<Close>) {
        if self.forget(now, conn) {
            // the transport is gone: what was queued for it cannot be sent
            self.out.retain_transmits(|(c, _)| *c != conn);
        }
    }

    /// A planned restart: Doshii has no "reconnect now" message (every close but `primus::server::close`
    /// means reconnect with backoff), so every connection is closed at once with 1001 (going away), the
    /// close the host would otherwise send only after its grace period (5 s in `feedwire serve`), during
    /// which the clients, told nothing, would keep the connection open. Events published afterwards go to
    /// the apps' 10-minute backlogs.
    fn handle_shutdown(&mut self, now: Instant) {
        let open: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in open {
            self.close(now, conn, Close::going_away());
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.apps.prune(now);
    }

    fn poll_transmit(&mut self) -> Option<(ConnId, HubTransmit)> {
        self.out.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<HubEvent> {
        self.out.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

#[cfg(test)]
mod shutdown_tests {
    use super::*;
    use feedwire_core::Hub as _;

    #[test]
    #[allow(clippy::disallowed_methods)] // a test's origin instant
    fn a_shutdown_closes_every_connection_with_going_away_and_no_primus_server_close() {
        let now = Instant::now();
        let mut hub = Hub::default();
        // base64("client-id"), and a POS
        hub.handle_open(now, ConnId(1), &OpenRequest::new("/app/socket?auth=Y2xpZW50LWlk"));
        hub.handle_open(now, ConnId(2), &OpenRequest::new("/pos/socket?token=loc-token"));
        while hub.poll_event().is_some() {}
        hub.handle_shutdown(now);
        let sent: Vec<_> = std::iter::from_fn(|| hub.poll_transmit()).collect();
        // a plain close each: "primus::server::close" would tell the clients never to come back
        assert_eq!(
            sent,
            vec![
                (ConnId(1), HubTransmit::Close(Close::going_away())),
                (ConnId(2), HubTransmit::Close(Close::going_away())),
            ]
        );
        let events: Vec<_> = std::iter::from_fn(|| hub.poll_event()).collect();
        assert_eq!(
            events,
            vec![
                HubEvent::Closed { conn: ConnId(1) },
                HubEvent::Closed { conn: ConnId(2) }
            ]
        );
        assert_eq!(hub.connections().count(), 0);
        // what is published now waits in the app's backlog for its reconnect
        let data = RawJson::from_json_str(r#"{"id":"1"}"#).unwrap();
        assert_eq!(
            hub.publish_to_app(now, "client-id", "order_created", &data),
            Ok(0)
        );
        assert_eq!(hub.backlog_len("client-id"), 1);
        hub.handle_open(now, ConnId(3), &OpenRequest::new("/app/socket?auth=Y2xpZW50LWlk"));
        assert_eq!(
            hub.poll_transmit(),
            Some((
                ConnId(3),
                HubTransmit::Send(Frame::from(r#"{"emit":["order_created",{"id":"1"}]}"#))
            ))
        );
    }
}

#[cfg(all(test, feature = "fuzzing"))]
mod tests {
    use super::*;
    use feedwire_core::Hub as _;

    #[test]
    #[allow(clippy::disallowed_methods)] // a test's origin instant
    fn check_invariants_sees_a_broken_index() {
        let now = Instant::now();
        let mut hub = Hub::default();
        hub.handle_open(now, ConnId(1), &OpenRequest::new("/app/socket?auth=Y2xpZW50LWlk"));
        hub.check_invariants().unwrap();
        hub.conns.insert(ConnId(2), hub.conns[&ConnId(1)].clone()); // an app connection the index misses
        assert!(hub.check_invariants().is_err());
        hub.conns.remove(&ConnId(2));
        hub.handle_close(now, ConnId(1), None);
        hub.check_invariants().unwrap();
        hub.apps = Apps::default(); // an index listing a connection the hub does not have
        hub.apps.open(now, ConnId(9), "client-id", None);
        assert!(hub.check_invariants().is_err());
    }
}
