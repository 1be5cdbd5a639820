//! Frames in and out: encoding straight into a link's queue, and decoding with a
//! hand-written fast path for the frames that dominate traffic.

use prost::Message as _;

use super::*;
use crate::error::Error;

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
pub(super) mod fast {
    use std::ops::Range;

    use bytes::Bytes;

    use super::{Body, CallReply, Deliver, Target, WirePid, WireTrace};

    const VARINT: u8 = 0;
    const FIXED64: u8 = 1;
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

        /// Eight little-endian bytes.
        fn fixed64(&mut self) -> Option<u64> {
            let end = self.pos.checked_add(8).filter(|&e| e <= self.end)?;
            let bytes: [u8; 8] = self.buf.get(self.pos..end)?.try_into().ok()?;
            self.pos = end;
            Some(u64::from_le_bytes(bytes))
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
    pub(in crate::remote::wire) fn frame(bytes: &Bytes) -> Option<(u32, Body)> {
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
        let (mut to, mut from, mut tag, mut payload, mut call_id, mut ack, mut chain, mut handled) =
            (None, None, None, None, None, None, None, None);
        let mut trace = None;
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
                (9, VARINT) => once(&mut handled, r.varint()? != 0)?,
                (12, LEN) => {
                    let range = r.len()?;
                    once(&mut trace, trace_of(r.within(range))?)?
                }
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
            handled: handled.unwrap_or(false),
            trace,
        })
    }

    /// A `WireTrace`: its three fixed64 fields, each at most once.
    fn trace_of(mut r: Reader<'_>) -> Option<WireTrace> {
        let (mut hi, mut lo, mut span) = (None, None, None);
        while !r.done() {
            match r.key()? {
                (1, FIXED64) => once(&mut hi, r.fixed64()?)?,
                (2, FIXED64) => once(&mut lo, r.fixed64()?)?,
                (3, FIXED64) => once(&mut span, r.fixed64()?)?,
                _ => return None,
            }
        }
        Some(WireTrace {
            trace_hi: hi.unwrap_or(0),
            trace_lo: lo.unwrap_or(0),
            span: span.unwrap_or(0),
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
