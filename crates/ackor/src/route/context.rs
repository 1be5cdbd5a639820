//! The verbs of a [`Context`] that address other actors: send, call and request with
//! the actor as the sender (and, with the important-delivery flag, acknowledged),
//! and spawn a linked or monitored child.

use std::future::IntoFuture;
use std::sync::Arc;

use super::{ActorRef, Call, SendImportant};
use crate::actor::{Actor, Context, Handler, Message, PendingAck, Recipient, SpawnOptions};
use crate::error::Error;
use crate::identity::{ProcessId, Ref};
use crate::monitor::{MonitorRef, ProcessCell, Watcher, weak};
use crate::reentrancy::{RequestCall, RequestOptions, Shared};

impl<A: Actor> Context<A> {
    /// A handle to this actor.
    pub fn actor_ref(&self) -> ActorRef<A> {
        ActorRef::from_cell(self.cell.clone())
    }

    /// Sends `msg` to `to` with this actor as the sender.
    ///
    /// With [important delivery](Context::set_important_delivery) on, a send to an actor
    /// on another node is an important send: it is acknowledged by the receiving node
    /// (resent across link flaps, delivered once), and the actor handles its next
    /// message only once every such send of the current one is confirmed; one that
    /// did not reach the mailbox is reported to [`Actor::on_undelivered`] with the
    /// precise error. Errors known at once (window full, node unreachable) are
    /// returned here. To a local actor it is a plain send either way: its errors are
    /// immediate.
    pub fn send<B, M>(&mut self, to: &ActorRef<B>, msg: M) -> Result<(), Error>
    where
        B: Handler<M>,
        M: Message,
    {
        self.send_to(to, Recipient::Pid(to.pid().clone()), msg)
    }

    /// [`Context::send`] to the actor registered as `to`, on this node or another one
    /// (resolved there on arrival: no extra round trip). [`Error::ProcessUnknown`] at once
    /// for a name not registered on this node; for one on another node only with
    /// important delivery on (through [`Actor::on_undelivered`]), as for any remote send.
    /// [`Error::Config`] for a name on another node when this node has no network side.
    pub fn send_name<B, M>(&mut self, to: &ProcessId, msg: M) -> Result<(), Error>
    where
        B: Handler<M>,
        M: Message,
    {
        let target = self.node.named_ref::<B>(to)?;
        self.send_to(&target, Recipient::Name(to.clone()), msg)
    }

    fn send_to<B, M>(&mut self, to: &ActorRef<B>, recipient: Recipient, msg: M) -> Result<(), Error>
    where
        B: Handler<M>,
        M: Message,
    {
        if !to.is_remote() || !(self.important || self.report_undelivered) {
            return to.send_from(Some(self.pid().clone()), msg);
        }
        let mut ack = to.send_important(msg).from(self.pid().clone()).into_future();
        // An error known before anything left is returned now.
        let mut probe = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(outcome) = ack.as_mut().poll(&mut probe) {
            return outcome;
        }
        if self.important {
            self.acks_mut().push((recipient, ack));
        } else {
            self.report_when_undelivered(recipient, ack);
        }
        Ok(())
    }

    /// Waits for `ack` in the background; a failure goes back to the actor on its
    /// response lane, as a settled acknowledgement that the run loop reports to
    /// `on_undelivered` before the next message.
    fn report_when_undelivered(&self, to: Recipient, ack: PendingAck) {
        let cell = Arc::downgrade(&self.cell);
        self.node.runtime().spawn(async move {
            let Err(error) = ack.await else { return };
            let Some(cell) = cell.upgrade() else { return };
            let failed: PendingAck = Box::pin(std::future::ready(Err(error)));
            // A stopping actor has closed its mailbox: nobody is left to tell.
            let _ = cell.mailbox.push_response(Box::new(move |_, ctx| {
                ctx.acks_mut().push((to, failed));
            }));
        });
    }

