//! Whether a connection is admitted (its path and protocol version), and whether a `pusher:subscribe` is:
//! names, signatures (in constant time), presence channel data and limits. Pure: the hub applies the verdict.

use feedwire_core::{OpenRequest, RawJson};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::config::{HubConfig, codes};
use crate::auth;
use crate::codec::{self, UserId};

/// Whether a connection to `/app/{key}?protocol=N` may open: `Err((close code, reason))` when the path, the
/// protocol version (5 to 7) or the app key is wrong, as hosted Pusher answers.
pub(super) fn admit_connection(key: &str, request: &OpenRequest) -> Result<(), (u16, String)> {
    let path = request.path();
    let Some(given) = path
        .rsplit_once("/app/")
        .map(|(_, k)| k)
        .filter(|k| !k.contains('/'))
    else {
        return Err((codes::PATH_NOT_FOUND, format!("Path not found: {path}")));
    };
    match query_param(request.query(), "protocol") {
        None | Some("") => {
            return Err((codes::NO_PROTOCOL, "No protocol version supplied".into()));
        }
        Some(v) => match v.parse::<u32>() {
            Err(_) => {
                return Err((codes::INVALID_VERSION, "Invalid version string format".into()));
            }
            Ok(5..=7) => {}
            Ok(_) => {
                return Err((codes::UNSUPPORTED_PROTOCOL, "Unsupported protocol version".into()));
            }
        },
    }
    if given != key {
        return Err((codes::APP_NOT_FOUND, format!("App key {given} does not exist.")));
    }
    Ok(())
}

fn query_param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

/// Why a subscription is refused, in soketi's `pusher:subscription_error` shape.
pub(super) struct Refusal {
    pub(super) status: u16,
    pub(super) kind: &'static str,
    pub(super) reason: String,
}

fn refuse(status: u16, kind: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        kind,
        reason: reason.into(),
    }
}

/// A presence channel's members as they stand, asked only for presence subscriptions.
pub(super) struct Members<'a> {
    /// Whether a user is a member already.
    pub(super) present: &'a dyn Fn(&str) -> bool,
    /// How many members there are.
    pub(super) count: &'a dyn Fn() -> usize,
}

/// A presence member joining: the user id and info from the signed channel data.
pub(super) type Member = (String, Option<RawJson>);

#[derive(Deserialize)]
struct ChannelData<'a> {
    user_id: UserId,
    #[serde(borrow, default)]
    user_info: Option<&'a RawValue>,
}

/// What a subscription to `channel` by the connection `socket_id` (signed in as `signed_in`, if it is) asks
/// for: `Ok(Some(member))` on a presence channel, `Ok(None)` on any other, or why it is refused. `members`
/// describes the channel's members as they stand (in the cluster), for presence limits.
pub(super) fn admit(
    config: &HubConfig,
    socket_id: &str,
    signed_in: Option<&str>,
    channel: &str,
    auth_value: &str,
    channel_data: Option<String>,
    members: Members<'_>,
) -> Result<Option<Member>, Refusal> {
    let unauthorized = || refuse(401, "AuthError", "The connection is unauthorized.");
    if let Some(user) = channel.strip_prefix("#server-to-user-") {
        if signed_in != Some(user) {
            return Err(refuse(
                403,
                "AuthError",
                "subscribing to #server-to-user-{id} needs a signin as that user",
            ));
        }
        return Ok(None);
    }
    if let Err(e) = codec::validate_channel_name(channel) {
        return Err(refuse(400, "InvalidChannel", e.to_string()));
    }
    if channel.len() > config.max_channel_name_len {
        let reason = format!(
            "channel name of {} characters is longer than {}",
            channel.len(),
            config.max_channel_name_len
        );
        return Err(refuse(400, "LimitReached", reason));
    }
    if channel.starts_with("presence-") {
        let data = channel_data.unwrap_or_default();
        let to_sign = format!("{socket_id}:{channel}:{data}");
        if !auth::verify(&config.key, &config.secret, &to_sign, auth_value) {
            return Err(unauthorized());
        }
        let parsed: ChannelData<'_> = serde_json::from_str(&data)
            .map_err(|e| refuse(400, "InvalidChannelData", format!("channel_data: {e}")))?;
        let user_id = parsed.user_id.0;
        if user_id.is_empty() || user_id.len() > config.max_user_id_len {
            let reason = format!("user_id must be 1 to {} characters", config.max_user_id_len);
            return Err(refuse(400, "LimitReached", reason));
        }
        let info = match parsed.user_info.map(|i| RawJson::from_json_str(i.get())) {
            Some(Ok(i)) if i.as_str().len() > config.max_user_info => {
                let reason = format!("user_info is larger than {} bytes", config.max_user_info);
                return Err(refuse(400, "LimitReached", reason));
            }
            Some(Ok(i)) => Some(i),
            _ => None,
        };
        if !(members.present)(&user_id) && (members.count)() >= config.max_presence_members {
            let reason = format!(
                "presence channel is full ({} members)",
                config.max_presence_members
            );
            return Err(refuse(400, "LimitReached", reason));
        }
        return Ok(Some((user_id, info)));
    }
    if channel.starts_with("private-")
        && !auth::verify(
            &config.key,
            &config.secret,
            &format!("{socket_id}:{channel}"),
            auth_value,
        )
    {
        return Err(unauthorized());
    }
    Ok(None)
}
