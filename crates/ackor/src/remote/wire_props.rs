//! Property tests of the wire format and of every decoder of network bytes: frames of
//! every body kind round trip through protobuf and through the link's length-delimited
//! decoder, errors and exit reasons round trip through their wire forms, unknown enum
//! values fall back to a defined value, and arbitrary bytes never panic a decoder.
//!
//! Failing cases are not persisted (no `proptest-regressions` files): proptest prints
//! the minimal failing input, which belongs in a unit test.

use std::sync::OnceLock;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use proptest::sample::Index;
use prost::Message as _;

use super::handshake::{MAX_HANDSHAKE_MESSAGE, read_message};
use super::link::next_frame;
use super::wire::{
    Body, CallReply, Deliver, Down, ErrorKind, ExitSignal, Frame, Goodbye, Heartbeat, Hello, Link, Monitor,
    Proof, ReasonKind, Spawn, Target, Whereis, WhereisReply, WireError, WirePid, WireReason,
    WireSpawnOptions, WireTrace,
};
use super::wire::{
    DeliverRef, EncodedTarget, Outgoing, answered_in_place, decode_frame, deliver_in_place, encode_ack,
};
use super::{decode_frames_for_test, respond_for_test};
use crate::error::Error;
use crate::monitor::ExitReason;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ------------------------------------------------------------------ strategies

fn u64_edge() -> BoxedStrategy<u64> {
    prop_oneof![
        Just(0u64),
        Just(1),
        Just(127),
        Just(128),
        Just(u64::from(u32::MAX)),
        Just((1 << 56) - 1),
        Just(1 << 56),
        Just((1 << 63) - 1),
        Just(1 << 63),
        Just(u64::MAX - 1),
        Just(u64::MAX),
        any::<u64>(),
    ]
    .boxed()
}

fn u32_edge() -> BoxedStrategy<u32> {
    prop_oneof![
        Just(0u32),
        Just(1),
        Just(127),
        Just(128),
        Just(1 << 31),
        Just(u32::MAX),
        any::<u32>(),
    ]
    .boxed()
}

/// Empty, node-name-like, and arbitrary unicode text.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        Just(String::new()),
        "[a-z]{1,8}@[a-z0-9.]{1,12}:[0-9]{1,5}",
        any::<String>(),
        "[\\u{80}-\\u{10ffff}]{0,16}",
    ]
    .boxed()
}

fn payload() -> BoxedStrategy<Bytes> {
    prop::collection::vec(any::<u8>(), 0..256)
        .prop_map(Bytes::from)
        .boxed()
}

/// Known kinds and any `i32` at all (prost keeps enums as `i32`).
fn kind(known: std::ops::RangeInclusive<i32>) -> BoxedStrategy<i32> {
    prop_oneof![known, Just(-1), Just(i32::MIN), Just(i32::MAX), any::<i32>(),].boxed()
}

fn wire_pid() -> BoxedStrategy<WirePid> {
    (text(), u64_edge(), u32_edge())
        .prop_map(|(node, id, creation)| WirePid {
            node: node.into(),
            id,
            creation,
        })
        .boxed()
}

fn target() -> BoxedStrategy<Target> {
    prop_oneof![wire_pid().prop_map(Target::Pid), text().prop_map(Target::Name)].boxed()
}

fn wire_error() -> BoxedStrategy<WireError> {
    (kind(0..=10), text())
        .prop_map(|(kind, message)| WireError { kind, message })
        .boxed()
}

fn wire_reason() -> BoxedStrategy<WireReason> {
    (kind(0..=7), text())
        .prop_map(|(kind, message)| WireReason { kind, message })
        .boxed()
}

