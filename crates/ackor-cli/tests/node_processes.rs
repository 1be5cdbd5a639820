//! Two `ackor node` OS processes on loopback exchange calls, driven by a third node in
//! this test process.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::process::Stdio;
use std::time::Duration;

use ackor::{Node, ProcessId};
use ackor_cli::services::{Echo, Forward, Ping, Relay};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const COOKIE: &str = "os-process-test";

/// Starts `ackor node` and waits for its `listening <name>` line.
async fn start_node(name: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ackor"))
        .args([
            "node",
            "--name",
            &format!("{name}@127.0.0.1:0"),
            "--cookie",
            COOKIE,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ackor node starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("node ready in time")
        .expect("read")
        .expect("a line");
    let node = line
        .strip_prefix("listening ")
        .expect("listening line")
        .to_string();
    (child, node)
}

/// Asks a node process to stop gracefully (SIGTERM).
fn terminate(child: &Child) {
    let pid = child.id().expect("still running").to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_node_processes_exchange_calls() {
    let (mut a_proc, a_name) = start_node("osa").await;
    let (mut b_proc, b_name) = start_node("osb").await;
    let me = Node::builder()
        .name("driver@127.0.0.1:0")
        .cookie(COOKIE)
        .start()
        .await
        .unwrap();

    // Straight to b.
    let echo_b = me
        .resolve::<Echo>(&ProcessId::new("echo", ackor::NodeName::new(&b_name)))
        .await
        .unwrap();
    assert_eq!(
        echo_b.call(Ping("hi".into())).await.unwrap(),
        format!("hi from {b_name}")
    );

    // a calls b, and b calls a: process to process.
    for (from, to) in [(&a_name, &b_name), (&b_name, &a_name)] {
        let relay = me
            .resolve::<Relay>(&ProcessId::new("relay", ackor::NodeName::new(from)))
            .await
            .unwrap();
        for i in 0..20 {
            let answer = relay
                .call(Forward {
                    node: to.clone(),
                    text: format!("m{i}"),
                })
                .await
                .unwrap();
            assert_eq!(answer, format!("m{i} from {to}"));
        }
    }

    // b stops (SIGTERM): a's relay answers with a precise error, not a hang.
    terminate(&b_proc);
    let status = tokio::time::timeout(Duration::from_secs(30), b_proc.wait())
        .await
        .expect("b exits")
        .unwrap();
    assert!(status.success(), "{status}");
    let relay_a = me
        .resolve::<Relay>(&ProcessId::new("relay", ackor::NodeName::new(&a_name)))
        .await
        .unwrap();
    let outcome = relay_a
        .call(Forward {
            node: b_name.clone(),
            text: "anyone?".into(),
        })
        .await;
    assert_eq!(outcome, Err(ackor::Error::NoConnection));

    terminate(&a_proc);
    let status = tokio::time::timeout(Duration::from_secs(30), a_proc.wait())
        .await
        .expect("a exits")
        .unwrap();
    assert!(status.success(), "{status}");
    me.shutdown().await;
}
