//! The channel names of the AsyncAPI document.

/// `connected`: `publish-connected` (server -> client, on socket connected).
pub const CONNECTED: &str = "connected";
/// `logout`: `publish-logout` (server -> client: login from another client; the server then closes).
pub const LOGOUT: &str = "logout";
/// `ping-pong`: `subscribe-ping` (client -> server) and `publish-pong` (server -> client).
pub const PING_PONG: &str = "ping-pong";
/// `settings`: `subscribe-settings` (client -> server) and `publish-settings` (server -> client).
pub const SETTINGS: &str = "settings";
/// `incident`: `publish-incident` (server -> client).
pub const INCIDENT: &str = "incident";
/// `bet`: `publish-bet` (server -> client).
pub const BET: &str = "bet";
/// `bets-result`: `publish-bets-result` (server -> client).
pub const BETS_RESULT: &str = "bets-result";
/// `balance`: `publish-balance` (server -> client).
pub const BALANCE: &str = "balance";
/// `stats`: `publish-stats` (server -> client).
pub const STATS: &str = "stats";
/// All nine channels, in the document's order.
pub const ALL: [&str; 9] = [
    CONNECTED,
    LOGOUT,
    PING_PONG,
    SETTINGS,
    INCIDENT,
    BET,
    BETS_RESULT,
    BALANCE,
    STATS,
];

/// A channel name as the client's receive path meets it: the nine known channels without a string, anything
/// else kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Channel {
    Connected,
    Logout,
    PingPong,
    Settings,
    Incident,
    Bet,
    BetsResult,
    Balance,
    Stats,
    Other(String),
}

impl Channel {
    /// The channel named `name`.
    #[inline]
    pub(crate) fn of(name: &str) -> Channel {
        match name {
            BET => Channel::Bet,
            STATS => Channel::Stats,
            INCIDENT => Channel::Incident,
            BETS_RESULT => Channel::BetsResult,
            BALANCE => Channel::Balance,
            SETTINGS => Channel::Settings,
            PING_PONG => Channel::PingPong,
            CONNECTED => Channel::Connected,
            LOGOUT => Channel::Logout,
            other => Channel::Other(other.to_owned()),
        }
    }

    /// The channel's name.
    pub(crate) fn name(&self) -> &str {
        match self {
            Channel::Connected => CONNECTED,
            Channel::Logout => LOGOUT,
            Channel::PingPong => PING_PONG,
            Channel::Settings => SETTINGS,
            Channel::Incident => INCIDENT,
            Channel::Bet => BET,
            Channel::BetsResult => BETS_RESULT,
            Channel::Balance => BALANCE,
            Channel::Stats => STATS,
            Channel::Other(name) => name,
        }
    }
}
