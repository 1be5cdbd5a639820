//! The messages that manage a supervisor's children at run time (OTP's
//! `which_children`, `count_children`, `start_child`, `terminate_child`,
//! `restart_child`, `delete_child`), sent to the supervisor like any other message.

use super::Supervisor;
use super::spec::{ChildSpec, Restart};
use crate::actor::{Context, Handler, Message};
use crate::error::Error;
use crate::identity::Pid;

/// One child, as [`WhichChildren`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChildInfo {
    /// Its id in the supervisor.
    pub id: String,
    /// Its process, unless it is stopped.
    pub pid: Option<Pid>,
    /// Its restart type.
    pub restart: Restart,
}

/// Lists the supervisor's children, in start order.
#[derive(Debug)]
pub struct WhichChildren;
impl Message for WhichChildren {
    type Reply = Vec<ChildInfo>;
}

impl Handler<WhichChildren> for Supervisor {
    type Return = Vec<ChildInfo>;
    async fn handle(&mut self, _: WhichChildren, _: &mut Context<Self>) -> Vec<ChildInfo> {
        self.group
            .lock()
            .children
            .iter()
            .map(|c| ChildInfo {
                id: c.spec.id.clone(),
                pid: c.pid.clone(),
                restart: c.spec.restart,
            })
            .collect()
    }
}

/// How many children the supervisor has, and how many of them have a process.
#[derive(Debug)]
pub struct CountChildren;
impl Message for CountChildren {
    /// (specs, running).
    type Reply = (usize, usize);
}

impl Handler<CountChildren> for Supervisor {
    type Return = (usize, usize);
    async fn handle(&mut self, _: CountChildren, _: &mut Context<Self>) -> (usize, usize) {
        let st = self.group.lock();
        let running = st.children.iter().filter(|c| c.pid.is_some()).count();
        (st.children.len(), running)
    }
}

/// Adds a child at run time and starts it (dynamic children); answers its pid.
#[derive(Debug)]
pub struct StartChild(pub ChildSpec);
impl Message for StartChild {
    type Reply = Result<Pid, Error>;
}

impl Handler<StartChild> for Supervisor {
    type Return = Result<Pid, Error>;
    async fn handle(&mut self, msg: StartChild, ctx: &mut Context<Self>) -> Result<Pid, Error> {
        let id = msg.0.id.clone();
        let started = self.add_and_start(msg.0, ctx).await;
        if started.is_err() {
            self.group
                .update(|st| st.remove(|c| c.spec.id == id && c.pid.is_none()));
        }
        started
    }
}

/// Stops a child for good (it keeps its spec, for [`RestartChild`]); its shutdown
/// timeout applies, then it is killed.
#[derive(Debug)]
pub struct TerminateChild(pub String);
impl Message for TerminateChild {
    type Reply = Result<(), Error>;
}

impl Handler<TerminateChild> for Supervisor {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: TerminateChild, _: &mut Context<Self>) -> Result<(), Error> {
        let key = self.key_of(&msg.0)?;
        self.stop_child(key).await;
        Ok(())
    }
}

/// Starts a terminated child again (a new process); answers its pid.
#[derive(Debug)]
pub struct RestartChild(pub String);
impl Message for RestartChild {
    type Reply = Result<Pid, Error>;
}

impl Handler<RestartChild> for Supervisor {
    type Return = Result<Pid, Error>;
    async fn handle(&mut self, msg: RestartChild, ctx: &mut Context<Self>) -> Result<Pid, Error> {
        let key = self.key_of(&msg.0)?;
        if self.group.lock().child(key).is_some_and(|c| c.pid.is_some()) {
            return Err(Error::Config(format!("child {:?} is running", msg.0)));
        }
        self.start_child(key, ctx).await
    }
}

/// Removes a terminated child's spec.
#[derive(Debug)]
pub struct DeleteChild(pub String);
impl Message for DeleteChild {
    type Reply = Result<(), Error>;
}

impl Handler<DeleteChild> for Supervisor {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: DeleteChild, _: &mut Context<Self>) -> Result<(), Error> {
        let key = self.key_of(&msg.0)?;
        self.group.update(|st| {
            if st.child(key).is_some_and(|c| c.pid.is_some()) {
                return Err(Error::Config(format!("child {:?} is running", msg.0)));
            }
            st.remove(|c| c.key == key);
            Ok(())
        })
    }
}
