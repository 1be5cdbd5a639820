//! The wire format: protobuf messages (prost), written by hand with `prost::Message`
//! derives so no `protoc` is needed. Unknown fields and unknown enum values decode
//! (prost keeps enums as `i32`), so newer peers can add to them.
//!
//! Every frame on a link, after the handshake, is one [`Frame`]; the payload of a user
//! message is opaque bytes from the payload codec.

use prost::{Message as _, Oneof};

/// The protocol version this node speaks.
pub(crate) const PROTOCOL_VERSION: u32 = 1;

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

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Heartbeat {}

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
}

/// One frame after the handshake. A frame with an unknown body (a newer peer's) decodes
/// with `body: None` and is ignored.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Frame {
    #[prost(uint32, tag = "1")]
    pub version: u32,
    #[prost(oneof = "Body", tags = "2, 3, 4, 5, 6, 7, 8, 9, 10, 11")]
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

/// A frame on its way out, encoded straight into a link's queue.
pub(crate) enum Outgoing<'a> {
    /// Any frame.
    Frame(&'a Frame),
    /// A [`Deliver`] frame whose payload is `payload` (`deliver.payload` is left
    /// empty): the payload is encoded by the message codec into a reused buffer and
    /// copied once, into the link's queue.
    Deliver { deliver: &'a Deliver, payload: &'a [u8] },
}

impl Outgoing<'_> {
    /// Appends the frame with its length prefix to `out`; writes nothing and fails with
    /// [`Error::Codec`] if it is larger than `max` bytes.
    pub(crate) fn encode(&self, out: &mut bytes::BytesMut, max: usize) -> Result<(), Error> {
        match self {
            Outgoing::Frame(frame) => {
                let len = frame.encoded_len();
                let prefix = u32::try_from(len)
                    .ok()
                    .filter(|_| len <= max)
                    .ok_or_else(|| too_large(len, max))?;
                out.reserve(4 + len);
                out.extend_from_slice(&prefix.to_be_bytes());
                frame.encode_raw(out);
                Ok(())
            }
            Outgoing::Deliver { deliver, payload } => {
                use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
                // What `Frame::new(Body::Deliver(d))` encodes, with the payload field
                // (4) written last from `payload` (protobuf fields may come in any order).
                let payload_field = if payload.is_empty() {
                    0
                } else {
                    key_len(4) + encoded_len_varint(payload.len() as u64) + payload.len()
                };
                let body = deliver.encoded_len() + payload_field;
                let version = prost::encoding::uint32::encoded_len(1, &PROTOCOL_VERSION);
                let len = version + key_len(2) + encoded_len_varint(body as u64) + body;
                let prefix = u32::try_from(len)
                    .ok()
                    .filter(|_| len <= max)
                    .ok_or_else(|| too_large(len, max))?;
                out.reserve(4 + len);
                out.extend_from_slice(&prefix.to_be_bytes());
                prost::encoding::uint32::encode(1, &PROTOCOL_VERSION, out);
                encode_key(2, WireType::LengthDelimited, out);
                encode_varint(body as u64, out);
                deliver.encode_raw(out);
                if !payload.is_empty() {
                    encode_key(4, WireType::LengthDelimited, out);
                    encode_varint(payload.len() as u64, out);
                    out.extend_from_slice(payload);
                }
                Ok(())
            }
        }
    }
}

/// Decodes a frame exactly as `Frame::decode` does, faster for the common cases: a
/// `Deliver` to a pid, or a `CallReply` without an error (an acknowledgement, or a
/// reply), whose fields are all known to this node and each present at most once, is
/// read by hand, its byte fields sliced out of `bytes` without copying. Anything else
/// (another body, a field this node does not know, a repeated field, a non-canonical
/// varint, malformed input) goes to prost, so the outcome never differs.
pub(crate) fn decode_frame(bytes: bytes::Bytes) -> Result<Frame, prost::DecodeError> {
    match fast::frame(&bytes) {
        Some((version, body)) => Ok(Frame {
            version,
            body: Some(body),
        }),
        None => Frame::decode(bytes),
    }
}

/// A frame as the link's reader takes it: a plain `Deliver` on its own (not wrapped
/// in a [`Frame`], which would only be moved around), anything else whole.
pub(crate) enum Decoded {
    Deliver(Deliver),
    Frame(Frame),
}

