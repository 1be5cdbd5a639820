//! Frames in and out: encoding straight into a link's queue, and decoding with a
//! hand-written fast path for the frames that dominate traffic.

use prost::Message as _;

use super::*;
use crate::error::Error;

/// A frame on its way out, encoded straight into a link's queue.
pub(crate) enum Outgoing<'a> {
    /// Any frame.
    Frame(&'a Frame),
    /// A [`Deliver`] frame, from its parts: written by hand, with no `Deliver` built
    /// (no name or tag copied or reference-counted), the payload (encoded by the
    /// message codec into a reused buffer) copied once, into the link's queue. With
    /// `to`, that is its target (and `deliver.to` is not written): a sender's handle
    /// writes its target once, not per message.
    Deliver {
        to: Option<&'a EncodedTarget>,
        deliver: DeliverRef<'a>,
    },
}

/// The target field of a `Deliver` (key included), written once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EncodedTarget(Box<[u8]>);

impl EncodedTarget {
    pub(crate) fn new(to: TargetRef<'_>) -> Self {
        let mut buf = bytes::BytesMut::new();
        out::target(&mut buf, &to);
        EncodedTarget(buf.to_vec().into_boxed_slice())
    }
}

impl Outgoing<'_> {
    /// Appends the frame with its length prefix to `out`; writes nothing and fails with
    /// [`Error::Codec`] if it is larger than `max` bytes.
    #[inline(always)]
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
            Outgoing::Deliver { to, deliver } => {
                // What `Frame::new(Body::Deliver(d))` encodes: the version, then the
                // body (see `out::deliver` for its fields).
                let to = to.map(|t| &t.0[..]);
                let body = out::deliver_len(deliver, to);
                let len = out::varint_field_len(PROTOCOL_VERSION.into()) + out::len_field_len(body);
                let prefix = u32::try_from(len)
                    .ok()
                    .filter(|_| len <= max)
                    .ok_or_else(|| too_large(len, max))?;
                out.reserve(4 + len + out::SLACK);
                out.extend_from_slice(&prefix.to_be_bytes());
                out::varint_field(out, 1, PROTOCOL_VERSION.into());
                out::key(out, 2, LEN);
                out::varint(out, body as u64);
                let start = out.len();
                out::deliver(out, deliver, to);
                debug_assert_eq!(out.len() - start, body);
                Ok(())
            }
        }
    }
}

/// Appends, with its length prefix, the frame acknowledging important send
/// `delivery_id` (a `CallReply` with nothing but the id): what
/// `Outgoing::Frame(&Frame::new(Body::Reply(..)))` writes, byte for byte, without
/// building the frame. Far below any frame size limit.
pub(crate) fn encode_ack(out: &mut bytes::BytesMut, delivery_id: u64) {
    // A `Frame` of fields `version` (1) and `body` = `Reply` (3), a `CallReply` of the
    // one field `call_id` (1).
    let body = out::varint_field_len(delivery_id);
    let len = out::varint_field_len(PROTOCOL_VERSION.into()) + out::len_field_len(body);
    out.reserve(4 + len + out::SLACK);
    // At most 15 bytes: the version 2, the body's key and length 2, its field 11.
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out::varint_field(out, 1, PROTOCOL_VERSION.into());
    out::key(out, 3, LEN);
    out::varint(out, body as u64);
    out::varint_field(out, 1, delivery_id);
}

/// Protobuf wire types, for the hand-written writer ([`out`]) and reader ([`fast`]).
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;

/// The hand-written writer behind [`Outgoing::Deliver`]: what prost writes for a
/// `Deliver` (fields at their default left out, messages and oneof members always
/// written), byte for byte, except that the payload comes last.
mod out {
    use bytes::BytesMut;

    use super::{DeliverRef, FIXED64, LEN, PidRef, TargetRef, VARINT, WireTrace};

    fn varint_len(v: u64) -> usize {
        prost::encoding::encoded_len_varint(v)
    }

