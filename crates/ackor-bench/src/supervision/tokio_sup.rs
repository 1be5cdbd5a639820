//! Bare tokio, the floor: one task owns a bounded `mpsc` receiver ([`MAILBOX`]) and
//! runs each message's handler under `catch_unwind`; when a handler panics, the task
//! builds fresh state and takes the next message. No supervisor, no other task: what is
//! left is the panic itself (unwinding) and taking the next message.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

use super::{Latencies, Probe};
use crate::{BenchError, MAILBOX};

/// The messages of the task.
#[derive(Debug)]
pub enum Msg {
    /// Panics (after noting the instant in the probe).
    Crash,
    /// Answers the instant it was handled.
    Ping(oneshot::Sender<Instant>),
}

/// The task's state, rebuilt after a panic.
struct State {
    probe: Arc<Probe>,
}

impl State {
    fn new(probe: &Arc<Probe>) -> State {
        probe.started();
        State { probe: probe.clone() }
    }

    async fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Crash => self.probe.crash(),
            Msg::Ping(reply) => {
                let _ = reply.send(Instant::now());
            }
        }
    }
}

fn err(e: impl std::fmt::Display) -> BenchError {
    format!("tokio: {e}").into()
}

/// `n` times: `Crash`, then `Ping` handled after the task caught the panic.
pub async fn restart_latency(n: u64) -> Result<Latencies, BenchError> {
    super::quiet_crash_panics();
    let probe = Arc::new(Probe::new());
    let (tx, mut rx) = mpsc::channel::<Msg>(MAILBOX);
    let task = tokio::spawn({
        let probe = probe.clone();
        async move {
            let mut state = State::new(&probe);
            while let Some(msg) = rx.recv().await {
                if AssertUnwindSafe(state.handle(msg)).catch_unwind().await.is_err() {
                    state = State::new(&probe);
                }
            }
        }
    });
    let mut lat = Latencies::new();
    for _ in 0..n {
        tx.send(Msg::Crash).await.map_err(err)?;
        let (reply, answer) = oneshot::channel();
        tx.send(Msg::Ping(reply)).await.map_err(err)?;
        let handled = answer.await.map_err(err)?;
        lat.record(handled.saturating_duration_since(probe.take_crash()?));
    }
    drop(tx);
    task.await.map_err(err)?;
    Ok(lat)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn restarts_are_measured() {
        let rt = crate::runtime().unwrap();
        let lat = crate::run_on_worker(&rt, restart_latency(50)).unwrap().unwrap();
        assert_eq!(lat.count(), 50);
    }
}
