//! The context a handler runs in: the actor's identity, its own state (the message
//! being handled, its reply, stop, trap-exits, the important-delivery flag) and its
//! verbs, one file per concern:
//!
//! - here: identity, replies, stopping, the important-delivery flag;
//! - [`requests`]: the continuations of requests and piped futures;
//! - [`links`]: monitors and links;
//! - the verbs that address other actors (`actor_ref`, `send`, `send_name`,
//!   `send_important`, `call`, `call_important`, `request`, `request_name`,
//!   `spawn_link`, `spawn_monitor`) are in `route::context`, beside
//!   [`ActorRef`](crate::ActorRef).

mod links;
mod requests;
mod timers;

pub use timers::Timer;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use super::reply::{ErasedReply, ReplyHandle};
use super::{ActorCell, DeliveryFailure, Recipient};
use crate::error::Error;
use crate::identity::{ChainId, Pid};
use crate::monitor::{ExitReason, MonitorRef, ProcessCell};
use crate::node::Node;
use crate::reentrancy::{Reentrancy, Requests};
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
    pub(crate) cell: Arc<ActorCell<A>>,
    pub(crate) node: Node,
    pub(crate) sender: Option<Pid>,
    pub(crate) reply: Option<ErasedReply>,
    /// Set by [`Context::stop_with`]: boxed, as it is set at most once per instance
    /// and this field lives as long as the actor.
    stop: Option<Box<ExitReason>>,
    pub(crate) trap_exits: bool,
    pub(crate) important: bool,
    /// Plain remote sends are acknowledged in the background and failures reported
    /// to `on_undelivered` (see [`Context::set_report_undelivered`]).
    pub(crate) report_undelivered: bool,
    pub(crate) requests: Requests<A>,
    /// What only some actors use, allocated on first use: the context lives in the
    /// actor's task for as long as the actor, idle or not (see the idle-actor bound
    /// in `tests/idle_memory.rs`).
    extras: Option<Box<ContextExtras>>,
    /// The call chain of the message being handled, when it came with one.
    pub(crate) chain: Option<ChainId>,
    /// The wait-for path of the message being handled (see `Envelope::path`).
    pub(crate) path: Box<[u64]>,
    /// Blocking calls made while handling the current item (names their tokens).
    pub(crate) calls: std::sync::atomic::AtomicU64,
    /// Counts the items this actor handled: with the pid and the node's seed it names
    /// a fresh chain for a message that came without one.
    pub(crate) seq: u64,
}

/// The parts of a [`Context`] that only some actors use.
#[derive(Default)]
struct ContextExtras {
    /// Stop once idle this long (see `SpawnOptions::idle_timeout`).
    idle_timeout: Option<std::time::Duration>,
    /// The monitors this actor set up and has not seen go down, with what they watch.
    monitors: HashMap<MonitorRef, Pid>,
    /// Important sends made by [`Context::send`] with the flag on, awaiting their
    /// acknowledgement: settled before the next item (see `run`).
    /// (In a mutex only to keep `Context` `Sync`; it is reached through `&mut self`.)
    acks: std::sync::Mutex<Vec<(Recipient, PendingAck)>>,
    /// The handler-latency histogram of the actor type, with detailed metrics on.
    handler_seconds: Option<metrics::Histogram>,
}

impl<A: Actor> Context<A> {
    pub(crate) fn new(
        cell: Arc<ActorCell<A>>,
        node: Node,
        reentrancy: Reentrancy,
        idle_timeout: Option<std::time::Duration>,
    ) -> Self {
        let extras = idle_timeout.map(|idle| {
            Box::new(ContextExtras {
                idle_timeout: Some(idle),
                ..ContextExtras::default()
            })
        });
        Context {
            cell,
            node,
            sender: None,
            reply: None,
            stop: None,
            trap_exits: false,
            important: false,
            report_undelivered: false,
            requests: Requests::new(reentrancy),
            extras,
            chain: None,
            path: Box::default(),
            calls: std::sync::atomic::AtomicU64::new(0),
            seq: 0,
        }
    }

    fn extras_mut(&mut self) -> &mut ContextExtras {
        self.extras.get_or_insert_with(Box::default)
    }

    /// How long the actor may stay idle before it stops, if it may not forever.
    pub(crate) fn idle_timeout(&self) -> Option<std::time::Duration> {
        self.extras.as_ref()?.idle_timeout
    }

    /// Times each handler into `histogram` (detailed metrics).
    pub(crate) fn set_handler_histogram(&mut self, histogram: metrics::Histogram) {
        self.extras_mut().handler_seconds = Some(histogram);
    }

    /// The handler-latency histogram, with detailed metrics on.
    pub(crate) fn handler_histogram(&self) -> Option<metrics::Histogram> {
        self.extras.as_ref()?.handler_seconds.clone()
    }

    /// Records a monitor this actor set up on `pid`.
    pub(crate) fn add_monitor(&mut self, mref: MonitorRef, pid: Pid) {
        self.extras_mut().monitors.insert(mref, pid);
    }

