//! The exporter's HTTP client: ureq, blocking. The SDK's batch processor exports on a
//! thread of its own (and waits on the export there), so a blocking client is what
//! fits: no async runtime to start beside it (hyper's client needs one; reqwest's
//! blocking client starts one). Plain `http://` (a local collector that forwards is the
//! usual setup); the response is read within the timeout and a size limit, so a peer
//! that sends garbage, too much or nothing gets an error, never a panic.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};

/// Largest response body accepted (the SDK's own clients take 4 MiB).
const MAX_RESPONSE: u64 = 4 * 1024 * 1024;

/// Sends export requests; see the module docs.
#[derive(Debug)]
pub(super) struct BlockingHttp {
    agent: ureq::Agent,
    /// The last export failed (a failure is logged once, not per batch).
    failing: AtomicBool,
}

/// An agent whose every request (connecting, writing, reading) ends within `timeout`,
/// and that hands 4xx/5xx answers back as responses (the SDK reads their status).
fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

impl BlockingHttp {
    pub(super) fn new(timeout: Duration) -> BlockingHttp {
        BlockingHttp {
            agent: agent(timeout),
            failing: AtomicBool::new(false),
        }
    }

    /// Sends and logs the first failure of a run of them, and the recovery.
    fn send_logged(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let url = request.uri().to_string();
        let outcome = send(&self.agent, request);
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

/// Sends `request` with `agent` and reads the whole response (at most
/// [`MAX_RESPONSE`] bytes of body).
fn send(agent: &ureq::Agent, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
    if request.uri().scheme_str() != Some("http") {
        return Err(format!("{}: only http:// is supported", request.uri()).into());
    }
    let (parts, body) = request.into_parts();
    let request = Request::from_parts(parts, body.to_vec());
    let response = agent.run(request)?;
    let (parts, mut body) = response.into_parts();
    let body = body.with_config().limit(MAX_RESPONSE).read_to_vec()?;
    Ok(Response::from_parts(parts, Bytes::from(body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Instant;

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
        let r = send(&agent(Duration::from_secs(5)), post(&url)).unwrap();
        assert_eq!((r.status().as_u16(), &r.body()[..]), (200, &b"z"[..]));
        let got = String::from_utf8_lossy(&server.join().unwrap_or_default()).into_owned();
        let lower = got.to_ascii_lowercase();
        assert!(lower.starts_with("post /v1/traces http/1.1\r\n"), "{got}");
        assert!(
            lower.contains("content-type: application/x-protobuf\r\n"),
            "{got}"
        );
        assert!(lower.contains("content-length: 2\r\n"), "{got}");
    }

    #[test]
    fn a_silent_server_times_out_and_a_closed_port_fails() {
        let (url, server) = serve_once(None);
        let started = Instant::now();
        assert!(send(&agent(Duration::from_millis(300)), post(&url)).is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(server.join());
        // The server is gone: nothing listens on its port now.
        assert!(send(&agent(Duration::from_secs(5)), post(&url)).is_err());
        assert!(
            send(
                &agent(Duration::from_secs(1)),
                post("https://127.0.0.1:1/v1/traces")
            )
            .is_err()
        );
    }
}
