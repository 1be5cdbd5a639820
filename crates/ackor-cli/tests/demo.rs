//! `ackor demo` runs every chapter and exits 0: the README's first command works.

use std::process::Command;

#[test]
fn demo_runs_every_chapter_and_exits_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_ackor"))
        .arg("demo")
        .output()
        .expect("ackor demo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("chapters ran as described"), "{stdout}");
}

#[test]
fn demo_rejects_an_unknown_chapter() {
    let out = Command::new(env!("CARGO_BIN_EXE_ackor"))
        .args(["demo", "--chapter", "no-such-chapter"])
        .output()
        .expect("ackor demo runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no chapter"));
}
