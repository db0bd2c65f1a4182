//! Plain HTTP requests: the host's handler, the built-in routes, and the service both the listener and a
//! host's own hyper application call.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use feedwire_core::Hub;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::{HttpHandler, ServerHandle, Shared, ws};

/// The body of every response the server gives (`http_body_util::Full<Bytes>`).
pub type ResponseBody = Full<Bytes>;

/// A plain HTTP request received on the server's port (see [`Server::new_with_http`](crate::Server::new_with_http)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpRequest {
    /// The method (`GET`, `POST`, ...).
    pub method: String,
    /// The path, without the query (`/apps/app-id/events`); not percent-decoded.
    pub path: String,
    /// The raw query string, without `?` (empty when there is none); not percent-decoded.
    pub query: String,
    /// The headers in the order received, names in lower case (compare them case-insensitively, or use
    /// [`header`](Self::header)); values that are not UTF-8 are converted lossily.
    pub headers: Vec<(String, String)>,
    /// The body (a `Content-Length` or chunked body, decoded; empty without one).
    pub body: Bytes,
}

impl HttpRequest {
    /// A request with no headers and no body, for testing a handler: `target` is the path with an optional
    /// `?query`.
    ///
    /// ```
    /// use feedwire_tungstenite::HttpRequest;
    /// let req = HttpRequest::new("POST", "/apps/1/events?auth_key=k").with_header("Content-Type", "application/json");
    /// assert_eq!((req.path.as_str(), req.query.as_str()), ("/apps/1/events", "auth_key=k"));
    /// assert_eq!(req.header("content-type"), Some("application/json"));
    /// ```
    pub fn new(method: impl Into<String>, target: &str) -> Self {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        HttpRequest {
            method: method.into(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The answer to an [`HttpRequest`]: sent with its status, `Content-Type`, `Content-Length` and extra headers.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status code (200..=999; anything else, informational statuses included, is sent as 500).
    pub status: u16,
    /// The `Content-Type` (a value that is not a valid header value is sent as `application/octet-stream`).
    pub content_type: String,
    /// Extra headers (name, value); invalid ones are left out.
    pub headers: Vec<(String, String)>,
    /// The body (not sent for HEAD requests).
    pub body: Bytes,
}

impl HttpResponse {
    /// A response.
    pub fn new(status: u16, content_type: impl Into<String>, body: impl Into<Bytes>) -> Self {
        HttpResponse {
            status,
            content_type: content_type.into(),
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// An `application/json` response.
    pub fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status, "application/json", body)
    }

    /// A `text/plain; charset=utf-8` response.
    pub fn text(status: u16, body: impl Into<Bytes>) -> Self {
        Self::new(status, "text/plain; charset=utf-8", body)
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// As a hyper response.
    fn into_response(self) -> Response<ResponseBody> {
        let status = StatusCode::from_u16(self.status)
            .ok()
            .filter(|s| !s.is_informational())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let content_type = HeaderValue::from_str(&self.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        let mut resp = Response::new(Full::new(self.body));
        *resp.status_mut() = status;
        let headers = resp.headers_mut();
        headers.insert(header::CONTENT_TYPE, content_type);
        for (name, value) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
        resp
    }
}

/// A short text answer; `close` asks the client to close the connection after it (an unread body is left
/// behind).
pub(super) fn plain(status: StatusCode, text: &'static str, close: bool) -> Response<ResponseBody> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if close {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

impl<H> ServerHandle<H>
where
    H: Hub + Send + 'static,
    H::Event: Send,
{
    /// Serves one HTTP request that a hyper (or axum) application of the host's routes to the hub, exactly
    /// as the server's own listener would: a WebSocket upgrade is checked and answered 101 (the connection
    /// then runs on a task of its own, through this server's hub and flow control, once hyper hands the
    /// upgraded connection over), a built-in route is answered by the server, any other request goes to the
    /// HTTP handler (or is answered 426 without one).
    ///
    /// The request must carry hyper's upgrade extension (`hyper::upgrade::OnUpgrade`), as requests from
    /// `hyper::server::conn::http1` connections served `.with_upgrades()` do; an upgrade request without it
    /// is answered 500. Any body type works. The handle may belong to a server that also listens, or to a
    /// [`detached`](crate::ServerBuilder::detached) one that serves only what the host hands it.
    ///
    /// From axum, a handler for the hub's path takes the whole request (axum keeps hyper's `OnUpgrade`
    /// extension in it) and returns this response with its body converted:
    /// `Router::new().route("/app/{*rest}", any(move |req: Request| async move {
    /// handle.serve_http(req).await.map(axum::body::Body::new) }))`.
    ///
    /// See `examples/mount_in_hyper.rs` for a hyper server of the host's own that serves `/app` on the hub and
    /// `/hello` itself.
    pub async fn serve_http<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        respond(&self.shared, req).await
    }
}

/// The one service: upgrades, built-in routes, the host's handler.
pub(super) async fn respond<H, B>(shared: &Arc<Shared<H>>, req: Request<B>) -> Response<ResponseBody>
where
    H: Hub + Send + 'static,
    H::Event: Send,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let resp = if !origin_form(&req) {
        plain(StatusCode::BAD_REQUEST, "bad request target\n", true)
    } else if ws::is_upgrade(req.headers()) {
        ws::upgrade(shared, req)
    } else if let Some(resp) = builtin(shared, &req) {
        resp
    } else if let Some(handler) = &shared.http {
        handle(shared, handler, req).await
    } else {
        let mut resp = plain(
            StatusCode::UPGRADE_REQUIRED,
            "this endpoint speaks WebSocket only\n",
            false,
        );
        resp.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        resp.headers_mut()
            .insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        resp
    };
    shared.meters.count_http(resp.status().as_u16());
    resp
}

/// Whether the request target has a path (origin or absolute form; `*` for OPTIONS): hyper also accepts the
/// authority form (`GET host:port`), which only CONNECT may use.
fn origin_form<B>(req: &Request<B>) -> bool {
    match req.uri().path_and_query().map(|p| p.as_str()) {
        Some(p) if p.starts_with('/') => true,
        Some("*") => req.method() == Method::OPTIONS,
        _ => false,
    }
}

/// `GET /health`, `GET /ready` and (feature `metrics`, with a registry) `GET /metrics`, when enabled.
fn builtin<H, B>(shared: &Shared<H>, req: &Request<B>) -> Option<Response<ResponseBody>> {
    if !shared.config.builtin_routes || !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    match req.uri().path() {
        "/health" => Some(plain(StatusCode::OK, "ok\n", false)),
        "/ready" if shared.meters.accepting.load(Ordering::Acquire) => {
            Some(plain(StatusCode::OK, "ready\n", false))
        }
        "/ready" => Some(plain(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n", false)),
        #[cfg(feature = "metrics")]
        "/metrics" => shared.config.metrics.as_ref().map(|registry| {
            let registry = registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            super::metrics::exposition(&registry)
        }),
        _ => None,
    }
}

/// Whether a request may publish: every method but GET, HEAD and OPTIONS.
fn may_publish(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A plain request for the host's handler: the body read whole, the publish backpressure, the handler.
async fn handle<H, B>(shared: &Shared<H>, handler: &HttpHandler<H>, req: Request<B>) -> Response<ResponseBody>
where
    H: Hub,
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let config = &shared.config;
    let max = config.max_http_body;
    if req.body().size_hint().lower() > max as u64 {
        return plain(StatusCode::PAYLOAD_TOO_LARGE, "payload too large\n", true);
    }
    let (parts, body) = req.into_parts();
    let body = match tokio::time::timeout(config.handshake_timeout, Limited::new(body, max).collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "payload too large\n", true);
        }
        Ok(Err(_)) => return plain(StatusCode::BAD_REQUEST, "bad request body\n", true),
        Err(_) => return plain(StatusCode::REQUEST_TIMEOUT, "request timeout\n", true),
    };
    if may_publish(&parts.method) && shared.meters.backlogged() {
        shared.meters.publish_waits.fetch_add(1, Ordering::Relaxed);
        let waited = tokio::time::timeout(config.publish_wait, shared.meters.wait_below()).await;
        if waited.is_err() {
            shared.meters.publish_rejections.fetch_add(1, Ordering::Relaxed);
            let mut resp = plain(
                StatusCode::TOO_MANY_REQUESTS,
                "too many queued frames, retry later\n",
                false,
            );
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return resp;
        }
    }
    let target = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let request = HttpRequest {
        method: parts.method.as_str().to_owned(),
        path: path.to_owned(),
        query: query.to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    shared.with_hub(|hub, _| handler(hub, request)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_convert_without_panicking() {
        let r = HttpResponse::new(101, "text/plain", "x").into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let r = HttpResponse::new(42, "a\nb", "x")
            .with_header("bad name", "v")
            .with_header("x-ok", "1")
            .with_header("x-bad-value", "a\r\nb")
            .into_response();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.headers()["content-type"], "application/octet-stream");
        assert_eq!(r.headers()["x-ok"], "1");
        assert_eq!(r.headers().len(), 2);
        let r = HttpResponse::json(429, "{}")
            .with_header("Retry-After", "1")
            .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "1");
    }

    #[test]
    fn request_targets() {
        let req = |m: Method, t: &str| Request::builder().method(m).uri(t).body(()).unwrap();
        assert!(origin_form(&req(Method::GET, "/a?b")));
        assert!(origin_form(&req(Method::GET, "http://h/a")));
        assert!(origin_form(&req(Method::OPTIONS, "*")));
        assert!(!origin_form(&req(Method::GET, "*")));
        assert!(!origin_form(&req(Method::GET, "nopath")));
        assert!(!origin_form(&req(Method::GET, "h:80")));
    }

    #[test]
    fn publishing_methods() {
        assert!(may_publish(&Method::POST) && may_publish(&Method::PUT) && may_publish(&Method::DELETE));
        assert!(!may_publish(&Method::GET) && !may_publish(&Method::HEAD) && !may_publish(&Method::OPTIONS));
    }
}
