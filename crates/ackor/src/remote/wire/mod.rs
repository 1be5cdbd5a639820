//! The wire format: protobuf messages (prost), written by hand with `prost::Message`
//! derives so no `protoc` is needed. Unknown fields and unknown enum values decode
//! (prost keeps enums as `i32`), so newer peers can add to them.
//!
//! Every frame on a link, after the handshake, is one [`Frame`]; the payload of a user
//! message is opaque bytes from the payload codec. The messages are defined here;
//! [`codec`] encodes frames into a link's queue and decodes them (with a fast path for
//! the common `Deliver`), [`convert`] maps pids, errors and exit reasons to and from
//! their wire forms.

use prost::{Message as _, Oneof};

/// The protocol version this node speaks. Version 2 added `Deliver::handled`: a
/// version-1 node would ignore it and acknowledge such sends on arrival, which would
/// make their `Ok` a false claim, so the two versions refuse each other at the
/// handshake.
pub(crate) const PROTOCOL_VERSION: u32 = 2;

/// Feature flags exchanged in the handshake (none defined yet).
pub(crate) const FEATURES: u64 = 0;

// ------------------------------------------------------------------ handshake

/// First message of each side of a handshake.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Hello {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(string, tag = "2")]
    pub node: String,
    #[prost(uint32, tag = "3")]
    pub creation: u32,
    #[prost(uint64, tag = "4")]
    pub features: u64,
    /// A fresh random challenge for the other side to sign.
    #[prost(bytes = "vec", tag = "5")]
    pub nonce: Vec<u8>,
    /// From the initiator: which set of its links to this peer the link belongs to.
    /// Sets are numbered upwards per node incarnation; once a link of a newer set is
    /// up, the receiver delivers nothing more from older ones. 0 (the responder, or an
    /// older node): not told.
    #[prost(uint64, tag = "6")]
    pub link_set: u64,
}

/// Second message of each side: the HMAC of the peer's challenge under the cookie.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Proof {
    #[prost(bytes = "vec", tag = "1")]
    pub digest: Vec<u8>,
    /// Non-empty when the sender refuses the handshake: the reason.
    #[prost(string, tag = "2")]
    pub refused: String,
}

// ------------------------------------------------------------------ frames

/// A process on the node the frame travels from or to.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub(crate) struct WirePid {
    /// The node name, UTF-8 (a protobuf `string` on the wire; kept as bytes here so a
    /// received name is not copied, and a sender's own name is shared, not allocated).
    #[prost(bytes = "bytes", tag = "1")]
    pub node: bytes::Bytes,
    #[prost(uint64, tag = "2")]
    pub id: u64,
    #[prost(uint32, tag = "3")]
    pub creation: u32,
}

/// Where a message goes on the receiving node.
#[derive(Clone, PartialEq, Oneof)]
pub(crate) enum Target {
    #[prost(message, tag = "10")]
    Pid(WirePid),
    #[prost(string, tag = "11")]
    Name(String),
}

