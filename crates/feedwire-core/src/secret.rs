//! A value that never prints.

use std::fmt;

/// A wrapper whose `Debug` and `Display` print `[redacted]`, for app secrets, auth signatures, API keys and
/// client ids. Read the value with [`Secret::expose`], on purpose, where it is needed.
///
/// Two secrets compare (`==`) in time that depends on their lengths only, never on where their bytes first
/// differ ([`subtle`](https://docs.rs/subtle)), so comparing a received signature with the expected one leaks
/// nothing an attacker could time. `Secret` is deliberately not `Hash` and not `Ord`.
///
/// ```
/// use feedwire_core::Secret;
/// let s = Secret::new(String::from("7ad3773142a6692b25b8"));
/// assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
/// assert_eq!(s.expose(), "7ad3773142a6692b25b8");
/// assert!(s == Secret::<String>::from("7ad3773142a6692b25b8"));
/// assert!(s.ct_eq_bytes(b"7ad3773142a6692b25b8"));
/// ```
#[derive(Clone, Default)]
pub struct Secret<T>(T);

impl<T: AsRef<[u8]>> Secret<T> {
    /// Whether the secret's bytes equal `other`, in constant time for equal lengths.
    pub fn ct_eq_bytes(&self, other: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.0.as_ref().ct_eq(other))
    }
}

impl<T: AsRef<[u8]>> PartialEq for Secret<T> {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq_bytes(other.0.as_ref())
    }
}

impl<T: AsRef<[u8]>> Eq for Secret<T> {}

impl<T> Secret<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Secret(value)
    }

    /// The wrapped value.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Secret(value.to_owned())
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)] // fields are read through Debug
    struct Config {
        key: &'static str,
        secret: Secret<String>,
    }

    #[test]
    fn never_prints_content() {
        let c = Config {
            key: "app-key",
            secret: Secret::from("s3cr3t-value"),
        };
        for text in [
            format!("{c:?}"),
            format!("{c:#?}"),
            format!("{}", c.secret),
            format!("{:>40}", c.secret),
        ] {
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(text.contains("[redacted]"), "{text}");
        }
        assert!(format!("{c:?}").contains("app-key"));
        assert_eq!(c.secret.expose(), "s3cr3t-value");
        assert_eq!(c.secret.into_inner(), "s3cr3t-value");
    }

    #[test]
    fn compares_by_value() {
        assert!(Secret::<String>::from("abc") == Secret::<String>::from("abc"));
        assert!(Secret::<String>::from("abc") != Secret::<String>::from("abd"));
        assert!(Secret::<String>::from("abc") != Secret::<String>::from("abcd"));
        assert!(Secret::new([7u8; 32]) == Secret::new([7u8; 32]));
    }
}
