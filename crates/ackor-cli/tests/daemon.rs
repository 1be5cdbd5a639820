//! `ackor node` as a long-running process, and the commands that talk to one: real
//! child processes of the built binary on 127.0.0.1 with port 0. Every wait is bounded;
//! children are killed when a test ends early.

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

use std::process::Stdio;
use std::time::Duration;

use ackor::{Node, NodeName, ProcessId};
use ackor_cli::services::{Forward, Relay};

mod common;
use common::{Proc, WAIT, ackor, temp_file};

const COOKIE: &str = "daemon-test";

/// A running `ackor node`: the process, and its node name.
struct NodeProc {
    proc: Proc,
    name: String,
}

impl std::ops::Deref for NodeProc {
    type Target = Proc;
    fn deref(&self) -> &Proc {
        &self.proc
    }
}

impl std::ops::DerefMut for NodeProc {
    fn deref_mut(&mut self) -> &mut Proc {
        &mut self.proc
    }
}

impl NodeProc {
    /// Starts `ackor node` with `args` (and `env`) and waits for its `listening` line.
    async fn start(args: &[&str], env: &[(&str, &str)]) -> NodeProc {
        let mut cmd = ackor();
        cmd.arg("node").args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let proc = Proc::spawn(cmd);
        let line = proc.wait_for_line("listening ", WAIT).await;
        let name = line.strip_prefix("listening ").unwrap_or_default().to_string();
        NodeProc { proc, name }
    }

    /// A node `<prefix>@127.0.0.1:0` with the test cookie.
    async fn plain(prefix: &str) -> NodeProc {
        let name = format!("{prefix}@127.0.0.1:0");
        NodeProc::start(&["--name", &name, "--cookie", COOKIE], &[]).await
    }
}

/// What a client command did: exit code, stdout, stderr.
struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `ackor <args>` to its end (bounded), with the test cookie in `ACKOR_COOKIE`
/// unless `env` sets it.
async fn run(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    run_with(args, env, true).await
}