/// Why something failed, as carried on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum ErrorKind {
    Unspecified = 0,
    ProcessUnknown = 1,
    MailboxFull = 2,
    ProcessTerminated = 3,
    UnknownMessage = 4,
    Decode = 5,
    Rejected = 6,
    ReplyDropped = 7,
    Timeout = 8,
    NoConnection = 9,
    ResponseIgnored = 10,
    CallCycle = 11,
    UnknownActorKind = 12,
    NameTaken = 13,
    ConnectionLost = 14,
    ActorFailed = 15,
    Storage = 16,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireError {
    #[prost(enumeration = "ErrorKind", tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// An exit reason, as carried on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum ReasonKind {
    Unspecified = 0,
    Normal = 1,
    Shutdown = 2,
    Killed = 3,
    Panic = 4,
    Error = 5,
    NoProcess = 6,
    NoConnection = 7,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireReason {
    #[prost(enumeration = "ReasonKind", tag = "1")]
    pub kind: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// A user message, fire and forget (`call_id` 0) or a call.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Deliver {
    #[prost(oneof = "Target", tags = "10, 11")]
    pub to: Option<Target>,
    #[prost(message, optional, tag = "2")]
    pub from: Option<WirePid>,
    /// The message type's stable tag, UTF-8 (a protobuf `string` on the wire; bytes
    /// here, so the sender passes its static tag and the receiver does not copy it).
    #[prost(bytes = "bytes", tag = "3")]
    pub tag: bytes::Bytes,
    #[prost(bytes = "bytes", tag = "4")]
    pub payload: bytes::Bytes,
    /// Non-zero for a call: the caller waits for a [`CallReply`] with this id.
    #[prost(uint64, tag = "5")]
    pub call_id: u64,
    /// An important send: the receiving node answers `call_id` with an empty
    /// [`CallReply`] once the message is in the mailbox (or with why it is not); the
    /// handler's reply, if any, is not sent.
    #[prost(bool, tag = "6")]
    pub ack: bool,
    /// The call chain of a call or request (0: none); see `identity::ChainId`.
    #[prost(uint64, tag = "7")]
    pub chain: u64,
    /// The tokens of the blocking calls this message is handled for (a blocking call's
    /// wait-for path), to detect call cycles; empty for everything else.
    #[prost(uint64, repeated, tag = "8")]
    pub path: Vec<u64>,
    /// With `ack`: acknowledge once the handler has finished with the message (or
    /// confirmed it), not when it is queued; an instance that stops or fails before
    /// that answers with why.
    #[prost(bool, tag = "9")]
    pub handled: bool,
    /// The trace the message was sent in (see `crate::trace`); absent outside one.
    #[prost(message, optional, tag = "12")]
    pub trace: Option<WireTrace>,
}

/// A trace context on the wire: W3C `traceparent`'s trace id (two halves) and span id.
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub(crate) struct WireTrace {
    #[prost(fixed64, tag = "1")]
    pub trace_hi: u64,
    #[prost(fixed64, tag = "2")]
    pub trace_lo: u64,
    #[prost(fixed64, tag = "3")]
    pub span: u64,
}

/// The answer to a call.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct CallReply {
    #[prost(uint64, tag = "1")]
    pub call_id: u64,
    #[prost(bytes = "bytes", tag = "2")]
    pub payload: bytes::Bytes,
    /// Set when the call failed; `payload` is then empty.
    #[prost(message, optional, tag = "3")]
    pub error: Option<WireError>,
    /// Non-zero for an important response: the caller's node answers with a
    /// `CallReply` to this id, empty if the caller was still waiting, with
    /// `ResponseIgnored` if not.
    #[prost(uint64, tag = "4")]
    pub ack_id: u64,
}

/// Ask the receiving node for the pid registered under a name.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Whereis {
    #[prost(uint64, tag = "1")]
    pub call_id: u64,
    #[prost(string, tag = "2")]
    pub name: String,
}

/// The answer to [`Whereis`]; `pid` is absent when the name is not registered.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WhereisReply {
    #[prost(uint64, tag = "1")]
    pub call_id: u64,
    #[prost(message, optional, tag = "2")]
    pub pid: Option<WirePid>,
}

/// Start (or, with `remove`, stop) monitoring a process of the receiving node.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Monitor {
    #[prost(uint64, tag = "1")]
    pub ref_id: u64,
    #[prost(message, optional, tag = "2")]
    pub watcher: Option<WirePid>,
    #[prost(oneof = "Target", tags = "10, 11")]
    pub target: Option<Target>,
    #[prost(bool, tag = "3")]
    pub remove: bool,
}

/// A monitored process stopped.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Down {
    #[prost(uint64, tag = "1")]
    pub ref_id: u64,
    #[prost(message, optional, tag = "2")]
    pub pid: Option<WirePid>,
    #[prost(message, optional, tag = "3")]
    pub reason: Option<WireReason>,
}

/// Link (or, with `remove`, unlink) two processes across the link.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Link {
    #[prost(message, optional, tag = "1")]
    pub from: Option<WirePid>,
    #[prost(message, optional, tag = "2")]
    pub to: Option<WirePid>,
    #[prost(bool, tag = "3")]
    pub remove: bool,
}

/// An exit signal from a linked process.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ExitSignal {
    #[prost(message, optional, tag = "1")]
    pub from: Option<WirePid>,
    #[prost(message, optional, tag = "2")]
    pub to: Option<WirePid>,
    #[prost(message, optional, tag = "3")]
    pub reason: Option<WireReason>,
}

