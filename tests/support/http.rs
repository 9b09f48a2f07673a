//! Just enough HTTP/1.1 for the fault proxy and the Runtime API: both sides of keep-alive
//! connections, Content-Length and chunked bodies. Only peers we control or trust (moto, the AWS
//! SDK, lambda_runtime) talk to it, so malformed input is an error, not a case to recover from.

use std::future::Future;
use std::io;
use std::sync::Arc;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    /// Path plus query string, as sent.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(p, _)| p)
    }
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_param(self.query(), name)
    }
}

impl Response {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Response::new(status, body.to_string()).with_header("Content-Type", "application/json")
    }
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<String>> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Ok(None);
    }
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

async fn read_headers<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let line = read_line(r).await?.ok_or_else(|| bad("eof in headers"))?;
        if line.is_empty() {
            return Ok(headers);
        }
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("bad header {line:?}")))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
}

/// `until_eof` is for responses framed by closing the connection.
async fn read_body<R: AsyncBufRead + Unpin>(
    r: &mut R,
    headers: &[(String, String)],
    until_eof: bool,
) -> io::Result<Vec<u8>> {
    let chunked = find_header(headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let mut body = Vec::new();
    if chunked {
        loop {
            let size_line = read_line(r)
                .await?
                .ok_or_else(|| bad("eof in chunk size"))?;
            let hex = size_line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(hex, 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                read_headers(r).await?; // trailers, then the blank line
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).await?;
            read_line(r).await?;
        }
    } else if let Some(len) = find_header(headers, "content-length") {
        let len: usize = len.parse().map_err(|_| bad("bad content-length"))?;
        body.resize(len, 0);
        r.read_exact(&mut body).await?;
    } else if until_eof {
        r.read_to_end(&mut body).await?;
    }
    Ok(body)
}

/// `Ok(None)` when the peer closed the connection between requests.
pub async fn read_request<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Request>> {
    let Some(line) = read_line(r).await? else {
        return Ok(None);
    };
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return Err(bad(format!("bad request line {line:?}")));
    };
    let (method, target) = (method.to_string(), target.to_string());
    let headers = read_headers(r).await?;
    let body = read_body(r, &headers, false).await?;
    Ok(Some(Request {
        method,
        target,
        headers,
        body,
    }))
}

pub async fn read_response<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Response> {
    let line = read_line(r)
        .await?
        .ok_or_else(|| bad("eof before status line"))?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let headers = read_headers(r).await?;
    let body = if status == 204 || status == 304 {
        Vec::new()
    } else {
        read_body(r, &headers, true).await?
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Framing headers are rewritten, so callers may pass headers copied from another message.
fn is_framing(name: &str) -> bool {
    ["content-length", "transfer-encoding", "connection"]
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h))
}

fn head(first: &str, headers: &[(String, String)], body_len: usize, close: bool) -> Vec<u8> {
    let mut out = format!("{first}\r\n");
    for (k, v) in headers.iter().filter(|(k, _)| !is_framing(k)) {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!("Content-Length: {body_len}\r\n"));
    if close {
        out.push_str("Connection: close\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

pub async fn write_response<W: AsyncWrite + Unpin>(w: &mut W, resp: &Response) -> io::Result<()> {
    let first = format!(
        "HTTP/1.1 {} {}",
        resp.status,
        if resp.status < 400 { "OK" } else { "Error" }
    );
    let mut bytes = head(&first, &resp.headers, resp.body.len(), false);
    bytes.extend_from_slice(&resp.body);
    w.write_all(&bytes).await?;
    w.flush().await
}

/// Serves each connection on its own task until the peer closes it. A handler returning `None`
/// drops the connection without answering (how the proxy simulates a network failure).
pub async fn serve<H, F>(listener: TcpListener, handler: H)
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Option<Response>> + Send + 'static,
{
    let handler = Arc::new(handler);
    while let Ok((stream, _)) = listener.accept().await {
        let handler = Arc::clone(&handler);
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut read = BufReader::new(read);
            while let Ok(Some(req)) = read_request(&mut read).await {
                let Some(resp) = handler(req).await else {
                    return;
                };
                if write_response(&mut write, &resp).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Binds an ephemeral port on loopback and serves `handler` there; returns "127.0.0.1:PORT".
pub async fn spawn_server<H, F>(handler: H) -> String
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Option<Response>> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr").to_string();
    tokio::spawn(serve(listener, handler));
    addr
}

/// One request on a fresh connection. `addr` is "host:port" or an "http://host:port" endpoint.
pub async fn request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let addr = host_port(addr);
    let mut all: Vec<(String, String)> = vec![("Host".into(), addr.to_string())];
    all.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    send(
        addr,
        &Request {
            method: method.into(),
            target: target.into(),
            headers: all,
            body: body.into(),
        },
    )
    .await
}

/// Sends `req` as is (its Host header included) on a fresh `Connection: close` connection.
pub async fn send(addr: &str, req: &Request) -> io::Result<Response> {
    let mut stream = TcpStream::connect(host_port(addr)).await?;
    let first = format!("{} {} HTTP/1.1", req.method, req.target);
    let mut bytes = head(&first, &req.headers, req.body.len(), true);
    bytes.extend_from_slice(&req.body);
    stream.write_all(&bytes).await?;
    read_response(&mut BufReader::new(stream)).await
}

pub fn host_port(endpoint: &str) -> &str {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    rest.trim_end_matches('/')
}

pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (url_decode(k) == name).then(|| url_decode(v))
    })
}

pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
