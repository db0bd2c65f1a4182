//! A minimal HTTP/1.1 client for auth endpoints (`http://` and `https://`; `Connection: close`,
//! Content-Length or chunked answers). Enough for pusher-js-style auth endpoints.

use std::path::Path;
use std::sync::Arc;

use feedwire_tungstenite::rustls::pki_types::pem::PemObject;
use feedwire_tungstenite::rustls::pki_types::{CertificateDer, ServerName};
use feedwire_tungstenite::rustls::{self, RootCertStore};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

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
    tokio::time::timeout(crate::pusher::AUTH_TIMEOUT, fut)
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

fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("malformed HTTP response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("malformed HTTP status line")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked { dechunk(body) } else { body.to_owned() };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
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
