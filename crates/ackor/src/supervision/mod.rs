//! Supervision: a [`Supervisor`] starts its children in order, restarts them when they
//! fail, per a [`Strategy`], and stops them in reverse order.
//!
//! A child is restarted **in place**: its new instance runs on the same pid, keeps its
//! registered name and its mailbox, and handles the messages already queued, in their
//! order, including important sends already acknowledged to their senders. Only the
//! message being handled when it failed is lost, and its caller is told
//! ([`Error::ActorFailed`]); so are callers whose deferred
//! replies the failed instance held. Requests the failed instance had in flight get
//! their continuations run on it (with `RequestCanceled`), never on the new one. (OTP
//! restarts a process with a new pid and an empty mailbox; Akka restarts in place, as
//! here.)
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
//! use ackor::supervision::{ChildSpec, Strategy, Supervisor, SupervisorSpec, WhichChildren};
//! use ackor::{Actor, BoxError, Context, Handler, Message, Node};
//!
//! struct Parser;
//! impl Actor for Parser {
//!     type Args = ();
//!     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Parser) }
//! }
//! struct Parse(String);
//! impl Message for Parse { type Reply = u32; }
//! impl Handler<Parse> for Parser {
//!     type Return = u32;
//!     async fn handle(&mut self, msg: Parse, _: &mut Context<Self>) -> u32 {
//!         msg.0.parse().expect("a number") // bad input panics: let it crash
//!     }
//! }
//!
//! let node = Node::builder().name("doc@local").start().await?;
//! let spec = SupervisorSpec::new(Strategy::OneForOne)
//!     .child(ChildSpec::new::<Parser>("parser", || ()).name("parser"));
//! let sup = node.spawn::<Supervisor>(spec)?;
//! // Spawning returns at once; a call is handled once `init` has started every child.
//! let children = sup.call(WhichChildren).await?;
//! assert_eq!(children[0].id, "parser");
//! let parser = node.lookup::<Parser>(&ackor::ProcessId::new("parser", node.name().clone()))?;
//!
//! assert!(matches!(parser.call(Parse("x".into())).await, Err(ackor::Error::ActorFailed(_))));
//! assert_eq!(parser.call(Parse("42".into())).await?, 42); // same pid, new instance
//! node.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
mod group;
mod spec;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use api::{
    ChildInfo, CountChildren, DeleteChild, RestartChild, StartChild, TerminateChild, WhichChildren,
};
use group::{ChildEnded, Group, Verdict};
pub use spec::{Backoff, ChildSpec, Restart, Strategy, SupervisorSpec};

use crate::actor::SpawnOptions;
use crate::actor::{Actor, Context, Ending, Handler};
use crate::error::{BoxError, Error};
use crate::identity::{Pid, Ref};
use crate::monitor::{Down, ExitReason, SystemMsg};
use crate::node::Node;
use crate::route::ActorRef;

/// How long [`Supervisor::start`] waits for the children to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// An actor that supervises others; spawn it with a [`SupervisorSpec`]. It can be a
/// child of another supervisor (trees): when its children fail more often than its
/// intensity allows, it stops them and fails itself.
pub struct Supervisor {
    group: Arc<Group>,
    strategy: Strategy,
    max_restarts: usize,
    within: Duration,
    node: Node,
}

impl std::fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Supervisor")
            .field("strategy", &self.strategy)
            .finish_non_exhaustive()
    }
}

impl Actor for Supervisor {
    type Args = SupervisorSpec;

    async fn init(spec: SupervisorSpec, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let mut sup = Supervisor {
            group: Group::new(Arc::downgrade(&ctx.cell)),
            strategy: spec.strategy,
            max_restarts: spec.max_restarts,
            within: spec.within,
            node: ctx.node().clone(),
        };
        for child in spec.children {
            if let Err(e) = sup.add_and_start(child, ctx).await {
                sup.stop_all().await;
                return Err(e.into());
            }
        }
        Ok(sup)
    }