fn body() -> BoxedStrategy<Body> {
    use prop::option::of;
    prop_oneof![
        (
            of(target()),
            of(wire_pid()),
            text(),
            payload(),
            u64_edge(),
            any::<bool>(),
            u64_edge(),
            prop::collection::vec(u64_edge(), 0..3),
            any::<bool>(),
            of((u64_edge(), u64_edge(), u64_edge()))
        )
            .prop_map(
                |(to, from, tag, payload, call_id, ack, chain, path, handled, trace)| Body::Deliver(
                    Deliver {
                        to,
                        from,
                        tag: tag.into(),
                        payload,
                        call_id,
                        ack,
                        chain,
                        path,
                        handled,
                        trace: trace.map(|(trace_hi, trace_lo, span)| WireTrace {
                            trace_hi,
                            trace_lo,
                            span,
                        }),
                    }
                )
            ),
        (u64_edge(), payload(), of(wire_error()), u64_edge()).prop_map(
            |(call_id, payload, error, ack_id)| {
                Body::Reply(CallReply {
                    call_id,
                    payload,
                    error,
                    ack_id,
                })
            }
        ),
        (u64_edge(), text()).prop_map(|(call_id, name)| Body::Whereis(Whereis { call_id, name })),
        (
            u64_edge(),
            text(),
            payload(),
            of((text(), u64_edge(), kind(0..=2), u64_edge(), u64_edge()))
        )
            .prop_map(|(call_id, kind, args, options)| Body::Spawn(Spawn {
                call_id,
                kind,
                args,
                options: options.map(
                    |(name, mailbox_capacity, reentrancy_mode, max_in_flight, idle_timeout_ms)| {
                        WireSpawnOptions {
                            name,
                            mailbox_capacity,
                            reentrancy_mode,
                            max_in_flight,
                            idle_timeout_ms,
                        }
                    },
                ),
            })),
        (u64_edge(), of(wire_pid()))
            .prop_map(|(call_id, pid)| Body::WhereisReply(WhereisReply { call_id, pid })),
        (u64_edge(), of(wire_pid()), of(target()), any::<bool>()).prop_map(
            |(ref_id, watcher, target, remove)| Body::Monitor(Monitor {
                ref_id,
                watcher,
                target,
                remove
            })
        ),
        (u64_edge(), of(wire_pid()), of(wire_reason())).prop_map(|(ref_id, pid, reason)| Body::Down(Down {
            ref_id,
            pid,
            reason
        })),
        (of(wire_pid()), of(wire_pid()), any::<bool>()).prop_map(|(from, to, remove)| Body::Link(Link {
            from,
            to,
            remove
        })),
        (of(wire_pid()), of(wire_pid()), of(wire_reason()))
            .prop_map(|(from, to, reason)| Body::Exit(ExitSignal { from, to, reason })),
        (u64_edge(), u64_edge()).prop_map(|(ping, pong)| Body::Heartbeat(Heartbeat { ping, pong })),
        u32_edge().prop_map(|creation| Body::Goodbye(Goodbye { creation })),
    ]
    .boxed()
}

fn frame() -> BoxedStrategy<Frame> {
    (u32_edge(), prop::option::of(body()))
        .prop_map(|(version, body)| Frame { version, body })
        .boxed()
}

fn frames() -> BoxedStrategy<Vec<Frame>> {
    prop::collection::vec(frame(), 0..5).boxed()
}

/// The errors that travel as themselves.
fn traveling_error() -> BoxedStrategy<Error> {
    prop_oneof![
        Just(Error::ProcessUnknown),
        Just(Error::MailboxFull),
        Just(Error::ProcessTerminated),
        text().prop_map(Error::UnknownMessage),
        text().prop_map(Error::Codec),
        text().prop_map(Error::Rejected),
        Just(Error::ReplyDropped),
        Just(Error::Timeout),
        Just(Error::NoConnection),
        Just(Error::ResponseIgnored),
        Just(Error::CallCycle),
        text().prop_map(Error::UnknownActorKind),
        text().prop_map(Error::NameTaken),
        Just(Error::ConnectionLost),
    ]
    .boxed()
}

