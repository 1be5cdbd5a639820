//! The context a handler runs in: the actor's identity and its verbs.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use super::SpawnOptions;
use super::actor_ref::{ActorRef, Call, SendImportant};
use super::reply::{ErasedReply, ReplyHandle};
use super::{ActorCell, Chained, DeliveryFailure, Handler, Message, Recipient};
use crate::error::Error;
use crate::identity::ChainId;
use crate::identity::{Pid, ProcessId, Ref};
use crate::monitor::{ExitReason, MonitorRef, ProcessCell, Watcher, weak};
use crate::node::Node;
use crate::reentrancy::{Pending, Reentrancy, RequestCall, RequestOptions, Requests, Shared};
use crate::{Actor, Down};

/// What a handler can do besides change its actor's state: know who it is and who
/// sent the message, send and call with its own identity, defer a reply, monitor,
/// link, spawn, stop.
///
/// ```
/// use ackor::{Actor, BoxError, Context, Handler, Message};
///
/// struct Echo;
/// # impl Actor for Echo {
/// #     type Args = ();
/// #     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Echo) }
/// # }
/// struct WhoAmI;
/// impl Message for WhoAmI { type Reply = String; }
///
/// impl Handler<WhoAmI> for Echo {
///     type Return = String;
///     async fn handle(&mut self, _: WhoAmI, ctx: &mut Context<Self>) -> String {
///         format!("{} on {}", ctx.pid(), ctx.node().name())
///     }
/// }
/// ```
pub struct Context<A: Actor> {
    cell: Arc<ActorCell<A>>,
    node: Node,
    sender: Option<Pid>,
    reply: Option<ErasedReply>,
    stop: Option<ExitReason>,
    trap_exits: bool,
    important: bool,
    monitors: HashMap<MonitorRef, Pid>,
    pub(crate) requests: Requests<A>,
    /// Important sends made by [`Context::send`] with the flag on, awaiting their
    /// acknowledgement: settled before the next item (see `run`).
    /// (In a mutex only to keep `Context` `Sync`; it is reached through `&mut self`.)
    acks: std::sync::Mutex<Vec<(Recipient, PendingAck)>>,
    /// The call chain of the message being handled, when it came with one.
    chain: Option<ChainId>,
    /// The wait-for path of the message being handled (see `Envelope::path`).
    path: Box<[u64]>,
    /// Blocking calls made while handling the current item (names their tokens).
    calls: std::sync::atomic::AtomicU64,
    /// Counts the items this actor handled: with the pid and the node's seed it names
    /// a fresh chain for a message that came without one.
    seq: u64,
    chain_seed: u64,
}

impl<A: Actor> Context<A> {
    pub(crate) fn new(cell: Arc<ActorCell<A>>, node: Node, reentrancy: Reentrancy) -> Self {
        let chain_seed = node.chain_seed();
        let waiting = cell.waiting.clone();
        Context {
            cell,
            node,
            sender: None,
            reply: None,
            stop: None,
            trap_exits: false,
            important: false,
            monitors: HashMap::new(),
            requests: Requests::new(reentrancy, waiting),
            acks: std::sync::Mutex::new(Vec::new()),
            chain: None,
            path: Box::default(),
            calls: std::sync::atomic::AtomicU64::new(0),
            seq: 0,
            chain_seed,
        }
    }

    /// Called before each item the actor handles.
    pub(crate) fn next_item(&mut self) {
        self.seq = self.seq.wrapping_add(1);
        self.chain = None;
        if !self.path.is_empty() {
            self.path = Box::default();
        }
        *self.calls.get_mut() = 0;
    }

    pub(crate) fn begin_message(
        &mut self,
        sender: Option<Pid>,
        reply: Option<ErasedReply>,
        chain: Option<ChainId>,
        path: Box<[u64]>,
    ) {
        self.sender = sender;
        self.reply = reply;
        self.chain = chain;
        self.path = path;
    }