    /// Room [`varint`] needs beyond what it writes.
    pub(super) const SLACK: usize = 8;

    /// A varint of up to 8 bytes (56 bits) is built in a register and written as one
    /// 8-byte word, of which the bytes the value does not need are taken back: `out`
    /// should have [`SLACK`] bytes of room beyond the varint (it grows if not). One of
    /// 9 bytes (the call and delivery ids: they start at random below 2^62) is eight
    /// groups built at once and a last byte.
    pub(super) fn varint(out: &mut BytesMut, v: u64) {
        if v < 0x80 {
            out.extend_from_slice(&[v as u8]);
            return;
        }
        if v >= 1 << 56 {
            long_varint(out, v);
            return;
        }
        let (mut rest, mut word, mut n) = (v, 0u64, 0);
        while rest >= 0x80 {
            word |= ((rest & 0x7f) | 0x80) << (8 * n);
            rest >>= 7;
            n += 1;
        }
        word |= rest << (8 * n);
        let end = out.len() + n + 1;
        out.extend_from_slice(&word.to_le_bytes());
        out.truncate(end);
    }

    /// A varint of 9 bytes or more (kept out of [`varint`], which is inlined where
    /// small values are written).
    #[inline(never)]
    fn long_varint(out: &mut BytesMut, v: u64) {
        if v >= 1 << 63 {
            prost::encoding::encode_varint(v, out);
            return;
        }
        let mut bytes = [0u8; 9];
        for (i, b) in bytes.iter_mut().take(8).enumerate() {
            *b = ((v >> (7 * i)) & 0x7f) as u8 | 0x80;
        }
        bytes[8] = (v >> 56) as u8;
        out.extend_from_slice(&bytes);
    }

    /// Every field number used here is below 16: its key is one byte.
    pub(super) fn key(out: &mut BytesMut, field: u8, wire_type: u8) {
        out.extend_from_slice(&[(field << 3) | wire_type]);
    }

    /// A varint field, left out when 0 (the key is one byte).
    pub(super) fn varint_field_len(v: u64) -> usize {
        if v == 0 { 0 } else { 1 + varint_len(v) }
    }

    pub(super) fn varint_field(out: &mut BytesMut, field: u8, v: u64) {
        if v != 0 {
            key(out, field, VARINT);
            varint(out, v);
        }
    }

    /// A length-delimited field whose content is `len` bytes, always written.
    pub(super) fn len_field_len(len: usize) -> usize {
        1 + varint_len(len as u64) + len
    }

    /// A bytes or string field, left out when empty.
    fn bytes_field_len(b: &[u8]) -> usize {
        if b.is_empty() { 0 } else { len_field_len(b.len()) }
    }

    fn bytes_field(out: &mut BytesMut, field: u8, b: &[u8]) {
        if !b.is_empty() {
            key(out, field, LEN);
            varint(out, b.len() as u64);
            out.extend_from_slice(b);
        }
    }

    fn pid_len(p: &PidRef<'_>) -> usize {
        bytes_field_len(p.node) + varint_field_len(p.id) + varint_field_len(p.creation.into())
    }

    fn pid_field(out: &mut BytesMut, field: u8, p: &PidRef<'_>) {
        key(out, field, LEN);
        varint(out, pid_len(p) as u64);
        bytes_field(out, 1, p.node);
        varint_field(out, 2, p.id);
        varint_field(out, 3, p.creation.into());
    }

    fn trace_len(t: &WireTrace) -> usize {
        [t.trace_hi, t.trace_lo, t.span]
            .iter()
            .map(|&v| if v == 0 { 0 } else { 9 })
            .sum()
    }