/// The errors that travel only as text (`Unspecified`).
fn local_error() -> BoxedStrategy<Error> {
    prop_oneof![
        Just(Error::ReentrancyDisabled),
        Just(Error::ReentrancyInFlightLimit),
        Just(Error::RequestTimeout),
        Just(Error::RequestCanceled),
        Just(Error::NodeStopped),
        text().prop_map(Error::AlreadyRegistered),
        text().prop_map(Error::InitFailed),
        text().prop_map(Error::Config),
        text().prop_map(Error::Handshake),
        text().prop_map(Error::Protocol),
    ]
    .boxed()
}

fn exit_reason() -> BoxedStrategy<ExitReason> {
    prop_oneof![
        Just(ExitReason::Normal),
        Just(ExitReason::Shutdown),
        Just(ExitReason::Killed),
        text().prop_map(ExitReason::Panic),
        text().prop_map(ExitReason::Error),
        Just(ExitReason::NoProcess),
        Just(ExitReason::NoConnection),
    ]
    .boxed()
}

fn hello() -> BoxedStrategy<Hello> {
    (
        prop_oneof![Just(super::wire::PROTOCOL_VERSION), u32_edge()],
        text(),
        u32_edge(),
        u64_edge(),
        prop::collection::vec(any::<u8>(), 0..64),
    )
        .prop_map(|(version, node, creation, features, nonce)| Hello {
            version,
            node,
            creation,
            features,
            nonce,
            link_set: creation.into(),
        })
        .boxed()
}

fn junk() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..2048),
    ]
    .boxed()
}

// ------------------------------------------------------------------ helpers

fn length_prefixed(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn encode_all(frames: &[Frame]) -> BytesMut {
    let mut buf = BytesMut::new();
    for f in frames {
        f.encode_into(&mut buf);
    }
    buf
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().build().unwrap())
}

/// What the link's reader reads in place (a `Deliver`, a bare answer) is what
/// [`decode_frame`] decodes.
fn in_place_agrees(bytes: &[u8]) -> bool {
    let decoded = decode_frame(Bytes::copy_from_slice(bytes));
    let deliver = deliver_in_place(bytes).is_none_or(|d| {
        matches!(
            &decoded,
            Ok(Frame { body: Some(Body::Deliver(owned)), .. }) if owned.as_ref() == d
        )
    });
    let answer = answered_in_place(bytes).is_none_or(|id| {
        matches!(
            &decoded,
            Ok(Frame { body: Some(Body::Reply(reply)), .. })
                if *reply == CallReply { call_id: id, ..Default::default() }
        )
    });
    deliver && answer
}

/// Decodes `bytes` as every message type that arrives from the network, and the
/// conversions of what decodes; none of it may panic.
fn decode_everything(bytes: &[u8]) {
    // The link's decoder (with its hand-written fast path) agrees with prost.
    assert_eq!(
        decode_frame(Bytes::copy_from_slice(bytes)).ok(),
        Frame::decode(bytes).ok()
    );
    assert!(in_place_agrees(bytes));
    if let Ok(f) = Frame::decode(bytes) {
        // What decodes re-encodes to something that decodes to the same frame.
        assert_eq!(Frame::decode(f.encode_to_vec().as_slice()).as_ref(), Ok(&f));
    }
    if let Ok(e) = WireError::decode(bytes) {
        let _ = Error::from(&e);
    }
    if let Ok(r) = WireReason::decode(bytes) {
        let _ = ExitReason::from(Some(&r));
    }
    if let Ok(p) = WirePid::decode(bytes) {
        let _ = p.to_pid();
    }
    let _ = Hello::decode(bytes);
    let _ = Proof::decode(bytes);
    let _ = Deliver::decode(bytes);
    let _ = CallReply::decode(bytes);
    let _ = Monitor::decode(bytes);
    let _ = Down::decode(bytes);
    let _ = ExitSignal::decode(bytes);
}