    /// [`Context::send`] that waits while `to`'s user lane (or, for an actor on another
    /// node, the link this actor's messages to it take) is full, instead of failing
    /// with [`Error::MailboxFull`]: back-pressure for an actor that produces faster
    /// than its consumer handles. The sender stays this actor and the message takes
    /// the same link as its other sends to `to`, so their order holds.
    ///
    /// The actor handles nothing else while it waits. Waiting on its own mailbox never
    /// ends (the actor that would make room is the one waiting): send to yourself with
    /// [`Context::send`]. With [important delivery](Context::set_important_delivery) on,
    /// a send to another node waits for room on the link, then is
    /// [`Context::send`] (acknowledged, reported to [`Actor::on_undelivered`]); the same
    /// with [`Context::set_report_undelivered`] on.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// # use ackor::{Actor, ActorRef, BoxError, Context, Handler, Message, Node, SpawnOptions};
    /// struct Consumer;
    /// # impl Actor for Consumer { type Args = (); async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Consumer) } }
    /// struct Item(u32);
    /// impl Message for Item { type Reply = (); }
    /// impl Handler<Item> for Consumer {
    ///     type Return = ();
    ///     async fn handle(&mut self, _: Item, _: &mut Context<Self>) {}
    /// }
    /// struct Producer(ActorRef<Consumer>);
    /// # impl Actor for Producer { type Args = ActorRef<Consumer>; async fn init(c: ActorRef<Consumer>, _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Producer(c)) } }
    /// struct Produce(u32);
    /// impl Message for Produce { type Reply = (); }
    /// impl Handler<Produce> for Producer {
    ///     type Return = ();
    ///     async fn handle(&mut self, msg: Produce, ctx: &mut Context<Self>) {
    ///         for i in 0..msg.0 {
    ///             // A one-slot mailbox: every send after the first waits for room.
    ///             let _ = ctx.send_wait(&self.0, Item(i)).await;
    ///         }
    ///     }
    /// }
    /// let node = Node::builder().name("doc@local").start().await?;
    /// let consumer = node.spawn_with::<Consumer>((), SpawnOptions::default().mailbox_capacity(1))?;
    /// let producer = node.spawn::<Producer>(consumer)?;
    /// producer.call(Produce(100)).await?;
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub async fn send_wait<B, M>(&mut self, to: &ActorRef<B>, msg: M) -> Result<(), Error>
    where
        B: Handler<M>,
        M: Message,
    {
        if (self.important || self.report_undelivered) && to.is_remote() {
            to.room_on_link(Some(self.pid())).await?;
            return self.send(to, msg);
        }
        to.send_wait_from(Some(self.pid().clone()), msg).await
    }