/// Keeps an idle link alive, and measures round trips: a heartbeat with `ping` set is
/// answered on the same link with `pong` set to the same value (a node that does not
/// know the fields just ignores them, as before).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Heartbeat {
    /// The sender's stamp (non-zero): asks for an answer echoing it.
    #[prost(uint64, tag = "1")]
    pub ping: u64,
    /// The stamp of the ping this answers (non-zero).
    #[prost(uint64, tag = "2")]
    pub pong: u64,
}

/// A reentrancy mode on the wire; a code this node does not know decodes as `Off`
/// (see `ReentrancyMode::from_wire`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub(crate) enum WireReentrancyMode {
    Off = 0,
    AllowAll = 1,
    StashNonReentrant = 2,
}

/// The spawn options that travel with a remote spawn.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct WireSpawnOptions {
    /// Registers the actor under this name (empty: none).
    #[prost(string, tag = "1")]
    pub name: String,
    /// 0: the receiving node's default.
    #[prost(uint64, tag = "2")]
    pub mailbox_capacity: u64,
    #[prost(enumeration = "WireReentrancyMode", tag = "3")]
    pub reentrancy_mode: i32,
    /// 0: no limit.
    #[prost(uint64, tag = "4")]
    pub max_in_flight: u64,
    /// Milliseconds an idle actor lives before it is stopped; 0: no idle timeout.
    #[prost(uint64, tag = "5")]
    pub idle_timeout_ms: u64,
}

/// Spawn an actor of a kind the receiving node allows; answered by a [`CallReply`]
/// whose payload is the new actor's [`WirePid`].
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Spawn {
    #[prost(uint64, tag = "1")]
    pub call_id: u64,
    /// The actor kind (`RemoteActor::KIND`).
    #[prost(string, tag = "2")]
    pub kind: String,
    /// The actor's `Args`, MessagePack-encoded.
    #[prost(bytes = "bytes", tag = "3")]
    pub args: bytes::Bytes,
    #[prost(message, optional, tag = "4")]
    pub options: Option<WireSpawnOptions>,
}

/// The sending node is leaving (it shuts down): the receiver treats it as gone, fails
/// what is pending on it as for a lost connection, and does not dial it again until
/// something is sent to it. Sent after the sender's last `Down`s and exit signals, on
/// every link between the two nodes. A node that does not know this frame (tag 12)
/// decodes it with an unknown body and ignores it.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Goodbye {
    /// The incarnation that leaves: a goodbye that does not name the incarnation the
    /// receiver is linked to (a stale or forged one) is ignored.
    #[prost(uint32, tag = "1")]
    pub creation: u32,
}

#[derive(Clone, PartialEq, Oneof)]
pub(crate) enum Body {
    #[prost(message, tag = "2")]
    Deliver(Deliver),
    #[prost(message, tag = "3")]
    Reply(CallReply),
    #[prost(message, tag = "4")]
    Whereis(Whereis),
    #[prost(message, tag = "5")]
    WhereisReply(WhereisReply),
    #[prost(message, tag = "6")]
    Monitor(Monitor),
    #[prost(message, tag = "7")]
    Down(Down),
    #[prost(message, tag = "8")]
    Link(Link),
    #[prost(message, tag = "9")]
    Exit(ExitSignal),
    #[prost(message, tag = "10")]
    Heartbeat(Heartbeat),
    #[prost(message, tag = "11")]
    Spawn(Spawn),
    #[prost(message, tag = "12")]
    Goodbye(Goodbye),
}

/// One frame after the handshake. A frame with an unknown body (a newer peer's) decodes
/// with `body: None` and is ignored.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Frame {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(oneof = "Body", tags = "2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12")]
    pub body: Option<Body>,
}

impl Frame {
    pub(crate) fn new(body: Body) -> Self {
        Frame {
            version: PROTOCOL_VERSION,
            body: Some(body),
        }
    }

    /// Encodes the frame with its length prefix (u32, big endian) into `out`.
    pub(crate) fn encode_into(&self, out: &mut bytes::BytesMut) {
        let len = self.encoded_len();
        out.reserve(4 + len);
        out.extend_from_slice(&(len as u32).to_be_bytes());
        // Encoding into a buffer with enough room cannot fail.
        let _ = self.encode(out);
    }
}

