//! Conversions between feedwire's vocabulary and tungstenite's, shared by every driver.

use std::time::Instant;

use bytes::Bytes;
use feedwire_core::{Close, ConnectRequest, Frame};
use tungstenite::Message;
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::{Request, Response};
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::protocol::CloseFrame;
use tungstenite::protocol::frame::Utf8Bytes;
use tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;

/// The one place this crate reads the clock.
///
/// The protocol crates never read a clock (sans-IO: time comes in as an argument). A driver is the component
/// that owns the clock on their behalf, so the workspace-wide `disallowed_methods` lint is lifted here only.
#[allow(clippy::disallowed_methods)] // drivers own the clock; see above
#[inline]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// The HTTP request for a [`ConnectRequest`]: its URL, `Sec-WebSocket-Protocol` with the offered subprotocols
/// (comma-separated, in order) and its extra headers.
pub(crate) fn build_request(req: &ConnectRequest) -> Result<Request, tungstenite::Error> {
    let mut request = req.url.as_str().into_client_request()?;
    let headers = request.headers_mut();
    if !req.subprotocols.is_empty() {
        let value = HeaderValue::from_str(&req.subprotocols.join(", "))
            .map_err(|e| tungstenite::Error::HttpFormat(e.into()))?;
        headers.insert("Sec-WebSocket-Protocol", value);
    }
    for (name, value) in &req.headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| tungstenite::Error::HttpFormat(e.into()))?;
        let value = HeaderValue::from_str(value).map_err(|e| tungstenite::Error::HttpFormat(e.into()))?;
        headers.append(name, value);
    }
    Ok(request)
}

/// `host:port` of a request's URL, for error messages (the URL as given when it cannot be read).
pub(crate) fn host_port(req: &ConnectRequest) -> String {
    let url = req.url.as_str();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        && !host.ends_with(']');
    if has_port {
        host.to_owned()
    } else {
        let tls = req.is_tls();
        format!("{host}:{}", if tls { 443 } else { 80 })
    }
}

/// The close a read error calls for, when the peer broke a rule with a close code of its own: a message over
/// the size limit (1009) or text that is not UTF-8 (1007). Other read errors are transport failures.
pub(crate) fn read_error_close(e: &tungstenite::Error) -> Option<Close> {
    use tungstenite::error::CapacityError;
    match e {
        tungstenite::Error::Capacity(CapacityError::MessageTooLong { size, max_size }) => Some(Close::new(
            feedwire_core::CloseCode::MESSAGE_TOO_BIG,
            format!("message of {size} bytes exceeds the limit of {max_size}"),
        )),
        tungstenite::Error::Utf8(_) => Some(Close::new(
            feedwire_core::CloseCode::INVALID_PAYLOAD,
            "invalid UTF-8",
        )),
        _ => None,
    }
}

/// The subprotocol the server agreed to, from its handshake response.
pub(crate) fn agreed_subprotocol(response: &Response) -> Option<String> {
    response
        .headers()
        .get("Sec-WebSocket-Protocol")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// Every subprotocol a client offered (all `Sec-WebSocket-Protocol` headers, comma-separated lists).
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn offered_subprotocols(headers: &tungstenite::http::HeaderMap) -> Vec<String> {
    headers
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A text message as a [`Frame`], sharing the received buffer (UTF-8 is checked again: tungstenite already
/// checked it, but turning its `Utf8Bytes` into a `Frame` without a check would need `unsafe`).
pub(crate) fn text_to_frame(text: Utf8Bytes) -> Option<Frame> {
    Frame::try_from(Bytes::from(text)).ok()
}

/// A [`Frame`] as a text message, sharing the frame's buffer.
pub(crate) fn frame_to_message(frame: Frame) -> Message {
    match Utf8Bytes::try_from(frame.into_bytes()) {
        Ok(t) => Message::Text(t),
        // unreachable: a Frame is valid UTF-8 by construction
        Err(_) => Message::Text(Utf8Bytes::from_static("")),
    }
}

/// A received close frame as a [`Close`] (no status code becomes 1005).
pub(crate) fn close_from_ws(frame: Option<CloseFrame>) -> Close {
    match frame {
        Some(f) => Close::new(u16::from(f.code), f.reason.as_str().to_owned()),
        None => Close::new(feedwire_core::CloseCode::NO_STATUS, ""),
    }
}

/// A [`Close`] as a close message; a code that may not be sent (1005, 1006, 1015, out of range) is sent as
/// 1000 so the peer still gets a valid close frame.
pub(crate) fn close_to_message(close: &Close) -> Message {
    let code = if close.code.is_sendable() {
        close.code.0
    } else {
        1000
    };
    Message::Close(Some(CloseFrame {
        code: WsCloseCode::from(code),
        reason: Utf8Bytes::from(close.reason.as_ref()),
    }))
}

/// The close a driver reports (and sends) when it refuses a binary frame.
pub(crate) fn binary_close() -> Close {
    Close::new(
        feedwire_core::CloseCode::UNSUPPORTED_DATA,
        "binary frames are not supported",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_carries_subprotocols_and_headers() {
        let r = build_request(
            &ConnectRequest::new("ws://127.0.0.1:9/cable?x=1")
                .with_subprotocol("a")
                .with_subprotocol("b")
                .with_header("Origin", "http://o")
                .with_header("X-Two", "1")
                .with_header("X-Two", "2"),
        )
        .unwrap();
        assert_eq!(r.uri().path_and_query().unwrap().as_str(), "/cable?x=1");
        assert_eq!(r.headers()["sec-websocket-protocol"], "a, b");
        assert_eq!(r.headers()["origin"], "http://o");
        assert_eq!(r.headers().get_all("x-two").iter().count(), 2);
        assert_eq!(offered_subprotocols(r.headers()), vec!["a", "b"]);
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        assert!(build_request(&ConnectRequest::new("not a url")).is_err());
        assert!(build_request(&ConnectRequest::new("ws://h/").with_header("bad name", "v")).is_err());
        assert!(build_request(&ConnectRequest::new("ws://h/").with_header("X", "bad\nvalue")).is_err());
        assert!(build_request(&ConnectRequest::new("ws://h/").with_subprotocol("bad\r\n")).is_err());
    }

    #[test]
    fn closes_convert_both_ways() {
        let c = close_from_ws(Some(CloseFrame {
            code: WsCloseCode::from(4201),
            reason: "bye".into(),
        }));
        assert_eq!(c, Close::new(4201, "bye"));
        assert_eq!(close_from_ws(None).code.0, 1005);
        match close_to_message(&Close::new(1006, "x")) {
            Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 1000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn frames_share_buffers() {
        let f = Frame::from(String::from("hello"));
        let p = f.as_str().as_ptr();
        let Message::Text(t) = frame_to_message(f) else {
            panic!()
        };
        assert_eq!(t.as_str().as_ptr(), p);
        let back = text_to_frame(t).unwrap();
        assert_eq!(back.as_str().as_ptr(), p);
    }
}
