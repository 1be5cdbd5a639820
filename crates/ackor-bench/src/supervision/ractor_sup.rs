//! ractor: no restart in the library, so a hand-written parent supervises. ractor
//! catches the child's panic and tells the parent (`SupervisionEvent::ActorFailed`);
//! the parent spawns a **new** child with `Actor::spawn_linked` (which returns once the
//! new child's `pre_start` has run) and replaces the old `ActorRef` in its list. The
//! failed child's mailbox dies with it: nothing queued behind the panic survives.
//!
//! - Restart latency: the bench calls the parent with `CrashThenPing(reply)`; the
//!   parent casts `Crash` to the child and keeps `reply`; when the replacement is
//!   spawned, the parent casts it `Ping(reply)` at once, and the replacement answers its
//!   `Instant::now()`. Measured: crash instant → that instant (as for ackor and kameo);
//!   what differs is that `Ping` is sent by the parent after the restart instead of
//!   waiting in a mailbox that survives it.
//! - One-for-all (written here, as ractor has no strategies): on `ActorFailed` the
//!   parent asks every other child to stop (`stop(None)`, all at once), awaits every
//!   old child's task, then spawns the new children in order, each `spawn_linked`
//!   awaited before the next (like ackor, and OTP, start them one after the other).
//!   `ActorTerminated` events of the children it stopped are ignored.

use std::sync::Arc;
use std::time::Instant;

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};
use tokio::task::JoinHandle;

use super::{Latencies, Probe, Round, check_starts};
use crate::BenchError;

/// A child that panics on `Crash` and answers `Ping` with the instant it handled it.
#[derive(Debug)]
pub struct Crasher {
    probe: Arc<Probe>,
}

/// The messages of [`Crasher`].
#[derive(Debug)]
pub enum Msg {
    /// Panics (after noting the instant in the probe).
    Crash,
    /// Answers the instant it was handled.
    Ping(RpcReplyPort<Instant>),
}

// Local-only message (see `ractor_impl`: the cluster feature is on in this crate).
impl ractor::Message for Msg {}

impl Actor for Crasher {
    type Msg = Msg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _myself: ActorRef<Msg>, _args: ()) -> Result<(), ActorProcessingErr> {
        self.probe.started();
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Msg>,
        msg: Msg,
        _state: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            Msg::Crash => self.probe.crash(),
            Msg::Ping(reply) => {
                let _ = reply.send(Instant::now());
            }
        }
        Ok(())
    }
}

/// Which children the parent restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The failed one.
    OneForOne,
    /// All of them.
    OneForAll,
}

/// The hand-written supervisor.
#[derive(Debug)]
pub struct Parent {
    probe: Arc<Probe>,
    strategy: Strategy,
    children: usize,
}

/// The messages of [`Parent`].
#[derive(Debug)]
pub enum ParentMsg {
    /// Crash child `0`; send the replacement a `Ping` with this reply port.
    CrashThenPing(RpcReplyPort<Instant>),
    /// Crash child `.0`.
    Crash(usize),
    /// Ping every child (each answers its instant), then reply.
    PingAll(RpcReplyPort<()>),
}

impl ractor::Message for ParentMsg {}

/// The parent's children: handle and task, in start order.
pub struct ParentState {
    children: Vec<(ActorRef<Msg>, JoinHandle<()>)>,
    pending_ping: Option<RpcReplyPort<Instant>>,
}

impl Parent {
    async fn spawn_child(
        &self,
        myself: &ActorRef<ParentMsg>,
    ) -> Result<(ActorRef<Msg>, JoinHandle<()>), ActorProcessingErr> {
        let child = Crasher {
            probe: self.probe.clone(),
        };
        Ok(Actor::spawn_linked(None, child, (), myself.get_cell()).await?)
    }
}

impl Actor for Parent {
    type Msg = ParentMsg;
    type State = ParentState;
    type Arguments = ();

    async fn pre_start(
        &self,
        myself: ActorRef<ParentMsg>,
        _args: (),
    ) -> Result<ParentState, ActorProcessingErr> {
        let mut children = Vec::with_capacity(self.children);
        for _ in 0..self.children {
            children.push(self.spawn_child(&myself).await?);
        }
        Ok(ParentState {
            children,
            pending_ping: None,
        })
    }