/// [`decode_frame`], for the link's reader.
pub(crate) fn decode(bytes: bytes::Bytes) -> Result<Decoded, prost::DecodeError> {
    match fast::frame(&bytes) {
        Some((_, Body::Deliver(deliver))) => Ok(Decoded::Deliver(deliver)),
        Some((version, body)) => Ok(Decoded::Frame(Frame {
            version,
            body: Some(body),
        })),
        None => Frame::decode(bytes).map(Decoded::Frame),
    }
}

/// The hand-written reader behind [`decode_frame`]: every function returns `None` for
/// anything it does not take on, and the caller falls back to prost.
mod fast {
    use std::ops::Range;

    use bytes::Bytes;

    use super::{Body, CallReply, Deliver, Target, WirePid};

    const VARINT: u8 = 0;
    const LEN: u8 = 2;

    struct Reader<'a> {
        buf: &'a [u8],
        pos: usize,
        end: usize,
    }

    impl Reader<'_> {
        fn done(&self) -> bool {
            self.pos >= self.end
        }

        /// A canonical varint of at most 9 bytes (63 bits).
        fn varint(&mut self) -> Option<u64> {
            let mut value = 0u64;
            for shift in (0..63).step_by(7) {
                let byte = *self.buf[..self.end].get(self.pos)?;
                self.pos += 1;
                value |= u64::from(byte & 0x7f) << shift;
                if byte & 0x80 == 0 {
                    // A trailing zero byte would be a non-canonical encoding.
                    return (byte != 0 || shift == 0).then_some(value);
                }
            }
            None
        }

        fn key(&mut self) -> Option<(u64, u8)> {
            let key = self.varint()?;
            Some((key >> 3, (key & 7) as u8))
        }

        /// The range of a length-delimited field's content.
        fn len(&mut self) -> Option<Range<usize>> {
            let len = usize::try_from(self.varint()?).ok()?;
            let start = self.pos;
            let end = start.checked_add(len).filter(|&e| e <= self.end)?;
            self.pos = end;
            Some(start..end)
        }

        fn within(&self, range: Range<usize>) -> Self {
            Reader {
                buf: self.buf,
                pos: range.start,
                end: range.end,
            }
        }
    }

    /// Sets a field that may appear only once.
    fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
        match slot {
            Some(_) => None,
            None => {
                *slot = Some(value);
                Some(())
            }
        }
    }

    /// The version and the body of a frame.
    pub(super) fn frame(bytes: &Bytes) -> Option<(u32, Body)> {
        let mut r = Reader {
            buf: bytes,
            pos: 0,
            end: bytes.len(),
        };
        let (mut version, mut body) = (None, None);
        while !r.done() {
            match r.key()? {
                (1, VARINT) => once(&mut version, r.varint()? as u32)?,
                (field @ (2 | 3), LEN) => once(&mut body, (field, r.len()?))?,
                _ => return None,
            }
        }
        let body = match body? {
            (2, range) => Body::Deliver(deliver(bytes, r.within(range))?),
            (_, range) => Body::Reply(reply(bytes, r.within(range))?),
        };
        Some((version.unwrap_or(0), body))
    }

    fn reply(bytes: &Bytes, mut r: Reader<'_>) -> Option<CallReply> {
        let (mut call_id, mut payload, mut ack_id) = (None, None, None);
        while !r.done() {
            match r.key()? {
                (1, VARINT) => once(&mut call_id, r.varint()?)?,
                (2, LEN) => once(&mut payload, bytes.slice(r.len()?))?,
                (4, VARINT) => once(&mut ack_id, r.varint()?)?,
                // The error (3), and anything else, goes to prost.
                _ => return None,
            }
        }
        // Every field of `CallReply` (see `deliver`).
        Some(CallReply {
            call_id: call_id.unwrap_or(0),
            payload: payload.unwrap_or_default(),
            error: None,
            ack_id: ack_id.unwrap_or(0),
        })
    }

    #[inline]
    fn deliver(bytes: &Bytes, mut r: Reader<'_>) -> Option<Deliver> {
        let (mut to, mut from, mut tag, mut payload, mut call_id, mut ack, mut chain) =
            (None, None, None, None, None, None, None);
        while !r.done() {
            match r.key()? {
                (10, LEN) => {
                    let range = r.len()?;
                    once(&mut to, pid(bytes, r.within(range))?)?
                }
                (2, LEN) => {
                    let range = r.len()?;
                    once(&mut from, pid(bytes, r.within(range))?)?
                }
                (3, LEN) => once(&mut tag, bytes.slice(r.len()?))?,
                (4, LEN) => once(&mut payload, bytes.slice(r.len()?))?,
                (5, VARINT) => once(&mut call_id, r.varint()?)?,
                (6, VARINT) => once(&mut ack, r.varint()? != 0)?,
                (7, VARINT) => once(&mut chain, r.varint()?)?,
                _ => return None,
            }
        }
        // Every field of `Deliver`: one added there must be read here too (or make
        // this fall back to prost), which this struct literal does not let anyone miss.
        Some(Deliver {
            to: Some(Target::Pid(to?)),
            from,
            tag: tag.unwrap_or_default(),
            payload: payload.unwrap_or_default(),
            call_id: call_id.unwrap_or(0),
            ack: ack.unwrap_or(false),
            chain: chain.unwrap_or(0),
            // A path (field 8) is not taken on here: such frames go to prost.
            path: Vec::new(),
        })
    }

    fn pid(bytes: &Bytes, mut r: Reader<'_>) -> Option<WirePid> {
        let (mut node, mut id, mut creation) = (None, None, None);
        while !r.done() {
            match r.key()? {
                (1, LEN) => once(&mut node, bytes.slice(r.len()?))?,
                (2, VARINT) => once(&mut id, r.varint()?)?,
                (3, VARINT) => once(&mut creation, r.varint()? as u32)?,
                _ => return None,
            }
        }
        Some(WirePid {
            node: node.unwrap_or_default(),
            id: id.unwrap_or(0),
            creation: creation.unwrap_or(0),
        })
    }
}

