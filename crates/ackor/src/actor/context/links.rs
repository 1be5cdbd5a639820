//! Monitors and links, to processes on this node or another one.

use std::sync::Arc;

use super::Context;
use crate::Actor;
use crate::identity::{Pid, Ref};
use crate::monitor::{ExitReason, MonitorRef, ProcessCell, Watcher, weak};

impl<A: Actor> Context<A> {
    pub(crate) fn is_remote(&self, pid: &Pid) -> bool {
        pid.node() != self.node.name()
    }

    /// Monitors `pid`, here or on another node: when it stops, [`Actor::on_down`] gets
    /// a `Down` with its reason; at once with [`ExitReason::NoProcess`] if it does not
    /// exist, and with [`ExitReason::NoConnection`] if its node cannot be reached or
    /// the connection to it is lost.
    pub fn monitor(&mut self, pid: &Pid) -> MonitorRef {
        let mref = Ref::new(self.node.name().clone(), self.node.creation());
        self.add_monitor(mref.clone(), pid.clone());
        let me: Arc<dyn ProcessCell> = self.cell.clone();
        if self.is_remote(pid) {
            match self.node.remote() {
                Some(remote) => {
                    let (watcher, down_ref) = (weak(&me), mref.clone());
                    let on_down = Box::new(move |pid: Pid, reason: ExitReason| {
                        if let Some(w) = watcher.upgrade() {
                            w.signal_down(down_ref, pid, reason);
                        }
                    });
                    remote.monitor(pid, Some(self.pid()), &mref, on_down);
                }
                None => me.signal_down(mref.clone(), pid.clone(), ExitReason::NoConnection),
            }
            return mref;
        }
        let outcome = match self.node.registry().get(pid) {
            Some(target) => target.core().add_monitor(mref.clone(), Watcher::Local(weak(&me))),
            None => Err(ExitReason::NoProcess),
        };
        if let Err(reason) = outcome {
            me.signal_down(mref.clone(), pid.clone(), reason);
        }
        mref
    }

    /// Stops a monitor; a `Down` for it that is already queued is dropped too.
    pub fn demonitor(&mut self, mref: &MonitorRef) {
        let Some(pid) = self.remove_monitor(mref) else {
            return;
        };
        if self.is_remote(&pid) {
            if let Some(remote) = self.node.remote() {
                remote.demonitor(&pid, self.cell.core.pid(), mref);
            }
        } else if let Some(target) = self.node.registry().get(&pid) {
            target.core().remove_monitor(mref);
        }
    }

    /// Links this actor with `pid`, here or on another node: when either stops
    /// abnormally, the other gets an exit signal (it stops too, unless it traps exits).
    /// Linking to a process that does not exist delivers an exit signal with
    /// [`ExitReason::NoProcess`]; losing the connection to its node, one with
    /// [`ExitReason::NoConnection`].
    pub fn link(&mut self, pid: &Pid) {
        let me: Arc<dyn ProcessCell> = self.cell.clone();
        if self.is_remote(pid) {
            let _ = me.core().add_link(pid.clone(), None);
            match self.node.remote() {
                Some(remote) => {
                    if remote.link(self.cell.core.pid(), pid).is_err() {
                        me.core().remove_link(pid);
                        me.signal_exit(pid.clone(), ExitReason::NoConnection);
                    }
                }
                None => me.signal_exit(pid.clone(), ExitReason::NoConnection),
            }
            return;
        }
        let linked = match self.node.registry().get(pid) {
            Some(other) => other
                .core()
                .add_link(self.pid().clone(), Some(weak(&me)))
                .map(|()| other),
            None => Err(ExitReason::NoProcess),
        };
        match linked {
            Ok(other) => {
                let other: Arc<dyn ProcessCell> = other;
                let _ = me.core().add_link(pid.clone(), Some(weak(&other)));
            }
            Err(reason) => me.signal_exit(pid.clone(), reason),
        }
    }

    /// Removes the link with `pid`, both ways.
    pub fn unlink(&mut self, pid: &Pid) {
        self.cell.core.remove_link(pid);
        if self.is_remote(pid) {
            if let Some(remote) = self.node.remote() {
                remote.unlink(self.cell.core.pid(), pid);
            }
        } else if let Some(other) = self.node.registry().get(pid) {
            other.core().remove_link(self.pid());
        }
    }
}
