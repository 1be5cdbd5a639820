//! End-to-end delivery with OS processes killed by SIGKILL: the `orders` example's
//! shop (a stream consumer whose order log is its ledger) and checkout (a producer
//! with a `FileOutbox`), run as separate processes on loopback.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The `orders` example's binary, which `cargo test` builds beside the tests (built
/// here if it is missing, e.g. when only this test target was built).
fn orders_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/end_to_end-<hash> -> target/<profile>/examples/orders
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("orders{}", std::env::consts::EXE_SUFFIX));
    // `cargo test` builds it with this test; older than this test, it may be stale.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if modified(&binary) < modified(&exe) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "ackor-durable", "--example", "orders"])
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the orders example");
    }
    assert!(binary.exists(), "no orders example at {}", binary.display());
    binary
}

/// A fresh directory for one test's files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ackor-e2e-{test}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed with SIGKILL when dropped (a failing test leaves none).
struct Proc(Child);

impl Proc {
    /// SIGKILL (what `Child::kill` sends on Unix), then reaps.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// Waits for the process to end by itself; true if it exited with success.
    fn exits_ok_within(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                Instant::now() < deadline,
                "the process did not finish within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts the shop on node `name`; returns it and its actual node name.
fn shop(dir: &Path, name: &str) -> (Proc, String) {
    let mut child = Command::new(orders_binary())
        .args(["shop", &dir.to_string_lossy(), name])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let name = line
        .trim()
        .strip_prefix("node ")
        .expect("the shop prints its node")
        .to_string();
    (Proc(child), name)
}

fn checkout(dir: &Path, shop: &str, count: u64, name: &str) -> Proc {
    let child = Command::new(orders_binary())
        .args(["checkout", &dir.to_string_lossy(), shop, &count.to_string(), name])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Proc(child)
}

/// The order ids in the shop's log, in the order handled.
fn handled(dir: &Path) -> Vec<u64> {
    std::fs::read_to_string(dir.join("orders.log"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(2).and_then(|id| id.parse().ok()))
        .collect()
}

fn wait_for_handled(dir: &Path, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while handled(dir).len() < at_least {
        assert!(
            Instant::now() < deadline,
            "the shop never handled {at_least} orders"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

const ORDERS: u64 = 1500;

/// A port nothing listens on now (the kernel's pick), for a node name that must stay
/// the same across a restart.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_consumer_killed_mid_stream_and_restarted_handles_every_message_once_in_order() {
    let scratch = Scratch::new("consumer");
    let dir = &scratch.0;
    let (mut first, name) = shop(dir, "shop@127.0.0.1:0");
    let mut producer = checkout(dir, &name, ORDERS, "checkout@127.0.0.1:0");
    wait_for_handled(dir, 300);
    first.kill();
    let at_kill = handled(dir).len();
    assert!(at_kill < ORDERS as usize, "killed after the end: nothing tested");
    // The same node name (and port), as a restarted service would have.
    let (_second, _) = shop(dir, &name);
    assert!(
        producer.exits_ok_within(Duration::from_secs(60)),
        "the checkout failed"
    );
    assert_eq!(
        handled(dir),
        (1..=ORDERS).collect::<Vec<_>>(),
        "killed at {at_kill}"
    );
}

#[test]
fn a_producer_killed_mid_stream_with_a_durable_outbox_loses_nothing_after_restart() {
    let scratch = Scratch::new("producer");
    let dir = &scratch.0;
    let (_shop, name) = shop(dir, "shop@127.0.0.1:0");
    // Restarted under the same node name, as a service is: the shop must not mistake
    // the new incarnation for the old one (their delivery ids, late acknowledgements).
    let me = format!("checkout@127.0.0.1:{}", free_port());
    let mut first = checkout(dir, &name, ORDERS, &me);
    wait_for_handled(dir, 300);
    first.kill();
    let at_kill = handled(dir).len();
    assert!(at_kill < ORDERS as usize, "killed after the end: nothing tested");
    let mut second = checkout(dir, &name, ORDERS, &me);
    assert!(
        second.exits_ok_within(Duration::from_secs(60)),
        "the restarted checkout failed"
    );
    assert_eq!(
        handled(dir),
        (1..=ORDERS).collect::<Vec<_>>(),
        "killed at {at_kill}"
    );
}

#[test]
fn the_orders_tour_survives_repeated_kills_of_both_sides() {
    let output = Command::new(orders_binary())
        .args(["--orders", "2000", "--kills", "3", "--seed", "11"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("every order handled exactly once, in order"),
        "{stdout}"
    );
    assert_eq!(stdout.matches("SIGKILL shop ").count(), 3, "{stdout}");
    assert_eq!(stdout.matches("SIGKILL checkout ").count(), 3, "{stdout}");
}