    /// Forgets a monitor; the pid it watched, if it was still active.
    pub(crate) fn remove_monitor(&mut self, mref: &MonitorRef) -> Option<Pid> {
        self.extras.as_mut()?.monitors.remove(mref)
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

    /// Inlined for the same reason as `route::call::envelope`: its arguments, written
    /// in parts by the caller and read back whole, stall the store buffer.
    #[inline(always)]
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
    pub(crate) fn blocking_call(&self) -> Chained {
        let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let token = ChainId::derive(
            !self.node.chain_seed(),
            self.pid().id(),
            self.seq.rotate_left(20) ^ n,
        )
        .get();
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
    pub(crate) fn current_chain(&self) -> ChainId {
        self.chain
            .unwrap_or_else(|| ChainId::derive(self.node.chain_seed(), self.pid().id(), self.seq))
    }

    pub(crate) fn end_message(&mut self) -> Option<ErasedReply> {
        self.sender = None;
        self.reply.take()
    }

    /// Forgets what belonged to the previous instance before a restart in place: the
    /// flags its `init` set. (Monitors and links belong to the process and stay.)
    pub(crate) fn reset_for_restart(&mut self) {
        self.stop = None;
        self.trap_exits = false;
        self.important = false;
        self.report_undelivered = false;
        self.requests.reset_mode();
        self.sender = None;
        drop(self.reply.take());
    }

    pub(crate) fn take_stop(&mut self) -> Option<ExitReason> {
        self.stop.take().map(|reason| *reason)
    }

    pub(crate) fn traps_exits(&self) -> bool {
        self.trap_exits
    }

    /// Keeps a `Down` only for monitors still active (a demonitored one is dropped).
    pub(crate) fn accept_down(&mut self, down: &Down) -> bool {
        self.remove_monitor(&down.monitor).is_some()
    }

    /// This actor's pid.
    pub fn pid(&self) -> &Pid {
        self.cell.core.pid()
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
        self.stop = Some(Box::new(reason));
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
        self.extras
            .as_mut()
            .is_some_and(|x| !x.acks.get_mut().unwrap_or_else(|p| p.into_inner()).is_empty())
    }

    pub(crate) fn acks_mut(&mut self) -> &mut Vec<(Recipient, PendingAck)> {
        self.extras_mut()
            .acks
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
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

    /// Reports plain sends to other nodes that did not reach the mailbox, without
    /// making the actor wait: with this on, [`Context::send`] (and `send_name`,
    /// `send_wait`) to a remote actor is acknowledged by the receiving node in the
    /// background, and one that was not delivered (the mailbox was full, no such
    /// process or name, the node unreachable) reaches [`Actor::on_undelivered`] later,
    /// between two messages, with the precise error. Unlike
    /// [`Context::set_important_delivery`] the actor goes on handling messages while
    /// the acknowledgements travel, so the failure is reported after messages that
    /// came later; order on the link is kept either way. It costs an acknowledgement
    /// frame and a small task per message (until its acknowledgement), and counts
    /// against the per-peer window of unacknowledged important sends
    /// ([`Error::MailboxFull`] at once when it is full, which bounds those tasks).
    ///
    /// ```
    /// use ackor::{Actor, BoxError, Context, DeliveryFailure};
    ///
    /// struct Gossip { lost: u64 }
    /// impl Actor for Gossip {
    ///     type Args = ();
    ///     async fn init(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
    ///         ctx.set_report_undelivered(true);
    ///         Ok(Gossip { lost: 0 })
    ///     }
    ///     async fn on_undelivered(&mut self, _ctx: &mut Context<Self>, _failure: DeliveryFailure) {
    ///         self.lost += 1;
    ///     }
    /// }
    /// ```
    pub fn set_report_undelivered(&mut self, on: bool) {
        self.report_undelivered = on;
    }

    /// Whether [`Context::set_important_delivery`] is on.
    pub fn important_delivery(&self) -> bool {
        self.important
    }

    /// When on, exit signals from linked processes arrive at [`Actor::on_exit`] instead
    /// of stopping this actor.
    pub fn trap_exits(&mut self, on: bool) {
        self.trap_exits = on;
    }
}

/// A blocking call made by an actor.
pub(crate) struct Chained {
    /// The chain of the message the caller handles.
    pub(crate) chain: ChainId,
    /// The caller's wait-for path, ending with `token`.
    pub(crate) path: Box<[u64]>,
    /// This call's token: the caller is blocked by it while it waits.
    pub(crate) token: u64,
    pub(crate) caller: Arc<dyn ProcessCell>,
}

/// The acknowledgement of an important send made by [`Context::send`].
pub(crate) type PendingAck = std::pin::Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'static>>;

impl<A: Actor> std::fmt::Debug for Context<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("pid", self.pid())
            .finish_non_exhaustive()
    }
}
