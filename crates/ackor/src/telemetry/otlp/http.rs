//! The exporter's HTTP client: one `POST` per batch over a fresh plain-TCP connection,
//! blocking. The SDK's batch processor exports on a thread of its own (and waits on the
//! export there), so blocking is what fits, and no async runtime, no hyper, no reqwest
//! is needed. HTTP/1.1 with `Connection: close`; the response is read until complete
//! (`Content-Length` or chunked) or the connection ends, within the timeout and a size
//! limit: a peer that sends garbage, too much or nothing gets an error, never a panic.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// Largest response accepted, head and body (the SDK's own clients take 4 MiB of body).
const MAX_RESPONSE: usize = 4 * 1024 * 1024 + 64 * 1024;

/// Sends export requests; see the module docs.
#[derive(Debug)]
pub(super) struct BlockingHttp {
    /// For connecting, writing and reading, all together.
    timeout: Duration,
    /// The last export failed (a failure is logged once, not per batch).
    failing: AtomicBool,
}

impl BlockingHttp {
    pub(super) fn new(timeout: Duration) -> BlockingHttp {
        BlockingHttp {
            timeout,
            failing: AtomicBool::new(false),
        }
    }

    /// Sends and logs the first failure of a run of them, and the recovery.
    fn send_logged(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let url = request.uri().to_string();
        let outcome = send(request, self.timeout);
        let failed = match &outcome {
            Ok(response) if response.status().is_success() => None,
            Ok(response) => Some(format!("status {}", response.status())),
            Err(e) => Some(e.to_string()),
        };
        match failed {
            Some(why) if !self.failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(%url, error = %why, "OTLP export failed: these spans are dropped (logged once until an export succeeds)");
            }
            None if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!(%url, "OTLP export works again");
            }
            _ => {}
        }
        outcome
    }
}

impl HttpClient for BlockingHttp {
    // The trait is `#[async_trait]`: this is the signature it expands to.
    fn send_bytes<'life0, 'async_trait>(
        &'life0 self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { self.send_logged(request) })
    }
}

/// Sends `request` and reads the whole response, all within `timeout`.
pub(super) fn send(request: Request<Bytes>, timeout: Duration) -> Result<Response<Bytes>, HttpError> {
    let deadline = Instant::now() + timeout;
    let uri = request.uri();
    if uri.scheme_str() != Some("http") {
        return Err(format!("{uri}: only http:// is supported").into());
    }
    let host = uri.host().ok_or_else(|| format!("{uri}: no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let host_header = match uri.port_u16() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    let mut stream = connect(host.trim_start_matches('[').trim_end_matches(']'), port, deadline)?;
    stream.set_nodelay(true)?;

    let mut head = format!("{} {path} HTTP/1.1\r\nHost: {host_header}\r\n", request.method()).into_bytes();
    for (name, value) in request.headers() {
        if matches!(
            name.as_str(),
            "host" | "content-length" | "connection" | "transfer-encoding"
        ) {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    let body = request.body();
    head.extend_from_slice(format!("Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes());
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream.write_all(&head)?;
    stream.write_all(body)?;
    stream.flush()?;

    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(response) = parse_response(&buf, false)? {
            return Ok(response);
        }
        stream.set_read_timeout(Some(remaining(deadline)?))?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            return parse_response(&buf, true)?
                .ok_or_else(|| "the connection ended in the middle of the response".into());
        }
        if buf.len() + n > MAX_RESPONSE {
            return Err(Box::new(opentelemetry_http::ResponseBodyTooLarge::new()));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The time left before `deadline`, or a timeout error.
fn remaining(deadline: Instant) -> Result<Duration, HttpError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut)));
    }
    Ok(left)
}

/// The first address of `host` that accepts a connection before `deadline`.
fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, HttpError> {
    let mut last: Option<std::io::Error> = None;
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => e.into(),
        None => format!("{host}: no address").into(),
    })
}

/// The response in `buf` once it is complete; `None` while more is needed. With `ended`
/// (the peer closed) a response without a length is complete, and one cut short an error.
fn parse_response(buf: &[u8], ended: bool) -> Result<Option<Response<Bytes>>, HttpError> {
    let Some(head_len) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_len]).map_err(|_| "response head is not text")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 response: {:?}", truncated(status_line)).into());
    }
    let code: u16 = code
        .parse()
        .map_err(|_| format!("bad status line: {:?}", truncated(status_line)))?;
    let mut response = Response::builder().status(code);
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line: {:?}", truncated(line)))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| "bad Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        }
        response = response.header(name.trim(), value);
    }
    let rest = &buf[head_len + 4..];
    let body = if chunked {
        match dechunk(rest)? {
            Some(body) => body,
            None if ended => return Err("the connection ended in the middle of a chunked body".into()),
            None => return Ok(None),
        }
    } else if let Some(length) = length {
        match rest.get(..length) {
            Some(body) => body.to_vec(),
            None if ended => return Err("the connection ended before Content-Length bytes came".into()),
            None => return Ok(None),
        }
    } else if ended || code == 204 || code == 304 || (100..200).contains(&code) {
        rest.to_vec()
    } else {
        return Ok(None);
    };
    Ok(Some(response.body(Bytes::from(body))?))
}

