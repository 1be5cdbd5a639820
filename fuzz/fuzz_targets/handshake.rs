//! The responder's side of the handshake, fed the bytes of a would-be initiator.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ackor_fuzz::handshake(data);
});
