//! The floor: a bare tokio `TcpStream` pair on loopback, no framework.
//!
//! A server task per accepted connection plays the counter; each connection has its own
//! count. Frames are a 4-byte big-endian length (always 16) and 16 bytes of payload:
//! byte 0 the kind ([`INC`], [`GET`], [`INC_ASK`], [`REPLY`]), bytes 8..16 a `u64`
//! (big endian) in replies. Both ends disable Nagle (`TCP_NODELAY`) and use owned
//! split halves (no lock between reader and writer). The server reads through a 64 KiB
//! `BufReader` and answers `GET`/`INC_ASK` with one flushed `REPLY`.
//!
//! - tell: the sender writes `n` `INC` frames into a 64 KiB `BufWriter`, flushing every
//!   [`BATCH`] frames (one `write` per batch, as a link writer coalescing its queue
//!   would), then a `GET`, and reads the count, which must be `n`.
//! - call: ping-pong, one `INC_ASK` written and flushed, one `REPLY` read, `n` times.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use super::{Latencies, PAIRS};
use crate::{BenchError, check_count};

/// Payload bytes per frame.
pub const PAYLOAD: usize = 16;
/// Bytes per frame on the wire: the length prefix and the payload.
pub const FRAME: usize = 4 + PAYLOAD;
/// Frames per flush in the tell benches.
pub const BATCH: u64 = 512;
const BUF: usize = 64 * 1024;

/// Adds one.
pub const INC: u8 = 1;
/// Replies with the count.
pub const GET: u8 = 2;
/// Adds one and replies with the new count.
pub const INC_ASK: u8 = 3;
/// A reply, carrying a count.
pub const REPLY: u8 = 4;

fn frame(kind: u8, value: u64) -> [u8; FRAME] {
    let mut f = [0u8; FRAME];
    f[..4].copy_from_slice(&(PAYLOAD as u32).to_be_bytes());
    f[4] = kind;
    f[12..].copy_from_slice(&value.to_be_bytes());
    f
}

/// Reads one frame; `None` at a clean end of stream.
async fn read_frame(rd: &mut BufReader<OwnedReadHalf>) -> Result<Option<(u8, u64)>, BenchError> {
    let mut f = [0u8; FRAME];
    match rd.read_exact(&mut f).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
    if len != PAYLOAD {
        return Err(format!("tcp baseline: frame of {len} bytes, expected {PAYLOAD}").into());
    }
    let mut value = [0u8; 8];
    value.copy_from_slice(&f[12..]);
    Ok(Some((f[4], u64::from_be_bytes(value))))
}

/// The counter side of one connection.
async fn serve(stream: TcpStream) -> Result<(), BenchError> {
    stream.set_nodelay(true)?;
    let (rd, wr) = stream.into_split();
    let mut rd = BufReader::with_capacity(BUF, rd);
    let mut wr = BufWriter::with_capacity(BUF, wr);
    let mut count = 0u64;
    while let Some((kind, _)) = read_frame(&mut rd).await? {
        match kind {
            INC => count += 1,
            GET | INC_ASK => {
                if kind == INC_ASK {
                    count += 1;
                }
                wr.write_all(&frame(REPLY, count)).await?;
                wr.flush().await?;
            }
            other => return Err(format!("tcp baseline: unknown frame kind {other}").into()),
        }
    }
    Ok(())
}

/// A listener on 127.0.0.1 whose connections each serve one counter.
#[derive(Debug, Clone)]
pub struct TcpPair {
    addr: SocketAddr,
    accept: AbortHandle,
}

/// The client side of one connection.
struct Client {
    rd: BufReader<OwnedReadHalf>,
    wr: BufWriter<OwnedWriteHalf>,
}

impl Client {
    async fn request(&mut self, kind: u8) -> Result<u64, BenchError> {
        self.wr.write_all(&frame(kind, 0)).await?;
        self.wr.flush().await?;
        match read_frame(&mut self.rd).await? {
            Some((REPLY, value)) => Ok(value),
            Some((kind, _)) => Err(format!("tcp baseline: unexpected frame kind {kind}").into()),
            None => Err("tcp baseline: the server closed the connection".into()),
        }
    }

    /// `n` `INC` frames, flushed every [`BATCH`], then a `GET` for the count.
    async fn send_counted(&mut self, n: u64) -> Result<u64, BenchError> {
        let inc = frame(INC, 0);
        for i in 1..=n {
            self.wr.write_all(&inc).await?;
            if i % BATCH == 0 {
                self.wr.flush().await?;
            }
        }
        self.request(GET).await
    }
}

impl TcpPair {
    /// Binds the listener and starts accepting (call inside the runtime).
    pub async fn start() -> Result<TcpPair, BenchError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    if let Err(e) = serve(stream).await {
                        eprintln!("tcp baseline server: {e}");
                    }
                });
            }
        })
        .abort_handle();
        Ok(TcpPair { addr, accept })
    }

    /// A new connection (a fresh counter), checked with one request.
    async fn connect(&self) -> Result<Client, BenchError> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let (rd, wr) = stream.into_split();
        let mut c = Client {
            rd: BufReader::with_capacity(BUF, rd),
            wr: BufWriter::with_capacity(BUF, wr),
        };
        c.request(GET).await?;
        Ok(c)
    }

    /// One connection: `n` frames in batches, then a request returning the count.
    pub async fn tell_1to1(&self, n: u64) -> Result<Duration, BenchError> {
        let mut c = self.connect().await?;
        let start = Instant::now();
        let got = c.send_counted(n).await?;
        let elapsed = start.elapsed();
        check_count("tcp baseline", got, n)?;
        Ok(elapsed)
    }

    /// [`PAIRS`] connections, one sender task each, `n` frames each.
    pub async fn tell_n_to_n(&self, n: u64) -> Result<Duration, BenchError> {
        let mut clients = Vec::with_capacity(PAIRS);
        for _ in 0..PAIRS {
            clients.push(self.connect().await?);
        }
        let start = Instant::now();
        let senders: Vec<_> = clients
            .into_iter()
            .map(|mut c| tokio::spawn(async move { c.send_counted(n).await }))
            .collect();
        let mut counts = Vec::with_capacity(PAIRS);
        for sender in senders {
            counts.push(sender.await??);
        }
        let elapsed = start.elapsed();
        for got in counts {
            check_count("tcp baseline", got, n)?;
        }
        Ok(elapsed)
    }

    /// `n` sequential ping-pongs; the total time and each round trip's time.
    pub async fn call_latency(&self, n: u64) -> Result<(Duration, Latencies), BenchError> {
        let mut c = self.connect().await?;
        let mut lat = Latencies::new();
        let mut last = 0;
        let start = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            last = c.request(INC_ASK).await?;
            lat.record(t.elapsed());
        }
        let elapsed = start.elapsed();
        check_count("tcp baseline", last, n)?;
        Ok((elapsed, lat))
    }

    /// Stops accepting (open connections end with their clients).
    pub fn shutdown(&self) {
        self.accept.abort();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn every_operation_counts_right() {
        let rt = crate::runtime().unwrap();
        crate::run_on_worker(&rt, async {
            let pair = TcpPair::start().await.unwrap();
            pair.tell_1to1(20_000).await.unwrap();
            pair.tell_n_to_n(3000).await.unwrap();
            let (_, lat) = pair.call_latency(200).await.unwrap();
            assert_eq!(lat.count(), 200);
            pair.shutdown();
        })
        .unwrap();
    }
}
