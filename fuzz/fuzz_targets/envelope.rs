//! The protobuf envelope alone: every input is one whole frame body (prefixed with its
//! own length), so each input reaches `Frame::decode` and the conversions.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ackor_fuzz::envelope(data);
});
