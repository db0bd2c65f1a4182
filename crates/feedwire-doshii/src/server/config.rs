//! How a [`Hub`](super::Hub) behaves.

use feedwire_core::Limits;

/// How a [`Hub`](super::Hub) behaves.
///
/// ```
/// use feedwire_core::Limits;
/// use feedwire_doshii::server::{Hub, HubConfig};
/// let hub = Hub::new(HubConfig::default().with_version("3.2.200").with_limits(Limits::default().with_max_queued(64)));
/// # drop(hub);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HubConfig {
    /// The `version` the pongs carry (default `3.2.123`, the docs' sample).
    pub version: String,
    /// Answer pings (default true; turn off, or call [`Hub::set_answer_pings`](super::Hub::set_answer_pings),
    /// to test a client's pong timeout).
    pub answer_pings: bool,
    /// Frame and queue bounds (the queue bound also caps each app's replay backlog).
    pub limits: Limits,
}

impl Default for HubConfig {
    fn default() -> Self {
        HubConfig {
            version: "3.2.123".to_owned(),
            answer_pings: true,
            limits: Limits::default(),
        }
    }
}

impl HubConfig {
    /// Sets the version the pongs carry.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }
    /// Sets whether pings are answered.
    pub fn with_answer_pings(mut self, yes: bool) -> Self {
        self.answer_pings = yes;
        self
    }
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}