/// A chunked body's data once its last chunk came (trailers are skipped); `None` while
/// more is needed.
fn dechunk(mut rest: &[u8]) -> Result<Option<Vec<u8>>, HttpError> {
    let mut body = Vec::new();
    loop {
        let Some(line_len) = find(rest, b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&rest[..line_len]).map_err(|_| "bad chunk size")?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| format!("bad chunk size: {:?}", truncated(line)))?;
        rest = &rest[line_len + 2..];
        if size == 0 {
            // Trailers, each ended by CRLF, then an empty line.
            loop {
                let Some(end) = find(rest, b"\r\n") else {
                    return Ok(None);
                };
                if end == 0 {
                    return Ok(Some(body));
                }
                rest = &rest[end + 2..];
            }
        }
        if size > MAX_RESPONSE {
            return Err(Box::new(opentelemetry_http::ResponseBodyTooLarge::new()));
        }
        let Some(data) = rest.get(..size) else {
            return Ok(None);
        };
        match rest.get(size..size + 2) {
            None => return Ok(None),
            Some(b"\r\n") => {}
            Some(_) => return Err("a chunk does not end with CRLF".into()),
        }
        body.extend_from_slice(data);
        rest = &rest[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// At most 80 characters of text a peer sent, for an error message.
fn truncated(text: &str) -> String {
    text.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn response(raw: &[u8]) -> Response<Bytes> {
        match parse_response(raw, false) {
            Ok(Some(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn responses_are_parsed_once_complete() {
        let r = response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\ncontent-type: x\r\n\r\nabc");
        assert_eq!((r.status().as_u16(), &r.body()[..]), (200, &b"abc"[..]));
        assert_eq!(r.headers()["content-type"], "x");
        let r = response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;x=y\r\nab\r\n1\r\nc\r\n0\r\nT: v\r\n\r\n");
        assert_eq!(&r.body()[..], b"abc");
        let r = response(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(r.status().as_u16(), 429);
        for partial in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
            b"HTTP/1.1 200 OK\r\n\r\nno length: read to the end",
        ] {
            assert!(matches!(parse_response(partial, false), Ok(None)), "{partial:?}");
        }
        let r = parse_response(b"HTTP/1.0 200 OK\r\n\r\nto the end", true);
        assert_eq!(
            r.ok().flatten().map(|r| r.into_body()),
            Some(Bytes::from_static(b"to the end"))
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab", true).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
            b"HTTP/1.1 abc OK\r\n\r\n",
            b"HTTP/1.1 99999 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc",
            b"HTTP/1.1 200 \xff\r\n\r\n",
        ] {
            assert!(
                parse_response(bad, true).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    fn post(url: &str) -> Request<Bytes> {
        Request::post(url)
            .header("content-type", "application/x-protobuf")
            .body(Bytes::from_static(b"\x0a\x00"))
            .unwrap()
    }

    /// A one-connection server that reads the request and answers `answer` (or nothing).
    fn serve_once(answer: Option<&'static [u8]>) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut got = Vec::new();
            let mut chunk = [0u8; 1024];
            while !got.ends_with(b"\r\n\r\n\x0a\x00") {
                match conn.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&chunk[..n]),
                }
            }
            match answer {
                Some(answer) => drop(conn.write_all(answer)),
                // Silent until the client gives up and closes.
                None => while matches!(conn.read(&mut chunk), Ok(n) if n > 0) {},
            }
            got
        });
        (format!("http://{addr}/v1/traces"), server)
    }

    #[test]
    fn a_request_goes_out_whole_and_its_answer_comes_back() {
        let (url, server) = serve_once(Some(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
        ));
        let r = send(post(&url), Duration::from_secs(5)).unwrap();
        assert_eq!((r.status().as_u16(), &r.body()[..]), (200, &b"z"[..]));
        let got = String::from_utf8_lossy(&server.join().unwrap_or_default()).into_owned();
        assert!(
            got.starts_with("POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:"),
            "{got}"
        );
        assert!(got.contains("content-type: application/x-protobuf\r\n"), "{got}");
        assert!(got.contains("Content-Length: 2\r\n"), "{got}");
    }

    #[test]
    fn a_silent_server_times_out_and_a_closed_port_fails() {
        let (url, server) = serve_once(None);
        let started = Instant::now();
        assert!(send(post(&url), Duration::from_millis(300)).is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(server.join());
        // The server is gone: nothing listens on its port now.
        assert!(send(post(&url), Duration::from_secs(5)).is_err());
        assert!(send(post("https://127.0.0.1:1/v1/traces"), Duration::from_secs(1)).is_err());
    }
}
