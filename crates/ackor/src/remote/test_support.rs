//! Entry points into the network side for tests and fuzzing (through
//! [`crate::testing`]): raw handshakes, frame decoding as a link reader does it, and
//! cutting a node's links as a network fault would.

use std::sync::Arc;

use super::wire::{self, Body, Frame, WirePid};
use super::{Remote, handshake, link};
use crate::error::Error;
use crate::identity::{NodeName, Pid};
use crate::monitor::ExitReason;

/// Cuts every link between this node and `peer` as a network fault would (for tests).
pub(crate) fn sever(remote: &Arc<Remote>, peer: &NodeName) {
    if let Some(p) = remote.existing_peer(peer) {
        p.fail(remote, "severed", None, true);
    }
}

/// Runs the initiator's handshake on a raw stream (for wire-level tests).
pub(crate) async fn handshake_raw(
    stream: &mut tokio::net::TcpStream,
    name: &str,
    cookie: &str,
    expected: &str,
) -> Result<(), Error> {
    let local = handshake::Local {
        node: name,
        creation: 1,
        cookie: cookie.as_bytes(),
        link_set: 0,
    };
    handshake::initiate(stream, &local, expected).await.map(|_| ())
}

/// Runs the responder's handshake on a raw stream (for wire-level tests).
pub(crate) async fn respond_raw(
    stream: &mut tokio::net::TcpStream,
    name: &str,
    cookie: &str,
) -> Result<(), Error> {
    let local = handshake::Local {
        node: name,
        creation: 1,
        cookie: cookie.as_bytes(),
        link_set: 0,
    };
    handshake::respond(stream, &local).await.map(|_| ())
}

/// The length-prefixed frame of `body`.
fn frame_bytes(body: Body) -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    Frame::new(body).encode_into(&mut buf);
    buf.to_vec()
}

/// A length-prefixed heartbeat frame (for wire-level tests).
pub(crate) fn heartbeat_bytes() -> Vec<u8> {
    frame_bytes(Body::Heartbeat(wire::Heartbeat::default()))
}

/// A length-prefixed frame carrying an important send to `to`: message `tag` with the
/// encoded `payload`, under `delivery_id` (for wire-level tests).
pub(crate) fn important_send_bytes(to: &Pid, tag: &str, payload: &[u8], delivery_id: u64) -> Vec<u8> {
    let deliver = wire::Deliver {
        to: Some(wire::Target::Pid(WirePid::from(to))),
        tag: bytes::Bytes::copy_from_slice(tag.as_bytes()),
        payload: bytes::Bytes::copy_from_slice(payload),
        call_id: delivery_id,
        ack: true,
        ..wire::Deliver::default()
    };
    frame_bytes(Body::Deliver(deliver))
}

/// The delivery ids that the whole frames at the front of `bytes` acknowledge (bare
/// acknowledgements; other frames are skipped), and how many bytes those frames take
/// (for wire-level tests).
pub(crate) fn acknowledgements_for_test(bytes: &[u8]) -> (Vec<u64>, usize) {
    // A length above this is garbage, not a frame to wait (and reserve room) for.
    const MAX: usize = 16 * 1024 * 1024;
    let mut buf = bytes::BytesMut::from(bytes);
    let mut acked = Vec::new();
    while let Ok(Some(frame)) = link::next_frame(&mut buf, MAX) {
        acked.extend(wire::answered_in_place(&frame));
    }
    (acked, bytes.len() - buf.len())
}

/// Decodes frames as a link reader does (for fuzzing through `testing`).
pub(crate) fn decode_frames_for_test(bytes: &[u8], max_frame_size: usize) -> usize {
    let mut buf = bytes::BytesMut::from(bytes);
    let mut frames = 0;
    while let Ok(Some(frame)) = link::next_frame(&mut buf, max_frame_size) {
        // What the reader reads in place.
        if let Some(d) = wire::deliver_in_place(&frame) {
            frames += 1;
            let _ = d.from.map(wire::PidRef::to_pid);
            continue;
        }
        if wire::answered_in_place(&frame).is_some() {
            frames += 1;
            continue;
        }
        let Ok(frame) = wire::decode_frame(frame) else {
            break;
        };
        frames += 1;
        // The conversions the dispatcher applies to what it reads.
        match frame.body {
            Some(Body::Deliver(d)) => {
                let _ = d.from.as_ref().map(WirePid::to_pid);
            }
            Some(Body::Reply(r)) => {
                let _ = r.error.as_ref().map(Error::from);
            }
            Some(Body::Down(d)) => {
                let _ = ExitReason::from(d.reason.as_ref());
                let _ = d.pid.as_ref().map(WirePid::to_pid);
            }
            Some(Body::Exit(x)) => {
                let _ = ExitReason::from(x.reason.as_ref());
            }
            _ => {}
        }
    }
    frames
}

/// Runs the responder's handshake against fixed bytes (for fuzzing through `testing`):
/// the bytes are written while the responder reads, and what it writes back is read
/// and dropped, so inputs of any size reach every step the bytes allow.
pub(crate) async fn respond_for_test(bytes: &[u8]) -> Result<(), Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut ours, theirs) = tokio::io::duplex(64 * 1024);
    let (mut their_rd, mut their_wr) = tokio::io::split(theirs);
    let input = bytes.to_vec();
    let write = async move {
        let _ = their_wr.write_all(&input).await;
        let _ = their_wr.shutdown().await;
    };
    let drain = async move {
        let mut sink = vec![0u8; 4096];
        while matches!(their_rd.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let local = handshake::Local {
        node: "fuzz@127.0.0.1:1",
        creation: 1,
        cookie: b"fuzz",
        link_set: 0,
    };
    let respond = async move {
        let outcome = handshake::respond(&mut ours, &local).await.map(|_| ());
        drop(ours);
        outcome
    };
    let (outcome, (), ()) = tokio::join!(respond, write, drain);
    outcome
}
