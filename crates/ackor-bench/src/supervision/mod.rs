//! Supervision benchmarks (issue 12): how long a supervised actor that panics takes to
//! be serving again, and how long a one-for-all supervisor takes to restart all of its
//! children.
//!
//! | module         | supervision used                                                  |
//! |----------------|-------------------------------------------------------------------|
//! | [`ackor_sup`]  | ackor's [`Supervisor`](ackor::supervision::Supervisor): restart **in place** (same pid, same mailbox, queued messages kept) |
//! | [`kameo_sup`]  | kameo's built-in supervision (`Actor::supervise`, `supervision_strategy`): the supervisor spawns a new instance on the **same** mailbox and actor id, so the old `ActorRef` and the queued messages stay valid |
//! | [`ractor_sup`] | ractor has no restart: a hand-written parent spawns a **new** actor (`spawn_linked`) when it gets `SupervisionEvent::ActorFailed`; the failed actor's queued messages are lost |
//! | [`tokio_sup`]  | the floor: one bare tokio task that catches the panic (`catch_unwind`), builds new state and takes the next message from its channel |
//!
//! actix is not here: actix does not catch panics (a panicking handler unwinds out of
//! the actor's task); its `Supervisor` restarts an actor that *stopped*, not one that
//! panicked.
//!
//! The operations, each a plain async function:
//!
//! | function          | what is measured                                              |
//! |-------------------|---------------------------------------------------------------|
//! | `restart_latency` | `n` times: the child's `Crash` handler notes [`Instant::now`] and panics; then a `Ping` is handled by the new instance and answers *its* `Instant::now()`; one sample = Ping's instant − the crash instant (no reply trip in it). Into a [`Latencies`] histogram |
//! | `one_for_all`     | a one-for-all supervisor with `children` children; `rounds` times: one child (the middle one) panics, and the round takes from its crash instant to the instant the last of the `children` new instances' `init`/`on_start`/`pre_start` returned ([`Probe::started`] counts them) |
//!
//! How the `Ping` gets to the new instance differs, because the frameworks differ:
//! - ackor, kameo: `Crash` and `Ping` are sent back to back to the same handle; `Ping`
//!   waits in the mailbox, which survives the restart, and the new instance handles it.
//! - ractor: the failed actor's mailbox dies with it, so nothing sent before the
//!   restart can reach the new actor. The bench hands the supervisor the `Crash` and the
//!   `Ping`'s reply port in one message; the supervisor forwards `Crash` to the child
//!   and, as soon as `spawn_linked` of the replacement returned, sends it the `Ping`.
//!   That is the earliest a message can reach the replacement (nobody but the
//!   supervisor knows its handle before).
//! - tokio: the same task takes the next message from its channel.
//!
//! Panics print through the panic hook; [`quiet_crash_panics`] installs (once per
//! process) a hook that is silent for the bench's own crash message and passes every
//! other panic on to the hook that was there before, so what is measured is the
//! restart, not writing a message and a backtrace note to stderr.

pub mod ackor_sup;
pub mod kameo_sup;
pub mod ractor_sup;
pub mod tokio_sup;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::BenchError;
pub use crate::remote::Latencies;

/// The payload of the bench's deliberate panics (what [`quiet_crash_panics`] silences).
pub const CRASH_MESSAGE: &str = "ackor-bench: supervised child crashes on purpose";

/// Children of the one-for-all supervisor in the reported figures.
pub const ONE_FOR_ALL_CHILDREN: usize = 1000;

/// How long a restart or a one-for-all round may take before the bench gives up.
pub const GIVE_UP: Duration = Duration::from_secs(60);

static PANIC_HOOK: Once = Once::new();

/// Leaves the panic hook as it is for the rest of the process, so every crash is
/// printed (to measure what printing costs); call it before any operation.
pub fn print_crash_panics() {
    PANIC_HOOK.call_once(|| {});
}

/// Installs, once per process, a panic hook that says nothing for a panic whose
/// payload is [`CRASH_MESSAGE`] and hands every other panic to the previous hook.
pub fn quiet_crash_panics() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&CRASH_MESSAGE) {
                previous(info);
            }
        }));
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the children of one bench share: when the last crash happened, and how many
/// instances have started since the probe was armed.
#[derive(Debug)]
pub struct Probe {
    crashed_at: Mutex<Option<Instant>>,
    starts: AtomicUsize,
    target: AtomicUsize,
    first_up_at: Mutex<Option<Instant>>,
    all_up_at: Mutex<Option<Instant>>,
    all_up: Notify,
}

impl Default for Probe {
    fn default() -> Self {
        Probe::new()
    }
}

/// One one-for-all round: from the crash instant to the first and to the last new
/// instance's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Crash → the first new instance started (its `init` returned): roughly the time
    /// the old instances took to end.
    pub first_up: Duration,
    /// Crash → the last new instance started: every child is up again.
    pub all_up: Duration,
}

