//! A minimal HTTP/1.1 client for auth endpoints (`http://` and `https://`; `Connection: close`,
//! Content-Length or chunked answers). Enough for pusher-js-style auth endpoints.

use std::path::Path;
use std::sync::Arc;

use feedwire_tungstenite::rustls::pki_types::pem::PemObject;
use feedwire_tungstenite::rustls::pki_types::{CertificateDer, ServerName};
use feedwire_tungstenite::rustls::{self, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the CLI waits for an answer from an auth endpoint.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The TLS client settings for `https://` endpoints (and, with `--ca-file`, `wss://`): the webpki roots,
/// plus every certificate in the PEM file `ca_file` (a private CA).
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let certs = CertificateDer::pem_file_iter(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("{}: no PEM certificate in it", path.display()));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// POSTs `body` as `application/x-www-form-urlencoded` to `url` (`http://` or `https://`, checked with
/// `tls`); returns the status and the body.
pub async fn post_form(
    url: &str,
    body: &str,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<(u16, String), String> {
    let (https, rest) = match url.split_once("://") {
        Some(("http", rest)) => (false, rest),
        Some(("https", rest)) => (true, rest),
        _ => return Err(format!("{url}: an auth endpoint is an http:// or https:// URL")),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = host_port(authority, if https { 443 } else { 80 })?;
    let fut = async {
        let mut tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("{authority}: {e}"))?;
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let raw = if https {
            let name = ServerName::try_from(host.clone()).map_err(|e| format!("{host}: {e}"))?;
            let mut tls = tokio_rustls::TlsConnector::from(tls.clone())
                .connect(name, tcp)
                .await
                .map_err(|e| format!("{authority}: TLS: {e}"))?;
            exchange(&mut tls, &req).await?
        } else {
            exchange(&mut tcp, &req).await?
        };
        parse_response(&raw)
    };
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .map_err(|_| format!("{url}: no answer in time"))?
}

/// `host[:port]` or `[v6][:port]`.
fn host_port(authority: &str, default: u16) -> Result<(String, u16), String> {
    let bad = || format!("{authority}: not a host and port");
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, rest) = v6.split_once(']').ok_or_else(bad)?;
            (h, rest.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad())?,
        None => default,
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

/// Writes the request and reads the answer to the end. A TLS peer that closes without close_notify after a
/// complete answer (common) is not an error.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, req: &str) -> Result<Vec<u8>, String> {
    s.write_all(req.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    match s.read_to_end(&mut raw).await {
        Ok(_) => Ok(raw),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => Ok(raw),
        Err(e) => Err(e.to_string()),
    }
}

/// The first index of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Status and body of a raw HTTP/1.1 answer. The body is de-chunked as bytes and only then read as UTF-8
/// (lossily): a chunk boundary may fall inside a character.
fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let sep = find(raw, b"\r\n\r\n").ok_or("malformed HTTP response")?;
    let head = String::from_utf8_lossy(&raw[..sep]);
    let body = &raw[sep + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("malformed HTTP status line")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body) } else { body.to_vec() };
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// The chunks' content, up to the last chunk or the first malformed size line.
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = find(body, b"\r\n") {
        let size = std::str::from_utf8(&body[..eol]).unwrap_or("");
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        let rest = &body[eol + 2..];
        if n == 0 || rest.len() < n {
            break;
        }
        out.extend_from_slice(&rest[..n]);
        body = rest[n..].strip_prefix(b"\r\n").unwrap_or(&rest[n..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_chunked_answers() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap(),
            (200, "{}".into())
        );
        let chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), (200, "{\"a\":1}".into()));
        assert!(parse_response(b"garbage").is_err());
    }

    /// The answer that crashed `listen pusher --auth-endpoint` (issue 17): a chunk boundary inside a UTF-8
    /// character. Every split point of a body with one-, two-, three- and four-byte characters decodes whole.
    #[test]
    fn a_chunk_boundary_inside_a_character_decodes_whole() {
        let body = r#"{"auth":"k:s","channel_data":"{\"user_info\":{\"name\":\"Zoë 日本 🎉\"}}"}"#.as_bytes();
        for at in 0..=body.len() {
            let (a, b) = body.split_at(at);
            let mut raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            for part in [a, b].into_iter().filter(|p| !p.is_empty()) {
                raw.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
                raw.extend_from_slice(part);
                raw.extend_from_slice(b"\r\n");
            }
            raw.extend_from_slice(b"0\r\n\r\n");
            let (status, text) = parse_response(&raw).unwrap();
            assert_eq!((status, text.as_bytes()), (200, body), "split at {at}");
        }
    }

    /// No answer makes the parser panic: every prefix of a chunked answer, and every one-byte corruption of it
    /// (lying sizes, bytes that are not UTF-8, a missing separator).
    #[test]
    fn truncated_and_corrupted_answers_never_panic() {
        let raw =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"é\"\r\n6\r\n:🎉}\r\n0\r\n\r\n"
                .as_bytes();
        for end in 0..=raw.len() {
            let _ = parse_response(&raw[..end]);
        }
        for at in 0..raw.len() {
            for byte in [0u8, b'\r', b'\n', b'f', b'0', b'9', 0x80, 0xf0, 0xff] {
                let mut bad = raw.to_vec();
                bad[at] = byte;
                let _ = parse_response(&bad);
            }
        }
        assert_eq!(parse_response(raw).unwrap(), (200, "{\"é\":🎉}".to_owned()));
    }

    #[test]
    fn hosts_and_ports() {
        assert_eq!(host_port("h", 443).unwrap(), ("h".into(), 443));
        assert_eq!(host_port("h:8080", 443).unwrap(), ("h".into(), 8080));
        assert_eq!(host_port("[::1]:9", 80).unwrap(), ("::1".into(), 9));
        assert_eq!(host_port("[::1]", 80).unwrap(), ("::1".into(), 80));
        assert!(host_port("h:x", 80).is_err());
        assert!(host_port(":80", 80).is_err());
        assert!(host_port("[::1", 80).is_err());
    }
}