/// [`run`], with `ACKOR_COOKIE` set to the test cookie only if `cookie`.
async fn run_with(args: &[&str], env: &[(&str, &str)], cookie: bool) -> Outcome {
    let mut cmd = ackor();
    cmd.args(args).stdin(Stdio::null());
    if cookie {
        cmd.env("ACKOR_COOKIE", COOKIE);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(WAIT, cmd.output())
        .await
        .expect("the command ends in time")
        .expect("it runs");
    Outcome {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_with_stdin_closed_keeps_running() {
    let mut a = NodeProc::plain("stdin").await;
    // Started with stdin from /dev/null (as under nohup, systemd, a container): it
    // does not take the end of its input for a request to stop.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(a.child.try_wait().unwrap().is_none(), "exited:\n{}", a.stderr());
    let ping = run(&["ping", &a.name], &[]).await;
    assert_eq!(ping.code, Some(0), "{}", ping.stderr);
    a.signal("TERM");
    assert_eq!(a.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_node_gracefully() {
    let mut a = NodeProc::plain("terma").await;
    let b = NodeProc::plain("termb").await;
    // a and b talk to each other: links both ways.
    let me = Node::builder()
        .name("termdriver@127.0.0.1:0")
        .cookie(COOKIE)
        .start()
        .await
        .unwrap();
    for (from, to) in [(&a.name, &b.name), (&b.name, &a.name)] {
        let relay = me
            .resolve::<Relay>(&ProcessId::new("relay", NodeName::new(from)))
            .await
            .unwrap();
        let answer = relay
            .call(Forward {
                node: to.clone(),
                text: "hi".into(),
            })
            .await
            .unwrap();
        assert_eq!(answer, format!("hi from {to}"));
    }

    a.signal("TERM");
    assert_eq!(a.exit_code().await, Some(0), "{}", a.stderr());
    let log = a.stderr();
    assert!(log.contains("SIGTERM: stopping"), "{log}");
    // An actor's on_stop ran, and the node stopped after its actors.
    let on_stop = log.find("echo stopped").expect("echo's on_stop ran");
    let stopped = log.find("node stopped").expect("node stopped");
    assert!(on_stop < stopped, "{log}");
    let out = a.stdout();
    assert_eq!(
        out.lines().last(),
        Some(format!("stopped {}", a.name).as_str()),
        "{out}"
    );
    // b saw a leave, not a lost link.
    b.wait_for_log(&format!("node {} left", a.name)).await;
    let b_log = b.stderr();
    assert!(!b_log.contains("link closed"), "{b_log}");
    assert!(!b_log.contains("peer down"), "{b_log}");
    me.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_the_node_gracefully() {
    let mut a = NodeProc::plain("int").await;
    a.signal("INT");
    assert_eq!(a.exit_code().await, Some(0), "{}", a.stderr());
    let log = a.stderr();
    assert!(log.contains("SIGINT: stopping"), "{log}");
    assert!(log.contains("echo stopped"), "{log}");
    assert!(log.contains("node stopped"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_call_and_ps_between_two_nodes() {
    let mut a = NodeProc::plain("psa").await;
    let mut b = NodeProc::plain("psb").await;

    let ping = run(&["ping", &a.name, "--timeout", "5s"], &[]).await;
    assert_eq!(ping.code, Some(0), "{}", ping.stderr);
    assert!(
        ping.stdout.starts_with(&format!("ping from {}: time=", a.name)),
        "{}",
        ping.stdout
    );
    assert!(ping.stdout.trim_end().ends_with(" ms"), "{}", ping.stdout);

    let call = run(&["call", &b.name, "echo", "hello"], &[]).await;
    assert_eq!(call.code, Some(0), "{}", call.stderr);
    assert_eq!(call.stdout.trim(), format!("hello from {}", b.name));

    // A process that does not take the message: the node's error, exit 4.
    let wrong = run(&["call", &b.name, "relay", "hello"], &[]).await;
    assert_eq!(wrong.code, Some(4), "{}", wrong.stderr);
    assert!(wrong.stderr.contains("UnknownMessage"), "{}", wrong.stderr);

    let ps = run(&["ps", &a.name], &[]).await;
    assert_eq!(ps.code, Some(0), "{}", ps.stderr);
    let lines: Vec<&str> = ps.stdout.lines().collect();
    assert!(
        lines[0].starts_with("PID") && lines[0].contains("MAILBOX"),
        "{}",
        ps.stdout
    );
    for name in ["echo", "relay", "sink", "ackor.members"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!(" {name} ")) && l.contains("running")),
            "{name} missing:\n{}",
            ps.stdout
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("sink") && l.contains("0/1 ")),
        "{}",
        ps.stdout
    );

    let json = run(&["ps", &b.name, "--json"], &[]).await;
    assert_eq!(json.code, Some(0), "{}", json.stderr);
    let list: Vec<ackor::ProcessInfo> =
        serde_json::from_str(&json.stdout).expect("ps --json is a process list");
    assert_eq!(list.len(), 4);
    assert!(list.iter().all(|p| p.pid.node().as_str() == b.name));

    // Not in a cluster: `ackor members` gets the node's answer that it is in none.
    let members = run(&["members", &a.name], &[]).await;
    assert_eq!(members.code, Some(4), "{}", members.stderr);
    assert!(members.stderr.contains("not in a cluster"), "{}", members.stderr);

    for n in [&mut a, &mut b] {
        n.signal("TERM");
        assert_eq!(n.exit_code().await, Some(0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_important_reports_acknowledgement_and_unknown_name() {
    let mut a = NodeProc::plain("imp").await;
    let ack = run(&["send-important", &a.name, "echo", "kept"], &[]).await;
    assert_eq!(ack.code, Some(0), "{}", ack.stderr);
    assert_eq!(ack.stdout.trim(), "acknowledged");

    let unknown = run(&["send-important", &a.name, "nobody", "lost"], &[]).await;
    assert_eq!(unknown.code, Some(4), "{}", unknown.stderr);
    assert!(unknown.stderr.contains("ProcessUnknown"), "{}", unknown.stderr);
    assert!(unknown.stdout.is_empty());

    // sink has room for one and takes its time: the second is refused.
    let first = run(&["send-important", &a.name, "sink", "one"], &[]).await;
    assert_eq!(first.stdout.trim(), "acknowledged", "{}", first.stderr);
    let second = run(&["send-important", &a.name, "sink", "two"], &[]).await;
    assert_eq!(second.code, Some(4), "{}", second.stderr);
    assert!(second.stderr.contains("MailboxFull"), "{}", second.stderr);

    a.signal("TERM");
    assert_eq!(a.exit_code().await, Some(0));

    // And once the node is gone: unreachable.
    let down = run(
        &["send-important", &a.name, "echo", "late", "--timeout", "2s"],
        &[],
    )
    .await;
    assert_eq!(down.code, Some(3), "{}", down.stderr);
    assert!(down.stderr.contains("NoConnection"), "{}", down.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_then_environment_then_flags() {
    let file = temp_file(
        "node.toml",
        "name = \"fromfile@127.0.0.1:0\"\ncookie = \"file-cookie\"\ncall_timeout_ms = 3000\n\n[remote]\nlinks_per_peer = 1\nheartbeat_interval_ms = 200\n",
    );
    let file = file.to_str().unwrap();

    // The file alone: its name and cookie.
    let mut a = NodeProc::start(&["--config", file], &[]).await;
    assert!(a.name.starts_with("fromfile@127.0.0.1:"), "{}", a.name);
    let with_file = run(&["ping", &a.name], &[("ACKOR_COOKIE", "file-cookie")]).await;
    assert_eq!(with_file.code, Some(0), "{}", with_file.stderr);
    // A client reads the same file (ACKOR_CONFIG) for its cookie.
    let via_env_file = run_with(&["ping", &a.name], &[("ACKOR_CONFIG", file)], false).await;
    assert_eq!(via_env_file.code, Some(0), "{}", via_env_file.stderr);

    // The environment over the file; a flag over the environment.
    let mut b = NodeProc::start(
        &["--config", file],
        &[
            ("ACKOR_NAME", "fromenv@127.0.0.1:0"),
            ("ACKOR_COOKIE", "env-cookie"),
        ],
    )
    .await;
    assert!(b.name.starts_with("fromenv@127.0.0.1:"), "{}", b.name);
    let wrong_cookie = run(
        &["ping", &b.name, "--timeout", "2s"],
        &[("ACKOR_COOKIE", "file-cookie")],
    )
    .await;
    assert_eq!(wrong_cookie.code, Some(3), "{}", wrong_cookie.stderr);
    let right_cookie = run(&["ping", &b.name, "--cookie", "env-cookie"], &[]).await;
    assert_eq!(right_cookie.code, Some(0), "{}", right_cookie.stderr);

    let mut c = NodeProc::start(
        &["--config", file, "--name", "fromflag@127.0.0.1:0"],
        &[("ACKOR_NAME", "fromenv@127.0.0.1:0")],
    )
    .await;
    assert!(c.name.starts_with("fromflag@127.0.0.1:"), "{}", c.name);

    for n in [&mut a, &mut b, &mut c] {
        n.signal("TERM");
        assert_eq!(n.exit_code().await, Some(0));
    }

    // Configuration errors: exit 2, at once.
    let typo = temp_file("typo.toml", "cokie = \"c\"\n");
    let bad = run(&["node", "--config", typo.to_str().unwrap()], &[]).await;
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("cokie"), "{}", bad.stderr);
    let no_name = run(&["node"], &[]).await;
    assert_eq!(no_name.code, Some(2), "{}", no_name.stderr);
    let no_cookie = run(&["node", "--name", "x@127.0.0.1:0"], &[("ACKOR_COOKIE", "")]).await;
    assert_eq!(no_cookie.code, Some(2), "{}", no_cookie.stderr);
    let half_tls = run(&["node", "--name", "x@127.0.0.1:0", "--tls-cert", file], &[]).await;
    assert_eq!(half_tls.code, Some(2), "{}", half_tls.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_for_unreachable_nodes_and_bad_usage() {
    // Nothing listens on port 1.
    let down = run(&["ping", "nobody@127.0.0.1:1", "--timeout", "2s"], &[]).await;
    assert_eq!(down.code, Some(3), "{}", down.stderr);
    assert!(down.stderr.contains("NoConnection"), "{}", down.stderr);
    let ps = run(&["ps", "nobody@127.0.0.1:1", "--timeout", "2s"], &[]).await;
    assert_eq!(ps.code, Some(3), "{}", ps.stderr);

    let not_a_node = run(&["ping", "just-a-name"], &[]).await;
    assert_eq!(not_a_node.code, Some(2), "{}", not_a_node.stderr);
    let usage = run(&["ping"], &[]).await;
    assert_eq!(usage.code, Some(2), "{}", usage.stderr);

    // A node that cannot listen: a runtime failure.
    let a = NodeProc::plain("busy").await;
    let taken = run(&["node", "--name", &a.name], &[]).await;
    assert_eq!(taken.code, Some(1), "{}", taken.stderr);
    a.signal("TERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_serves_every_documented_metric_name() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut a = NodeProc::start(
        &[
            "--name",
            "metrics@127.0.0.1:0",
            "--cookie",
            COOKIE,
            "--metrics",
            "127.0.0.1:0",
        ],
        &[],
    )
    .await;
    let line = a.wait_for_line("metrics http://", WAIT).await;
    let addr = line
        .strip_prefix("metrics http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .expect("metrics line")
        .to_string();
    // Some traffic first, so not every counter is zero (and a handler ran, and the
    // ping's node is a peer: the detailed metrics have something to show).
    let ping = run(&["ping", &a.name], &[]).await;
    assert_eq!(ping.code, Some(0), "{}", ping.stderr);
    let get = async || {
        let mut http = tokio::net::TcpStream::connect(&addr).await.unwrap();
        http.write_all(b"GET /metrics HTTP/1.1\r\nHost: ackor\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut response = String::new();
        tokio::time::timeout(WAIT, http.read_to_string(&mut response))
            .await
            .expect("the endpoint answers in time")
            .unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        response
    };
    let served =
        |response: &str, name: &str| response.contains(&format!("# HELP {name} ")) && response.contains(name);
    // The sampled gauges show within a sampling interval (1 s).
    let deadline = tokio::time::Instant::now() + WAIT;
    let response = loop {
        let response = get().await;
        let all = ackor::telemetry::metrics()
            .chain(ackor_cluster::telemetry::metrics())
            .all(|m| served(&response, m.name));
        if all || tokio::time::Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let documented = ackor::telemetry::metrics().chain(ackor_cluster::telemetry::metrics());
    for metric in documented {
        assert!(
            served(&response, metric.name),
            "{} is not served:\n{response}",
            metric.name
        );
    }
    assert!(
        response.contains("ackor_remote_frames_received_total"),
        "{response}"
    );
    a.signal("TERM");
    assert_eq!(a.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_address_from_the_config_file_is_used_and_a_bad_one_refused() {
    let good = temp_file(
        "metrics-good.toml",
        &format!("cookie = {COOKIE:?}\nmetrics = \"127.0.0.1:0\"\n"),
    );
    let good = good.to_str().unwrap();
    let mut a = NodeProc::start(&["--name", "mfile@127.0.0.1:0", "--config", good], &[]).await;
    a.wait_for_line("metrics http://127.0.0.1:", WAIT).await;
    a.signal("TERM");
    assert_eq!(a.exit_code().await, Some(0));

    let bad = temp_file(
        "metrics-bad.toml",
        &format!("cookie = {COOKIE:?}\nmetrics = \"nope\"\n"),
    );
    let out = run_with(
        &[
            "node",
            "--name",
            "mbad@127.0.0.1:0",
            "--config",
            bad.to_str().unwrap(),
        ],
        &[],
        false,
    )
    .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(out.stderr.contains("metrics address"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_sends_the_nodes_spans_to_the_collector() {
    use std::sync::{Arc, Mutex};
    // An OTLP/HTTP receiver that keeps every body (ackor's own tests decode them; here
    // it is enough to find the span and service names in the protobuf).
    // (content type, body) of each request.
    type Bodies = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let bodies: Bodies = Arc::default();
    let kept = bodies.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                kept.lock().unwrap().push((content_type, body.to_vec()));
                ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut a = NodeProc::start(
        &["--name", "traced@127.0.0.1:0", "--cookie", COOKIE, "--otlp", &url],
        &[],
    )
    .await;
    let ping = run(&["ping", &a.name], &[]).await;
    assert_eq!(ping.code, Some(0), "{}", ping.stderr);
    // The node sends what it still holds as it stops.
    a.signal("TERM");
    assert_eq!(a.exit_code().await, Some(0), "{}", a.stderr());
    server.abort();

    let bodies = std::mem::take(&mut *bodies.lock().unwrap());
    assert!(!bodies.is_empty(), "nothing exported: {}", a.stderr());
    let has = |text: &str| {
        bodies
            .iter()
            .any(|(_, b)| b.windows(text.len()).any(|w| w == text.as_bytes()))
    };
    assert!(bodies.iter().all(|(ct, _)| ct == "application/x-protobuf"));
    assert!(has("ackor.handle"), "the handle spans");
    assert!(has("Echo"), "echo's span, from the ping");
    assert!(has("traced"), "service.name is the node name before the @");

    let bad = run(
        &["node", "--name", "x@127.0.0.1:0", "--otlp", "ftp://collector/"],
        &[],
    )
    .await;
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("--otlp"), "{}", bad.stderr);
}
