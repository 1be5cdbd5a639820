//! `ackor observe` and `ackor node --observe` as commands: what they print, serve and
//! refuse (the page itself in a browser: `observer_browser.rs`).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{Proc, WAIT, ackor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const COOKIE: &str = "observe-cli-test";

/// The JSON body of `GET http://<host:port>/api/snapshot`.
async fn snapshot(url: &str) -> serde_json::Value {
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    stream
        .write_all(b"GET /api/snapshot HTTP/1.0\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut raw))
        .await
        .expect("an answer in time")
        .unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    serde_json::from_str(body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_observe_serves_the_page_for_itself() {
    let mut cmd = ackor();
    cmd.args([
        "node",
        "--name",
        "selfobs@127.0.0.1:0",
        "--cookie",
        COOKIE,
        "--observe",
        "127.0.0.1:0",
    ]);
    let mut node = Proc::spawn(cmd);
    let name = node.wait_for_line("listening ", WAIT).await["listening ".len()..].to_string();
    let url = node.wait_for_line("observe ", WAIT).await["observe ".len()..].to_string();
    let s = snapshot(&url).await;
    assert_eq!(s["target"], name.as_str());
    assert_eq!(s["observer"], name.as_str());
    let names: Vec<&str> = s["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(names.contains(&"echo") && names.contains(&"relay"), "{names:?}");
    node.signal("TERM");
    assert_eq!(node.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_config_file_can_turn_the_observer_on() {
    let config = common::temp_file(
        "observe.toml",
        &format!("name = \"cfgobs@127.0.0.1:0\"\ncookie = \"{COOKIE}\"\nobserve = \"127.0.0.1:0\"\n"),
    );
    let mut cmd = ackor();
    cmd.args(["node", "--config"]).arg(&config);
    let mut node = Proc::spawn(cmd);
    let url = node.wait_for_line("observe ", WAIT).await["observe ".len()..].to_string();
    assert!(
        snapshot(&url).await["target"]
            .as_str()
            .unwrap()
            .starts_with("cfgobs@")
    );
    node.signal("TERM");
    assert_eq!(node.exit_code().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observing_a_node_that_does_not_answer_shows_why() {
    // Nothing listens there: the page still comes up and says why the node is blank.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cmd = ackor();
    cmd.args([
        "observe",
        "--node",
        &format!("gone@{free}"),
        "--cookie",
        COOKIE,
        "--timeout",
        "1s",
    ]);
    let mut observer = Proc::spawn(cmd);
    let url = observer.wait_for_line("observing ", WAIT).await["observing ".len()..].to_string();
    let s = snapshot(&url).await;
    let error = s["nodes"][0]["error"].as_str().unwrap_or_default().to_string();
    assert!(!error.is_empty(), "{s}");
    assert_eq!(s["processes"].as_array().unwrap().len(), 0);
    observer.signal("INT");
    assert_eq!(observer.exit_code().await, Some(0));
}

#[tokio::test]
async fn observe_refuses_a_node_that_is_not_a_node_name() {
    let mut cmd = ackor();
    cmd.args(["observe", "--node", "localhost:4370", "--cookie", COOKIE]);
    let mut observer = Proc::spawn(cmd);
    assert_eq!(observer.exit_code().await, Some(2));
    assert!(
        observer.stderr().contains("not a node name"),
        "{}",
        observer.stderr()
    );
}
