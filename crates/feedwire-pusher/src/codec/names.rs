//! Channel and event names: what the protocol accepts, and the socket id's shape.

/// The longest channel name accepted (hosted Pusher's limit).
pub const MAX_CHANNEL_NAME_LEN: usize = 164;
/// The longest event name accepted.
pub const MAX_EVENT_NAME_LEN: usize = 200;

/// Why a channel or event name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("{what} name is empty")]
    Empty {
        /// "channel" or "event".
        what: &'static str,
    },
    /// The name is too long.
    #[error("{what} name is {len} bytes long; the limit is {max}")]
    TooLong {
        /// "channel" or "event".
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A character outside `[A-Za-z0-9_\-=@,.;]`.
    #[error(
        "channel name {name:?} has the invalid character {ch:?} at byte {at} (allowed: A-Z a-z 0-9 _ - = @ , . ;)"
    )]
    InvalidChar {
        /// The name.
        name: String,
        /// The character.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
    /// `#` names are reserved for `#server-to-user-*`, which the session subscribes itself after signin.
    #[error("channel name {name:?} is reserved (names starting with '#' belong to the server)")]
    Reserved {
        /// The name.
        name: String,
    },
    /// Client events must be named `client-*`.
    #[error("client event name {name:?} must start with \"client-\"")]
    NotClientEvent {
        /// The name.
        name: String,
    },
    /// The data of a client event is not valid JSON.
    #[error("client event data is not valid JSON: {reason}")]
    InvalidData {
        /// What serde_json said.
        reason: String,
    },
}

/// Checks a channel name an application wants to subscribe to: `[A-Za-z0-9_\-=@,.;]+`, at most
/// [`MAX_CHANNEL_NAME_LEN`] bytes, not starting with `#`.
///
/// ```
/// use feedwire_pusher::codec::validate_channel_name;
/// assert!(validate_channel_name("presence-room.1").is_ok());
/// assert!(validate_channel_name("bad name").unwrap_err().to_string().contains("' '"));
/// ```
pub fn validate_channel_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what: "channel" });
    }
    if name.len() > MAX_CHANNEL_NAME_LEN {
        return Err(NameError::TooLong {
            what: "channel",
            len: name.len(),
            max: MAX_CHANNEL_NAME_LEN,
        });
    }
    if name.starts_with('#') {
        return Err(NameError::Reserved { name: name.into() });
    }
    if let Some((at, ch)) = name
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || "_-=@,.;".contains(*c)))
    {
        return Err(NameError::InvalidChar {
            name: name.into(),
            ch,
            at,
        });
    }
    Ok(())
}

/// Checks an event name: non-empty, at most [`MAX_EVENT_NAME_LEN`] bytes.
pub fn validate_event_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what: "event" });
    }
    if name.len() > MAX_EVENT_NAME_LEN {
        return Err(NameError::TooLong {
            what: "event",
            len: name.len(),
            max: MAX_EVENT_NAME_LEN,
        });
    }
    Ok(())
}

/// Checks a client event name: a valid event name starting with `client-`.
pub fn validate_client_event_name(name: &str) -> Result<(), NameError> {
    validate_event_name(name)?;
    if !name.starts_with("client-") {
        return Err(NameError::NotClientEvent { name: name.into() });
    }
    Ok(())
}

/// Whether `s` matches `^\d+\.\d+$`.
pub fn is_socket_id(s: &str) -> bool {
    match s.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}
