//! A supervisor's children as the supervisor and the children's run loops share them:
//! each child's slot says whether its current instance is up, and holds the ending of
//! an instance that stopped together with the channel its run loop waits on for the
//! verdict (restart in place, or stop).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};

use super::Supervisor;
use super::spec::ChildSpec;
use crate::actor::{Actor, ActorCell, Decision, Ending, MsgEnvelope, Overseer};
use crate::identity::Pid;
use crate::node::Process;

/// What a supervisor tells a child whose instance ended.
#[derive(Debug)]
pub(crate) enum Verdict {
    Restart,
    Stop(crate::ExitReason),
}

/// One child.
pub(crate) struct Child {
    pub(crate) key: u64,
    pub(crate) spec: ChildSpec,
    /// Its process, while it has one.
    pub(crate) pid: Option<Pid>,
    pub(crate) process: Option<Arc<dyn Process>>,
    /// An instance ended and waits for the verdict.
    pub(crate) ended: Option<(Ending, oneshot::Sender<Verdict>)>,
    /// The current instance's `init` returned.
    pub(crate) up: bool,
    /// How many instances have come up, ever: a start succeeded if this grew, even
    /// if the new instance already ended again.
    pub(crate) starts: u64,
    /// Since when the current instance is up.
    pub(crate) up_since: Option<Instant>,
    /// The supervisor is stopping it: it is not restarted.
    pub(crate) terminating: bool,
    /// The last restart delay, for the backoff.
    pub(crate) delay: Option<Duration>,
}

#[derive(Default)]
pub(crate) struct State {
    /// In start order (read it freely; change it only through `add` and `remove`).
    pub(crate) children: Vec<Child>,
    /// Where each child is in `children`, by key: a supervisor waiting on one child of
    /// a thousand checks it at every change of any of them.
    index: HashMap<u64, usize>,
    /// When the recent restarts happened, for the intensity.
    pub(crate) restarts: VecDeque<Instant>,
    next_key: u64,
}

impl State {
    pub(crate) fn child(&mut self, key: u64) -> Option<&mut Child> {
        let at = *self.index.get(&key)?;
        self.children.get_mut(at)
    }

    /// Removes the children `remove` picks (their order is kept).
    pub(crate) fn remove(&mut self, remove: impl Fn(&Child) -> bool) {
        self.children.retain(|c| !remove(c));
        self.index = self
            .children
            .iter()
            .enumerate()
            .map(|(at, c)| (c.key, at))
            .collect();
    }

    pub(crate) fn position(&self, id: &str) -> Option<usize> {
        self.children.iter().position(|c| c.spec.id == id)
    }

    pub(crate) fn add(&mut self, spec: ChildSpec) -> u64 {
        self.next_key += 1;
        let key = self.next_key;
        self.index.insert(key, self.children.len());
        self.children.push(Child {
            key,
            spec,
            pid: None,
            process: None,
            ended: None,
            up: false,
            starts: 0,
            up_since: None,
            terminating: false,
            delay: None,
        });
        key
    }
}

/// The shared state of one supervisor and its children.
pub(crate) struct Group {
    state: Mutex<State>,
    /// Woken on every change of a child's slot.
    changed: Notify,
    /// The supervisor, told (by a message) when a child's instance ended.
    supervisor: Weak<ActorCell<Supervisor>>,
}

/// The message a child's run loop sends its supervisor when an instance ended.
pub(crate) struct ChildEnded {
    pub(crate) key: u64,
}

impl crate::actor::Message for ChildEnded {
    type Reply = ();
}

impl Group {
    pub(crate) fn new(supervisor: Weak<ActorCell<Supervisor>>) -> Arc<Self> {
        Arc::new(Group {
            state: Mutex::new(State::default()),
            changed: Notify::new(),
            supervisor,
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the state and wakes whoever waits for a change.
    pub(crate) fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let out = f(&mut self.lock());
        self.changed.notify_waiters();
        out
    }

    /// Waits until `ready` holds (checked at once and after every change).
    pub(crate) async fn until(&self, ready: impl Fn(&mut State) -> bool) {
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if ready(&mut self.lock()) {
                return;
            }
            changed.await;
        }
    }

    /// [`Group::until`], giving up after `timeout`; true if `ready` came to hold.
    pub(crate) async fn until_for(&self, timeout: Duration, ready: impl Fn(&mut State) -> bool) -> bool {
        tokio::time::timeout(timeout, self.until(ready)).await.is_ok()
    }

    fn child_ended(&self, key: u64, ending: Ending, verdict: oneshot::Sender<Verdict>) {
        let commanded = matches!(ending, Ending::Restarted(_));
        let known = self.update(|st| match st.child(key) {
            Some(child) => {
                child.up = false;
                child.ended = Some((ending, verdict));
                true
            }
            None => {
                let _ = verdict.send(Verdict::Stop(ending.reason().clone()));
                false
            }
        });
        // A restart the supervisor asked for is already awaited by the supervisor.
        if known && !commanded {
            self.poke(key);
        }
    }

    /// Queues `ChildEnded` for the supervisor, whatever its mailbox holds (this must
    /// not be lost); if the supervisor is gone, the child is told to stop.
    fn poke(&self, key: u64) {
        let queued = self.supervisor.upgrade().is_some_and(|cell| {
            let env = Box::new(MsgEnvelope {
                msg: ChildEnded { key },
                sender: None,
                reply: None,
                chain: None,
                path: Box::default(),
                meta: crate::actor::Meta::current(),
            });
            cell.mailbox.push_user_over(env).is_ok()
        });
        if !queued {
            self.update(|st| {
                if let Some((ending, tx)) = st.child(key).and_then(|c| c.ended.take()) {
                    let _ = tx.send(Verdict::Stop(ending.reason().clone()));
                }
            });
        }
    }

    fn child_started(&self, key: u64) {
        self.update(|st| {
            if let Some(child) = st.child(key) {
                child.up = true;
                child.starts += 1;
                child.up_since = Some(Instant::now());
            }
        });
    }
}

/// A child's supervisor as its run loop sees it.
pub(crate) struct ChildOverseer<A: Actor> {
    pub(crate) group: Arc<Group>,
    pub(crate) key: u64,
    pub(crate) args: Arc<dyn Fn() -> A::Args + Send + Sync>,
}

impl<A: Actor> Overseer<A> for ChildOverseer<A> {
    fn ended(&self, _pid: &Pid, ending: Ending) -> Pin<Box<dyn Future<Output = Decision<A>> + Send>> {
        let (tx, rx) = oneshot::channel();
        let reason = ending.reason().clone();
        self.group.child_ended(self.key, ending, tx);
        let args = self.args.clone();
        Box::pin(async move {
            match rx.await {
                Ok(Verdict::Restart) => Decision::Restart(args()),
                Ok(Verdict::Stop(reason)) => Decision::Stop(reason),
                // The supervisor is gone: so is the child.
                Err(_) => Decision::Stop(reason),
            }
        })
    }

    fn started(&self, _pid: &Pid) {
        self.group.child_started(self.key);
    }
}
