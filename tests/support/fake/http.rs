//! A small HTTP/1.1 server on std sockets: enough of the protocol for the SDKs and our client
//! (keep-alive, Content-Length and chunked bodies), and full control of the connection, which
//! the fault injection needs (a reset before or after a request is handled).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A parsed request.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The path, percent-decoded.
    pub path: String,
    pub query: BTreeMap<String, String>,
    /// Header names lowercased.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A response to send.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// For HEAD: the Content-Length to announce without a body.
    pub head_length: Option<u64>,
}

impl Response {
    pub fn json(status: u16, value: serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(&value).unwrap(),
            head_length: None,
        }
    }

    pub fn ok(value: serde_json::Value) -> Response {
        Self::json(200, value)
    }

    pub fn error(status: u16, code: &str, message: &str) -> Response {
        Self::json(
            status,
            serde_json::json!({ "error_code": code, "message": message }),
        )
    }

    pub fn bytes(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/octet-stream".into())],
            body,
            head_length: None,
        }
    }

    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            head_length: None,
        }
    }

    pub fn with_content_type(mut self, value: &str) -> Response {
        self.headers.retain(|(k, _)| k != "Content-Type");
        self.headers.push(("Content-Type".into(), value.into()));
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Reads one request from the connection; `None` when the client closed it.
pub fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    read_request_paced(reader, &Pace::default)
}

/// How fast a request body is taken off the connection: a slow link (`rate` bytes a second,
/// 0 for as fast as it comes) and a pause of `stall` half-way through (a link that stops).
#[derive(Clone, Copy, Debug, Default)]
pub struct Pace {
    pub rate: u64,
    pub stall: std::time::Duration,
}

impl Pace {
    fn read_body(&self, reader: &mut BufReader<TcpStream>, len: usize) -> std::io::Result<Vec<u8>> {
        let mut body = vec![0; len];
        if self.rate == 0 && self.stall.is_zero() {
            reader.read_exact(&mut body)?;
            return Ok(body);
        }
        let piece = if self.rate == 0 {
            64 * 1024
        } else {
            (self.rate as usize / 10).max(1)
        };
        let mut at = 0;
        let mut stalled = false;
        while at < len {
            let end = (at + piece).min(len);
            reader.read_exact(&mut body[at..end])?;
            at = end;
            if self.rate > 0 {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            if !stalled && !self.stall.is_zero() && at >= len / 2 {
                stalled = true;
                std::thread::sleep(self.stall);
            }
        }
        Ok(body)
    }
}

/// [`read_request`] with the body taken off the connection at `pace()`, asked once the
/// request's headers have arrived (a kept-alive connection waits for its next request with
/// whatever pace a test sets meanwhile).
pub fn read_request_paced(
    reader: &mut BufReader<TcpStream>,
    pace: &dyn Fn() -> Pace,
) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let line = line.trim_end();
    if line.is_empty() {
        return Ok(None);
    }
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_lowercase(), v.trim().to_string());
        }
    }
    if headers
        .get("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let body = if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.to_lowercase().contains("chunked"))
    {
        let mut body = Vec::new();
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if size == 0 {
                let mut end = String::new();
                reader.read_line(&mut end)?;
                break;
            }
            let mut chunk = vec![0; size];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0; 2];
            reader.read_exact(&mut crlf)?;
        }
        body
    } else {
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        pace().read_body(reader, len)?
    };
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), parse_query(q)),
        None => (target.clone(), BTreeMap::new()),
    };
    Ok(Some(Request {
        method,
        path: percent_decode(&path),
        query,
        headers,
        body,
    }))
}

pub fn parse_query(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(&v.replace('+', " ")))
        })
        .collect()
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn write_response(
    stream: &mut TcpStream,
    method: &str,
    resp: &Response,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let length = resp.head_length.unwrap_or(resp.body.len() as u64);
    head.push_str(&format!("Content-Length: {length}\r\n\r\n"));
    // One write for head and body: two small writes meet Nagle's algorithm and the client's
    // delayed ACK, which adds 40 ms to every answer.
    let mut out = head.into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(&resp.body);
    }
    stream.write_all(&out)?;
    stream.flush()
}

/// Closes the connection with a TCP reset (SO_LINGER 0), as a crashed proxy would.
pub fn reset(stream: TcpStream) {
    let socket = socket2::Socket::from(stream);
    let _ = socket.set_linger(Some(Duration::ZERO));
    drop(socket);
}

/// The parts of a `multipart/form-data` body: name → bytes.
pub fn multipart(content_type: &str, body: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Some(boundary) = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
    else {
        return out;
    };
    let boundary = boundary.trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut pos = 0;
    // Scan for the needle's first byte, then compare: fast on 30 MB bodies.
    let find = |hay: &[u8], needle: &[u8], from: usize| -> Option<usize> {
        let mut i = from;
        while i + needle.len() <= hay.len() {
            let next = hay[i..=hay.len() - needle.len()]
                .iter()
                .position(|&b| b == needle[0])?;
            i += next;
            if &hay[i..i + needle.len()] == needle {
                return Some(i);
            }
            i += 1;
        }
        None
    };
    while let Some(start) = find(body, &delimiter, pos) {
        let after = start + delimiter.len();
        if body.get(after..after + 2) == Some(b"--") {
            break;
        }
        let Some(header_end) = find(body, b"\r\n\r\n", after) else {
            break;
        };
        let headers = String::from_utf8_lossy(&body[after..header_end]).to_string();
        let content_start = header_end + 4;
        let Some(next) = find(body, &delimiter, content_start) else {
            break;
        };
        let content_end = next.saturating_sub(2).max(content_start);
        let name = headers
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| {
                n.trim_matches('"')
                    .split('"')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .unwrap_or_default();
        out.insert(name, body[content_start..content_end].to_vec());
        pos = next;
    }
    out
}
