//! The channel registry: what the application wants subscribed, each channel's state on the wire, presence
//! members, encrypted channels' keys, and the signed-in user's channel.
//!
//! The registry knows channels and nothing of connections: the session tells it the socket id when it is
//! connected and that the connection was lost, and hands it the [`Outbox`] to queue frames and events in.

use std::collections::BTreeMap;
use std::time::Instant;

use bytestring::ByteString;
use feedwire_core::{Frame, Outbox, RawJson, StringOrJson, Transmit};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::auth::{AuthRequest, ChannelAuth};
use super::event::{CommandError, Event, SubscribeOutcome, UnsubscribeOutcome, cut};
use super::kind::ChannelKind;
use crate::codec::{
    self, ChannelEvent, ClientMessage, DecodeError, ErrorMessage, SubscriptionErrorMessage,
    SubscriptionErrorShape, UserId, events,
};
#[cfg(feature = "encrypted")]
use crate::encrypted::{DecryptError, SharedSecret};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Idle,
    AwaitingAuth,
    Pending,
    Subscribed,
}

/// Events of an encrypted channel waiting for a new key while it re-authorizes.
#[cfg(feature = "encrypted")]
type Waiting = Vec<(ByteString, Option<StringOrJson>)>;

#[cfg(feature = "encrypted")]
const MAX_REKEY_QUEUE: usize = 64;

#[derive(Debug)]
struct Chan {
    kind: ChannelKind,
    status: Status,
    unsubscribe_on_success: bool,
    ever_subscribed: bool,
    down_since: Option<Instant>,
    me: Option<String>,
    members: BTreeMap<String, Option<RawJson>>,
    #[cfg(feature = "encrypted")]
    secret: Option<SharedSecret>,
    #[cfg(feature = "encrypted")]
    rekey: Option<Waiting>,
}

impl Chan {
    fn new(kind: ChannelKind) -> Self {
        Chan {
            kind,
            status: Status::Idle,
            unsubscribe_on_success: false,
            ever_subscribed: false,
            down_since: None,
            me: None,
            members: BTreeMap::new(),
            #[cfg(feature = "encrypted")]
            secret: None,
            #[cfg(feature = "encrypted")]
            rekey: None,
        }
    }

    /// Whether a subscribed encrypted channel waits for a new key.
    fn rekeying(&self) -> bool {
        #[cfg(feature = "encrypted")]
        return self.status == Status::Subscribed && self.rekey.is_some();
        #[cfg(not(feature = "encrypted"))]
        false
    }
}

/// The channels of one client session.
#[derive(Debug, Default)]
pub(super) struct Registry {
    channels: BTreeMap<String, Chan>,
    user_channel: Option<String>,
}

fn send_reply(out: &mut Outbox<Event>, msg: ClientMessage) {
    out.push_reply(Transmit::Send(msg.encode()));
}

impl Registry {
    /// The channels the application wants, in name order.
    pub(super) fn wanted(&self) -> impl Iterator<Item = &str> {
        self.channels
            .iter()
            .filter(|(n, c)| !c.unsubscribe_on_success && Some(n.as_str()) != self.user_channel.as_deref())
            .map(|(n, _)| n.as_str())
    }

    pub(super) fn is_subscribed(&self, channel: &str) -> bool {
        self.channels
            .get(channel)
            .is_some_and(|c| c.status == Status::Subscribed)
    }

    pub(super) fn members(&self, channel: &str) -> Option<&BTreeMap<String, Option<RawJson>>> {
        self.channels
            .get(channel)
            .filter(|c| c.kind == ChannelKind::Presence && c.status == Status::Subscribed)
            .map(|c| &c.members)
    }

    pub(super) fn me(&self, channel: &str) -> Option<&str> {
        self.channels.get(channel).and_then(|c| c.me.as_deref())
    }