fn too_large(len: usize, max: usize) -> Error {
    Error::Codec(format!(
        "a frame of {len} bytes exceeds the maximum frame size of {max} bytes"
    ))
}

// ------------------------------------------------------------------ conversions

use crate::error::Error;
use crate::identity::{NodeName, Pid};
use crate::monitor::ExitReason;

impl From<&Pid> for WirePid {
    fn from(pid: &Pid) -> Self {
        WirePid {
            node: bytes::Bytes::copy_from_slice(pid.node().as_str().as_bytes()),
            id: pid.id(),
            creation: pid.creation(),
        }
    }
}

impl WirePid {
    /// The pid; a node name that is not UTF-8 gets replacement characters (and so
    /// names no node).
    pub(crate) fn to_pid(&self) -> Pid {
        Pid::new(
            NodeName::new(String::from_utf8_lossy(&self.node)),
            self.id,
            self.creation,
        )
    }

    /// [`WirePid::to_pid`], sharing `known` when the pid is on that node (no copy of
    /// the name).
    pub(crate) fn to_pid_on(&self, known: &NodeName) -> Pid {
        if self.is_on(known) {
            Pid::new(known.clone(), self.id, self.creation)
        } else {
            self.to_pid()
        }
    }

    /// Whether the pid is on node `node`.
    pub(crate) fn is_on(&self, node: &NodeName) -> bool {
        self.node.as_ref() == node.as_str().as_bytes()
    }
}

impl From<&Error> for WireError {
    fn from(e: &Error) -> Self {
        let (kind, message) = match e {
            Error::ProcessUnknown => (ErrorKind::ProcessUnknown, String::new()),
            Error::MailboxFull => (ErrorKind::MailboxFull, String::new()),
            Error::ProcessTerminated => (ErrorKind::ProcessTerminated, String::new()),
            Error::UnknownMessage(tag) => (ErrorKind::UnknownMessage, tag.clone()),
            Error::Codec(m) => (ErrorKind::Decode, m.clone()),
            Error::Rejected(m) => (ErrorKind::Rejected, m.clone()),
            Error::ReplyDropped => (ErrorKind::ReplyDropped, String::new()),
            Error::Timeout => (ErrorKind::Timeout, String::new()),
            Error::NoConnection => (ErrorKind::NoConnection, String::new()),
            Error::ResponseIgnored => (ErrorKind::ResponseIgnored, String::new()),
            Error::CallCycle => (ErrorKind::CallCycle, String::new()),
            Error::UnknownActorKind(kind) => (ErrorKind::UnknownActorKind, kind.clone()),
            Error::NameTaken(name) => (ErrorKind::NameTaken, name.clone()),
            Error::ConnectionLost => (ErrorKind::ConnectionLost, String::new()),
            other => (ErrorKind::Unspecified, other.to_string()),
        };
        WireError {
            kind: kind as i32,
            message,
        }
    }
}