    /// Sends `msg` to `to` with this actor as the sender and learns whether it reached
    /// the mailbox; see [`ActorRef::send_important`].
    pub fn send_important<'a, B, M>(&self, to: &'a ActorRef<B>, msg: M) -> SendImportant<'a, B, M>
    where
        B: Handler<M>,
        M: Message,
    {
        to.send_important(msg).from(self.pid().clone())
    }

    /// Calls `to` with request delivery confirmed; see [`ActorRef::call_important`].
    pub fn call_important<'a, B, M>(&self, to: &'a ActorRef<B>, msg: M) -> Call<'a, B, M>
    where
        B: Handler<M>,
        M: Message,
    {
        to.call_important(msg)
            .from(self.pid().clone())
            .chained(self.blocking_call())
    }

    /// Calls `to` with this actor as the sender; see [`ActorRef::call`].
    ///
    /// The actor handles nothing else until the reply comes. A call that would wait on
    /// itself — `to` is blocked in a call that waits for this actor's current message,
    /// directly or through other calls and requests (A calls B, B calls A) — fails at
    /// once with [`Error::CallCycle`] instead of deadlocking until the timeout; use
    /// [`Context::request`] to let such cycles complete.
    pub fn call<'a, B, M>(&self, to: &'a ActorRef<B>, msg: M) -> Call<'a, B, M>
    where
        B: Handler<M>,
        M: Message,
    {
        to.call(msg)
            .from(self.pid().clone())
            .chained(self.blocking_call())
    }

    /// Sends `msg` to `to` as a non-blocking request: returns at once with a
    /// [`RequestCall`] whose [`then`](RequestCall::then) continuation runs on this actor
    /// when the reply (or an error) comes, while the actor goes on handling messages as
    /// its [`ReentrancyMode`](crate::ReentrancyMode) allows.
    ///
    /// Fails at once with [`Error::ReentrancyDisabled`] when the actor was spawned
    /// without reentrancy or `opts` sets mode `Off`, [`Error::ReentrancyInFlightLimit`]
    /// at the cap of [`Reentrancy::max_in_flight`](crate::Reentrancy::max_in_flight), and the addressing errors of a call
    /// ([`Error::MailboxFull`], [`Error::ProcessTerminated`], [`Error::UnknownMessage`],
    /// [`Error::NoConnection`], [`Error::CallCycle`]). Without
    /// [`RequestOptions::with_request_timeout`] the node's call timeout applies. The
    /// reply travels on the response lane: a full user lane never loses it. See the
    /// [`reentrancy`](crate::reentrancy) module for an example.
    pub fn request<B, M>(
        &mut self,
        to: &ActorRef<B>,
        msg: M,
        opts: RequestOptions,
    ) -> Result<RequestCall<A, M::Reply>, Error>
    where
        B: Handler<M>,
        M: Message,
    {
        let admitted = self.requests.admit(&opts, self.cell.call_timeout)?;
        let chain = self.current_chain();
        let id = self.requests.next_id();
        let shared = Shared::<A, M::Reply>::new(id, &self.cell);
        let completer = shared.clone();
        let guard = to.request_from(self.pid().clone(), id, msg, chain, move |outcome| {
            completer.complete(outcome)
        })?;
        tracing::trace!(pid = %self.pid(), request = id, to = %to.pid(), chain = ?chain, "request sent");
        metrics::counter!("ackor_requests_total").increment(1);
        self.requests
            .insert(id, admitted, Some(chain), shared.clone(), guard, &self.cell);
        Ok(RequestCall::new(shared))
    }

    /// [`Context::request`] to the actor registered as `id`, on this node or another
    /// one (where the name is resolved on arrival: no extra round trip).
    /// [`Error::ProcessUnknown`] when the name is not registered here, or arrives as the
    /// continuation's outcome from another node; [`Error::Config`] for a name on another
    /// node when this node has no network side (no cookie).
    pub fn request_name<B, M>(
        &mut self,
        id: &ProcessId,
        msg: M,
        opts: RequestOptions,
    ) -> Result<RequestCall<A, M::Reply>, Error>
    where
        B: Handler<M>,
        M: Message,
    {
        let to = self.node.named_ref::<B>(id)?;
        self.request(&to, msg, opts)
    }

    /// Spawns an actor linked to this one, atomically (it cannot die unseen between
    /// spawn and link).
    pub fn spawn_link<B: Actor>(&mut self, args: B::Args) -> Result<ActorRef<B>, Error> {
        let me: Arc<dyn ProcessCell> = self.cell.clone();
        let my_pid = self.pid().clone();
        self.node
            .spawn_setup::<B>(args, SpawnOptions::default(), |child: &Arc<dyn ProcessCell>| {
                let _ = child.core().add_link(my_pid, Some(weak(&me)));
                let _ = me.core().add_link(child.core().pid().clone(), Some(weak(child)));
            })
            .map(ActorRef::from_cell)
    }

    /// Spawns an actor monitored by this one, atomically.
    pub fn spawn_monitor<B: Actor>(&mut self, args: B::Args) -> Result<(ActorRef<B>, MonitorRef), Error> {
        let me: Arc<dyn ProcessCell> = self.cell.clone();
        let mref = Ref::new(self.node.name().clone(), self.node.creation());
        let child = self
            .node
            .spawn_setup::<B>(args, SpawnOptions::default(), |child: &Arc<dyn ProcessCell>| {
                let _ = child.core().add_monitor(mref.clone(), Watcher::Local(weak(&me)));
            })
            .map(ActorRef::from_cell)?;
        self.add_monitor(mref.clone(), child.pid().clone());
        Ok((child, mref))
    }
}