impl Probe {
    /// A probe that is not armed.
    pub fn new() -> Self {
        Probe {
            crashed_at: Mutex::new(None),
            starts: AtomicUsize::new(0),
            target: AtomicUsize::new(usize::MAX),
            first_up_at: Mutex::new(None),
            all_up_at: Mutex::new(None),
            all_up: Notify::new(),
        }
    }

    /// Notes the instant and panics with [`CRASH_MESSAGE`]: call it in the handler.
    pub fn crash(&self) -> ! {
        *lock(&self.crashed_at) = Some(Instant::now());
        std::panic::panic_any(CRASH_MESSAGE)
    }

    /// The instant of the last crash, taken (an error if there was none since).
    pub fn take_crash(&self) -> Result<Instant, BenchError> {
        lock(&self.crashed_at)
            .take()
            .ok_or_else(|| "no crash instant recorded".into())
    }

    /// Counts from zero, and waits for `target` starts.
    pub fn arm(&self, target: usize) {
        *lock(&self.first_up_at) = None;
        *lock(&self.all_up_at) = None;
        self.starts.store(0, Ordering::SeqCst);
        self.target.store(target, Ordering::SeqCst);
    }

    /// A new instance started: call it at the very end of `init`/`on_start`/`pre_start`.
    pub fn started(&self) {
        let target = self.target.load(Ordering::SeqCst);
        let n = self.starts.fetch_add(1, Ordering::SeqCst) + 1;
        if n == 1 {
            *lock(&self.first_up_at) = Some(Instant::now());
        }
        if n == target {
            *lock(&self.all_up_at) = Some(Instant::now());
            self.all_up.notify_one();
        }
    }

    /// Instances started since [`Probe::arm`].
    pub fn starts(&self) -> usize {
        self.starts.load(Ordering::SeqCst)
    }

    /// Waits until the armed number of instances has started; the instant of the
    /// first start and of the last.
    pub async fn wait_all_up(&self) -> Result<(Instant, Instant), BenchError> {
        tokio::time::timeout(GIVE_UP, async {
            loop {
                let waiting = self.all_up.notified();
                let first = *lock(&self.first_up_at);
                if let (Some(first), Some(all)) = (first, *lock(&self.all_up_at)) {
                    return (first, all);
                }
                waiting.await;
            }
        })
        .await
        .map_err(|_| {
            format!(
                "only {} of {} instances started within {GIVE_UP:?}",
                self.starts(),
                self.target.load(Ordering::SeqCst)
            )
            .into()
        })
    }

    /// Waits for the armed starts and returns the round as measured from the last crash.
    pub async fn round(&self) -> Result<Round, BenchError> {
        let (first, all) = self.wait_all_up().await?;
        let crashed = self.take_crash()?;
        Ok(Round {
            first_up: first.saturating_duration_since(crashed),
            all_up: all.saturating_duration_since(crashed),
        })
    }
}

/// Mean, min and max of the rounds' `all_up`, in milliseconds.
pub fn all_up_ms(rounds: &[Round]) -> (f64, f64, f64) {
    summary_ms(rounds.iter().map(|r| r.all_up))
}

/// Mean, min and max of the rounds' `first_up`, in milliseconds.
pub fn first_up_ms(rounds: &[Round]) -> (f64, f64, f64) {
    summary_ms(rounds.iter().map(|r| r.first_up))
}

fn summary_ms(durations: impl Iterator<Item = Duration>) -> (f64, f64, f64) {
    let ms: Vec<f64> = durations.map(|d| d.as_secs_f64() * 1e3).collect();
    if ms.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let mean = ms.iter().sum::<f64>() / ms.len() as f64;
    let min = ms.iter().copied().fold(f64::INFINITY, f64::min);
    let max = ms.iter().copied().fold(0.0, f64::max);
    (mean, min, max)
}

/// Checks a one-for-all round's count: exactly `want` instances started.
pub fn check_starts(framework: &str, probe: &Probe, want: usize) -> Result<(), BenchError> {
    let got = probe.starts();
    if got == want {
        Ok(())
    } else {
        Err(format!("{framework}: {got} instances started in a one-for-all round, want {want}").into())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn probe_counts_starts_and_times_rounds() {
        quiet_crash_panics();
        let rt = crate::runtime().unwrap();
        crate::run_on_worker(&rt, async {
            let probe = std::sync::Arc::new(Probe::new());
            probe.arm(3);
            let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                probe.crash();
            }));
            assert!(crashed.is_err());
            for _ in 0..3 {
                probe.started();
            }
            let round = probe.round().await.unwrap();
            assert!(round.first_up <= round.all_up);
            check_starts("test", &probe, 3).unwrap();
            assert!(probe.take_crash().is_err(), "taken");
            let (mean, min, max) = all_up_ms(&[round, round]);
            assert!(min <= mean && mean <= max);
        })
        .unwrap();
    }
}