    /// Whether `channel` is subscribed on the wire and may carry client events: `Ok` with nothing to send,
    /// or why not.
    pub(super) fn check_client_event(&self, channel: &str) -> Result<(), CommandError> {
        let Some(c) = self.channels.get(channel) else {
            return Err(CommandError::NotSubscribed {
                channel: channel.to_owned(),
            });
        };
        if !matches!(c.kind, ChannelKind::Private | ChannelKind::Presence) {
            return Err(CommandError::NotAllowed {
                channel: channel.to_owned(),
            });
        }
        if c.status != Status::Subscribed {
            return Err(CommandError::NotSubscribed {
                channel: channel.to_owned(),
            });
        }
        Ok(())
    }

    pub(super) fn pending_auth(&self, socket_id: &ByteString) -> Vec<AuthRequest> {
        self.channels
            .iter()
            .filter_map(|(name, c)| {
                let rekey = c.rekeying();
                (c.status == Status::AwaitingAuth || rekey).then(|| AuthRequest {
                    socket_id: socket_id.clone(),
                    channel: name.clone(),
                    rekey,
                })
            })
            .collect()
    }

    /// The `subscribe` command. `connected` is the socket id when the session is connected.
    pub(super) fn subscribe(
        &mut self,
        channel: &str,
        max: usize,
        connected: Option<&ByteString>,
        out: &mut Outbox<Event>,
    ) -> Result<SubscribeOutcome, CommandError> {
        codec::validate_channel_name(channel)?;
        let kind = ChannelKind::of(channel);
        if kind == ChannelKind::Encrypted && !cfg!(feature = "encrypted") {
            return Err(CommandError::EncryptionDisabled {
                channel: channel.to_owned(),
            });
        }
        if let Some(c) = self.channels.get_mut(channel) {
            if c.unsubscribe_on_success {
                // unsubscribe was deferred while the subscribe is in flight: simply keep it.
                c.unsubscribe_on_success = false;
                return Ok(SubscribeOutcome::Started);
            }
            return Ok(SubscribeOutcome::AlreadySubscribed);
        }
        if self.channels.len() >= max {
            return Err(CommandError::TooManyChannels { max });
        }
        if connected.is_some() && !kind.needs_auth() {
            out.check_room()?;
        }
        self.channels.insert(channel.to_owned(), Chan::new(kind));
        if let Some(socket_id) = connected
            && let Some(frame) = self.start(channel, socket_id, out)
        {
            out.push_transmit(Transmit::Send(frame));
        }
        Ok(SubscribeOutcome::Started)
    }

    /// Starts the subscription of a wanted channel on a connected session: asks for auth (an event), or
    /// returns the `pusher:subscribe` frame for the caller to queue (a command's or the session's own).
    fn start(&mut self, name: &str, socket_id: &ByteString, out: &mut Outbox<Event>) -> Option<Frame> {
        let c = self.channels.get_mut(name)?;
        if c.kind.needs_auth() {
            c.status = Status::AwaitingAuth;
            out.push_event_kept(Event::AuthRequired {
                socket_id: socket_id.clone(),
                channel: name.to_owned(),
            });
            None
        } else {
            c.status = Status::Pending;
            Some(ClientMessage::subscribe(name, "", None).encode())
        }
    }

    /// On `connection_established`: every wanted channel is subscribed again (or asked to be authorized).
    pub(super) fn start_all(&mut self, socket_id: &ByteString, out: &mut Outbox<Event>) {
        let names: Vec<String> = self.channels.keys().cloned().collect();
        for n in names {
            if let Some(frame) = self.start(&n, socket_id, out) {
                out.push_reply(Transmit::Send(frame));
            }
        }
    }

    /// The `unsubscribe` command.
    pub(super) fn unsubscribe(
        &mut self,
        channel: &str,
        out: &mut Outbox<Event>,
    ) -> Result<UnsubscribeOutcome, CommandError> {
        let Some(c) = self.channels.get_mut(channel) else {
            return Ok(UnsubscribeOutcome::NotSubscribed);
        };
        if c.unsubscribe_on_success {
            return Ok(UnsubscribeOutcome::Deferred);
        }
        Ok(match c.status {
            Status::Pending => {
                c.unsubscribe_on_success = true;
                UnsubscribeOutcome::Deferred
            }
            Status::Subscribed => {
                out.check_room()?;
                self.remove_channel(channel);
                let msg = ClientMessage::Unsubscribe {
                    channel: ByteString::from(channel.to_owned()),
                };
                out.push_transmit(Transmit::Send(msg.encode()));
                UnsubscribeOutcome::Done
            }
            Status::Idle | Status::AwaitingAuth => {
                self.remove_channel(channel);
                UnsubscribeOutcome::Done
            }
        })
    }

