//! Who is on a connection, read from its URL, and the device filters of registered app devices.

use base64::Engine as _;
use feedwire_core::OpenRequest;

/// Who is on a connection, from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Peer {
    /// An app partner (`/app/socket`, or `/app/socket/v3` when `v3`).
    App {
        /// The client id, decoded from `auth`.
        client_id: String,
        /// The `deviceId` query parameter (v3).
        device_id: Option<String>,
        /// Whether it came on `/app/socket/v3`.
        v3: bool,
    },
    /// A POS venue (`/pos/socket?token=..`).
    Pos {
        /// The location token.
        token: String,
    },
    /// A cloud POS vendor (`/vendor/socket?token=..&vendor=..`).
    Vendor {
        /// The JWT.
        token: String,
        /// The vendor name.
        vendor: String,
    },
}

impl Peer {
    /// The peer of an upgrade request, or why it is refused.
    pub(super) fn parse(request: &OpenRequest) -> Result<Peer, &'static str> {
        let params: Vec<(String, String)> = form_urlencoded::parse(request.query().as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let path = request.path().trim_end_matches('/');
        match path {
            "/app/socket" | "/app/socket/v3" => {
                let auth = get("auth").ok_or("missing auth")?;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(auth.as_bytes())
                    .map_err(|_| "auth is not base64")?;
                let client_id = String::from_utf8(bytes).map_err(|_| "auth is not UTF-8")?;
                if client_id.is_empty() {
                    return Err("empty client id");
                }
                Ok(Peer::App {
                    client_id,
                    device_id: get("deviceId").filter(|d| !d.is_empty()),
                    v3: path.ends_with("/v3"),
                })
            }
            "/pos/socket" => Ok(Peer::Pos {
                token: get("token").filter(|t| !t.is_empty()).ok_or("missing token")?,
            }),
            "/vendor/socket" => Ok(Peer::Vendor {
                token: get("token").filter(|t| !t.is_empty()).ok_or("missing token")?,
                vendor: get("vendor").filter(|t| !t.is_empty()).ok_or("missing vendor")?,
            }),
            _ => Err("unknown path"),
        }
    }
}

/// A registered device's filters (`POST /devices`): empty lists match everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DeviceFilter {
    /// Event names to deliver.
    pub events: Vec<String>,
    /// `locationId`s to deliver.
    pub location_ids: Vec<String>,
}

impl DeviceFilter {
    /// Sets the event names.
    pub fn with_events<I: IntoIterator<Item = S>, S: Into<String>>(mut self, events: I) -> Self {
        self.events = events.into_iter().map(Into::into).collect();
        self
    }
    /// Sets the location ids.
    pub fn with_location_ids<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.location_ids = ids.into_iter().map(Into::into).collect();
        self
    }

    /// Whether an event `name` with `location_id` passes.
    pub fn matches(&self, name: &str, location_id: Option<&str>) -> bool {
        (self.events.is_empty() || self.events.iter().any(|e| e == name))
            && (self.location_ids.is_empty()
                || location_id.is_some_and(|l| self.location_ids.iter().any(|x| x == l)))
    }
}