mod codec;
mod convert;

pub(crate) use codec::{
    DeliverRef, EncodedTarget, Outgoing, PidRef, TargetRef, answered_in_place, decode_frame,
    deliver_in_place, encode_ack,
};

#[cfg(test)]
mod tests {
    use super::codec::fast;
    use super::*;
    use crate::error::Error;

    #[test]
    fn frame_round_trips_and_unknown_body_decodes_as_none() {
        let f = Frame::new(Body::Heartbeat(Heartbeat::default()));
        let bytes = f.encode_to_vec();
        assert_eq!(Frame::decode(bytes.as_slice()).ok(), Some(f));
        // Field 99 (a body kind from a newer peer) is skipped.
        let mut newer = Frame {
            version: PROTOCOL_VERSION + 1,
            body: None,
        }
        .encode_to_vec();
        newer.extend_from_slice(&[0x9a, 0x06, 0x00]); // tag 99, wire type 2, length 0
        let decoded = Frame::decode(newer.as_slice()).ok();
        assert_eq!(decoded.map(|f| f.body.is_none()), Some(true));
    }

    #[test]
    fn a_plain_deliver_takes_the_fast_path_and_decodes_as_prost_does() {
        let pid = |node: &str, id| WirePid {
            node: bytes::Bytes::copy_from_slice(node.as_bytes()),
            id,
            creation: 7,
        };
        let traced = WireTrace {
            trace_hi: u64::MAX,
            trace_lo: 1,
            span: 0x00f0_67aa_0ba9_02b7,
        };
        let cases = [
            (None, 0, false, 0, false, None),
            (Some(pid("a@h:1", 3)), 9, true, (1 << 62) + 5, false, None),
            (Some(pid("a@h:1", 3)), 10, true, 0, true, Some(traced)),
            (None, 0, false, 0, false, Some(WireTrace::default())),
        ];
        for (from, call_id, ack, chain, handled, trace) in cases {
            let frame = Frame::new(Body::Deliver(Deliver {
                to: Some(Target::Pid(pid("b@h:2", 1 << 40))),
                from,
                tag: bytes::Bytes::from_static(b"bench.inc"),
                payload: bytes::Bytes::from_static(&[0xc0]),
                call_id,
                ack,
                chain,
                path: Vec::new(),
                handled,
                trace,
            }));
            let bytes = bytes::Bytes::from(frame.encode_to_vec());
            let fast = fast::frame(&bytes).map(|(version, body)| Frame {
                version,
                body: Some(body),
            });
            assert_eq!(fast.as_ref(), Some(&frame));
            let Some(Body::Deliver(deliver)) = &frame.body else {
                unreachable!()
            };
            assert_eq!(deliver_in_place(&bytes), Some(deliver.as_ref()));
            assert_eq!(answered_in_place(&bytes), None);
            assert_eq!(decode_frame(bytes).ok(), Some(frame));
        }
        // An acknowledgement, and a reply.
        for payload in [&b""[..], &[0xcc, 0x05][..]] {
            let frame = Frame::new(Body::Reply(CallReply {
                call_id: 12,
                payload: bytes::Bytes::copy_from_slice(payload),
                ..Default::default()
            }));
            let bytes = bytes::Bytes::from(frame.encode_to_vec());
            assert!(fast::frame(&bytes).is_some());
            assert_eq!(deliver_in_place(&bytes), None);
            let answered = answered_in_place(&bytes);
            assert_eq!(answered, payload.is_empty().then_some(12));
            assert_eq!(decode_frame(bytes).ok(), Some(frame));
        }
        // A body it does not take on goes to prost.
        let heartbeat = bytes::Bytes::from(Frame::new(Body::Heartbeat(Heartbeat::default())).encode_to_vec());
        assert_eq!(fast::frame(&heartbeat), None);
        assert!(decode_frame(heartbeat).is_ok());
    }

    #[test]
    fn unknown_error_kind_is_tolerated() {
        let e = WireError {
            kind: 999,
            message: "future".into(),
        };
        assert!(matches!(Error::from(&e), Error::Protocol(_)));
    }
}