    /// The `provide_auth` command.
    pub(super) fn provide_auth(
        &mut self,
        channel: &str,
        auth: ChannelAuth,
        out: &mut Outbox<Event>,
    ) -> Result<(), CommandError> {
        let c = self.awaiting_auth(channel)?;
        let mut me = None;
        if c.kind == ChannelKind::Presence {
            me = Some(auth.presence_user_id(channel)?);
        }
        #[cfg(feature = "encrypted")]
        let secret = if c.kind == ChannelKind::Encrypted {
            Some(
                auth.shared_secret
                    .as_ref()
                    .and_then(|s| SharedSecret::from_base64(s.expose()).ok())
                    .ok_or_else(|| CommandError::BadSharedSecret {
                        channel: channel.to_owned(),
                    })?,
            )
        } else {
            None
        };
        #[cfg(feature = "encrypted")]
        if c.rekeying() {
            c.secret = secret;
            let queued = c.rekey.take().unwrap_or_default();
            for (event, data) in queued {
                self.decrypt_and_emit(channel, event, data, false, out);
            }
            return Ok(());
        }
        out.check_room()?;
        c.me = me;
        #[cfg(feature = "encrypted")]
        {
            c.secret = secret;
        }
        c.status = Status::Pending;
        let msg = ClientMessage::Subscribe {
            channel: ByteString::from(channel.to_owned()),
            auth: auth.auth,
            channel_data: auth.channel_data,
        };
        out.push_transmit(Transmit::Send(msg.encode()));
        Ok(())
    }

    /// The `fail_auth` command.
    pub(super) fn fail_auth(
        &mut self,
        channel: &str,
        reason: &str,
        out: &mut Outbox<Event>,
    ) -> Result<(), CommandError> {
        #[cfg_attr(not(feature = "encrypted"), allow(unused_variables))] // only a rekeying channel is read
        let c = self.awaiting_auth(channel)?;
        #[cfg(feature = "encrypted")]
        if c.rekeying() {
            let queued = c.rekey.take().unwrap_or_default();
            for (event, _) in queued {
                out.push_event(Event::DecryptionFailed {
                    channel: channel.to_owned(),
                    event,
                    error: DecryptError::Failed,
                });
            }
            return Ok(());
        }
        self.remove_channel(channel);
        out.push_event_kept(Event::SubscriptionFailed {
            channel: Some(channel.to_owned()),
            error: SubscriptionErrorMessage {
                shape: SubscriptionErrorShape::AuthFailed,
                channel: Some(ByteString::from(channel.to_owned())),
                kind: Some(ByteString::from_static("AuthError")),
                error: Some(ByteString::from(reason.to_owned())),
                status: None,
                data: None,
            },
        });
        Ok(())
    }

    /// The channel a `provide_auth` or `fail_auth` answers: one that awaits its authorization, or a subscribed
    /// encrypted one that waits for a new key; any other is `NotPending`.
    fn awaiting_auth(&mut self, channel: &str) -> Result<&mut Chan, CommandError> {
        match self.channels.get_mut(channel) {
            Some(c) if c.status == Status::AwaitingAuth || c.rekeying() => Ok(c),
            _ => Err(CommandError::NotPending {
                channel: channel.to_owned(),
            }),
        }
    }

    /// Removes a channel, and with it the user channel's mark when it is that one (a failed or withdrawn
    /// `#server-to-user-*` subscription leaves no user channel behind).
    fn remove_channel(&mut self, name: &str) -> Option<Chan> {
        if self.user_channel.as_deref() == Some(name) {
            self.user_channel = None;
        }
        self.channels.remove(name)
    }

