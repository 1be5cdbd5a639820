//! The web observer in a real browser: headless Chromium, driven over the DevTools
//! protocol (chromiumoxide), loads the `ackor observe` page of two running `ackor node`
//! processes and, without reloading it, sees the live process list, an actor spawned
//! after the page loaded, a burst of important sends to the observed node moving its
//! acked counter, and the
//! trace ids of a followed process's messages; then saves a screenshot to
//! `<target dir>/observer.png`.
//!
//! Needs `chromium` (or `chromium-browser`, `google-chrome`) on `PATH`, or its path in
//! `ACKOR_CHROMIUM`; without one it says so and passes (`.ci/run` installs Debian's
//! `chromium` when it runs as root).

#![allow(clippy::expect_used, clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::PathBuf;
use std::time::Duration;

use ackor::{Node, NodeName, ProcessId, SpawnOptions};
use ackor_cli::services::{Echo, Forward, ForwardImportant, Ping, Relay};
use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::page::{Page, ScreenshotParams};
use common::{Proc, WAIT, ackor};
use futures_util::StreamExt;

const COOKIE: &str = "observer-browser-test";
/// How many important sends the burst makes.
const BURST: u64 = 25;
/// The whole test, browser included, stops within this.
const WHOLE_TEST: Duration = Duration::from_secs(240);

/// The first of the usual Chromium commands found on `PATH` (or `ACKOR_CHROMIUM`).
fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ACKOR_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let dirs: Vec<PathBuf> = std::env::split_paths(&std::env::var_os("PATH")?).collect();
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
    .find(|candidate| candidate.is_file())
}

/// Where the screenshot goes: the target directory this test was built in.
fn target_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map(PathBuf::from).unwrap_or(tmp)
}

/// A scratch folder, removed when dropped (a failing test too leaves nothing behind).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts `ackor` with `args`; waits for its line starting with `prefix`; the rest of it.
async fn start(args: &[&str], prefix: &str) -> (Proc, String) {
    let mut cmd = ackor();
    cmd.args(args);
    let proc = Proc::spawn(cmd);
    let line = proc.wait_for_line(prefix, WAIT).await;
    let rest = line[prefix.len()..].trim().to_string();
    (proc, rest)
}

/// Evaluates `js` in the page.
async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    page.evaluate(js)
        .await
        .unwrap_or_else(|e| panic!("evaluating {js}: {e}"))
        .into_value()
        .unwrap_or_else(|e| panic!("the value of {js}: {e}"))
}

