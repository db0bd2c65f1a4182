//! What sessions and hubs ask their driver to do.

use std::fmt;

use crate::close::Close;
use crate::frame::Frame;

/// A request to open a WebSocket connection.
///
/// `Debug` hides the URL's query and every header value: protocols put credentials there (Doshii's `auth`
/// query parameter, cookies, API keys).
///
/// ```
/// use feedwire_core::ConnectRequest;
/// let req = ConnectRequest::new("wss://example.test/cable?token=s3cr3t")
///     .with_subprotocol("actioncable-v1-json")
///     .with_header("Cookie", "session=s3cr3t");
/// assert_eq!(req.path_and_query(), "/cable?token=s3cr3t");
/// assert!(!format!("{req:?}").contains("s3cr3t"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectRequest {
    /// The `ws://` or `wss://` URL.
    pub url: String,
    /// Subprotocols to offer, in order of preference.
    pub subprotocols: Vec<String>,
    /// Extra request headers (name, value).
    pub headers: Vec<(String, String)>,
}

impl ConnectRequest {
    /// A request for `url` with no subprotocols and no extra headers.
    pub fn new(url: impl Into<String>) -> Self {
        ConnectRequest {
            url: url.into(),
            subprotocols: Vec::new(),
            headers: Vec::new(),
        }
    }

    /// Adds a subprotocol to offer.
    pub fn with_subprotocol(mut self, p: impl Into<String>) -> Self {
        self.subprotocols.push(p.into());
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Whether the URL asks for TLS (`wss://` or `https://`).
    pub fn is_tls(&self) -> bool {
        let u = self.url.trim_start();
        u.len() >= 6
            && (u[..6].eq_ignore_ascii_case("wss://")
                || u.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("https://")))
    }

    /// The path and query of the URL (`/` when it has none).
    pub fn path_and_query(&self) -> &str {
        let rest = match self.url.find("://") {
            Some(i) => &self.url[i + 3..],
            None => &self.url,
        };
        match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => &rest[i..],
            Some(i) => &rest[i..], // "host?query": keep the query; a driver sends "/?query"
            None => "/",
        }
    }

    /// The URL without its query, for logs.
    pub fn redacted_url(&self) -> &str {
        match self.url.find('?') {
            Some(i) => &self.url[..i],
            None => &self.url,
        }
    }
}

impl fmt::Debug for ConnectRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a [(String, String)]);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(self.0.iter().map(|(k, _)| (k, "[redacted]")))
                    .finish()
            }
        }
        let url = if self.url.contains('?') {
            format!("{}?[redacted]", self.redacted_url())
        } else {
            self.url.clone()
        };
        f.debug_struct("ConnectRequest")
            .field("url", &url)
            .field("subprotocols", &self.subprotocols)
            .field("headers", &Headers(&self.headers))
            .finish()
    }
}

/// What a client [`Session`](crate::Session) asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Open a connection (a previous one, if any, is already closed or must be dropped first).
    Connect(ConnectRequest),
    /// Send one text frame on the open connection.
    Send(Frame),
    /// Close the open connection with this code and reason. The session has already counted the connection
    /// as gone; the driver must not report this close back through `handle_close`.
    Close(Close),
}

/// What a [`Hub`](crate::Hub) asks its driver to do on one connection. A hub never dials, so there is no
/// `Connect` here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubTransmit {
    /// Send one text frame.
    Send(Frame),
    /// Close the connection with this code and reason. The hub has already forgotten the connection; the
    /// driver must not report this close back through `handle_close`. 1006
    /// ([`CloseCode::ABNORMAL`](crate::CloseCode::ABNORMAL)), which is never sent on the wire, asks for a drop
    /// without a close frame (the `feedwire-tungstenite` server does that; a replayed transport failure uses it).
    Close(Close),
}

/// What a hub learns about a connection that has just opened.
#[derive(Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OpenRequest {
    /// The request target: path and query, such as `/app/app-key?protocol=7&client=js`.
    pub path_and_query: String,
    /// The subprotocol the driver agreed to (as chosen by [`Hub::select_subprotocol`](crate::Hub::select_subprotocol)).
    pub subprotocol: Option<String>,
    /// The request headers (name, value).
    pub headers: Vec<(String, String)>,
}

impl OpenRequest {
    /// A request for `path_and_query`.
    pub fn new(path_and_query: impl Into<String>) -> Self {
        OpenRequest {
            path_and_query: path_and_query.into(),
            subprotocol: None,
            headers: Vec::new(),
        }
    }

    /// Sets the agreed subprotocol.
    pub fn with_subprotocol(mut self, p: Option<String>) -> Self {
        self.subprotocol = p;
        self
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.path_and_query.split('?').next().unwrap_or("")
    }

    /// The raw query string (without `?`), empty when there is none.
    pub fn query(&self) -> &str {
        self.path_and_query.split_once('?').map(|(_, q)| q).unwrap_or("")
    }

    /// The first value of a header, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for OpenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenRequest")
            .field("path", &self.path())
            .field("query", &if self.query().is_empty() { "" } else { "[redacted]" })
            .field("subprotocol", &self.subprotocol)
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_query_forms() {
        assert_eq!(
            ConnectRequest::new("wss://h:443/app/k?protocol=7").path_and_query(),
            "/app/k?protocol=7"
        );
        assert_eq!(ConnectRequest::new("ws://h").path_and_query(), "/");
        assert_eq!(ConnectRequest::new("ws://h:80?x=1").path_and_query(), "?x=1");
        assert!(ConnectRequest::new("WSS://h").is_tls());
        assert!(!ConnectRequest::new("ws://h").is_tls());
        assert!(!ConnectRequest::new("ws").is_tls());
    }

    #[test]
    fn debug_redacts_query_and_header_values() {
        let r = ConnectRequest::new("wss://h/x?auth=Y2xpZW50").with_header("Authorization", "Bearer abc");
        let d = format!("{r:?}");
        assert!(!d.contains("Y2xpZW50") && !d.contains("abc"), "{d}");
        assert!(
            d.contains("wss://h/x?[redacted]") && d.contains("Authorization"),
            "{d}"
        );
        let o = OpenRequest::new("/cable?token=zzz").with_header("Cookie", "sid=zzz");
        let d = format!("{o:?}");
        assert!(!d.contains("zzz"), "{d}");
        assert_eq!(o.query(), "token=zzz");
        assert_eq!(o.path(), "/cable");
        assert_eq!(o.header("cookie"), Some("sid=zzz"));
    }
}
