//! The Channels HTTP API publisher: `POST /apps/{id}/events` and `/batch_events`, signed the way the official
//! server SDKs sign them, over one keep-alive HTTP/1.1 connection per in-flight slot.
//!
//! ```text
//! string_to_sign = "POST\n" path "\n" sorted query (auth_key, auth_timestamp, auth_version, body_md5)
//! auth_signature = hex(HMAC-SHA256(secret, string_to_sign))
//! ```
//!
//! A 429 is retried after its `Retry-After` delay (and counted); other failures are retried a few times, then
//! the request is given up (its events are then missing at the subscribers, which is what the tally reports).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use md5::{Digest, Md5};
use sha2::Sha256;
use tokio::net::TcpStream;

/// The app's credentials and the node that takes the publishes.
#[derive(Clone, Debug)]
pub struct Api {
    pub addr: SocketAddr,
    pub app_id: String,
    pub key: String,
    pub secret: String,
}

/// What the publisher saw, summed over its connections.
#[derive(Clone, Debug, Default)]
pub struct PostStats {
    /// Requests sent (retries included).
    pub requests: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Answered 429 (each was retried after its Retry-After delay).
    pub status_429: u64,
    /// The Retry-After delays slept, in ms.
    pub retry_after_ms: u64,
    /// Other statuses (retried a few times).
    pub other_status: BTreeMap<u16, u64>,
    /// Connect or transport errors (retried on a new connection).
    pub transport_errors: u64,
    /// TCP connections opened (a server that answers `Connection: close` needs one per request).
    pub connections: u64,
    /// Requests given up after the retries: their events were never accepted.
    pub given_up: u64,
    /// The first error bodies, for the report.
    pub first_errors: Vec<String>,
}

impl PostStats {
    pub fn add(&mut self, o: &PostStats) {
        self.requests += o.requests;
        self.ok += o.ok;
        self.status_429 += o.status_429;
        self.retry_after_ms += o.retry_after_ms;
        for (k, v) in &o.other_status {
            *self.other_status.entry(*k).or_default() += v;
        }
        self.transport_errors += o.transport_errors;
        self.connections += o.connections;
        self.given_up += o.given_up;
        for e in &o.first_errors {
            if self.first_errors.len() < 5 {
                self.first_errors.push(e.clone());
            }
        }
    }

    fn note(&mut self, e: String) {
        if self.first_errors.len() < 5 {
            self.first_errors.push(e);
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests,
            "ok": self.ok,
            "status_429": self.status_429,
            "retry_after_ms": self.retry_after_ms,
            "other_status": self.other_status.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>(),
            "transport_errors": self.transport_errors,
            "connections": self.connections,
            "given_up": self.given_up,
            "first_errors": self.first_errors,
        })
    }
}

/// How many times a request that failed otherwise than with 429 is sent again.
const RETRIES: u32 = 5;
/// How long one request may keep being answered 429 before it is given up.
const MAX_429_WAIT: Duration = Duration::from_secs(120);
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl Api {
    /// The signed query string of `POST path` with `body`.
    pub fn signed_query(&self, path: &str, body: &[u8]) -> String {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.signed_query_at(path, body, ts)
    }

    /// The signed query string of `POST path` with `body` at Unix time `ts`.
    pub fn signed_query_at(&self, path: &str, body: &[u8], ts: u64) -> String {
        let md5 = hex::encode(Md5::digest(body));
        // already sorted by key
        let query = format!(
            "auth_key={}&auth_timestamp={ts}&auth_version=1.0&body_md5={md5}",
            self.key
        );
        let to_sign = format!("POST\n{path}\n{query}");
        let mut mac = Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).expect("HMAC takes any key");
        mac.update(to_sign.as_bytes());
        let sig = hex::encode(mac.finalize().into_bytes());
        format!("{query}&auth_signature={sig}")
    }

    pub fn events_path(&self) -> String {
        format!("/apps/{}/events", self.app_id)
    }

    pub fn batch_path(&self) -> String {
        format!("/apps/{}/batch_events", self.app_id)
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let stream = TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", self.addr))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }

    /// Posts the body `make_body()` builds (called again for every attempt, so a stamp in it is fresh) to
    /// `path` over `conn` (opened or reopened as needed). Returns whether the server accepted it.
    pub async fn post(
        &self,
        conn: &mut Option<SendRequest<Full<Bytes>>>,
        path: &str,
        stats: &mut PostStats,
        mut make_body: impl FnMut() -> Vec<u8>,
    ) -> bool {
        let mut failures = 0u32;
        let mut waited_429 = Duration::ZERO;
        loop {
            if failures > RETRIES || waited_429 > MAX_429_WAIT {
                stats.given_up += 1;
                return false;
            }
            // a connection the server closed after its last answer (soketi answers `Connection: close`) is
            // replaced before the request is sent: not an error
            if conn.as_ref().is_some_and(|c| c.is_closed()) {
                *conn = None;
            }
            if conn.is_none() {
                stats.connections += 1;
                match self.connect().await {
                    Ok(c) => *conn = Some(c),
                    Err(e) => {
                        stats.transport_errors += 1;
                        stats.note(e);
                        failures += 1;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                }
            }
            let Some(sender) = conn.as_mut() else { continue };
            let body = make_body();
            let uri = format!("{path}?{}", self.signed_query(path, &body));
            let req = hyper::Request::post(uri)
                .header("host", self.addr.to_string())
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .expect("a valid request");
            stats.requests += 1;
            let answer = tokio::time::timeout(REQUEST_TIMEOUT, async {
                sender.ready().await?;
                let resp = sender.send_request(req).await?;
                let status = resp.status().as_u16();
                let close = resp
                    .headers()
                    .get("connection")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.eq_ignore_ascii_case("close"));
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok());
                let body = resp.into_body().collect().await?.to_bytes();
                Ok::<_, hyper::Error>((status, retry_after, body, close))
            })
            .await;
            if let Ok(Ok((_, _, _, true))) = &answer {
                *conn = None;
            }
            match answer {
                Ok(Ok((status, _, _, _))) if (200..300).contains(&status) => {
                    stats.ok += 1;
                    return true;
                }
                Ok(Ok((429, retry_after, _, _))) => {
                    stats.status_429 += 1;
                    let d = Duration::from_secs_f64(retry_after.unwrap_or(1.0).clamp(0.0, 60.0));
                    stats.retry_after_ms += d.as_millis() as u64;
                    waited_429 += d;
                    tokio::time::sleep(d).await;
                }
                Ok(Ok((status, _, body, _))) => {
                    *stats.other_status.entry(status).or_default() += 1;
                    stats.note(format!("{status} {}", String::from_utf8_lossy(&body)));
                    failures += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(Err(e)) => {
                    stats.transport_errors += 1;
                    stats.note(format!("HTTP: {e}"));
                    *conn = None;
                    failures += 1;
                }
                Err(_) => {
                    stats.transport_errors += 1;
                    stats.note(format!("no answer in {REQUEST_TIMEOUT:?}"));
                    *conn = None;
                    failures += 1;
                }
            }
        }
    }
}