    /// The connection is gone: channels down (since `now`), members reset, the user channel dropped.
    pub(super) fn lose(&mut self, now: Option<Instant>) {
        if let Some(uc) = self.user_channel.take() {
            self.remove_channel(&uc);
        }
        self.channels.retain(|_, c| !c.unsubscribe_on_success);
        for c in self.channels.values_mut() {
            if c.status == Status::Subscribed && c.down_since.is_none() {
                c.down_since = now;
            }
            c.status = Status::Idle;
            c.members.clear();
            #[cfg(feature = "encrypted")]
            {
                c.rekey = None;
            }
        }
    }

    /// `pusher:signin_success` answered: subscribe `#server-to-user-{id}` (after leaving another user's).
    pub(super) fn signed_in(&mut self, user_id: &str, out: &mut Outbox<Event>) {
        let name = format!("#server-to-user-{user_id}");
        if let Some(old) = self.user_channel.take()
            && old != name
        {
            self.remove_channel(&old);
            send_reply(
                out,
                ClientMessage::Unsubscribe {
                    channel: ByteString::from(old),
                },
            );
        }
        if !self.channels.contains_key(&name) {
            let mut c = Chan::new(ChannelKind::ServerToUser);
            c.status = Status::Pending;
            send_reply(out, ClientMessage::subscribe(&name, "", None));
            self.channels.insert(name.clone(), c);
        }
        self.user_channel = Some(name);
    }

    pub(super) fn on_subscription_error(&mut self, msg: SubscriptionErrorMessage, out: &mut Outbox<Event>) {
        // A named channel is taken at its word: ours, or nobody's (then nothing is dropped). Only an error that
        // names no channel at all (poxa's shape) is pinned on the one pending subscription.
        let channel = match msg.channel.as_deref() {
            Some(c) if self.channels.contains_key(c) => Some(c.to_owned()),
            Some(_) => None,
            None => self.single_pending(),
        };
        match channel {
            Some(ch) => {
                self.remove_channel(&ch);
                out.push_event_kept(Event::SubscriptionFailed {
                    channel: Some(ch),
                    error: msg,
                });
            }
            None => {
                out.push_event(Event::SubscriptionFailed {
                    channel: None,
                    error: msg,
                });
            }
        }
    }

    fn single_pending(&self) -> Option<String> {
        let mut it = self.channels.iter().filter(|(_, c)| c.status == Status::Pending);
        match (it.next(), it.next()) {
            (Some((n, _)), None) => Some(n.clone()),
            _ => None,
        }
    }

    pub(super) fn on_error(&mut self, e: ErrorMessage, out: &mut Outbox<Event>) {
        // Hosted Pusher and Reverb refuse a subscription with pusher:error (4009 or code null, "Invalid
        // signature" ...): map it to the pending subscription it names or, failing that, the only one pending.
        let named = e
            .channel
            .as_deref()
            .filter(|c| {
                self.channels
                    .get(*c)
                    .is_some_and(|ch| ch.status == Status::Pending)
            })
            .map(str::to_owned);
        // ... unless it names a channel that is not pending ("Existing subscription to channel X").
        let mentions_other = self
            .channels
            .iter()
            .any(|(n, c)| c.status != Status::Pending && e.message.contains(n.as_str()));
        let inferred = if named.is_none() && !mentions_other && (e.code.is_none() || e.code == Some(4009)) {
            let by_message = self
                .channels
                .iter()
                .filter(|(n, c)| c.status == Status::Pending && e.message.contains(n.as_str()))
                .map(|(n, _)| n.clone())
                .next();
            by_message.or_else(|| self.single_pending())
        } else {
            None
        };
        match named.or(inferred) {
            Some(ch) => {
                self.remove_channel(&ch);
                out.push_event_kept(Event::SubscriptionFailed {
                    channel: Some(ch.clone()),
                    error: SubscriptionErrorMessage {
                        shape: SubscriptionErrorShape::ErrorEvent,
                        channel: Some(ByteString::from(ch)),
                        kind: None,
                        error: Some(e.message),
                        status: e.code.and_then(|c| u16::try_from(c).ok()),
                        data: e.data,
                    },
                });
            }
            None => {
                out.push_event(Event::ServerError {
                    code: e.code,
                    message: e.message,
                    channel: e.channel,
                });
            }
        }
    }

