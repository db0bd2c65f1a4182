//! Encrypted channels (`private-encrypted-*`, feature `encrypted`): NaCl secretbox (XSalsa20-Poly1305) payloads.
//!
//! The auth response carries `shared_secret` (base64 of 32 bytes). Event data is a string holding
//! `{"nonce":b64(24 bytes),"ciphertext":b64}`; the plaintext is the JSON of the original data.
//!
//! ```
//! use feedwire_pusher::encrypted::{SharedSecret, encrypt};
//! let key = SharedSecret::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap();
//! let data = encrypt(&key, &[7u8; 24], br#"{"n":1}"#);
//! assert_eq!(key.decrypt(&data).unwrap(), br#"{"n":1}"#);
//! ```

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use feedwire_core::Secret;
use serde::Deserialize;

/// Why an encrypted payload could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// The shared secret is not base64 of 32 bytes.
    #[error("shared_secret is not base64 of 32 bytes")]
    BadSecret,
    /// The data is not `{"nonce":..,"ciphertext":..}` (string-encoded or not).
    #[error("encrypted data is not {{nonce, ciphertext}}: {0}")]
    Shape(String),
    /// The nonce is not base64 of 24 bytes.
    #[error("nonce is not base64 of 24 bytes")]
    BadNonce,
    /// The ciphertext is not base64.
    #[error("ciphertext is not base64")]
    BadCiphertext,
    /// Authentication failed: wrong key or tampered data.
    #[error("decryption failed (wrong key or tampered data)")]
    Failed,
}

/// The 32-byte key of one encrypted channel; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedSecret(Secret<[u8; 32]>);

impl std::fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedSecret([redacted])")
    }
}

#[derive(Deserialize)]
struct Payload {
    nonce: String,
    ciphertext: String,
}

impl SharedSecret {
    /// From the base64 `shared_secret` of an auth response.
    pub fn from_base64(b64: &str) -> Result<Self, DecryptError> {
        let bytes = STANDARD.decode(b64.trim()).map_err(|_| DecryptError::BadSecret)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| DecryptError::BadSecret)?;
        Ok(SharedSecret(Secret::new(key)))
    }

    /// From raw key bytes.
    pub fn from_bytes(key: [u8; 32]) -> Self {
        SharedSecret(Secret::new(key))
    }

    /// Decrypts the raw `data` of an event (a JSON string holding `{nonce, ciphertext}`, or that object).
    pub fn decrypt(&self, data: &str) -> Result<Vec<u8>, DecryptError> {
        let p: Payload = crate::codec::parse_data(data).map_err(|e| DecryptError::Shape(e.to_string()))?;
        let nonce = STANDARD.decode(&p.nonce).map_err(|_| DecryptError::BadNonce)?;
        if nonce.len() != 24 {
            return Err(DecryptError::BadNonce);
        }
        let ct = STANDARD
            .decode(&p.ciphertext)
            .map_err(|_| DecryptError::BadCiphertext)?;
        let cipher = XSalsa20Poly1305::new(Key::from_slice(self.0.expose()));
        cipher
            .decrypt(Nonce::from_slice(&nonce), ct.as_slice())
            .map_err(|_| DecryptError::Failed)
    }
}

/// Encrypts `plaintext` (servers and tests): returns the event `data` as a JSON string literal holding
/// `{"nonce":..,"ciphertext":..}`, the form servers send.
pub fn encrypt(key: &SharedSecret, nonce: &[u8; 24], plaintext: &[u8]) -> String {
    let cipher = XSalsa20Poly1305::new(Key::from_slice(key.0.expose()));
    let ct = cipher
        .encrypt(Nonce::from_slice(nonce), plaintext)
        .unwrap_or_default();
    let inner = format!(
        "{{\"nonce\":\"{}\",\"ciphertext\":\"{}\"}}",
        STANDARD.encode(nonce),
        STANDARD.encode(ct)
    );
    feedwire_core::json::to_string_literal(&inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_failures() {
        let k = SharedSecret::from_bytes([9u8; 32]);
        let data = encrypt(&k, &[1u8; 24], b"{\"a\":1}");
        assert!(data.starts_with("\"{\\\"nonce\\\":"));
        assert_eq!(k.decrypt(&data).unwrap(), b"{\"a\":1}");
        let other = SharedSecret::from_bytes([8u8; 32]);
        assert_eq!(other.decrypt(&data), Err(DecryptError::Failed));
        assert!(matches!(k.decrypt("{}"), Err(DecryptError::Shape(_))));
        assert_eq!(
            k.decrypt(r#"{"nonce":"AAAA","ciphertext":""}"#),
            Err(DecryptError::BadNonce)
        );
        assert_eq!(SharedSecret::from_base64("AAAA"), Err(DecryptError::BadSecret));
        assert_eq!(format!("{k:?}"), "SharedSecret([redacted])");
    }
}