/// The `data` of one published event: its sequence number and the publish instant (µs since the generator's
/// epoch), as a JSON string the way the SDKs send `data`.
pub fn stamp_data(seq: u64, t_us: u64) -> String {
    // {"s":1,"t":2} as a JSON string literal
    format!("\"{{\\\"s\\\":{seq},\\\"t\\\":{t_us}}}\"")
}

/// The body of `POST /events`: one event on one channel.
pub fn event_body(channel: &str, event: &str, seq: u64, t_us: u64) -> Vec<u8> {
    format!(
        "{{\"name\":\"{event}\",\"channels\":[\"{channel}\"],\"data\":{}}}",
        stamp_data(seq, t_us)
    )
    .into_bytes()
}

/// The body of `POST /batch_events`: events `seqs` on one channel.
pub fn batch_body(channel: &str, event: &str, seqs: std::ops::Range<u64>, t_us: u64) -> Vec<u8> {
    let mut s = String::from("{\"batch\":[");
    for (i, seq) in seqs.enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"channel\":\"{channel}\",\"name\":\"{event}\",\"data\":{}}}",
            stamp_data(seq, t_us)
        ));
    }
    s.push_str("]}");
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_with_string_data() {
        let b: serde_json::Value = serde_json::from_slice(&event_body("c", "load", 3, 44)).unwrap();
        assert_eq!(b["data"], "{\"s\":3,\"t\":44}");
        let b: serde_json::Value = serde_json::from_slice(&batch_body("c", "load", 0..10, 5)).unwrap();
        assert_eq!(b["batch"].as_array().unwrap().len(), 10);
        assert_eq!(b["batch"][9]["data"], "{\"s\":9,\"t\":5}");
    }

    #[test]
    fn signature_is_hmac_sha256_of_the_sorted_query() {
        let api = Api {
            addr: "127.0.0.1:6001".parse().unwrap(),
            app_id: "app-id".into(),
            key: "app-key".into(),
            secret: "app-secret".into(),
        };
        let q = api.signed_query("/apps/app-id/events", b"{}");
        let (unsigned, sig) = q.split_once("&auth_signature=").unwrap();
        assert!(unsigned.starts_with("auth_key=app-key&auth_timestamp="));
        assert!(unsigned.ends_with("&auth_version=1.0&body_md5=99914b932bd37a50b983c5e7c90ae93b"));
        let mut mac = Hmac::<Sha256>::new_from_slice(b"app-secret").unwrap();
        mac.update(format!("POST\n/apps/app-id/events\n{unsigned}").as_bytes());
        assert_eq!(sig, hex::encode(mac.finalize().into_bytes()));
    }

    /// The `pusher` npm SDK's own signature of a batch (testdata/pusher/rest/sdk-requests.json, the vector the
    /// repository's verifier is tested against).
    #[test]
    fn signature_matches_the_sdk_vector() {
        let api = Api {
            addr: "127.0.0.1:6001".parse().unwrap(),
            app_id: "app-id".into(),
            key: "app-key".into(),
            secret: "app-secret".into(),
        };
        let body = br#"{"batch":[{"channel":"a","name":"e1","data":"{\"x\":1}"},{"channel":"b","name":"e2","data":"y"}]}"#;
        assert_eq!(
            api.signed_query_at("/apps/app-id/batch_events", body, 1_764_300_000),
            "auth_key=app-key&auth_timestamp=1764300000&auth_version=1.0&body_md5=6ca4e36153654ca247f05f34a09d20e4&auth_signature=b92b3a05da3d201d4e0283f82700fb9af842efe8e389b1182e30750ecd6f4dab"
        );
    }
}