    async fn handle(
        &self,
        _myself: ActorRef<ParentMsg>,
        msg: ParentMsg,
        state: &mut ParentState,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ParentMsg::CrashThenPing(reply) => {
                state.pending_ping = Some(reply);
                state.children[0].0.cast(Msg::Crash)?;
            }
            ParentMsg::Crash(i) => state.children[i].0.cast(Msg::Crash)?,
            ParentMsg::PingAll(reply) => {
                for (child, _) in &state.children {
                    child.call(Msg::Ping, None).await?;
                }
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<ParentMsg>,
        event: SupervisionEvent,
        state: &mut ParentState,
    ) -> Result<(), ActorProcessingErr> {
        let SupervisionEvent::ActorFailed(cell, _) = event else {
            // Started, and the terminations of the children stopped below.
            return Ok(());
        };
        let Some(index) = state
            .children
            .iter()
            .position(|(child, _)| child.get_id() == cell.get_id())
        else {
            return Ok(());
        };
        match self.strategy {
            Strategy::OneForOne => {
                state.children[index] = self.spawn_child(&myself).await?;
            }
            Strategy::OneForAll => {
                let old = std::mem::take(&mut state.children);
                for (child, _) in &old {
                    child.stop(None);
                }
                for (_, task) in old {
                    let _ = task.await;
                }
                for _ in 0..self.children {
                    let child = self.spawn_child(&myself).await?;
                    state.children.push(child);
                }
            }
        }
        if let Some(reply) = state.pending_ping.take() {
            state.children[index].0.cast(Msg::Ping(reply))?;
        }
        Ok(())
    }
}

fn err(e: impl std::fmt::Display) -> BenchError {
    format!("ractor: {e}").into()
}

async fn start(
    strategy: Strategy,
    children: usize,
    probe: &Arc<Probe>,
) -> Result<ActorRef<ParentMsg>, BenchError> {
    let parent = Parent {
        probe: probe.clone(),
        strategy,
        children,
    };
    // Returns once pre_start, which spawned every child (each started), has run.
    let (parent, _task) = Actor::spawn(None, parent, ()).await.map_err(err)?;
    Ok(parent)
}

async fn stop(parent: &ActorRef<ParentMsg>) -> Result<(), BenchError> {
    parent.stop_children_and_wait(None, None).await;
    parent.stop_and_wait(None, None).await.map_err(err)
}

fn answer<T>(r: CallResult<T>) -> Result<T, BenchError> {
    match r {
        CallResult::Success(v) => Ok(v),
        CallResult::Timeout => Err("ractor: call timed out".into()),
        CallResult::SenderError => Err("ractor: reply port dropped".into()),
    }
}

/// `n` restarts of one child: crash → `Ping` (sent by the parent right after the
/// respawn) handled by the new actor.
pub async fn restart_latency(n: u64) -> Result<Latencies, BenchError> {
    super::quiet_crash_panics();
    let probe = Arc::new(Probe::new());
    let parent = start(Strategy::OneForOne, 1, &probe).await?;
    let mut lat = Latencies::new();
    for _ in 0..n {
        let handled = answer(parent.call(ParentMsg::CrashThenPing, None).await.map_err(err)?)?;
        lat.record(handled.saturating_duration_since(probe.take_crash()?));
    }
    stop(&parent).await?;
    Ok(lat)
}

/// A one-for-all parent of `children` crashers; `rounds` times the middle child
/// crashes, until every child's replacement is up.
pub async fn one_for_all(children: usize, rounds: usize) -> Result<Vec<Round>, BenchError> {
    super::quiet_crash_panics();
    let probe = Arc::new(Probe::new());
    let parent = start(Strategy::OneForAll, children, &probe).await?;
    let mut out = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        probe.arm(children);
        parent.cast(ParentMsg::Crash(children / 2)).map_err(err)?;
        out.push(probe.round().await?);
        // Every new child answers before the next round.
        answer(parent.call(ParentMsg::PingAll, None).await.map_err(err)?)?;
        check_starts("ractor", &probe, children)?;
    }
    stop(&parent).await?;
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
