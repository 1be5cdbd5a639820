//! The verbs of [`Node`] (from outside any actor) and of [`Context`] (with the actor as
//! the sender) that address an actor by its registered name, on this node or another. A name on another node is resolved there, when the
//! message arrives (no lookup round trip first), so the error of a verb is the error of
//! its delivery: [`Error::ProcessUnknown`] from the call or the important send itself,
//! never from a separate lookup that may be stale by the time the message goes.

use super::actor_ref::important_timeout;
use super::call::{Call, SendImportant, Target};
use crate::actor::{Actor, Context, Handler, Message};
use crate::error::Error;
use crate::identity::ProcessId;
use crate::node::Node;

impl Node {
    /// [`ActorRef::send`](crate::ActorRef::send) to the actor registered as `to`. A name on this node is looked
    /// up now ([`Error::ProcessUnknown`] at once if it is not registered, or names an
    /// actor of another type); a name on another node is resolved there on arrival,
    /// and like any plain remote send, a message that finds no such name is dropped
    /// there (use [`Node::send_important_name`] to know). [`Error::Config`] for a name on
    /// another node when this node has no network side (no cookie); the same for every
    /// verb of this file.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// # use ackor::{Actor, BoxError, Context, Handler, Message, Node, ProcessId, SpawnOptions};
    /// # struct Log;
    /// # impl Actor for Log { type Args = (); async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Log) } }
    /// # struct Line(&'static str);
    /// # impl Message for Line { type Reply = (); }
    /// # impl Handler<Line> for Log { type Return = (); async fn handle(&mut self, _: Line, _: &mut Context<Self>) {} }
    /// let node = Node::builder().name("doc@local").start().await?;
    /// node.spawn_with::<Log>((), SpawnOptions::default().name("log"))?;
    /// let log = ProcessId::new("log", node.name().clone());
    /// node.send_name::<Log, _>(&log, Line("hello"))?;
    /// let nobody = ProcessId::new("nobody", node.name().clone());
    /// assert_eq!(node.send_name::<Log, _>(&nobody, Line("lost")), Err(ackor::Error::ProcessUnknown));
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn send_name<A, M>(&self, to: &ProcessId, msg: M) -> Result<(), Error>
    where
        A: Handler<M>,
        M: Message,
    {
        self.named_ref::<A>(to)?.send(msg)
    }

    /// [`ActorRef::call`](crate::ActorRef::call) to the actor registered as `to`, on this node or another
    /// (resolved there on arrival). Awaiting it gives the reply or the call's error:
    /// [`Error::ProcessUnknown`] when no actor of type `A` is registered under that name
    /// when the message arrives, and every error of [`ActorRef::call`](crate::ActorRef::call).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// # use ackor::{Actor, BoxError, Context, Handler, Message, Node, ProcessId, SpawnOptions};
    /// # struct Echo;
    /// # impl Actor for Echo { type Args = (); async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Echo) } }
    /// # struct Say(u32);
    /// # impl Message for Say { type Reply = u32; }
    /// # impl Handler<Say> for Echo { type Return = u32; async fn handle(&mut self, m: Say, _: &mut Context<Self>) -> u32 { m.0 } }
    /// let node = Node::builder().name("doc@local").start().await?;
    /// node.spawn_with::<Echo>((), SpawnOptions::default().name("echo"))?;
    /// let echo = ProcessId::new("echo", node.name().clone());
    /// assert_eq!(node.call_name::<Echo, _>(&echo, Say(7)).await?, 7);
    /// let gone = ProcessId::new("gone", node.name().clone());
    /// assert_eq!(node.call_name::<Echo, _>(&gone, Say(7)).await, Err(ackor::Error::ProcessUnknown));
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn call_name<A, M>(&self, to: &ProcessId, msg: M) -> Call<'static, A, M>
    where
        A: Handler<M>,
        M: Message,
    {
        let target = Target::named(self.named_ref::<A>(to));
        let timeout = match &target {
            Target::Owned(to) => to.call_timeout(),
            _ => self.config().call_timeout,
        };
        Call {
            target,
            msg,
            sender: None,
            timeout,
            chain: None,
        }
    }

    /// [`ActorRef::call_important`](crate::ActorRef::call_important) to the actor registered as `to`; see
    /// [`Node::call_name`].
    pub fn call_important_name<A, M>(&self, to: &ProcessId, msg: M) -> Call<'static, A, M>
    where
        A: Handler<M>,
        M: Message,
    {
        self.call_name(to, msg)
    }

    /// [`ActorRef::send_important`](crate::ActorRef::send_important) to the actor registered as `to`, on this node or
    /// another. A name on another node is resolved there when the message arrives, and
    /// the acknowledgement says what happened: `Ok(())` once it is in the mailbox of the
    /// actor registered under that name then, [`Error::ProcessUnknown`] when there is
    /// none, and every error of [`ActorRef::send_important`](crate::ActorRef::send_important).
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// # use ackor::{Actor, BoxError, Context, Handler, Message, Node, ProcessId};
    /// # struct Sink;
    /// # impl Actor for Sink { type Args = (); async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Sink) } }
    /// # struct Item;
    /// # impl Message for Item { type Reply = (); }
    /// # impl Handler<Item> for Sink { type Return = (); async fn handle(&mut self, _: Item, _: &mut Context<Self>) {} }
    /// let node = Node::builder().name("doc@local").start().await?;
    /// let nobody = ProcessId::new("nobody", node.name().clone());
    /// let outcome = node.send_important_name::<Sink, _>(&nobody, Item).await;
    /// assert_eq!(outcome, Err(ackor::Error::ProcessUnknown));
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn send_important_name<A, M>(&self, to: &ProcessId, msg: M) -> SendImportant<'static, A, M>
    where
        A: Handler<M>,
        M: Message,
    {
        let target = Target::named(self.named_ref::<A>(to));
        let timeout = match &target {
            Target::Owned(to) => to.important_timeout(),
            _ => important_timeout(self),
        };
        SendImportant {
            target,
            msg,
            sender: None,
            timeout,
            handled: false,
        }
    }
}

impl<A: Actor> Context<A> {
    /// [`Context::call`] to the actor registered as `to`, on this node or another
    /// (resolved there on arrival); the errors are those of [`Node::call_name`], and a
    /// call cycle fails with [`Error::CallCycle`] as for [`Context::call`].
    pub fn call_name<B, M>(&self, to: &ProcessId, msg: M) -> Call<'static, B, M>
    where
        B: Handler<M>,
        M: Message,
    {
        self.node()
            .call_name(to, msg)
            .from(self.pid().clone())
            .chained(self.blocking_call())
    }

    /// [`Context::call_important`] to the actor registered as `to`; see
    /// [`Context::call_name`].
    pub fn call_important_name<B, M>(&self, to: &ProcessId, msg: M) -> Call<'static, B, M>
    where
        B: Handler<M>,
        M: Message,
    {
        self.call_name(to, msg)
    }

    /// [`Context::send_important`] to the actor registered as `to`, resolved on its node
    /// when the message arrives; see [`Node::send_important_name`].
    pub fn send_important_name<B, M>(&self, to: &ProcessId, msg: M) -> SendImportant<'static, B, M>
    where
        B: Handler<M>,
        M: Message,
    {
        self.node().send_important_name(to, msg).from(self.pid().clone())
    }
}