/// Waits (bounded) until the JavaScript expression `js` is true in the page; on
/// timeout saves a screenshot and fails with what the page shows.
async fn wait_until(page: &Page, js: &str, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !eval::<bool>(page, js).await {
        if tokio::time::Instant::now() >= deadline {
            let shot = target_dir().join("observer-failed.png");
            let _ = page
                .save_screenshot(ScreenshotParams::builder().full_page(true).build(), &shot)
                .await;
            let text: String = eval(page, "document.body.innerText").await;
            panic!(
                "the page never showed {what} ({js}); screenshot {}; page:\n{text}",
                shot.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `#acked` as a number; `None` while it shows none.
async fn acked(page: &Page) -> Option<u64> {
    let text: String = eval(page, "document.getElementById('acked').textContent").await;
    text.trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observer_page_follows_two_nodes_live_in_headless_chromium() {
    let Some(chromium) = find_chromium() else {
        eprintln!(
            "observer browser test skipped: no chromium on PATH (nor ACKOR_CHROMIUM); \
             .ci/run installs it with apt-get install chromium"
        );
        return;
    };
    tokio::time::timeout(WHOLE_TEST, run(chromium))
        .await
        .expect("the observer browser test ends in time");
}

async fn run(chromium: PathBuf) {
    let (_a_proc, a) = start(
        &["node", "--name", "obsa@127.0.0.1:0", "--cookie", COOKIE],
        "listening ",
    )
    .await;
    let (_b_proc, b) = start(
        &["node", "--name", "obsb@127.0.0.1:0", "--cookie", COOKIE],
        "listening ",
    )
    .await;
    let (_observer, url) = start(
        &[
            "observe",
            "--node",
            &a,
            "--cookie",
            COOKIE,
            "--listen",
            "127.0.0.1:0",
        ],
        "observing ",
    )
    .await;
    let driver = Node::builder()
        .name("obsdriver@127.0.0.1:0")
        .cookie(COOKIE)
        .start()
        .await
        .unwrap();
    let (a_name, b_name) = (NodeName::new(&a), NodeName::new(&b));
    let relay_a = ProcessId::new("relay", a_name.clone());
    // a talks to b: the two nodes are linked.
    let answer = driver
        .call_name::<Relay, _>(
            &relay_a,
            Forward {
                node: b.clone(),
                text: "hi".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(answer, format!("hi from {b}"));

    let profile =
        TempDir(std::env::temp_dir().join(format!("ackor-observer-chromium-{}", std::process::id())));
    let config = BrowserConfig::builder()
        .chrome_executable(&chromium)
        .no_sandbox()
        .arg("--disable-gpu")
        .arg("--disable-dev-shm-usage")
        .window_size(1400, 1100)
        .viewport(None)
        .user_data_dir(&profile.0)
        .launch_timeout(WAIT)
        .request_timeout(WAIT)
        .build()
        .expect("a browser config");
    let (mut browser, mut handler) = Browser::launch(config)
        .await
        .unwrap_or_else(|e| panic!("{} does not start: {e}", chromium.display()));
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    let page = browser.new_page(&url).await.expect("the page opens");
    // Gone if the page reloads: everything below must come without a reload.
    let _: bool = eval(&page, "(window.loadedOnce = true)").await;

    // The live process list: both nodes' services, the stream connected.
    wait_until(
        &page,
        "document.getElementById('live').dataset.state === 'live'",
        "the event stream connected",
    )
    .await;
    for (node, name) in [(&a, "echo"), (&a, "relay"), (&a, "sink")] {
        let js =
            format!("!!document.querySelector('#processes tr[data-node=\"{node}\"][data-name=\"{name}\"]')");
        wait_until(&page, &js, &format!("{name} on {node}")).await;
    }

    // An actor spawned after the page loaded shows up by itself.
    assert!(
        !eval::<bool>(
            &page,
            "!!document.querySelector('#processes tr[data-name=\"late-echo\"]')"
        )
        .await
    );
    let late = driver
        .spawn_remote::<Echo>(&a_name, (), SpawnOptions::default().name("late-echo"))
        .await
        .expect("a spawns late-echo");
    wait_until(
        &page,
        &format!(
            "!!document.querySelector('#processes tr[data-pid=\"{}\"][data-name=\"late-echo\"]')",
            late.pid()
        ),
        "the actor spawned after the page loaded",
    )
    .await;

    // A burst of important sends from b to a moves a's acked counter (the messages a
    // put in a mailbox and acknowledged).
    wait_until(
        &page,
        "/^[0-9]+$/.test(document.getElementById('acked').textContent.trim())",
        "an acked counter (the node reports its important-delivery counters)",
    )
    .await;
    let before = acked(&page).await.expect("a number");
    let sent = driver
        .call_name::<Relay, _>(
            &ProcessId::new("relay", b_name.clone()),
            ForwardImportant {
                node: a.clone(),
                name: "echo".into(),
                text: "burst".into(),
                count: BURST as u32,
            },
        )
        .await
        .expect("every important send of the burst acknowledged");
    assert_eq!(u64::from(sent), BURST);
    wait_until(
        &page,
        &format!(
            "Number(document.getElementById('acked').textContent) >= {}",
            before + BURST
        ),
        &format!("the acked counter moved from {before} by {BURST}"),
    )
    .await;
    // b, linked to a, is on the page too, with the burst among its sends.
    wait_until(
        &page,
        &format!("Number(document.querySelector('#nodes tr[data-node=\"{b_name}\"] td.sent')?.textContent) >= {BURST}"),
        "the peer node and its important sends",
    )
    .await;

    // Follow late-echo (a click on its row), send it messages: their trace ids show up.
    page.find_element("#processes tr[data-name=\"late-echo\"]")
        .await
        .expect("late-echo's row")
        .click()
        .await
        .expect("click");
    wait_until(
        &page,
        "!document.getElementById('follow').hidden",
        "the followed process",
    )
    .await;
    wait_until(
        &page,
        "document.getElementById('follow-info').textContent.includes('late-echo')",
        "the followed process's detail",
    )
    .await;
    let late_id = ProcessId::new("late-echo", a_name.clone());
    for i in 0..3 {
        driver
            .call_name::<Echo, _>(&late_id, Ping(format!("traced {i}")))
            .await
            .unwrap();
    }
    wait_until(
        &page,
        "[...document.querySelectorAll('#recent tbody tr')].filter(tr => /^[0-9a-f]{32}$/.test(tr.dataset.traceId)).length >= 3",
        "the trace ids of the followed process's messages",
    )
    .await;

    assert!(
        eval::<bool>(&page, "window.loadedOnce === true").await,
        "the page was reloaded"
    );
    let shot = target_dir().join("observer.png");
    page.save_screenshot(ScreenshotParams::builder().full_page(true).build(), &shot)
        .await
        .expect("a screenshot");
    eprintln!("observer screenshot: {}", shot.display());

    let _ = browser.close().await;
    let _ = tokio::time::timeout(WAIT, browser.wait()).await;
    events.abort();
    driver.shutdown().await;
}
