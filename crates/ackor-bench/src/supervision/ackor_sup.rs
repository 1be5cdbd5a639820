//! ackor: a [`Supervisor`] and its [`Crasher`] children.
//!
//! Configuration: the bench node ([`crate::ackor_impl::start_node`], user lanes of
//! [`MAILBOX`](crate::MAILBOX)); children are `ChildSpec::new::<Crasher>` with the
//! defaults (permanent, restarted at once: no backoff); the supervisor's intensity is
//! `usize::MAX` restarts in 1 s (never exceeded). `Crash` is sent with
//! [`ActorRef::send`], `Ping` with [`ActorRef::call`] right behind it, on the same
//! handle: the restart is in place, so `Ping` waits in the mailbox for the new instance.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ackor::supervision::{ChildSpec, Strategy, Supervisor, SupervisorSpec, WhichChildren};
use ackor::{Actor, ActorRef, BoxError, Context, ExitReason, Handler, Message, Node, Pid};

use super::{Latencies, Probe, Round, check_starts};
use crate::BenchError;

/// A child that panics on [`Crash`] and answers [`Ping`] with the instant it handled it.
#[derive(Debug)]
pub struct Crasher {
    probe: Arc<Probe>,
}

impl Actor for Crasher {
    type Args = Arc<Probe>;

    async fn init(probe: Arc<Probe>, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        probe.started();
        Ok(Crasher { probe })
    }
}

/// Panics (after noting the instant in the probe).
#[derive(Debug)]
pub struct Crash;

impl Message for Crash {
    type Reply = ();
}

impl Handler<Crash> for Crasher {
    type Return = ();

    async fn handle(&mut self, _msg: Crash, _ctx: &mut Context<Self>) {
        self.probe.crash()
    }
}

/// Answers the instant it was handled.
#[derive(Debug)]
pub struct Ping;

impl Message for Ping {
    type Reply = Instant;
}

impl Handler<Ping> for Crasher {
    type Return = Instant;

    async fn handle(&mut self, _msg: Ping, _ctx: &mut Context<Self>) -> Instant {
        Instant::now()
    }
}

/// Spawns a supervisor of `children` crashers and waits until all are up; the
/// supervisor and the children's pids.
async fn start(
    node: &Node,
    strategy: Strategy,
    children: usize,
    probe: &Arc<Probe>,
) -> Result<(ActorRef<Supervisor>, Vec<Pid>), BenchError> {
    let mut spec = SupervisorSpec::new(strategy).intensity(usize::MAX, Duration::from_secs(1));
    for i in 0..children {
        let probe = probe.clone();
        spec = spec.child(ChildSpec::new::<Crasher>(format!("c{i}"), move || probe.clone()));
    }
    let sup = node.spawn::<Supervisor>(spec)?;
    // Handled once init has started every child.
    let pids = child_pids(&sup).await.map_err(|e| {
        format!(
            "ackor: starting {children} children: {e} ({} instances started, {} processes)",
            probe.starts(),
            node.process_count()
        )
    })?;
    Ok((sup, pids))
}

async fn child_pids(sup: &ActorRef<Supervisor>) -> Result<Vec<Pid>, BenchError> {
    sup.call(WhichChildren)
        .await?
        .into_iter()
        .map(|c| {
            c.pid
                .ok_or_else(|| BenchError::from("ackor: a child has no process"))
        })
        .collect()
}

async fn stop(node: &Node, sup: &ActorRef<Supervisor>) -> Result<(), BenchError> {
    sup.stop()?;
    match sup.wait_for_stop().await {
        ExitReason::Normal => {}
        other => return Err(format!("ackor: supervisor stopped with {other}").into()),
    }
    if node.process_count() != 0 {
        return Err(format!(
            "ackor: {} processes left after the supervisor stopped",
            node.process_count()
        )
        .into());
    }
    Ok(())
}

/// `n` restarts of one one-for-one child: crash → `Ping` handled by the new instance.
pub async fn restart_latency(node: &Node, n: u64) -> Result<Latencies, BenchError> {
    super::quiet_crash_panics();
    let probe = Arc::new(Probe::new());
    let (sup, pids) = start(node, Strategy::OneForOne, 1, &probe).await?;
    let child = node.actor_ref::<Crasher>(&pids[0])?;
    let mut lat = Latencies::new();
    for _ in 0..n {
        child.send(Crash)?;
        let handled = child.call(Ping).await?;
        lat.record(handled.saturating_duration_since(probe.take_crash()?));
    }
    if child_pids(&sup).await? != pids {
        return Err("ackor: a child's pid changed (not restarted in place)".into());
    }
    stop(node, &sup).await?;
    Ok(lat)
}

/// A one-for-all supervisor of `children` crashers; `rounds` times the middle child
/// crashes, until every child's new instance is up.
pub async fn one_for_all(node: &Node, children: usize, rounds: usize) -> Result<Vec<Round>, BenchError> {
    super::quiet_crash_panics();
    let probe = Arc::new(Probe::new());
    let (sup, pids) = start(node, Strategy::OneForAll, children, &probe).await?;
    let victim = node.actor_ref::<Crasher>(&pids[children / 2])?;
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        probe.arm(children);
        victim.send(Crash)?;
        out.push(probe.round().await?);
        // The supervisor answers once it has finished the restart (its ChildEnded
        // handler); the next round starts from a quiet supervisor.
        let after = child_pids(&sup)
            .await
            .map_err(|e| format!("ackor: asking the supervisor after a round: {e}"))?;
        if after != pids {
            return Err("ackor: a child's pid changed (not restarted in place)".into());
        }
        check_starts("ackor", &probe, children)?;
    }
    stop(node, &sup).await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ackor_impl::start_node;

    #[test]
    fn restarts_are_measured() {
        let rt = crate::runtime().unwrap();
        crate::run_on_worker(&rt, async {
            let node = start_node().await.unwrap();
            let lat = restart_latency(&node, 50).await.unwrap();
            assert_eq!(lat.count(), 50);
            let rounds = one_for_all(&node, 20, 3).await.unwrap();
            assert_eq!(rounds.len(), 3);
            node.shutdown().await;
        })
        .unwrap();
    }
}