proptest! {
    #![proptest_config(config())]

    // -------------------------------------------------------------- round trips

    #[test]
    fn frame_round_trips(f in frame()) {
        let bytes = f.encode_to_vec();
        prop_assert_eq!(bytes.len(), f.encoded_len());
        prop_assert_eq!(Frame::decode(bytes.as_slice()), Ok(f));
    }

    #[test]
    fn frames_round_trip_through_the_length_delimited_decoder(fs in frames()) {
        let buf = encode_all(&fs);
        prop_assert_eq!(buf.len(), fs.iter().map(|f| 4 + f.encoded_len()).sum::<usize>());
        prop_assert_eq!(decode_frames_for_test(&buf, 1 << 20), fs.len());
        // The bytes are u32 big-endian lengths, each followed by that frame.
        let mut rest = &buf[..];
        for f in &fs {
            let (len, tail) = rest.split_at(4);
            let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let decoded = Frame::decode(&tail[..len]);
            prop_assert_eq!(decoded.as_ref(), Ok(f));
            rest = &tail[len..];
        }
        prop_assert!(rest.is_empty());
    }

    #[test]
    fn decoding_stops_at_the_first_frame_over_the_limit(fs in frames(), max in 0usize..600) {
        let buf = encode_all(&fs);
        let expected = fs.iter().take_while(|f| f.encoded_len() <= max).count();
        prop_assert_eq!(decode_frames_for_test(&buf, max), expected);
    }

    #[test]
    fn a_cut_stream_decodes_the_whole_frames_before_the_cut(fs in frames(), cut in any::<Index>()) {
        let buf = encode_all(&fs);
        let cut = cut.index(buf.len() + 1);
        let mut end = 0;
        let whole = fs
            .iter()
            .take_while(|f| {
                end += 4 + f.encoded_len();
                end <= cut
            })
            .count();
        prop_assert_eq!(decode_frames_for_test(&buf[..cut], 1 << 20), whole);
    }

    #[test]
    fn handshake_messages_round_trip(h in hello(), digest in junk(), refused in text()) {
        prop_assert_eq!(Hello::decode(h.encode_to_vec().as_slice()), Ok(h));
        let p = Proof { digest, refused };
        prop_assert_eq!(Proof::decode(p.encode_to_vec().as_slice()), Ok(p));
    }

    #[test]
    fn a_deliver_encoded_by_hand_is_prosts_encoding_with_the_payload_last(
        b in body(),
        max in prop_oneof![Just(usize::MAX), 0usize..512],
    ) {
        let Body::Deliver(whole) = b else { return Ok(()) };
        let frame = Frame::new(Body::Deliver(whole.clone()));
        let mut out = BytesMut::from(&b"before"[..]);
        let encoded = Outgoing::Deliver { to: None, deliver: whole.as_ref() }.encode(&mut out, max);
        // The same bytes with the target written beforehand.
        let mut again = BytesMut::from(&b"before"[..]);
        let to = whole.as_ref().to.map(EncodedTarget::new);
        let apart = Outgoing::Deliver { to: to.as_ref(), deliver: DeliverRef { to: None, ..whole.as_ref() } };
        let encoded_again = apart.encode(&mut again, max);
        prop_assert_eq!(&out, &again);
        prop_assert_eq!(encoded.is_ok(), encoded_again.is_ok());
        if frame.encoded_len() > max {
            prop_assert!(matches!(encoded, Err(Error::Codec(_))));
            prop_assert_eq!(&out[..], b"before");
            return Ok(());
        }
        prop_assert!(encoded.is_ok());
        let _ = out.split_to(6);
        // Byte for byte what prost writes for the frame without its payload, with the
        // payload field appended to the body.
        let mut body = Deliver { payload: Bytes::new(), ..whole.clone() }.encode_to_vec();
        if !whole.payload.is_empty() {
            prost::encoding::bytes::encode(4, &whole.payload, &mut body);
        }
        let mut expected = Vec::new();
        prost::encoding::uint32::encode(1, &frame.version, &mut expected);
        prost::encoding::encode_key(2, prost::encoding::WireType::LengthDelimited, &mut expected);
        prost::encoding::encode_varint(body.len() as u64, &mut expected);
        expected.extend_from_slice(&body);
        prop_assert_eq!(&out[4..], &expected[..]);
        // The same length as prost's own encoding, and the same frame once decoded.
        prop_assert_eq!(out.len(), 4 + frame.encoded_len());
        let got = next_frame(&mut out, usize::MAX).unwrap().unwrap();
        prop_assert!(out.is_empty());
        prop_assert!(in_place_agrees(&got));
        prop_assert_eq!(Frame::decode(got).unwrap(), frame);
    }

    #[test]
    fn an_acknowledgement_written_by_hand_is_prosts_encoding_and_is_read_in_place(id in u64_edge()) {
        let mut by_hand = BytesMut::new();
        encode_ack(&mut by_hand, id);
        let ack = Frame::new(Body::Reply(CallReply { call_id: id, ..Default::default() }));
        let mut by_prost = BytesMut::new();
        Outgoing::Frame(&ack).encode(&mut by_prost, usize::MAX).unwrap();
        prop_assert_eq!(&by_hand, &by_prost);
        // (Ids of 2^63 and more, which no counter reaches, need a ten-byte varint,
        // which the in-place reader leaves to prost.)
        prop_assert_eq!(answered_in_place(&by_hand[4..]), (id < 1 << 63).then_some(id));
        prop_assert!(in_place_agrees(&by_hand[4..]));
    }

    #[test]
    fn the_links_decoder_agrees_with_prost(f in frame(), cut in any::<Index>(), flip in any::<(Index, u8)>()) {
        let bytes = Bytes::from(f.encode_to_vec());
        prop_assert_eq!(decode_frame(bytes.clone()), Ok(f));
        prop_assert!(in_place_agrees(&bytes));
        // Cut short or with one byte changed: still the same outcome (Ok or an error).
        if !bytes.is_empty() {
            let short = bytes.slice(..cut.index(bytes.len()));
            prop_assert!(in_place_agrees(&short));
            prop_assert_eq!(decode_frame(short.clone()).ok(), Frame::decode(short).ok());
            let mut changed = bytes.to_vec();
            let at = flip.0.index(changed.len());
            changed[at] ^= flip.1.max(1);
            let changed = Bytes::from(changed);
            prop_assert!(in_place_agrees(&changed));
            prop_assert_eq!(decode_frame(changed.clone()).ok(), Frame::decode(changed).ok());
        }
    }

    #[test]
    fn wire_pid_converts_both_ways(p in wire_pid()) {
        prop_assert_eq!(WirePid::from(&p.to_pid()), p);
    }

    // -------------------------------------------------------------- errors and reasons

    #[test]
    fn traveling_errors_round_trip(e in traveling_error()) {
        let wire = WireError::from(&e);
        prop_assert_ne!(wire.kind, ErrorKind::Unspecified as i32);
        let decoded = WireError::decode(wire.encode_to_vec().as_slice()).unwrap();
        prop_assert_eq!(Error::from(&decoded), e);
    }

    #[test]
    fn local_errors_arrive_as_protocol_errors_with_their_text(e in local_error()) {
        let wire = WireError::from(&e);
        prop_assert_eq!(wire.kind, ErrorKind::Unspecified as i32);
        prop_assert_eq!(Error::from(&wire), Error::Protocol(format!("remote error: {e}")));
    }

    #[test]
    fn exit_reasons_round_trip(r in exit_reason()) {
        let wire = WireReason::from(&r);
        prop_assert_ne!(wire.kind, ReasonKind::Unspecified as i32);
        let decoded = WireReason::decode(wire.encode_to_vec().as_slice()).unwrap();
        prop_assert_eq!(ExitReason::from(Some(&decoded)), r);
    }

    #[test]
    fn any_error_kind_decodes_to_a_defined_error(kind in kind(0..=15), message in text()) {
        let bytes = WireError { kind, message: message.clone() }.encode_to_vec();
        let wire = WireError::decode(bytes.as_slice()).unwrap();
        prop_assert_eq!(wire.kind, kind);
        let error = Error::from(&wire);
        match ErrorKind::try_from(kind) {
            Ok(ErrorKind::Unspecified) | Err(_) => {
                prop_assert_eq!(error, Error::Protocol(format!("remote error: {message}")));
            }
            // A known kind maps to the error that travels as that kind.
            Ok(known) => prop_assert_eq!(WireError::from(&error).kind, known as i32),
        }
    }

    #[test]
    fn any_reason_kind_decodes_to_a_defined_reason(kind in kind(0..=7), message in text()) {
        let bytes = WireReason { kind, message: message.clone() }.encode_to_vec();
        let wire = WireReason::decode(bytes.as_slice()).unwrap();
        prop_assert_eq!(wire.kind, kind);
        let reason = ExitReason::from(Some(&wire));
        match ReasonKind::try_from(kind) {
            Ok(ReasonKind::Unspecified) | Err(_) => {
                prop_assert_eq!(reason, ExitReason::Error(format!("unknown reason: {message}")));
            }
            Ok(known) => prop_assert_eq!(WireReason::from(&reason).kind, known as i32),
        }
    }

    // -------------------------------------------------------------- arbitrary bytes

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in junk(), max in 0usize..4096) {
        decode_everything(&bytes);
        let frames = decode_frames_for_test(&bytes, max);
        prop_assert!(frames <= bytes.len() / 4);
        prop_assert!(decode_frames_for_test(&bytes, 64 * 1024) <= bytes.len() / 4);
        // As a whole envelope: the protobuf decoder sees every input.
        prop_assert!(decode_frames_for_test(&length_prefixed(&bytes), bytes.len()) <= 1);
    }

    #[test]
    fn mutated_frames_never_panic_a_decoder(
        fs in prop::collection::vec(frame(), 1..4),
        at in any::<Index>(),
        with in any::<u8>(),
        cut in any::<Index>(),
    ) {
        let mut buf = encode_all(&fs).to_vec();
        let i = at.index(buf.len());
        buf[i] ^= with;
        let cut = cut.index(buf.len() + 1);
        prop_assert!(decode_frames_for_test(&buf[..cut], 64 * 1024) <= cut / 4);
        // Without the stream's first length prefix: one frame body, garbled.
        decode_everything(&buf[4..cut.max(4)]);
    }

    #[test]
    fn arbitrary_bytes_never_get_through_the_handshake(bytes in junk()) {
        // Raw, and with a right length prefix so the protobuf decoders see every input.
        for input in [bytes.clone(), length_prefixed(&bytes)] {
            prop_assert!(runtime().block_on(respond_for_test(&input)).is_err());
            let mut rd: &[u8] = &input;
            let _ = runtime().block_on(read_message::<_, Hello>(&mut rd));
            let mut rd: &[u8] = &input;
            let _ = runtime().block_on(read_message::<_, Proof>(&mut rd));
        }
    }

    #[test]
    fn the_responder_checks_the_hello(h in hello(), rest in junk()) {
        let mut bytes = length_prefixed(&h.encode_to_vec());
        bytes.extend_from_slice(&rest);
        let outcome = runtime().block_on(respond_for_test(&bytes));
        let Err(Error::Handshake(why)) = outcome else {
            return Err(TestCaseError::fail(format!("not refused: {outcome:?}")));
        };
        let bad_hello = ["not an ackor peer", "undecodable", "protocol version", "no node name"]
            .iter()
            .any(|m| why.contains(m));
        let acceptable = h.version == super::wire::PROTOCOL_VERSION && !h.node.is_empty() && h.encoded_len() <= MAX_HANDSHAKE_MESSAGE;
        if acceptable {
            // Past the hello, the junk after it fails the proof step, for its own reason.
            let hello_refused = ["protocol version", "no node name"].iter().any(|m| why.contains(m));
            prop_assert!(!hello_refused, "{}", why);
        } else {
            prop_assert!(bad_hello, "{}", why);
        }
    }
}

#[test]
fn a_missing_reason_is_an_error_reason() {
    assert_eq!(
        ExitReason::from(None),
        ExitReason::Error("no reason given".into())
    );
}