impl From<&WireError> for Error {
    fn from(e: &WireError) -> Self {
        match ErrorKind::try_from(e.kind).unwrap_or(ErrorKind::Unspecified) {
            ErrorKind::ProcessUnknown => Error::ProcessUnknown,
            ErrorKind::MailboxFull => Error::MailboxFull,
            ErrorKind::ProcessTerminated => Error::ProcessTerminated,
            ErrorKind::UnknownMessage => Error::UnknownMessage(e.message.clone()),
            ErrorKind::Decode => Error::Codec(e.message.clone()),
            ErrorKind::Rejected => Error::Rejected(e.message.clone()),
            ErrorKind::ReplyDropped => Error::ReplyDropped,
            ErrorKind::Timeout => Error::Timeout,
            ErrorKind::NoConnection => Error::NoConnection,
            ErrorKind::ResponseIgnored => Error::ResponseIgnored,
            ErrorKind::CallCycle => Error::CallCycle,
            ErrorKind::UnknownActorKind => Error::UnknownActorKind(e.message.clone()),
            ErrorKind::NameTaken => Error::NameTaken(e.message.clone()),
            ErrorKind::ConnectionLost => Error::ConnectionLost,
            ErrorKind::Unspecified => Error::Protocol(format!("remote error: {}", e.message)),
        }
    }
}

impl From<&ExitReason> for WireReason {
    fn from(r: &ExitReason) -> Self {
        let (kind, message) = match r {
            ExitReason::Normal => (ReasonKind::Normal, String::new()),
            ExitReason::Shutdown => (ReasonKind::Shutdown, String::new()),
            ExitReason::Killed => (ReasonKind::Killed, String::new()),
            ExitReason::Panic(m) => (ReasonKind::Panic, m.clone()),
            ExitReason::Error(m) => (ReasonKind::Error, m.clone()),
            ExitReason::NoProcess => (ReasonKind::NoProcess, String::new()),
            ExitReason::NoConnection => (ReasonKind::NoConnection, String::new()),
        };
        WireReason {
            kind: kind as i32,
            message,
        }
    }
}

impl From<Option<&WireReason>> for ExitReason {
    fn from(r: Option<&WireReason>) -> Self {
        let Some(r) = r else {
            return ExitReason::Error("no reason given".into());
        };
        match ReasonKind::try_from(r.kind).unwrap_or(ReasonKind::Unspecified) {
            ReasonKind::Normal => ExitReason::Normal,
            ReasonKind::Shutdown => ExitReason::Shutdown,
            ReasonKind::Killed => ExitReason::Killed,
            ReasonKind::Panic => ExitReason::Panic(r.message.clone()),
            ReasonKind::Error => ExitReason::Error(r.message.clone()),
            ReasonKind::NoProcess => ExitReason::NoProcess,
            ReasonKind::NoConnection => ExitReason::NoConnection,
            ReasonKind::Unspecified => ExitReason::Error(format!("unknown reason: {}", r.message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trips_and_unknown_body_decodes_as_none() {
        let f = Frame::new(Body::Heartbeat(Heartbeat {}));
        let bytes = f.encode_to_vec();
        assert_eq!(Frame::decode(bytes.as_slice()).ok(), Some(f));
        // Field 99 (a body kind from a newer peer) is skipped.
        let mut newer = Frame {
            version: 2,
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
        let cases = [
            (None, 0, false, 0),
            (Some(pid("a@h:1", 3)), 9, true, (1 << 62) + 5),
        ];
        for (from, call_id, ack, chain) in cases {
            let frame = Frame::new(Body::Deliver(Deliver {
                to: Some(Target::Pid(pid("b@h:2", 1 << 40))),
                from,
                tag: bytes::Bytes::from_static(b"bench.inc"),
                payload: bytes::Bytes::from_static(&[0xc0]),
                call_id,
                ack,
                chain,
                path: Vec::new(),
            }));
            let bytes = bytes::Bytes::from(frame.encode_to_vec());
            let fast = fast::frame(&bytes).map(|(version, body)| Frame {
                version,
                body: Some(body),
            });
            assert_eq!(fast.as_ref(), Some(&frame));
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
            assert_eq!(decode_frame(bytes).ok(), Some(frame));
        }
        // A body it does not take on goes to prost.
        let heartbeat = bytes::Bytes::from(Frame::new(Body::Heartbeat(Heartbeat {})).encode_to_vec());
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