    /// How a blocking call made now is chained: the current chain, and a wait-for path
    /// of the current message's plus a fresh token for the call.
    fn blocking_call(&self) -> Chained {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = ChainId::derive(!self.chain_seed, self.pid().id(), self.seq.rotate_left(20) ^ n).get();
        let mut path = Vec::with_capacity(self.path.len() + 1);
        path.extend_from_slice(&self.path);
        path.push(token);
        Chained {
            chain: self.current_chain(),
            path: path.into_boxed_slice(),
            token,
            caller: self.cell.clone(),
        }
    }

    /// The call chain that requests and calls made now belong to.
    fn current_chain(&self) -> ChainId {
        self.chain
            .unwrap_or_else(|| ChainId::derive(self.chain_seed, self.pid().id(), self.seq))
    }

    /// Runs the continuation of request `id` with its outcome, if the request was still
    /// in flight (the first completion wins; see `reentrancy::request`).
    pub(crate) fn finish_request<R: Send + 'static>(
        &mut self,
        id: u64,
        actor: &mut A,
        shared: &Shared<A, R>,
        outcome: Result<R, Error>,
    ) {
        let Some(entry) = self.requests.remove(id) else {
            return;
        };
        let _span = tracing::trace_span!("continuation", pid = %self.pid(), request = id).entered();
        tracing::trace!(ok = outcome.is_ok(), "request complete");
        self.chain = entry.chain();
        shared.run(actor, self, outcome);
    }

    /// Completes a request the actor itself settled (timeout, stop) with `error`.
    pub(crate) fn fail_request(&mut self, entry: crate::reentrancy::Entry<A>, actor: &mut A, error: Error) {
        let _span = tracing::trace_span!("continuation", pid = %self.pid(), request = entry.id()).entered();
        tracing::trace!(%error, "request failed");
        self.chain = entry.chain();
        let pending: Arc<dyn Pending<A>> = entry.pending.clone();
        drop(entry);
        pending.fail(actor, self, error);
    }

    pub(crate) fn end_message(&mut self) -> Option<ErasedReply> {
        self.sender = None;
        self.reply.take()
    }

    pub(crate) fn take_stop(&mut self) -> Option<ExitReason> {
        self.stop.take()
    }

    pub(crate) fn traps_exits(&self) -> bool {
        self.trap_exits
    }

    /// Keeps a `Down` only for monitors still active (a demonitored one is dropped).
    pub(crate) fn accept_down(&mut self, down: &Down) -> bool {
        self.monitors.remove(&down.monitor).is_some()
    }

    /// This actor's pid.
    pub fn pid(&self) -> &Pid {
        self.cell.core.pid()
    }

    /// A handle to this actor.
    pub fn actor_ref(&self) -> ActorRef<A> {
        ActorRef::from_cell(self.cell.clone())
    }

    /// The node this actor runs on.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The pid of the actor that sent the message being handled, when it was sent
    /// with [`Context::send`] or [`Context::call`].
    pub fn sender(&self) -> Option<&Pid> {
        self.sender.as_ref()
    }

    /// Takes the reply of the call being handled, to answer it later; return
    /// [`Reply::Deferred`](crate::Reply::Deferred) from the handler then.
    ///
    /// `None` when the message was sent rather than called (nobody waits), when the
    /// reply was already taken, or when `R` is not the message's reply type. See
    /// [`ReplyHandle`] for an example.
    pub fn defer_reply<R: Send + 'static>(&mut self) -> Option<ReplyHandle<R>> {
        let pending = self.reply.take()?;
        match pending.downcast::<R>() {
            Ok(handle) => Some(handle),
            Err(pending) => {
                self.reply = Some(pending);
                None
            }
        }
    }

    /// Stops this actor once the current message is handled, with reason `Normal`.
    pub fn stop(&mut self) {
        self.stop_with(ExitReason::Normal);
    }

    /// Stops this actor once the current message is handled, with `reason`.
    pub fn stop_with(&mut self, reason: ExitReason) {
        self.stop = Some(reason);
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
    pub fn send_name<B, M>(&mut self, to: &ProcessId, msg: M) -> Result<(), Error>
    where
        B: Handler<M>,
        M: Message,
    {
        let target = if &to.node == self.node.name() {
            self.node.lookup::<B>(to)?
        } else {
            self.node.remote_named::<B>(to)?
        };
        self.send_to(&target, Recipient::Name(to.clone()), msg)
    }

    fn send_to<B, M>(&mut self, to: &ActorRef<B>, recipient: Recipient, msg: M) -> Result<(), Error>
    where
        B: Handler<M>,
        M: Message,
    {
        if !(self.important && to.is_remote()) {
            return to.send_from(Some(self.pid().clone()), msg);
        }
        let mut ack = to.send_important(msg).from(self.pid().clone()).into_future();
        // An error known before anything left is returned now.
        let mut probe = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(outcome) = ack.as_mut().poll(&mut probe) {
            return outcome;
        }
        self.acks_mut().push((recipient, ack));
        Ok(())
    }

    /// Waits for the acknowledgements of this actor's flagged sends; returns those
    /// that failed.
    pub(crate) async fn settle_acks(&mut self) -> Vec<DeliveryFailure> {
        let acks = std::mem::take(self.acks_mut());
        let (pids, futures): (Vec<Recipient>, Vec<PendingAck>) = acks.into_iter().unzip();
        let outcomes = futures_util::future::join_all(futures).await;
        pids.into_iter()
            .zip(outcomes)
            .filter_map(|(to, outcome)| outcome.err().map(|error| DeliveryFailure { to, error }))
            .collect()
    }

    pub(crate) fn has_pending_acks(&mut self) -> bool {
        !self.acks_mut().is_empty()
    }

    fn acks_mut(&mut self) -> &mut Vec<(Recipient, PendingAck)> {
        self.acks.get_mut().unwrap_or_else(|p| p.into_inner())
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

    /// Makes everything this actor sends important (the process flag of Ergo):
    ///
    /// - [`Context::send`] to a remote actor is acknowledged by its node; the actor
    ///   handles its next message once its sends are confirmed, and a failed one is
    ///   reported to [`Actor::on_undelivered`] with the precise error;
    /// - [`Context::call`] is [`Context::call_important`] (delivery errors at once);
    /// - a value returned by a handler to a remote caller is an important response:
    ///   the caller's node acknowledges it before the actor handles its next message
    ///   (RR-2PC, or FR-2PC with `call_important`). A response the caller no longer
    ///   waited for is logged and counted (`ackor_important_responses_ignored_total`);
    ///   to act on the outcome, answer with [`ReplyHandle::reply_important`] instead.
    ///
    /// Sends and calls to local actors are unchanged: their errors are immediate.
    pub fn set_important_delivery(&mut self, on: bool) {
        self.important = on;
    }

    /// Whether [`Context::set_important_delivery`] is on.
    pub fn important_delivery(&self) -> bool {
        self.important
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
    /// at the cap of [`Reentrancy::max_in_flight`], and the addressing errors of a call
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
        let guard = to.request_from(self.pid().clone(), msg, chain, move |outcome| {
            completer.complete(outcome)
        })?;
        tracing::trace!(pid = %self.pid(), request = id, to = %to.pid(), chain = ?chain, "request sent");
        metrics::counter!("ackor_requests_total").increment(1);
        self.requests
            .insert(id, admitted, Some(chain), shared.clone(), guard);
        Ok(RequestCall::new(shared))
    }

    /// Requests (and piped futures) of this actor in flight. In a continuation, its own
    /// request no longer counts: the continuation may start the next one within the cap.
    pub fn requests_in_flight(&self) -> usize {
        self.requests.in_flight()
    }

    /// The actor's reentrancy mode, as spawned.
    pub fn reentrancy_mode(&self) -> crate::ReentrancyMode {
        self.requests.mode()
    }

    /// [`Context::request`] to the actor registered as `id`, on this node or another
    /// one (where the name is resolved on arrival: no extra round trip).
    /// [`Error::ProcessUnknown`] when the name is not registered here, or arrives as the
    /// continuation's outcome from another node.
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
        let to = if &id.node == self.node.name() {
            self.node.lookup::<B>(id)?
        } else {
            self.node.remote_named::<B>(id)?
        };
        self.request(&to, msg, opts)
    }

    fn is_remote(&self, pid: &Pid) -> bool {
        pid.node() != self.node.name()
    }

    /// Monitors `pid`, here or on another node: when it stops, [`Actor::on_down`] gets
    /// a `Down` with its reason; at once with [`ExitReason::NoProcess`] if it does not
    /// exist, and with [`ExitReason::NoConnection`] if its node cannot be reached or
    /// the connection to it is lost.
    pub fn monitor(&mut self, pid: &Pid) -> MonitorRef {
        let mref = Ref::new(self.node.name().clone(), self.node.creation());
        self.monitors.insert(mref.clone(), pid.clone());
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
        let Some(pid) = self.monitors.remove(mref) else {
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

    /// When on, exit signals from linked processes arrive at [`Actor::on_exit`] instead
    /// of stopping this actor.
    pub fn trap_exits(&mut self, on: bool) {
        self.trap_exits = on;
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
    }

    /// Spawns an actor monitored by this one, atomically.
    pub fn spawn_monitor<B: Actor>(&mut self, args: B::Args) -> Result<(ActorRef<B>, MonitorRef), Error> {
        let me: Arc<dyn ProcessCell> = self.cell.clone();
        let mref = Ref::new(self.node.name().clone(), self.node.creation());
        let child =
            self.node
                .spawn_setup::<B>(args, SpawnOptions::default(), |child: &Arc<dyn ProcessCell>| {
                    let _ = child.core().add_monitor(mref.clone(), Watcher::Local(weak(&me)));
                })?;
        self.monitors.insert(mref.clone(), child.pid().clone());
        Ok((child, mref))
    }

    /// Runs `future` off the actor (on the runtime) and, when it finishes, runs
    /// `continuation` on the actor with its output. The continuation travels on the
    /// response lane: it is never refused because the user lane is full, and it runs
    /// before queued user messages.
    ///
    /// Piped futures follow the rules of requests: they count against
    /// [`Reentrancy::max_in_flight`] ([`Error::ReentrancyInFlightLimit`] beyond it), hold
    /// user messages while in flight in
    /// [`StashNonReentrant`](crate::ReentrancyMode::StashNonReentrant), and can be
    /// canceled through the returned [`RequestCall`] (the future is dropped). They work
    /// in every mode, `Off` included, and have no timeout of their own (wrap the future
    /// in `tokio::time::timeout` for one). If the actor stops first, the continuation
    /// runs with [`Error::RequestCanceled`] before `on_stop`.
    ///
    /// ```
    /// use ackor::{Actor, BoxError, Context, Handler, Message};
    ///
    /// struct Fetcher { last: Option<usize> }
    /// # impl Actor for Fetcher {
    /// #     type Args = ();
    /// #     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Fetcher { last: None }) }
    /// # }
    /// struct Fetch(String);
    /// impl Message for Fetch { type Reply = (); }
    ///
    /// impl Handler<Fetch> for Fetcher {
    ///     type Return = ();
    ///     async fn handle(&mut self, msg: Fetch, ctx: &mut Context<Self>) {
    ///         let _ = ctx.pipe_to(async move { msg.0.len() }, |this, _ctx, len| this.last = len.ok());
    ///     }
    /// }
    /// ```
    pub fn pipe_to<F, C>(&mut self, future: F, continuation: C) -> Result<RequestCall<A, F::Output>, Error>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
        C: FnOnce(&mut A, &mut Context<A>, Result<F::Output, Error>) + Send + 'static,
    {
        let admitted = self.requests.admit_pipe()?;
        let id = self.requests.next_id();
        let shared = Shared::<A, F::Output>::new(id, &self.cell);
        let call = RequestCall::new(shared.clone());
        call.then(continuation);
        let completer = shared.clone();
        let task = self.node.runtime().spawn(async move {
            let output = future.await;
            let _ = completer.complete(Ok(output));
        });
        let guard = AbortOnDrop(task.abort_handle());
        let chain = Some(self.current_chain());
        self.requests
            .insert(id, admitted, chain, shared, Some(Box::new(guard)));
        Ok(call)
    }
}

/// The acknowledgement of an important send made by [`Context::send`].
type PendingAck = std::pin::Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'static>>;

/// Aborts a piped future when its request leaves the table (canceled, or the actor
/// stopped); a no-op once the future has finished.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<A: Actor> std::fmt::Debug for Context<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("pid", self.pid())
            .finish_non_exhaustive()
    }
}
