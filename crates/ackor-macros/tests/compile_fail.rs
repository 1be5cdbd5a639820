//! The macros' compile errors: each case in `tests/ui/` must fail with the message in
//! its `.stderr` (regenerate with `TRYBUILD=overwrite cargo test -p ackor-macros --test
//! compile_fail`, then read the diff), and `ui/pass.rs` must build.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass.rs");
    t.compile_fail("tests/ui/remote_attribute.rs");
    t.compile_fail("tests/ui/remote_not_serializable.rs");
    t.compile_fail("tests/ui/handler_without_message.rs");
    t.compile_fail("tests/ui/codec_on_local_message.rs");
    t.compile_fail("tests/ui/plain_fn_handler_awaits.rs");
}