    async fn on_stop(&mut self, _ctx: &mut Context<Self>, _reason: &ExitReason) {
        self.stop_all().await;
    }

    async fn on_down(&mut self, ctx: &mut Context<Self>, down: Down) {
        // A child's process ended without its run loop asking (it was killed, or it is
        // on another node, which may have gone down): it is started again (a new pid),
        // per its restart type.
        let found = self.group.update(|st| {
            let child = st
                .children
                .iter_mut()
                .find(|c| c.pid.as_ref() == Some(&down.pid))?;
            child.pid = None;
            child.process = None;
            child.up = false;
            Some((child.key, child.terminating, child.spec.restart))
        });
        let Some((key, terminating, restart)) = found else {
            return;
        };
        let ending = if down.reason.is_abnormal() {
            Ending::Failed(down.reason.clone())
        } else {
            Ending::Stopped(down.reason.clone())
        };
        if terminating || !restarts(restart, &ending) {
            return;
        }
        tracing::warn!(pid = %down.pid, reason = %down.reason, "supervised child died: starting a new one");
        if self.too_many_restarts() {
            self.escalate(ctx, &down.reason);
            return;
        }
        if let Err(e) = self.start_child(key, ctx).await {
            tracing::warn!(error = %e, "supervised child could not be started again");
        }
    }
}

impl Drop for Supervisor {
    /// A supervisor that goes without stopping its children (it was killed) leaves none
    /// behind: a child waiting for a verdict is told to stop, a running one is asked to.
    fn drop(&mut self) {
        self.group.update(|st| {
            for child in &mut st.children {
                child.terminating = true;
                if let Some((ending, tx)) = child.ended.take() {
                    let _ = tx.send(Verdict::Stop(ending.reason().clone()));
                } else if let Some(process) = &child.process {
                    let _ = process.push_system(SystemMsg::Stop(ExitReason::Shutdown));
                }
            }
        });
    }
}

/// Whether a child of restart type `restart` is restarted after `ending`.
fn restarts(restart: Restart, ending: &Ending) -> bool {
    match restart {
        Restart::Permanent => true,
        Restart::Transient => matches!(ending, Ending::Failed(_)) || ending.reason().is_abnormal(),
        Restart::Temporary => false,
    }
}

impl Supervisor {
    /// Spawns a supervisor and returns once it has started every child, in order; if
    /// one of them fails to start, the others are stopped and the error says which.
    /// (`node.spawn::<Supervisor>(spec)` returns at once instead; a call to it is
    /// handled once its children have started.)
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// use ackor::supervision::{Strategy, Supervisor, SupervisorSpec};
    /// let node = ackor::Node::builder().name("doc@local").start().await?;
    /// let sup = Supervisor::start(&node, SupervisorSpec::new(Strategy::OneForOne)).await?;
    /// assert!(sup.is_alive());
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn start(node: &Node, spec: SupervisorSpec) -> Result<ActorRef<Supervisor>, Error> {
        Self::start_with(node, spec, SpawnOptions::default()).await
    }

    /// [`Supervisor::start`] with spawn options (a name for the supervisor, say).
    pub async fn start_with(
        node: &Node,
        spec: SupervisorSpec,
        options: SpawnOptions,
    ) -> Result<ActorRef<Supervisor>, Error> {
        let sup = node.spawn_with::<Supervisor>(spec, options)?;
        // Handled once `init` returned; the timeout only bounds a child's `init` that
        // never returns.
        match sup.call(CountChildren).timeout(START_TIMEOUT).await {
            Ok(_) => Ok(sup),
            Err(Error::Timeout) => Err(Error::Timeout),
            Err(_) => Err(Error::ActorFailed(sup.wait_for_stop().await.to_string())),
        }
    }

    /// Adds a child and starts it; fails if its id is taken or it cannot start.
    async fn add_and_start(&mut self, spec: ChildSpec, ctx: &mut Context<Self>) -> Result<Pid, Error> {
        let id = spec.id.clone();
        let key = self.group.update(|st| match st.position(&id) {
            Some(_) => None,
            None => Some(st.add(spec)),
        });
        let key = key.ok_or_else(|| Error::Config(format!("a child with id {id:?} exists")))?;
        self.start_child(key, ctx).await
    }

