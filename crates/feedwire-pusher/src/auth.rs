//! Auth signatures: `key:lowercase_hex(HMAC-SHA256(secret, string_to_sign))`.
//!
//! The client session never needs the app secret (auth is an [`Event::AuthRequired`](crate::client::Event)
//! answered by `provide_auth`); these helpers are for servers, auth endpoints and tests.
//!
//! ```
//! use feedwire_core::Secret;
//! use feedwire_pusher::auth::sign_private;
//! let secret = Secret::new(String::from("7ad3773142a6692b25b8"));
//! let auth = sign_private("278d425bdf160c739803", &secret, "1234.1234", "private-foobar");
//! assert_eq!(
//!     auth.expose(),
//!     "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
//! );
//! ```

use feedwire_core::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// `lowercase_hex(HMAC-SHA256(secret, message))`.
pub fn signature(secret: &Secret<String>, message: &str) -> String {
    // HMAC accepts keys of any length, so this never fails; an empty signature would never verify.
    let Ok(mut mac) = HmacSha256::new_from_slice(secret.expose().as_bytes()) else {
        return String::new();
    };
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn auth(key: &str, secret: &Secret<String>, message: &str) -> Secret<String> {
    Secret::new(format!("{key}:{}", signature(secret, message)))
}

/// The `auth` of a private channel subscription: signs `{socket_id}:{channel}`.
pub fn sign_private(key: &str, secret: &Secret<String>, socket_id: &str, channel: &str) -> Secret<String> {
    auth(key, secret, &format!("{socket_id}:{channel}"))
}

/// The `auth` of a presence channel subscription: signs `{socket_id}:{channel}:{channel_data}` where
/// `channel_data` is the exact JSON string sent in the subscription.
pub fn sign_presence(
    key: &str,
    secret: &Secret<String>,
    socket_id: &str,
    channel: &str,
    channel_data: &str,
) -> Secret<String> {
    auth(key, secret, &format!("{socket_id}:{channel}:{channel_data}"))
}

/// The `auth` of `pusher:signin`: signs `{socket_id}::user::{user_data}`.
pub fn sign_user(key: &str, secret: &Secret<String>, socket_id: &str, user_data: &str) -> Secret<String> {
    auth(key, secret, &format!("{socket_id}::user::{user_data}"))
}

/// Checks an `auth` value (`key:hex`) against the expected signature of `message`, in constant time.
pub fn verify(key: &str, secret: &Secret<String>, message: &str, auth: &str) -> bool {
    use subtle::ConstantTimeEq;
    let Some((k, sig)) = auth.split_once(':') else {
        return false;
    };
    let expected = signature(secret, message);
    k == key && bool::from(expected.as_bytes().ct_eq(sig.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";

    fn secret() -> Secret<String> {
        Secret::new("7ad3773142a6692b25b8".to_owned())
    }

    #[test]
    fn private_vector() {
        let a = sign_private(KEY, &secret(), "1234.1234", "private-foobar");
        assert_eq!(
            a.expose(),
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        assert!(verify(KEY, &secret(), "1234.1234:private-foobar", a.expose()));
        assert!(!verify(KEY, &secret(), "1234.1235:private-foobar", a.expose()));
        assert!(!verify(KEY, &secret(), "1234.1234:private-foobar", "nocolon"));
    }

    #[test]
    fn user_vector() {
        let a = sign_user(KEY, &secret(), "1234.1234", r#"{"id":"12345"}"#);
        assert_eq!(
            a.expose(),
            "278d425bdf160c739803:4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"
        );
    }

    #[test]
    fn presence_vector() {
        let a = sign_presence(
            KEY,
            &secret(),
            "1234.1234",
            "presence-foobar",
            r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#,
        );
        assert_eq!(
            a.expose(),
            "278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
        );
        assert_eq!(format!("{a:?}"), "[redacted]");
    }
}
