//! [`HubConfig`]: how a [`Hub`](super::Hub) behaves.

use feedwire_core::Limits;

/// How a [`Hub`](super::Hub) behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// Answer pings (default true; turn off to test a client's pong timeout).
    pub answer_pings: bool,
    /// The `reason` of the `logout` sent when a user logs in again.
    pub logout_reason: String,
    /// Frame and queue bounds.
    pub limits: Limits,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            answer_pings: true,
            logout_reason: "login from another client".to_owned(),
            limits: Limits::default(),
        }
    }
}

impl HubConfig {
    /// Sets whether pings are answered.
    pub fn with_answer_pings(mut self, yes: bool) -> Self {
        self.answer_pings = yes;
        self
    }
    /// Sets the logout reason.
    pub fn with_logout_reason(mut self, reason: impl Into<String>) -> Self {
        self.logout_reason = reason.into();
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}