    pub(super) fn on_succeeded(
        &mut self,
        now: Instant,
        channel: ByteString,
        data: Option<StringOrJson>,
        frame: &Frame,
        out: &mut Outbox<Event>,
    ) {
        let Some(c) = self.channels.get_mut(&*channel) else {
            out.push_event(Event::Unknown { frame: frame.clone() });
            return;
        };
        if c.status != Status::Pending {
            // a duplicate or unsolicited success: surface it, change nothing
            out.push_event(Event::Unknown { frame: frame.clone() });
            return;
        }
        if c.unsubscribe_on_success {
            self.remove_channel(&channel);
            send_reply(out, ClientMessage::Unsubscribe { channel });
            return;
        }
        c.status = Status::Subscribed;
        let mut presence_err = None;
        if c.kind == ChannelKind::Presence {
            match parse_presence(data.as_ref()) {
                Ok(m) => c.members = m,
                Err(reason) => presence_err = Some(reason),
            }
        }
        let first = !c.ever_subscribed;
        c.ever_subscribed = true;
        let down = c.down_since.take();
        let name = channel.to_string();
        if let Some(reason) = presence_err {
            out.push_event(Event::Malformed {
                error: DecodeError::Data {
                    event: events::SUBSCRIPTION_SUCCEEDED.to_owned(),
                    reason: format!("invalid presence data on {name}: {reason}"),
                },
                frame: cut(frame.clone()),
            });
        }
        match (first, down) {
            (false, Some(since)) => out.push_event_kept(Event::Resubscribed {
                channel: name,
                after: now.saturating_duration_since(since),
            }),
            _ => out.push_event_kept(Event::Subscribed { channel: name, data }),
        }
    }

    pub(super) fn on_member_added(
        &mut self,
        channel: ByteString,
        user_id: ByteString,
        user_info: Option<RawJson>,
        out: &mut Outbox<Event>,
    ) {
        if let Some(c) = self.channels.get_mut(&*channel)
            && c.kind == ChannelKind::Presence
            && c.status == Status::Subscribed
        {
            let id = user_id.to_string();
            if !c.members.contains_key(&id) {
                c.members.insert(id.clone(), user_info.clone());
                out.push_event(Event::MemberAdded {
                    channel: channel.to_string(),
                    user_id: id,
                    user_info,
                });
            }
        }
    }

    pub(super) fn on_member_removed(
        &mut self,
        channel: ByteString,
        user_id: ByteString,
        out: &mut Outbox<Event>,
    ) {
        if let Some(c) = self.channels.get_mut(&*channel)
            && c.members.remove(&*user_id).is_some()
        {
            out.push_event(Event::MemberRemoved {
                channel: channel.to_string(),
                user_id: user_id.to_string(),
            });
        }
    }

    /// A channel event (not an unknown protocol event without a channel, which the session reports itself);
    /// `socket_id` is the connection's (for the re-authorization of an encrypted channel).
    pub(super) fn on_event(
        &mut self,
        e: ChannelEvent,
        socket_id: Option<&ByteString>,
        out: &mut Outbox<Event>,
    ) {
        let Some(channel) = e.channel else {
            out.push_event(Event::Message {
                channel: None,
                event: e.event,
                data: e.data,
                user_id: e.user_id,
            });
            return;
        };
        if self.user_channel.as_deref() == Some(&*channel) {
            out.push_event(Event::UserEvent {
                event: e.event,
                data: e.data,
            });
            return;
        }
        #[cfg(feature = "encrypted")]
        if !events::is_protocol_event(&e.event)
            && self
                .channels
                .get(&*channel)
                .is_some_and(|c| c.kind == ChannelKind::Encrypted)
        {
            let name = channel.to_string();
            if let Some(auth) = self.decrypt_and_emit(&name, e.event, e.data, true, out)
                && let Some(socket_id) = socket_id
            {
                out.push_event_kept(Event::AuthRequired {
                    socket_id: socket_id.clone(),
                    channel: auth,
                });
            }
            return;
        }
        #[cfg(not(feature = "encrypted"))]
        let _ = socket_id;
        out.push_event(Event::Message {
            channel: Some(channel),
            event: e.event,
            data: e.data,
            user_id: e.user_id,
        });
    }