    /// Starts child `key` (a new process) and waits until its `init` returned; an
    /// `init` that failed is an error, and the child is left stopped.
    async fn start_child(&mut self, key: u64, ctx: &mut Context<Self>) -> Result<Pid, Error> {
        let starter = {
            let mut st = self.group.lock();
            let child = st.child(key).ok_or(Error::ProcessUnknown)?;
            child.terminating = false;
            child.up = false;
            child.up_since = None;
            (child.spec.starter(), child.spec.id.clone(), child.starts)
        };
        let (start, id, starts_before) = starter;
        let (pid, process) = start(&self.node, &self.group, key).await?;
        let remote = process.is_none();
        self.group.update(|st| {
            if let Some(child) = st.child(key) {
                child.pid = Some(pid.clone());
                child.process = process;
                // A child on another node is up once spawned there; it is watched
                // through its monitor only. A local child says so itself, and may
                // already have (its task can run on the other worker before this).
                if remote {
                    child.up = true;
                    child.up_since = Some(Instant::now());
                }
            }
        });
        ctx.monitor(&pid);
        if remote {
            return Ok(pid);
        }
        // Up, or ended before it was ever up (its `init` failed). An instance that came
        // up and ended already (it crashed at once) is a started child: its ending is
        // the `ChildEnded` handler's.
        self.group
            .until(|st| {
                st.child(key)
                    .is_none_or(|c| c.starts > starts_before || c.ended.is_some())
            })
            .await;
        let failed = self.group.update(|st| {
            let child = st.child(key)?;
            if child.starts > starts_before {
                return None;
            }
            let ended = child.ended.take()?;
            child.terminating = true;
            Some(ended)
        });
        if let Some((ending, verdict)) = failed {
            let _ = verdict.send(Verdict::Stop(ending.reason().clone()));
            self.forget_process(key).await;
            return Err(Error::ActorFailed(format!(
                "child {id:?} failed to start: {}",
                ending.reason()
            )));
        }
        Ok(pid)
    }

    /// Waits until child `key`'s process has ended, then forgets it.
    async fn forget_process(&self, key: u64) {
        let process = self.group.lock().child(key).and_then(|c| c.process.clone());
        if let Some(process) = process {
            crate::monitor::wait_for_exit(process.clone()).await;
        }
        self.group.update(|st| {
            if let Some(child) = st.child(key) {
                child.pid = None;
                child.process = None;
                child.up = false;
            }
        });
    }

    /// Stops child `key` for good: asks it to stop, waits its shutdown timeout, then
    /// kills it.
    async fn stop_child(&self, key: u64) {
        let found = self.group.update(|st| {
            let child = st.child(key)?;
            child.terminating = true;
            Some((child.process.clone(), child.pid.clone(), child.spec.shutdown))
        });
        let Some((process, pid, shutdown)) = found else {
            return;
        };
        let Some(process) = process else {
            if let Some(pid) = pid {
                self.stop_remote(&pid, shutdown).await;
            }
            self.forget_process(key).await;
            return;
        };
        let stop_waiting = |st: &mut group::State| {
            if let Some((ending, tx)) = st.child(key).and_then(|c| c.ended.take()) {
                let _ = tx.send(Verdict::Stop(ending.reason().clone()));
                true
            } else {
                false
            }
        };
        if !self.group.update(stop_waiting) {
            let _ = process.push_system(SystemMsg::Stop(ExitReason::Shutdown));
            // Its instance ends (and waits for the verdict), or its process ends (it
            // was already told to stop), within its shutdown time.
            let ended = self
                .group
                .until(|st| st.child(key).is_none_or(|c| c.ended.is_some()));
            let exited = crate::monitor::wait_for_exit(process.clone());
            let in_time = tokio::time::timeout(shutdown, async {
                tokio::select! {
                    () = ended => {}
                    _ = exited => {}
                }
            })
            .await
            .is_ok();
            let done = in_time && (self.group.update(stop_waiting) || process.core().is_terminated());
            if !done {
                tracing::warn!(pid = %process.core().pid(), "supervised child killed: it did not stop in time");
                process.kill();
            }
        }
        self.forget_process(key).await;
    }

