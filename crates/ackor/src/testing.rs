//! Helpers for ackor's own wire-level tests: they let a test speak the raw protocol
//! (a real handshake, then bytes of its choosing) to a running node. Not part of the
//! supported API.

use tokio::net::TcpStream;

use crate::error::Error;
use crate::remote::handshake_raw;

/// Dials `addr`, runs the real handshake as node `name` with `cookie`, expecting the
/// peer to be `expected`, and hands back the raw stream for the test to write frames
/// (length-prefixed protobuf) or garbage.
pub async fn handshaken_stream(
    addr: &str,
    name: &str,
    cookie: &str,
    expected: &str,
) -> Result<TcpStream, Error> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::Handshake(format!("connect: {e}")))?;
    handshake_raw(&mut stream, name, cookie, expected).await?;
    Ok(stream)
}

/// An encoded, length-prefixed frame carrying a heartbeat: a valid frame to write
/// after a handshake.
pub fn heartbeat_frame() -> Vec<u8> {
    crate::remote::heartbeat_bytes()
}
