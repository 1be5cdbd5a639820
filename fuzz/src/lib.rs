//! The bodies of ackor's fuzz targets, shared by the libFuzzer binaries in
//! `fuzz_targets/` and the stable smoke run in `tests/smoke.rs`; plus seed inputs (valid
//! frames of every body kind and handshake messages, encoded by a tiny protobuf writer
//! that does not depend on ackor's private types) and a seeded mutator for the smoke run.

use std::sync::OnceLock;

/// The frame size limit the `frame_decoder` target gives the link decoder (a link's
/// default is larger; a small one also exercises the "frame too large" path).
pub const MAX_FRAME: usize = 64 * 1024;

/// Target `frame_decoder`: the bytes as a link reader receives them. Returns how many
/// frames decoded.
pub fn frame_decoder(data: &[u8]) -> usize {
    let frames = ackor::testing::decode_frames(data, MAX_FRAME);
    // Every frame takes at least its 4-byte length prefix.
    assert!(
        frames <= data.len() / 4,
        "{frames} frames out of {} bytes",
        data.len()
    );
    frames
}

/// Target `envelope`: the bytes as one whole frame body, so every input reaches the
/// protobuf decoder and the conversions (the length prefix is always right). Returns
/// how many frames decoded (0 or 1).
pub fn envelope(data: &[u8]) -> usize {
    let Ok(len) = u32::try_from(data.len()) else {
        return 0;
    };
    let mut framed = Vec::with_capacity(4 + data.len());
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(data);
    let frames = ackor::testing::decode_frames(&framed, data.len());
    assert!(frames <= 1, "{frames} frames out of one");
    frames
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        #[allow(clippy::expect_used)]
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

/// Target `handshake`: the bytes as what a dialing peer sends before it closes its side;
/// what the responder writes back is read and dropped. The responder must refuse with an
/// error: it can never accept, since the peer's Proof would have to be the HMAC over the
/// responder's own fresh nonce, which fixed bytes cannot know. It must not panic, and it
/// must end (inputs of any length: the responder reads at most two messages of at most
/// 4 KiB, then stops). Returns why it refused.
pub fn handshake(data: &[u8]) -> ackor::Error {
    match runtime().block_on(ackor::testing::respond_to_handshake(data)) {
        Ok(()) => panic!("the responder accepted {} bytes of input", data.len()),
        Err(e) => e,
    }
}

// ------------------------------------------------------------------ protobuf writer

/// A protobuf message under construction (just enough of the encoding for seeds).
#[derive(Default, Clone)]
pub struct Pb(Vec<u8>);

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Pb {
    /// An empty message.
    pub fn new() -> Self {
        Pb::default()
    }

    /// A varint field (uint32, uint64, bool; an int32 enum as `v as i64 as u64`).
    pub fn varint(mut self, field: u32, v: u64) -> Self {
        put_varint(&mut self.0, u64::from(field) << 3);
        put_varint(&mut self.0, v);
        self
    }

    /// An int32 enum field (negative values take ten bytes, as in protobuf).
    pub fn enumeration(self, field: u32, v: i32) -> Self {
        self.varint(field, i64::from(v) as u64)
    }

    /// A length-delimited field: bytes or string.
    pub fn bytes(mut self, field: u32, v: &[u8]) -> Self {
        put_varint(&mut self.0, (u64::from(field) << 3) | 2);
        put_varint(&mut self.0, v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }

    /// An embedded message field.
    pub fn msg(self, field: u32, m: Pb) -> Self {
        self.bytes(field, &m.0)
    }

    /// The encoded message.
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// `bytes` with a u32 big-endian length prefix, as frames and handshake messages go.
pub fn length_prefixed(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

// ------------------------------------------------------------------ seeds

fn pid(node: &str, id: u64, creation: u32) -> Pb {
    Pb::new()
        .bytes(1, node.as_bytes())
        .varint(2, id)
        .varint(3, u64::from(creation))
}

fn wire_error(kind: i32, message: &str) -> Pb {
    Pb::new().enumeration(1, kind).bytes(2, message.as_bytes())
}

fn wire_reason(kind: i32, message: &str) -> Pb {
    Pb::new().enumeration(1, kind).bytes(2, message.as_bytes())
}

fn frame(body_field: u32, body: Pb) -> Vec<u8> {
    Pb::new()
        .varint(1, u64::from(PROTOCOL))
        .msg(body_field, body)
        .finish()
}

/// Valid frame bodies (no length prefix), at least one of every body kind, with edge
/// values: empty and unicode strings, `u64::MAX` ids, unknown enum values, an unknown
/// body field.
pub fn frame_seeds() -> Vec<Vec<u8>> {
    let a = || pid("a@127.0.0.1:4000", 7, 1);
    let b = || pid("b@[::1]:4001", u64::MAX, u32::MAX);
    let payload: Vec<u8> = (0..=255u8).collect();
    vec![
        // Deliver, to a pid, a call.
        frame(
            2,
            Pb::new()
                .msg(10, b())
                .msg(2, a())
                .bytes(3, b"app::Ping")
                .bytes(4, &payload)
                .varint(5, 42),
        ),
        // Deliver, to a name, a cast, unicode tag.
        frame(
            2,
            Pb::new()
                .bytes(11, "κόσμε/名前".as_bytes())
                .bytes(3, "tag🦀".as_bytes())
                .bytes(4, b""),
        ),
        // An important send (`ack`, field 6) and an important response (`ack_id`, field 4).
        frame(
            2,
            Pb::new()
                .msg(10, b())
                .bytes(3, b"app::Debit")
                .bytes(4, &payload[..16])
                .varint(5, 43)
                .varint(6, 1),
        ),
        frame(3, Pb::new().varint(1, 43).bytes(2, b"\xc3").varint(4, u64::MAX)),
        // Reply, ok and each error kind (plus unknown ones).
        frame(3, Pb::new().varint(1, 42).bytes(2, b"\x92\x01\x02")),
        frame(3, Pb::new().varint(1, u64::MAX).msg(3, wire_error(1, ""))),
        frame(3, Pb::new().varint(1, 1).msg(3, wire_error(4, "app::Pong"))),
        frame(3, Pb::new().varint(1, 2).msg(3, wire_error(5, "bad msgpack"))),
        frame(
            3,
            Pb::new().varint(1, 3).msg(3, wire_error(6, "insufficient funds")),
        ),
        frame(3, Pb::new().varint(1, 4).msg(3, wire_error(8, ""))),
        frame(3, Pb::new().varint(1, 4).msg(3, wire_error(9, ""))),
        frame(3, Pb::new().varint(1, 4).msg(3, wire_error(10, ""))),
        frame(
            3,
            Pb::new().varint(1, 5).msg(3, wire_error(999, "from the future")),
        ),
        frame(3, Pb::new().varint(1, 6).msg(3, wire_error(-1, "negative"))),
        frame(3, Pb::new().varint(1, 7).msg(3, wire_error(i32::MIN, ""))),
        // Whereis / WhereisReply.
        frame(4, Pb::new().varint(1, 9).bytes(2, b"registry")),
        frame(5, Pb::new().varint(1, 9).msg(2, a())),
        frame(5, Pb::new().varint(1, 10)),
        // Monitor, add by name and remove by pid.
        frame(
            6,
            Pb::new()
                .varint(1, 3)
                .msg(2, a())
                .bytes(11, b"worker")
                .varint(3, 0),
        ),
        frame(6, Pb::new().varint(1, 3).msg(2, a()).msg(10, b()).varint(3, 1)),
        // Down, each reason kind (plus unknown, and none).
        frame(7, Pb::new().varint(1, 3).msg(2, b()).msg(3, wire_reason(1, ""))),
        frame(
            7,
            Pb::new()
                .varint(1, 4)
                .msg(2, b())
                .msg(3, wire_reason(4, "panicked at 'x'")),
        ),
        frame(
            7,
            Pb::new().varint(1, 5).msg(2, b()).msg(3, wire_reason(5, "error")),
        ),
        frame(7, Pb::new().varint(1, 6).msg(2, b()).msg(3, wire_reason(7, ""))),
        frame(
            7,
            Pb::new().varint(1, 7).msg(2, b()).msg(3, wire_reason(12345, "?")),
        ),
        frame(7, Pb::new().varint(1, 8).msg(2, b())),
        // Link / unlink.
        frame(8, Pb::new().msg(1, a()).msg(2, b()).varint(3, 0)),
        frame(8, Pb::new().msg(1, a()).msg(2, b()).varint(3, 1)),
        // Exit, from a process and a bare kill request.
        frame(9, Pb::new().msg(1, a()).msg(2, b()).msg(3, wire_reason(3, ""))),
        frame(9, Pb::new().msg(2, b()).msg(3, wire_reason(2, ""))),
        // Heartbeat.
        frame(10, Pb::new()),
        // A newer peer: a newer version and an unknown body field 99.
        Pb::new()
            .varint(1, u64::from(PROTOCOL + 1))
            .bytes(99, b"")
            .finish(),
        // No body at all.
        Pb::new().varint(1, u64::from(PROTOCOL)).finish(),
    ]
}

/// The protocol version ackor speaks (`PROTOCOL_VERSION` in its wire module).
pub const PROTOCOL: u32 = 2;

/// A valid `Hello` from an initiator.
pub fn hello(version: u32, node: &str, nonce: &[u8]) -> Vec<u8> {
    Pb::new()
        .varint(1, u64::from(version))
        .bytes(2, node.as_bytes())
        .varint(3, 1)
        .varint(4, 0)
        .bytes(5, nonce)
        .finish()
}

/// Byte streams a dialing peer might send: first a valid Hello followed by a well-formed
/// Proof (it reaches the responder's last check, and fails it: no fixed digest matches a
/// fresh nonce), then a refusal instead of a Proof, a Hello alone, wrong versions, no
/// name, garbage, lengths past the limit.
pub fn handshake_seeds() -> Vec<Vec<u8>> {
    let nonce = [0x5a; 32];
    let proof = Pb::new().bytes(1, &[0xab; 32]).finish();
    let refused = Pb::new().bytes(2, b"wrong cookie").finish();
    let mut valid = length_prefixed(&hello(PROTOCOL, "a@127.0.0.1:4000", &nonce));
    valid.extend_from_slice(&length_prefixed(&proof));
    let mut then_refused = length_prefixed(&hello(PROTOCOL, "a@h:1", &[]));
    then_refused.extend_from_slice(&length_prefixed(&refused));
    vec![
        valid,
        then_refused,
        length_prefixed(&hello(PROTOCOL, "a@h:1", &nonce)),
        length_prefixed(&hello(PROTOCOL - 1, "a@h:1", &nonce)),
        length_prefixed(&hello(PROTOCOL + 1, "a@h:1", &nonce)),
        length_prefixed(&hello(0, "", &[])),
        length_prefixed(&hello(PROTOCOL, "", &nonce)),
        length_prefixed(&hello(PROTOCOL, "ノード@h:1", &[0; 4096 - 32])),
        4096u32.to_be_bytes().to_vec(),
        4097u32.to_be_bytes().to_vec(),
        u32::MAX.to_be_bytes().to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        Vec::new(),
    ]
}

// ------------------------------------------------------------------ seeded mutator

/// A small, fixed-seed PRNG (SplitMix64): the smoke run is the same on every machine.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

const INTERESTING_U32: [u32; 10] = [0, 1, 2, 0x7f, 0x80, 4096, 4097, 65_536, 0x7fff_ffff, u32::MAX];
const INTERESTING_BYTES: [u8; 8] = [0x00, 0x01, 0x02, 0x0a, 0x12, 0x7f, 0x80, 0xff];

/// Applies one to eight random edits to `data`: bit flips, byte overwrites with
/// interesting values, inserts, deletes, duplications, splices from `pool`, length
/// fields overwritten with edge values, over-long varints, truncation.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, pool: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(8) {
        let len = data.len();
        match rng.below(10) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
            }
            2 if len > 0 => {
                let i = rng.below(len);
                data[i] = rng.next_u64() as u8;
            }
            3 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(16);
                let ins = rng.bytes(n);
                data.splice(i..i, ins);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(32));
                data.drain(i..i + n);
            }
            5 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                let copy = data[i..i + n].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, copy);
            }
            6 if !pool.is_empty() => {
                let other = &pool[rng.below(pool.len())];
                if !other.is_empty() {
                    let from = rng.below(other.len());
                    let n = 1 + rng.below(other.len() - from);
                    let at = rng.below(len + 1);
                    data.splice(at..at, other[from..from + n].iter().copied());
                }
            }
            7 if len >= 4 => {
                let i = rng.below(len - 3);
                let v = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
                let v = match rng.below(3) {
                    0 => v,
                    1 => (len as u32).wrapping_add(v),
                    _ => (len as u32).wrapping_sub(v),
                };
                data[i..i + 4].copy_from_slice(&v.to_be_bytes());
            }
            8 => {
                // An over-long or maximal varint (tags, lengths and values are varints).
                let i = rng.below(len + 1);
                let n = 1 + rng.below(11);
                let mut v = vec![0xff; n];
                if rng.below(2) == 0 {
                    v[n - 1] = rng.next_u64() as u8 & 0x7f;
                }
                data.splice(i..i, v);
            }
            _ if len > 0 => data.truncate(rng.below(len)),
            _ => {
                let n = 1 + rng.below(8);
                data.extend(rng.bytes(n));
            }
        }
    }
}
