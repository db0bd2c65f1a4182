//! Events: the name (typed), the payload (raw) and the envelope they came in.

use std::fmt;

use bytestring::ByteString;
use feedwire_core::json::write_string;
use feedwire_core::{Frame, RawJson};

use super::data::EventData;

/// Which envelope an event arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum EventShape {
    /// `{"emit":[name, data, ...]}`: the wire shape (primus-emit).
    #[default]
    Emit,
    /// `{"type":name,"data":..}`: the shape the older docs print.
    Type,
    /// `{"event":name,"data":..}`: the shape the newer docs print.
    Event,
}

/// One Doshii event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// The event name, typed.
    pub kind: EventKind,
    /// The payload (`null` when the frame had none), a slice of the received frame.
    pub data: EventData,
    /// The envelope it came in.
    pub shape: EventShape,
    /// Items after the data in an `emit` array (Primus allows them; Doshii sends none). Empty, and not
    /// allocated, in the normal case.
    pub extra_args: Vec<RawJson>,
}

impl Event {
    /// An `emit`-shaped event.
    pub fn new(kind: EventKind, data: RawJson) -> Event {
        Event {
            kind,
            data: EventData::new(data),
            shape: EventShape::Emit,
            extra_args: Vec::new(),
        }
    }

    /// Sets the envelope shape used by [`ServerMessage::encode`](super::ServerMessage::encode).
    pub fn with_shape(mut self, shape: EventShape) -> Event {
        self.shape = shape;
        self
    }

    /// The event name as on the wire.
    pub fn name(&self) -> &str {
        self.kind.as_str()
    }

    /// The frame in the event's envelope: `{"emit":[name,data,extra..]}`, `{"type":name,"data":..}` or
    /// `{"event":name,"data":..}`. One allocation, sized up front.
    pub(super) fn encode(&self) -> Frame {
        let name = self.name();
        let data = self.data.as_str();
        let extra: usize = self.extra_args.iter().map(|a| a.as_str().len() + 1).sum();
        let mut s = String::with_capacity(16 + name.len() + data.len() + extra);
        match self.shape {
            EventShape::Emit => {
                s.push_str("{\"emit\":[");
                write_string(&mut s, name);
                s.push(',');
                s.push_str(data);
                for a in &self.extra_args {
                    s.push(',');
                    s.push_str(a.as_str());
                }
                s.push_str("]}");
            }
            EventShape::Type | EventShape::Event => {
                s.push_str(if self.shape == EventShape::Type {
                    "{\"type\":"
                } else {
                    "{\"event\":"
                });
                write_string(&mut s, name);
                s.push_str(",\"data\":");
                s.push_str(data);
                s.push('}');
            }
        }
        Frame::from(s)
    }
}

macro_rules! event_kinds {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, )*) => {
        /// Every event name doshii.md lists, typed; [`EventKind::Other`] keeps any other name.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum EventKind {
            $( $(#[$doc])* #[doc = concat!("`", $name, "`")] $variant, )*
            /// Any other name, kept as received.
            Other(ByteString),
        }

        impl EventKind {
            /// Every known kind, in the order of doshii.md.
            pub const ALL: &'static [EventKind] = &[ $( EventKind::$variant, )* ];

            /// The kind for a known name; `None` for any other.
            pub fn known(name: &str) -> Option<EventKind> {
                Some(match name {
                    $( $name => EventKind::$variant, )*
                    _ => return None,
                })
            }

            /// The name as on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $( EventKind::$variant => $name, )*
                    EventKind::Other(n) => n,
                }
            }
        }
    };
}

event_kinds! {
    OrderCreated = "order_created",
    OrderUpdated = "order_updated",
    OrderPreprocess = "order_preprocess",
    ItemCreated = "item_created",
    ItemUpdated = "item_updated",
    TransactionCreated = "transaction_created",
    TransactionUpdated = "transaction_updated",
    BookingCreated = "booking_created",
    BookingUpdated = "booking_updated",
    BookingDeleted = "booking_deleted",
    CheckinCreated = "checkin_created",
    CheckinUpdated = "checkin_updated",
    CheckinDeleted = "checkin_deleted",
    LoyaltyCheckinCreated = "loyalty_checkin_created",
    LoyaltyCheckinUpdated = "loyalty_checkin_updated",
    LoyaltyCheckinDeleted = "loyalty_checkin_deleted",
    MemberCreated = "member_created",
    MemberUpdated = "member_updated",
    MemberDeleted = "member_deleted",
    PointsRedemption = "points_redemption",
    RewardRedemption = "reward_redemption",
    MenuUpdated = "menu_updated",
    AppMenuUpdated = "app_menu_updated",
    AppMenuItemUpdated = "app_menu_item_updated",
    TableCreated = "table_created",
    TableUpdated = "table_updated",
    TableDeleted = "table_deleted",
    TableBulkUpdated = "table_bulk_updated",
    /// (the Node SDK's name for a deleted table)
    TableRemoved = "table_removed",
    CardActivate = "card_activate",
    CardEnquiry = "card_enquiry",
    LocationSubscription = "location_subscription",
    LocationHoursUpdated = "location_hours_updated",
    AppStoreStatusUpdated = "app_store_status_updated",
    AppSubscribed = "app_subscribed",
    /// (POS: answer with a pong carrying `data.ping`)
    HealthCheck = "health_check",
    EmployeeCreated = "employee_created",
    EmployeeUpdated = "employee_updated",
    EmployeeDeleted = "employee_deleted",
    ResourceCreated = "resource_created",
    ResourceUpdated = "resource_updated",
    ResourceDeleted = "resource_deleted",
    /// (legacy)
    OrderStatus = "order_status",
    /// (legacy)
    TransactionStatus = "transaction_status",
}

impl EventKind {
    /// The kind for any name: a known variant, or [`EventKind::Other`].
    pub fn from_name(name: &str) -> EventKind {
        EventKind::known(name).unwrap_or_else(|| EventKind::Other(ByteString::from(name.to_owned())))
    }

    /// Whether this is an order event (`order_*`, `item_*`, legacy `order_status`).
    pub fn is_order(&self) -> bool {
        matches!(
            self,
            EventKind::OrderCreated
                | EventKind::OrderUpdated
                | EventKind::OrderPreprocess
                | EventKind::ItemCreated
                | EventKind::ItemUpdated
                | EventKind::OrderStatus
        )
    }

    /// Whether this is a transaction event (`transaction_*`, legacy `transaction_status`).
    pub fn is_transaction(&self) -> bool {
        matches!(
            self,
            EventKind::TransactionCreated | EventKind::TransactionUpdated | EventKind::TransactionStatus
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
