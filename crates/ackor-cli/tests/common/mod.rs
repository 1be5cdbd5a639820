//! What the test files that run `ackor` child processes share: the command with a
//! clean environment, a running child whose output is collected, temp files.

#![allow(dead_code)] // each test file uses the part it needs
#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Bounds every wait for a child to start, print or stop.
pub const WAIT: Duration = Duration::from_secs(30);

/// The ackor binary with no `ACKOR_*` or `RUST_LOG` from the test run's environment;
/// killed when dropped.
pub fn ackor() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ackor"));
    for var in [
        "ACKOR_CONFIG",
        "ACKOR_COOKIE",
        "ACKOR_NAME",
        "ACKOR_TLS_CERT",
        "ACKOR_TLS_KEY",
        "ACKOR_TLS_CA",
        "ACKOR_CLUSTER",
        "ACKOR_GOSSIP",
        "ACKOR_SEEDS",
        "ACKOR_GOSSIP_INTERVAL",
        "ACKOR_PHI_THRESHOLD",
        "ACKOR_INITIAL_INTERVAL",
        "ACKOR_METRICS",
        "ACKOR_OTLP",
        "OTEL_SERVICE_NAME",
        "ACKOR_OBSERVE",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.kill_on_drop(true);
    cmd
}

/// A running child whose stdout and stderr are collected as they come.
pub struct Proc {
    pub child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

/// Appends every line of `from` to `to`.
fn collect(from: impl tokio::io::AsyncRead + Unpin + Send + 'static, to: Arc<Mutex<String>>) {
    let mut lines = BufReader::new(from).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut s = to.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
}

impl Proc {
    /// Spawns `cmd` with stdin closed and its output collected.
    pub fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ackor starts");
        let stdout = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), stdout.clone());
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(child.stderr.take().unwrap(), stderr.clone());
        Proc {
            child,
            stdout,
            stderr,
        }
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (at most `bound`) until a line of stdout starts with `prefix`; that line.
    pub async fn wait_for_line(&self, prefix: &str, bound: Duration) -> String {
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            if let Some(line) = self.stdout().lines().find(|l| l.starts_with(prefix)) {
                return line.to_string();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no `{prefix}` line within {bound:?}; stdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) until stderr contains `text`.
    pub async fn wait_for_log(&self, text: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.stderr().contains(text) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no `{text}` in the log:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends signal `sig` (`TERM`, `INT`, `KILL`, ...).
    pub fn signal(&self, sig: &str) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit; its exit code (its last lines collected).
    pub async fn exit_code(&mut self) -> Option<i32> {
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("the process exits in time")
            .expect("wait");
        tokio::time::sleep(Duration::from_millis(100)).await;
        status.code()
    }
}

/// Writes `content` to a file `name` in a temp folder of this test run.
pub fn temp_file(name: &str, content: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ackor-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}
