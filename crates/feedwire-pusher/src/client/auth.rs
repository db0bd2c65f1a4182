//! What the application answers the session's auth requests with.

use bytestring::ByteString;
use feedwire_core::Secret;
use serde::Deserialize;

use super::event::CommandError;
use crate::codec::UserId;

/// A channel authorization, as an auth endpoint returns it (`{"auth":..,"channel_data":..,"shared_secret":..}`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ChannelAuth {
    /// `key:signature`.
    pub auth: Secret<String>,
    /// Presence: the signed JSON string with `user_id` and `user_info`.
    pub channel_data: Option<String>,
    /// Encrypted channels: base64 of the 32-byte key.
    pub shared_secret: Option<Secret<String>>,
}

#[derive(Deserialize)]
struct ChannelAuthJson {
    auth: String,
    #[serde(default)]
    channel_data: Option<String>,
    #[serde(default)]
    shared_secret: Option<String>,
}

impl ChannelAuth {
    /// An authorization with only `auth`.
    pub fn new(auth: impl Into<String>) -> Self {
        ChannelAuth {
            auth: Secret::new(auth.into()),
            channel_data: None,
            shared_secret: None,
        }
    }
    /// Adds presence channel data.
    pub fn with_channel_data(mut self, channel_data: impl Into<String>) -> Self {
        self.channel_data = Some(channel_data.into());
        self
    }
    /// Adds the encrypted channel key.
    pub fn with_shared_secret(mut self, b64: impl Into<String>) -> Self {
        self.shared_secret = Some(Secret::new(b64.into()));
        self
    }
    /// Parses an auth endpoint's JSON response.
    ///
    /// ```
    /// use feedwire_pusher::client::ChannelAuth;
    /// let a = ChannelAuth::from_json(r#"{"auth":"key:sig","channel_data":"{\"user_id\":1}"}"#).unwrap();
    /// assert_eq!(a.channel_data.as_deref(), Some(r#"{"user_id":1}"#));
    /// assert!(ChannelAuth::from_json("{}").unwrap_err().to_string().starts_with("invalid auth response"));
    /// ```
    pub fn from_json(text: &str) -> Result<Self, AuthResponseError> {
        let j: ChannelAuthJson = serde_json::from_str(text).map_err(|e| AuthResponseError {
            reason: e.to_string(),
        })?;
        Ok(ChannelAuth {
            auth: Secret::new(j.auth),
            channel_data: j.channel_data,
            shared_secret: j.shared_secret.map(Secret::new),
        })
    }
}

impl ChannelAuth {
    /// The `user_id` in the channel data of a presence channel's authorization.
    pub(super) fn presence_user_id(&self, channel: &str) -> Result<String, CommandError> {
        #[derive(Deserialize)]
        struct Cd {
            user_id: UserId,
        }
        let bad = |reason: String| CommandError::BadChannelData {
            channel: channel.to_owned(),
            reason,
        };
        let cd = self
            .channel_data
            .as_deref()
            .ok_or_else(|| bad("channel_data is missing".into()))?;
        let parsed: Cd = serde_json::from_str(cd).map_err(|e| bad(e.to_string()))?;
        Ok(parsed.user_id.0)
    }
}

/// A user authentication for `pusher:signin` (`{"auth":..,"user_data":..}` from a user-auth endpoint).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UserAuth {
    /// `key:signature`.
    pub auth: Secret<String>,
    /// The signed JSON string; must hold a non-empty string `id`.
    pub user_data: String,
}

impl UserAuth {
    /// A user authentication.
    pub fn new(auth: impl Into<String>, user_data: impl Into<String>) -> Self {
        UserAuth {
            auth: Secret::new(auth.into()),
            user_data: user_data.into(),
        }
    }
}

/// An authorization the session waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthRequest {
    /// The socket id to sign.
    pub socket_id: ByteString,
    /// The channel.
    pub channel: String,
    /// Whether this is a re-authorization of a subscribed encrypted channel (after a decryption failure).
    pub rekey: bool,
}

/// An auth endpoint's response could not be parsed ([`ChannelAuth::from_json`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid auth response: {reason}")]
pub struct AuthResponseError {
    /// What serde_json said.
    pub reason: String,
}