    fn trace_field(out: &mut BytesMut, field: u8, t: &WireTrace) {
        key(out, field, LEN);
        varint(out, trace_len(t) as u64);
        for (field, v) in [(1, t.trace_hi), (2, t.trace_lo), (3, t.span)] {
            if v != 0 {
                key(out, field, FIXED64);
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
    }

    fn target_len(to: &TargetRef<'_>) -> usize {
        match to {
            TargetRef::Pid(p) => len_field_len(pid_len(p)),
            TargetRef::Name(n) => len_field_len(n.len()),
        }
    }

    pub(super) fn target(out: &mut BytesMut, to: &TargetRef<'_>) {
        match to {
            TargetRef::Pid(p) => pid_field(out, 10, p),
            TargetRef::Name(n) => {
                key(out, 11, LEN);
                varint(out, n.len() as u64);
                out.extend_from_slice(n.as_bytes());
            }
        }
    }

    /// The length of the body [`deliver`] writes.
    pub(super) fn deliver_len(d: &DeliverRef<'_>, encoded_to: Option<&[u8]>) -> usize {
        let to = match encoded_to {
            Some(to) => to.len(),
            None => d.to.as_ref().map_or(0, target_len),
        };
        let from = d.from.as_ref().map_or(0, |p| len_field_len(pid_len(p)));
        let path = if d.path.is_empty() {
            0
        } else {
            prost::encoding::uint64::encoded_len_packed(8, d.path)
        };
        let trace = d.trace.as_ref().map_or(0, |t| len_field_len(trace_len(t)));
        to + from
            + bytes_field_len(d.tag)
            + varint_field_len(d.call_id)
            + varint_field_len(d.ack.into())
            + varint_field_len(d.chain)
            + path
            + varint_field_len(d.handled.into())
            + trace
            + bytes_field_len(d.payload)
    }

    /// Writes the fields of `d` in prost's order (by field number), but the payload
    /// (4) last: protobuf fields may come in any order.
    /// `encoded_to`, when given, is written as the target instead of `d.to`.
    pub(super) fn deliver(out: &mut BytesMut, d: &DeliverRef<'_>, encoded_to: Option<&[u8]>) {
        if let Some(p) = &d.from {
            pid_field(out, 2, p);
        }
        bytes_field(out, 3, d.tag);
        varint_field(out, 5, d.call_id);
        varint_field(out, 6, d.ack.into());
        varint_field(out, 7, d.chain);
        if !d.path.is_empty() {
            prost::encoding::uint64::encode_packed(8, d.path, out);
        }
        varint_field(out, 9, d.handled.into());
        match (encoded_to, &d.to) {
            (Some(to), _) => out.extend_from_slice(to),
            (None, Some(to)) => target(out, to),
            (None, None) => {}
        }
        if let Some(t) = &d.trace {
            trace_field(out, 12, t);
        }
        bytes_field(out, 4, d.payload);
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

/// The `Deliver` a frame (without its length prefix) holds, read in place, when
/// [`decode_frame`] would take it on by hand: then it is the very `Deliver` that
/// `decode_frame` returns, borrowed instead of owned (no reference counts, nothing
/// moved). `None` for every other frame, which the caller decodes with
/// [`decode_frame`] (or reads with [`answered_in_place`]).
///
/// (Returned as is, not wrapped in an enum with [`answered_in_place`]'s answer: the
/// bigger value moved once more cost plain remote sends 5–8 % of their throughput.)
#[inline]
pub(crate) fn deliver_in_place(frame: &[u8]) -> Option<DeliverRef<'_>> {
    match fast::head(frame)? {
        (_, fast::Head::Deliver(range)) => fast::deliver(frame, range),
        (_, fast::Head::Reply(_)) => None,
    }
}

/// The call id of a frame (without its length prefix) that is a `CallReply` holding
/// nothing but that id (no payload, no error, no `ack_id`): the acknowledgement of an
/// important send, or an empty reply. It is the `CallReply { call_id,
/// ..Default::default() }` that [`decode_frame`] returns; `None` for every other frame.
pub(crate) fn answered_in_place(frame: &[u8]) -> Option<u64> {
    match fast::head(frame)? {
        (_, fast::Head::Reply(range)) => fast::answered(frame, range),
        (_, fast::Head::Deliver(_)) => None,
    }
}

/// A `Deliver` borrowed from the bytes it was read from, or from a decoded
/// [`Deliver`] ([`Deliver::as_ref`]): what the node needs to route and queue it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DeliverRef<'a> {
    pub(crate) to: Option<TargetRef<'a>>,
    pub(crate) from: Option<PidRef<'a>>,
    pub(crate) tag: &'a [u8],
    pub(crate) payload: &'a [u8],
    pub(crate) call_id: u64,
    pub(crate) ack: bool,
    pub(crate) chain: u64,
    pub(crate) path: &'a [u64],
    pub(crate) handled: bool,
    pub(crate) trace: Option<WireTrace>,
}

/// [`Target`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TargetRef<'a> {
    Pid(PidRef<'a>),
    Name(&'a str),
}

/// [`WirePid`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PidRef<'a> {
    pub(crate) node: &'a [u8],
    pub(crate) id: u64,
    pub(crate) creation: u32,
}

impl WirePid {
    pub(crate) fn as_ref(&self) -> PidRef<'_> {
        PidRef {
            node: &self.node,
            id: self.id,
            creation: self.creation,
        }
    }
}

impl Deliver {
    pub(crate) fn as_ref(&self) -> DeliverRef<'_> {
        DeliverRef {
            to: self.to.as_ref().map(|to| match to {
                Target::Pid(p) => TargetRef::Pid(p.as_ref()),
                Target::Name(n) => TargetRef::Name(n),
            }),
            from: self.from.as_ref().map(WirePid::as_ref),
            tag: &self.tag,
            payload: &self.payload,
            call_id: self.call_id,
            ack: self.ack,
            chain: self.chain,
            path: &self.path,
            handled: self.handled,
            trace: self.trace,
        }
    }
}

