//! kameo: its built-in supervision. The supervisor is an actor whose
//! `supervision_strategy()` is `OneForOne` or `OneForAll`; children are spawned with
//! `Crasher::supervise(&supervisor, probe)`, `RestartPolicy::Permanent` (the default),
//! `restart_limit(u32::MAX, 1 s)` (never exceeded), on a bounded mailbox of
//! [`MAILBOX`]. A child that panics stops (kameo's default `on_panic`) and hands its
//! mailbox receiver to its supervisor, which spawns a new instance (a new task) on it
//! with the same actor id: the `ActorRef` the bench holds stays valid and the messages
//! queued behind the panic are kept, as with ackor. `Crash` is `tell(..).await`, `Ping`
//! an `ask(..).await` right behind it on the same `ActorRef`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kameo::actor::{ActorRef, Spawn};
use kameo::error::Infallible;
use kameo::mailbox;
use kameo::message::{Context, Message};
use kameo::supervision::SupervisionStrategy;

use super::{Latencies, Probe, Round, check_starts};
use crate::{BenchError, MAILBOX};

/// A supervisor with no state of its own; `ALL` picks one-for-all over one-for-one.
#[derive(Debug)]
pub struct Sup<const ALL: bool>;

impl<const ALL: bool> kameo::Actor for Sup<ALL> {
    type Args = ();
    type Error = Infallible;

    fn supervision_strategy() -> SupervisionStrategy {
        if ALL {
            SupervisionStrategy::OneForAll
        } else {
            SupervisionStrategy::OneForOne
        }
    }

    async fn on_start(_args: (), _actor_ref: ActorRef<Self>) -> Result<Self, Infallible> {
        Ok(Sup)
    }
}

/// A child that panics on [`Crash`] and answers [`Ping`] with the instant it handled it.
#[derive(Debug)]
pub struct Crasher {
    probe: Arc<Probe>,
}

impl kameo::Actor for Crasher {
    type Args = Arc<Probe>;
    type Error = Infallible;

    async fn on_start(probe: Arc<Probe>, _actor_ref: ActorRef<Self>) -> Result<Self, Infallible> {
        probe.started();
        Ok(Crasher { probe })
    }
}

/// Panics (after noting the instant in the probe).
#[derive(Debug)]
pub struct Crash;

/// Answers the instant it was handled.
#[derive(Debug)]
pub struct Ping;

/// The instant a [`Ping`] was handled (kameo replies must implement `kameo::Reply`).
#[derive(Debug, kameo::Reply)]
pub struct Handled(pub Instant);

impl Message<Crash> for Crasher {
    type Reply = ();

    async fn handle(&mut self, _msg: Crash, _ctx: &mut Context<Self, ()>) {
        self.probe.crash()
    }
}

impl Message<Ping> for Crasher {
    type Reply = Handled;

    async fn handle(&mut self, _msg: Ping, _ctx: &mut Context<Self, Handled>) -> Handled {
        Handled(Instant::now())
    }
}

fn err(e: impl std::fmt::Display) -> BenchError {
    format!("kameo: {e}").into()
}

/// Spawns a supervisor and `children` supervised crashers, and waits until all are up.
async fn start<const ALL: bool>(
    children: usize,
    probe: &Arc<Probe>,
) -> Result<(ActorRef<Sup<ALL>>, Vec<ActorRef<Crasher>>), BenchError> {
    let sup = Sup::<ALL>::spawn(());
    sup.wait_for_startup().await;
    probe.arm(children);
    let mut refs = Vec::with_capacity(children);
    for _ in 0..children {
        refs.push(
            Crasher::supervise(&sup, probe.clone())
                .restart_limit(u32::MAX, Duration::from_secs(1))
                .spawn_with_mailbox(mailbox::bounded(MAILBOX))
                .await,
        );
    }
    probe.wait_all_up().await?;
    Ok((sup, refs))
}

async fn stop<const ALL: bool>(sup: &ActorRef<Sup<ALL>>) -> Result<(), BenchError> {
    sup.stop_gracefully().await.map_err(err)?;
    sup.wait_for_shutdown().await;
    Ok(())
}

/// `n` restarts of one one-for-one child: crash → `Ping` handled by the new instance.
pub async fn restart_latency(n: u64) -> Result<Latencies, BenchError> {
    super::quiet_crash_panics();
    let probe = Arc::new(Probe::new());
    let (sup, refs) = start::<false>(1, &probe).await?;
    let child = &refs[0];
    let mut lat = Latencies::new();
    for _ in 0..n {
        child.tell(Crash).await.map_err(err)?;
        let Handled(handled) = child.ask(Ping).await.map_err(err)?;
        lat.record(handled.saturating_duration_since(probe.take_crash()?));
    }
    stop(&sup).await?;
    Ok(lat)
}

/// A one-for-all supervisor of `children` crashers; `rounds` times the middle child
/// crashes, until every child's new instance is up.
pub async fn one_for_all(children: usize, rounds: usize) -> Result<Vec<Round>, BenchError> {
    super::quiet_crash_panics();
    let probe = Arc::new(Probe::new());
    let (sup, refs) = start::<true>(children, &probe).await?;
    let victim = &refs[children / 2];
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        probe.arm(children);
        victim.tell(Crash).await.map_err(err)?;
        out.push(probe.round().await?);
        // Every child answers from its new instance before the next round.
        for child in &refs {
            child.ask(Ping).await.map_err(err)?;
        }
        check_starts("kameo", &probe, children)?;
    }
    stop(&sup).await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn restarts_are_measured() {
        let rt = crate::runtime().unwrap();
        crate::run_on_worker(&rt, async {
            let lat = restart_latency(50).await.unwrap();
            assert_eq!(lat.count(), 50);
            let rounds = one_for_all(20, 3).await.unwrap();
            assert_eq!(rounds.len(), 3);
        })
        .unwrap();
    }
}
