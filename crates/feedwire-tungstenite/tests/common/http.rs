//! A minimal HTTP/1.1 client over any byte stream, for the server tests: raw requests in, whole responses out,
//! keep-alive included (bodies are read by `Content-Length`).

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The status line and headers, as received.
    pub head: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub struct HttpClient<S> {
    pub io: S,
    buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> HttpClient<S> {
    pub fn new(io: S) -> Self {
        HttpClient { io, buf: Vec::new() }
    }

    pub async fn send(&mut self, raw: &[u8]) -> io::Result<()> {
        self.io.write_all(raw).await?;
        self.io.flush().await
    }

    /// Reads more bytes into the buffer; false at the end of the stream.
    async fn fill(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 8192];
        let n = self.io.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n > 0)
    }

    /// Reads one response; `head_request`: the request was HEAD (no body follows whatever the headers say).
    pub async fn answer(&mut self, head_request: bool) -> io::Result<Answer> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if !self.fill().await? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed before a response head",
                ));
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.drain(..end);
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let len = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok());
        let body = if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            Vec::new()
        } else if let Some(len) = len {
            while self.buf.len() < len {
                if !self.fill().await? {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "closed inside a body",
                    ));
                }
            }
            self.buf.drain(..len).collect()
        } else {
            while self.fill().await? {}
            std::mem::take(&mut self.buf)
        };
        Ok(Answer {
            status,
            head,
            headers,
            body,
        })
    }

    /// Sends one request (with `Host` and, for a body, `Content-Length`) and reads its response.
    pub async fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Answer> {
        let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: test\r\n");
        for (k, v) in headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" {
            raw.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        raw.push_str("\r\n");
        let mut raw = raw.into_bytes();
        raw.extend_from_slice(body);
        self.send(&raw).await?;
        self.answer(method == "HEAD").await
    }

    /// Whether the server closes the connection (reads to the end; bytes after the last response count
    /// against it).
    pub async fn closed(&mut self) -> bool {
        loop {
            match self.fill().await {
                Ok(true) => continue,
                Ok(false) | Err(_) => return self.buf.is_empty(),
            }
        }
    }
}