    /// Stops a child on another node: asks it to stop, waits for its `Down` up to
    /// `shutdown`, then kills it.
    async fn stop_remote(&self, pid: &Pid, shutdown: Duration) {
        let Some(remote) = self.node.remote() else {
            return;
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mref = Ref::new(self.node.name().clone(), self.node.creation());
        let on_down = Box::new(move |_: Pid, reason: ExitReason| {
            let _ = tx.send(reason);
        });
        remote.monitor(pid, None, &mref, on_down);
        let _ = remote.exit(None, pid, &ExitReason::Shutdown);
        if tokio::time::timeout(shutdown, rx).await.is_err() {
            tracing::warn!(%pid, "supervised remote child killed: it did not stop in time");
            let _ = remote.exit(None, pid, &ExitReason::Killed);
        }
    }

    /// Stops every child, in reverse order.
    async fn stop_all(&mut self) {
        let keys: Vec<u64> = self.group.lock().children.iter().map(|c| c.key).collect();
        for key in keys.into_iter().rev() {
            self.stop_child(key).await;
        }
    }

    /// Counts a restart; true if that is one more than the intensity allows.
    fn too_many_restarts(&self) -> bool {
        let now = Instant::now();
        let within = self.within;
        let max = self.max_restarts;
        self.group.update(|st| {
            st.restarts.push_back(now);
            while st
                .restarts
                .front()
                .is_some_and(|t| now.duration_since(*t) > within)
            {
                st.restarts.pop_front();
            }
            st.restarts.len() > max
        })
    }

    /// Restarts beyond the intensity: this supervisor stops its children and fails.
    fn escalate(&self, ctx: &mut Context<Self>, last: &ExitReason) {
        let reason = ExitReason::Error(format!(
            "more than {} restarts within {:?} (last: {last})",
            self.max_restarts, self.within
        ));
        tracing::warn!(pid = %ctx.pid(), %reason, "supervisor gives up");
        ctx.stop_with(reason);
    }

    /// An instance of child `key` ended: restart it (and, per the strategy, its
    /// siblings), or let it stop.
    async fn child_ended(&mut self, key: u64, ctx: &mut Context<Self>) {
        let taken = self.group.update(|st| {
            let index = st.children.iter().position(|c| c.key == key)?;
            let child = &mut st.children[index];
            let (ending, tx) = child.ended.take()?;
            Some((index, ending, tx, child.terminating, child.spec.restart))
        });
        let Some((index, ending, tx, terminating, restart)) = taken else {
            return;
        };
        // Nothing is restarted while the node shuts down.
        let terminating = terminating || self.node.is_stopping();
        if terminating || !restarts(restart, &ending) {
            // Not restarted: its process ends now (its `Down` is not a failure).
            self.group.update(|st| {
                if let Some(child) = st.child(key) {
                    child.terminating = true;
                }
            });
            let _ = tx.send(Verdict::Stop(ending.reason().clone()));
            if !terminating {
                self.forget_process(key).await;
                if restart == Restart::Temporary {
                    // A temporary child's spec goes with it, as in OTP.
                    self.group.update(|st| st.remove(|c| c.key == key));
                }
            }
            return;
        }
        if self.too_many_restarts() {
            let _ = tx.send(Verdict::Stop(ending.reason().clone()));
            self.escalate(ctx, ending.reason());
            return;
        }
        let delay = self.group.update(|st| {
            let child = st.child(key)?;
            let backoff = child.spec.backoff;
            let stable = child.up_since.is_some_and(|t| t.elapsed() >= backoff.reset_after);
            let previous = if stable { None } else { child.delay };
            let delay = backoff.next(previous);
            child.delay = Some(delay);
            Some(backoff.jittered(delay))
        });
        let delay = delay.unwrap_or_default();
        match self.strategy {
            Strategy::OneForOne => {
                if delay.is_zero() {
                    let _ = tx.send(Verdict::Restart);
                } else {
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = tx.send(Verdict::Restart);
                    });
                }
            }
            Strategy::OneForAll | Strategy::RestForOne => {
                let keys: Vec<u64> = {
                    let st = self.group.lock();
                    let from = if self.strategy == Strategy::OneForAll {
                        0
                    } else {
                        index
                    };
                    st.children.iter().skip(from).map(|c| c.key).collect()
                };
                self.restart_group(key, tx, &keys, ending.reason(), delay, ctx)
                    .await;
            }
        }
    }

    /// Restarts the children `keys` (in their order) after `failed` failed: the others
    /// end their instances in reverse order, then all start again in order, each once
    /// the one before it is up.
    async fn restart_group(
        &mut self,
        failed: u64,
        failed_tx: tokio::sync::oneshot::Sender<Verdict>,
        keys: &[u64],
        why: &ExitReason,
        delay: Duration,
        ctx: &mut Context<Self>,
    ) {
        let mut waiting = HashMap::new();
        waiting.insert(failed, failed_tx);
        let reason = ExitReason::Error(format!("a sibling failed: {why}"));
        for &key in keys.iter().rev() {
            if key == failed {
                continue;
            }
            let found = self.group.update(|st| {
                st.child(key)
                    .map(|c| (c.process.clone(), c.pid.clone(), c.spec.shutdown))
            });
            let Some((process, pid, shutdown)) = found else {
                continue;
            };
            let Some(process) = process else {
                // On another node: stopped, and started afresh below.
                if let Some(pid) = pid {
                    self.group.update(|st| {
                        if let Some(child) = st.child(key) {
                            child.terminating = true;
                        }
                    });
                    self.stop_remote(&pid, shutdown).await;
                }
                self.forget_process(key).await;
                continue;
            };
            let already = self.group.update(|st| st.child(key).and_then(|c| c.ended.take()));
            let ended = match already {
                Some(ended) => Some(ended),
                None => {
                    let _ = process.push_system(SystemMsg::Restart(reason.clone()));
                    self.group
                        .until_for(shutdown, |st| st.child(key).is_none_or(|c| c.ended.is_some()))
                        .await;
                    self.group.update(|st| st.child(key).and_then(|c| c.ended.take()))
                }
            };
            match ended {
                Some((_, tx)) => {
                    waiting.insert(key, tx);
                }
                None => {
                    // It did not end its instance in time: killed, started afresh below.
                    process.kill();
                    crate::monitor::wait_for_exit(process.clone()).await;
                }
            }
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        for &key in keys {
            match waiting.remove(&key) {
                Some(tx) => {
                    let _ = tx.send(Verdict::Restart);
                    self.group
                        .until(|st| st.child(key).is_none_or(|c| c.up || c.ended.is_some()))
                        .await;
                }
                None => {
                    let alive = self
                        .group
                        .lock()
                        .child(key)
                        .and_then(|c| c.process.clone())
                        .is_some_and(|p| !p.core().is_terminated());
                    if !alive {
                        self.forget_process(key).await;
                        // Started afresh (a new process), once it is up.
                        if let Err(e) = Box::pin(self.start_child(key, ctx)).await {
                            tracing::warn!(error = %e, "supervised child could not be started again");
                        }
                    }
                }
            }
        }
    }
}

impl Handler<ChildEnded> for Supervisor {
    type Return = ();
    async fn handle(&mut self, msg: ChildEnded, ctx: &mut Context<Self>) {
        self.child_ended(msg.key, ctx).await;
    }
}

impl Supervisor {
    pub(crate) fn key_of(&self, id: &str) -> Result<u64, Error> {
        let st = self.group.lock();
        st.position(id)
            .map(|i| st.children[i].key)
            .ok_or(Error::ProcessUnknown)
    }
}