/// The hand-written reader behind [`decode_frame`]: every function returns `None` for
/// anything it does not take on, and the caller falls back to prost.
pub(super) mod fast {
    use std::ops::Range;

    use bytes::Bytes;

    use super::{
        Body, CallReply, Deliver, DeliverRef, FIXED64, LEN, PidRef, Target, TargetRef, VARINT, WirePid,
        WireTrace,
    };

    struct Reader<'a> {
        buf: &'a [u8],
        pos: usize,
        end: usize,
    }

    impl Reader<'_> {
        fn done(&self) -> bool {
            self.pos >= self.end
        }

        /// A canonical varint of at most 9 bytes (63 bits). (Most are one byte: keys,
        /// lengths, small ids; the call and delivery ids are nine.)
        #[inline]
        fn varint(&mut self) -> Option<u64> {
            let rest = self.buf.get(self.pos..self.end)?;
            let &first = rest.first()?;
            if first < 0x80 {
                self.pos += 1;
                return Some(u64::from(first));
            }
            let (value, len) = long_varint(rest)?;
            self.pos += len;
            Some(value)
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

    /// The value and length of the varint at the start of `bytes` (see `Reader::varint`).
    #[cfg(test)]
    pub(super) fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
        let mut r = Reader {
            buf: bytes,
            pos: 0,
            end: bytes.len(),
        };
        let value = r.varint()?;
        Some((value, r.pos))
    }

    /// The value and length of the canonical varint of 2 to 9 bytes at the start of
    /// `rest` (whose first byte has its continuation bit set). Eight bytes are looked at
    /// at once where there are eight: where the first byte without a continuation bit
    /// is, then the 7-bit groups up to it. (Not inlined, as [`out::long_varint`].)
    #[inline(never)]
    fn long_varint(rest: &[u8]) -> Option<(u64, usize)> {
        const CONTINUES: u64 = 0x8080_8080_8080_8080;
        let groups = |word: u64| (0..8).fold(0u64, |v, i| v | (((word >> (8 * i)) & 0x7f) << (7 * i)));
        let Some(word) = rest.first_chunk::<8>().map(|w| u64::from_le_bytes(*w)) else {
            // Fewer than eight bytes left: one by one.
            let mut value = 0u64;
            for (i, &byte) in rest.iter().enumerate() {
                value |= u64::from(byte & 0x7f) << (7 * i);
                if byte & 0x80 == 0 {
                    // A trailing zero byte would be a non-canonical encoding.
                    return (byte != 0).then_some((value, i + 1));
                }
            }
            return None;
        };
        let ends = !word & CONTINUES;
        if ends == 0 {
            // Eight bytes that all continue: the ninth is the last (at most 63 bits).
            let &last = rest.get(8)?;
            if last & 0x80 != 0 || last == 0 {
                return None;
            }
            return Some((groups(word) | (u64::from(last) << 56), 9));
        }
        let len = ends.trailing_zeros() as usize / 8 + 1;
        let last = (word >> (8 * (len - 1))) as u8;
        if last == 0 {
            return None;
        }
        let word = if len == 8 {
            word
        } else {
            word & ((1 << (8 * len)) - 1)
        };
        Some((groups(word), len))
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

    /// The body a frame holds, as far as the top level tells.
    pub(super) enum Head {
        Deliver(Range<usize>),
        Reply(Range<usize>),
    }

    /// The version and where the body of a frame is.
    pub(super) fn head(buf: &[u8]) -> Option<(u32, Head)> {
        let mut r = Reader {
            buf,
            pos: 0,
            end: buf.len(),
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
            (2, range) => Head::Deliver(range),
            (_, range) => Head::Reply(range),
        };
        Some((version.unwrap_or(0), body))
    }

    /// The version and the body of a frame.
    pub(in crate::remote::wire) fn frame(bytes: &Bytes) -> Option<(u32, Body)> {
        let (version, head) = head(bytes)?;
        let body = match head {
            Head::Deliver(range) => Body::Deliver(owned(bytes, deliver(bytes, range)?)),
            Head::Reply(range) => {
                let r = Reader {
                    buf: bytes,
                    pos: range.start,
                    end: range.end,
                };
                Body::Reply(reply(bytes, r)?)
            }
        };
        Some((version, body))
    }

    /// `d`, read from `bytes`, with its byte fields sliced out of `bytes`.
    fn owned(bytes: &Bytes, d: DeliverRef<'_>) -> Deliver {
        let pid = |p: PidRef<'_>| WirePid {
            node: bytes.slice_ref(p.node),
            id: p.id,
            creation: p.creation,
        };
        // Every field of `Deliver`: one added there must be read here too (or make
        // this fall back to prost), which this struct literal does not let anyone miss.
        Deliver {
            to: d.to.map(|to| match to {
                TargetRef::Pid(p) => Target::Pid(pid(p)),
                TargetRef::Name(n) => Target::Name(n.to_string()),
            }),
            from: d.from.map(pid),
            tag: bytes.slice_ref(d.tag),
            payload: bytes.slice_ref(d.payload),
            call_id: d.call_id,
            ack: d.ack,
            chain: d.chain,
            path: d.path.to_vec(),
            handled: d.handled,
            trace: d.trace,
        }
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

    /// The call id of the `CallReply` in `range` of `buf`, if that is all it holds.
    pub(super) fn answered(buf: &[u8], range: Range<usize>) -> Option<u64> {
        let mut r = Reader {
            buf,
            pos: range.start,
            end: range.end,
        };
        let mut call_id = None;
        while !r.done() {
            match r.key()? {
                (1, VARINT) => once(&mut call_id, r.varint()?)?,
                _ => return None,
            }
        }
        Some(call_id.unwrap_or(0))
    }

    /// The `Deliver` in `range` of `buf`.
    #[inline]
    pub(super) fn deliver(buf: &[u8], range: Range<usize>) -> Option<DeliverRef<'_>> {
        let mut r = Reader {
            buf,
            pos: range.start,
            end: range.end,
        };
        let (mut to, mut from, mut tag, mut payload, mut call_id, mut ack, mut chain, mut handled) =
            (None, None, None, None, None, None, None, None);
        let mut trace = None;
        while !r.done() {
            match r.key()? {
                (10, LEN) => {
                    let range = r.len()?;
                    once(&mut to, pid(r.within(range))?)?
                }
                (2, LEN) => {
                    let range = r.len()?;
                    once(&mut from, pid(r.within(range))?)?
                }
                (3, LEN) => once(&mut tag, buf.get(r.len()?)?)?,
                (4, LEN) => once(&mut payload, buf.get(r.len()?)?)?,
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
        Some(DeliverRef {
            to: Some(TargetRef::Pid(to?)),
            from,
            tag: tag.unwrap_or_default(),
            payload: payload.unwrap_or_default(),
            call_id: call_id.unwrap_or(0),
            ack: ack.unwrap_or(false),
            chain: chain.unwrap_or(0),
            // A path (field 8) is not taken on here: such frames go to prost.
            path: &[],
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

    fn pid<'a>(mut r: Reader<'a>) -> Option<PidRef<'a>> {
        let buf = r.buf;
        let (mut node, mut id, mut creation) = (None, None, None);
        while !r.done() {
            match r.key()? {
                (1, LEN) => once(&mut node, buf.get(r.len()?)?)?,
                (2, VARINT) => once(&mut id, r.varint()?)?,
                (3, VARINT) => once(&mut creation, r.varint()? as u32)?,
                _ => return None,
            }
        }
        Some(PidRef {
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

#[cfg(test)]
mod tests {
    #[test]
    fn varints_are_prosts() {
        let mut values: Vec<u64> = (0..64)
            .flat_map(|b| [(1u64 << b) - 1, 1 << b, (1 << b) + 1])
            .collect();
        values.extend([
            u64::MAX,
            u64::MAX - 1,
            0x00ff_ffff_ffff_ffff,
            0x0100_0000_0000_0000,
        ]);
        for v in values {
            let mut ours = bytes::BytesMut::new();
            super::out::varint(&mut ours, v);
            let mut theirs = Vec::new();
            prost::encoding::encode_varint(v, &mut theirs);
            assert_eq!(&ours[..], &theirs[..], "{v}");
        }
    }

    /// Reads a varint at the start of `bytes` with the in-place reader.
    fn read(bytes: &[u8]) -> Option<(u64, usize)> {
        super::fast::read_varint(bytes)
    }

    #[test]
    fn the_varint_reader_takes_every_canonical_varint_of_up_to_63_bits_whatever_follows() {
        let values = (0..63).flat_map(|b| [(1u64 << b) - 1, 1 << b, (1 << b) + 1]);
        for v in values.chain([(1 << 63) - 1]) {
            let mut bytes = Vec::new();
            prost::encoding::encode_varint(v, &mut bytes);
            let len = bytes.len();
            // Alone (fewer than eight bytes left for the short ones), and followed by
            // bytes with and without their continuation bit.
            for tail in [&[][..], &[0x80; 12][..], &[0x01; 12][..]] {
                let mut framed = bytes.clone();
                framed.extend_from_slice(tail);
                assert_eq!(read(&framed), Some((v, len)), "{v} followed by {tail:?}");
            }
        }
    }

    #[test]
    fn the_varint_reader_refuses_what_is_not_a_canonical_varint_of_up_to_nine_bytes() {
        // Cut short, at every length up to nine bytes.
        for n in 0..=9 {
            assert_eq!(read(&vec![0x80; n]), None, "{n} bytes that all continue");
        }
        // Ten bytes (64 bits): left to prost.
        let mut ten = Vec::new();
        prost::encoding::encode_varint(u64::MAX, &mut ten);
        assert_eq!(read(&ten), None);
        // A trailing zero byte, at every length from two to nine bytes, with eight or
        // more bytes to look at and with fewer.
        for n in 1..=8 {
            let mut padded = vec![0x81; n];
            padded.push(0);
            assert_eq!(read(&padded), None, "{padded:?}");
            padded.extend_from_slice(&[0; 8]);
            assert_eq!(read(&padded), None, "{padded:?}");
        }
    }
}