    /// Decrypts an event of an encrypted channel and emits it; returns the channel when it must be
    /// re-authorized for a new key (the event then waits for it).
    #[cfg(feature = "encrypted")]
    fn decrypt_and_emit(
        &mut self,
        channel: &str,
        event: ByteString,
        data: Option<StringOrJson>,
        may_rekey: bool,
        out: &mut Outbox<Event>,
    ) -> Option<String> {
        let c = self.channels.get_mut(channel)?;
        if let Some(q) = &mut c.rekey {
            if q.len() < MAX_REKEY_QUEUE {
                q.push((event, data));
            } else {
                out.push_event(Event::DecryptionFailed {
                    channel: channel.to_owned(),
                    event,
                    error: DecryptError::Failed,
                });
            }
            return None;
        }
        let result = match (&c.secret, &data) {
            (Some(k), Some(d)) => k.decrypt(d.raw().as_str()),
            (None, _) => Err(DecryptError::BadSecret),
            (_, None) => Err(DecryptError::Shape("data is missing".into())),
        };
        match result {
            Ok(plain) => {
                let text = String::from_utf8_lossy(&plain);
                let json = RawJson::from_json_str(&text)
                    .or_else(|_| RawJson::from_value(&*text))
                    .unwrap_or_else(|_| RawJson::null());
                out.push_event(Event::Message {
                    channel: Some(ByteString::from(channel.to_owned())),
                    event,
                    data: Some(StringOrJson::new(json)),
                    user_id: None,
                });
                None
            }
            Err(DecryptError::Failed) if may_rekey && c.status == Status::Subscribed => {
                // One re-authorization for a new key, as pusher-js does; the event waits for it.
                c.rekey = Some(vec![(event, data)]);
                Some(channel.to_owned())
            }
            Err(error) => {
                out.push_event(Event::DecryptionFailed {
                    channel: channel.to_owned(),
                    event,
                    error,
                });
                None
            }
        }
    }

    /// The registry's invariants, given whether the session is connected.
    #[cfg(feature = "fuzzing")]
    pub(super) fn check(&self, connected: bool) -> Result<(), String> {
        if let Some(uc) = &self.user_channel {
            if !connected {
                return Err(format!("user channel {uc} kept while not connected"));
            }
            if !self.channels.contains_key(uc) {
                return Err(format!("user channel {uc} is not a channel"));
            }
        }
        for (name, c) in &self.channels {
            if !connected && c.status != Status::Idle {
                return Err(format!("{name} is {:?} while not connected", c.status));
            }
            if c.unsubscribe_on_success && c.status != Status::Pending {
                return Err(format!("{name} waits to unsubscribe but is {:?}", c.status));
            }
            if !c.members.is_empty() && (c.kind != ChannelKind::Presence || c.status != Status::Subscribed) {
                return Err(format!("{name} keeps members while {:?}", c.status));
            }
            if c.kind != ChannelKind::of(name) {
                return Err(format!("{name} has kind {:?}", c.kind));
            }
        }
        Ok(())
    }
}

fn parse_presence(data: Option<&StringOrJson>) -> Result<BTreeMap<String, Option<RawJson>>, String> {
    #[derive(Deserialize)]
    struct Outer {
        presence: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        #[serde(default)]
        ids: Vec<UserId>,
        #[serde(default)]
        hash: BTreeMap<String, Box<RawValue>>,
    }
    let data = data.ok_or_else(|| "presence data is missing".to_owned())?;
    let outer: Outer = codec::parse_data(data.raw().as_str()).map_err(|e| e.to_string())?;
    let mut members = BTreeMap::new();
    for id in outer.presence.ids {
        members.insert(id.0, None);
    }
    for (id, info) in outer.presence.hash {
        let info = RawJson::from_json_str(info.get()).ok();
        members.insert(id, info);
    }
    Ok(members)
}
