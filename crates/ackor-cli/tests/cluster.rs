//! `ackor node --cluster`: node processes that form a cluster through one seed, see a
//! killed member down and a stopped one leave. Real child processes of the built
//! binary on 127.0.0.1 with port 0; every wait is bounded; children are killed when a
//! test ends early.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::process::Stdio;
use std::time::Duration;

mod common;
use common::{Proc, WAIT, ackor, temp_file};

const COOKIE: &str = "cluster-test";
/// Bounds the wait for a membership line.
const MEMBERSHIP: Duration = Duration::from_secs(20);

/// Where a node takes its cluster settings from.
#[derive(Clone, Copy)]
enum How {
    Flags,
    Env,
    File,
}

/// A running `ackor node` in a cluster: the process, its name and gossip address.
struct Member {
    proc: Proc,
    name: String,
    gossip: String,
}

impl std::ops::Deref for Member {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.proc
    }
}

impl std::ops::DerefMut for Member {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.proc
    }
}

impl Member {
    /// Starts `ackor node` in cluster `cluster` with fast gossip, gossiping on
    /// 127.0.0.1:0 and seeded with `seeds`, the cluster settings given by `how`, and
    /// waits for its `gossip` line.
    async fn start(prefix: &str, cluster: &str, seeds: &[&str], how: How) -> Member {
        let name = format!("{prefix}@127.0.0.1:0");
        let mut cmd = ackor();
        cmd.args(["node", "--name", &name, "--cookie", COOKIE]);
        match how {
            How::Flags => {
                cmd.args(["--cluster", cluster, "--gossip", "127.0.0.1:0"])
                    .args(["--gossip-interval", "100ms", "--phi-threshold", "6"])
                    .args(["--initial-interval", "200ms"]);
                for seed in seeds {
                    cmd.args(["--seed", seed]);
                }
            }
            How::Env => {
                cmd.env("ACKOR_CLUSTER", cluster)
                    .env("ACKOR_GOSSIP", "127.0.0.1:0")
                    .env("ACKOR_SEEDS", seeds.join(","))
                    .env("ACKOR_GOSSIP_INTERVAL", "100ms")
                    .env("ACKOR_PHI_THRESHOLD", "6")
                    .env("ACKOR_INITIAL_INTERVAL", "200ms");
            }
            How::File => {
                let seeds: Vec<String> = seeds.iter().map(|s| format!("{s:?}")).collect();
                let file = temp_file(
                    &format!("{prefix}.toml"),
                    &format!(
                        "[cluster]\nid = {cluster:?}\ngossip = \"127.0.0.1:0\"\nseeds = [{}]\ngossip_interval_ms = 100\nphi_threshold = 6.0\ninitial_interval_ms = 200\n",
                        seeds.join(", ")
                    ),
                );
                cmd.arg("--config").arg(file);
            }
        }
        let proc = Proc::spawn(cmd);
        proc.wait_for_line("gossip ", WAIT).await;
        let out = proc.stdout();
        let mut lines = out.lines();
        // `listening` comes first, as for a node outside any cluster.
        let name = lines
            .next()
            .and_then(|l| l.strip_prefix("listening "))
            .unwrap_or_else(|| panic!("first line not `listening`:\n{out}"))
            .to_string();
        let gossip = lines
            .next()
            .and_then(|l| l.strip_prefix("gossip "))
            .unwrap_or_else(|| panic!("second line not `gossip`:\n{out}"))
            .to_string();
        Member { proc, name, gossip }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_node_processes_form_a_cluster_from_one_seed_and_see_a_killed_one_down() {
    let started = std::time::Instant::now();
    // The cluster settings from flags for a, the environment for b, a file for c.
    let mut a = Member::start("ca", "cli-test", &[], How::Flags).await;
    let b = Member::start("cb", "cli-test", &[&a.gossip], How::Env).await;
    let mut c = Member::start("cc", "cli-test", &[&a.gossip], How::File).await;

    // Each sees the other two, c and b through a's gossip only.
    for (who, others) in [(&a, [&b, &c]), (&b, [&a, &c]), (&c, [&a, &b])] {
        for other in others {
            who.wait_for_line(&format!("member up {}", other.name), MEMBERSHIP)
                .await;
        }
    }
    let formed = started.elapsed();

    // `ackor members` asks a's ackor.members what a sees.
    let (code, stdout, stderr) = run(&["members", &a.name]).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.starts_with("NODE"), "{stdout}");
    for m in [&a, &b, &c] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&m.name) && l.trim_end().ends_with(&m.gossip)),
            "{} missing:\n{stdout}",
            m.name
        );
    }

    // c dies without a word: the failure detector judges it down.
    c.signal("KILL");
    c.exit_code().await;
    let killed = std::time::Instant::now();
    for who in [&a, &b] {
        who.wait_for_line(&format!("member down {}", c.name), MEMBERSHIP)
            .await;
    }
    let detected = killed.elapsed();

    // a stops gracefully: b sees it leave, not die.
    a.signal("TERM");
    assert_eq!(a.exit_code().await, Some(0), "{}", a.stderr());
    b.wait_for_line(&format!("member left {}", a.name), MEMBERSHIP)
        .await;
    assert!(
        !b.stdout().contains(&format!("member down {}", a.name)),
        "{}",
        b.stdout()
    );
    let a_out = a.stdout();
    assert!(
        a_out.trim_end().ends_with(&format!("stopped {}", a.name)),
        "{a_out}"
    );
    assert!(a.stderr().contains("left cluster"), "{}", a.stderr());
    eprintln!("formed in {formed:?}, c judged down in {detected:?}");
    b.signal("TERM");
}

/// Runs `ackor <args>` to its end (bounded): exit code, stdout and stderr.
async fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(
        WAIT,
        ackor()
            .args(args)
            .env("ACKOR_COOKIE", COOKIE)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("the command ends in time")
    .expect("it runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_with_bad_cluster_settings_exits_with_a_usage_error() {
    let node = ["node", "--name", "bad@127.0.0.1:0"];
    for (extra, expect) in [
        (
            &["--cluster", "x", "--gossip", "not-an-address"][..],
            "gossip address",
        ),
        (
            &["--cluster", "x", "--gossip", "127.0.0.1:99999"][..],
            "gossip address",
        ),
        (&["--cluster", "x"][..], "gossip address"),
        (&["--gossip", "127.0.0.1:0"][..], "cluster id"),
        (
            &["--cluster", "x", "--gossip", "127.0.0.1:0", "--seed", "nowhere"][..],
            "seed",
        ),
        (
            &["--cluster", "x", "--gossip", "127.0.0.1:0", "--phi-threshold=-1"][..],
            "phi",
        ),
    ] {
        let args: Vec<&str> = node.iter().chain(extra).copied().collect();
        let (code, _, stderr) = run(&args).await;
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }
    // The same checks for the config file's [cluster].
    let file = temp_file("bad.toml", "[cluster]\nid = \"x\"\ngossip = \"here\"\n");
    let (code, _, stderr) = run(&[
        "node",
        "--name",
        "bad@127.0.0.1:0",
        "--config",
        file.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("gossip address"), "{stderr}");
    std::fs::write(&file, "[cluster]\nid = \"x\"\ngosip = \"127.0.0.1:0\"\n").unwrap();
    let (code, _, stderr) = run(&[
        "node",
        "--name",
        "bad@127.0.0.1:0",
        "--config",
        file.to_str().unwrap(),
    ])
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("gosip"), "{stderr}");
}
