//! The link reader's decoder: u32 big-endian length prefix (at most 64 KiB), protobuf
//! `Frame`, and the conversions the dispatcher applies.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ackor_fuzz::frame_decoder(data);
});
