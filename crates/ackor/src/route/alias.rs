//! Process aliases (as in Ergo): extra, temporary pids of an actor that it creates and
//! deletes while it runs, one per conversation say. An alias is a target like the
//! actor's own pid for plain and important sends and calls, on this node and from
//! others; once deleted (or once the actor stops) it answers
//! [`Error::ProcessUnknown`], so a late message of a finished conversation is refused
//! instead of reaching the actor.

use super::ActorRef;
use crate::actor::{Actor, Context};
use crate::error::Error;
use crate::identity::Pid;
use crate::node::Process;

impl<A: Actor> Context<A> {
    /// Creates an alias of this actor and returns a handle to it; its
    /// [`pid`](ActorRef::pid) is the alias, to hand to others (other nodes reach it
    /// with [`Node::actor_ref`](crate::Node::actor_ref)). Fails with
    /// [`Error::NodeStopped`] during shutdown.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// use ackor::{Actor, ActorRef, BoxError, Context, Error, Handler, Message, Node, Pid};
    ///
    /// struct Desk;
    /// # impl Actor for Desk { type Args = (); async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Desk) } }
    /// struct Open;
    /// impl Message for Open { type Reply = Result<Pid, Error>; }
    /// impl Handler<Open> for Desk {
    ///     type Return = Result<Pid, Error>;
    ///     async fn handle(&mut self, _: Open, ctx: &mut Context<Self>) -> Result<Pid, Error> {
    ///         Ok(ctx.create_alias()?.pid().clone()) // one address per conversation
    ///     }
    /// }
    /// struct Close(Pid);
    /// impl Message for Close { type Reply = bool; }
    /// impl Handler<Close> for Desk {
    ///     type Return = bool;
    ///     async fn handle(&mut self, msg: Close, ctx: &mut Context<Self>) -> bool {
    ///         ctx.delete_alias(&msg.0)
    ///     }
    /// }
    ///
    /// let node = Node::builder().name("doc@local").start().await?;
    /// let desk = node.spawn::<Desk>(())?;
    /// let conversation = desk.call(Open).await??;
    /// let via_alias = node.actor_ref::<Desk>(&conversation)?;
    /// assert!(desk.call(Close(conversation.clone())).await?);
    /// assert_eq!(via_alias.send_important(Open).await, Err(Error::ProcessUnknown));
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn create_alias(&mut self) -> Result<ActorRef<A>, Error> {
        let alias = self.node.next_pid()?;
        let cell: std::sync::Arc<dyn Process> = self.cell.clone();
        self.node.registry().add_alias(alias.clone(), cell);
        tracing::trace!(pid = %self.pid(), %alias, "alias created");
        Ok(ActorRef::alias(alias, self.cell.clone(), self.node.clone()))
    }

    /// Deletes an alias this actor created; returns false if `alias` is not one of
    /// its aliases (any more). Messages to it are refused with
    /// [`Error::ProcessUnknown`] from then on; those already in the mailbox stay.
    pub fn delete_alias(&mut self, alias: &Pid) -> bool {
        self.node.registry().remove_alias(alias, self.cell.core.pid())
    }
}
