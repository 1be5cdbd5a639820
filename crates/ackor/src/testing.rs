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

/// Runs the link's frame decoder (length prefix with `max_frame_size`, then the
/// protobuf envelope and its conversions) over `bytes`, as a reader would; returns
/// how many frames decoded. For fuzzing: it must never panic.
pub fn decode_frames(bytes: &[u8], max_frame_size: usize) -> usize {
    crate::remote::decode_frames_for_test(bytes, max_frame_size)
}

/// Runs the responder's side of the handshake against `bytes` from a peer. For
/// fuzzing: it must never panic, and garbage must be refused.
pub async fn respond_to_handshake(bytes: &[u8]) -> Result<(), Error> {
    crate::remote::respond_for_test(bytes).await
}
