//! Actors: the [`Actor`] lifecycle, typed [`Handler`]s, the [`Context`] a handler runs
//! in, the cell that holds an actor's mailbox, and the task that runs it. (The handle
//! to send to one, [`ActorRef`](crate::ActorRef), is in `route`.)

mod context;
mod envelope;
mod remote_messages;
mod reply;
mod run;
mod spawn;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub(crate) use context::{Chained, PendingAck};
pub use context::{Context, Timer};
pub use reply::ReplyHandle;
pub(crate) use reply::{Forward, ReplyReceiver, SenderGone, channel as reply_channel};

pub(crate) use envelope::{Envelope, Ids, Meta, MsgEnvelope};
pub(crate) use remote_messages::{Carried, DecodeReply, table};
pub use remote_messages::{Codec, MessagePack, RemoteMessage, RemoteMessages};
#[doc(hidden)]
pub use remote_messages::{Probe, ViaLocal, ViaRemote};
pub(crate) use run::run;
pub use spawn::SpawnOptions;

use crate::error::{BoxError, Error};
use crate::identity::ChainId;
use crate::identity::Pid;
use crate::mailbox::{Item, Mailbox};
use crate::monitor::{Down, Exit};
use crate::monitor::{ExitReason, ProcessCell, ProcessCore, SystemMsg};
use crate::node::{Delivery, Process, ProcessInfo, ProcessState, RemoteReplyTo, Undelivered};
use crate::reentrancy::WaitingChains;
use crate::remote::{untrusted, untrusted_text};

/// An actor: state owned by one task that handles its messages one at a time.
///
/// `init` builds the state from [`Actor::Args`] when the actor starts; the other
/// callbacks have defaults that do nothing. A panic in any of them stops the actor
/// with [`ExitReason::Panic`], which its monitors and links see; the node and every
/// other actor keep running.
///
/// ```
/// use ackor::{Actor, BoxError, Context, ExitReason};
///
/// struct Greeter { greeting: String }
///
/// impl Actor for Greeter {
///     type Args = String;
///
///     async fn init(greeting: String, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
///         Ok(Greeter { greeting })
///     }
///
///     async fn on_stop(&mut self, _ctx: &mut Context<Self>, reason: &ExitReason) {
///         println!("{} stopped: {reason}", self.greeting);
///     }
/// }
/// ```
pub trait Actor: Sized + Send + 'static {
    /// What [`Node::spawn`](crate::Node::spawn) passes to `init`.
    type Args: Send + 'static;

    /// Builds the actor's state. An error or a panic stops the actor before it handles
    /// any message (reason [`ExitReason::Error`] or [`ExitReason::Panic`]).
    fn init(args: Self::Args, ctx: &mut Context<Self>)
    -> impl Future<Output = Result<Self, BoxError>> + Send;

    /// Runs once when the actor stops, after its mailbox closed, unless it was killed.
    fn on_stop(&mut self, ctx: &mut Context<Self>, reason: &ExitReason) -> impl Future<Output = ()> + Send {
        let _ = (ctx, reason);
        async {}
    }

    /// A process this actor monitors stopped (see [`Context::monitor`]).
    fn on_down(&mut self, ctx: &mut Context<Self>, down: Down) -> impl Future<Output = ()> + Send {
        let _ = (ctx, down);
        async {}
    }

    /// A linked process stopped while this actor traps exits (see
    /// [`Context::trap_exits`]).
    fn on_exit(&mut self, ctx: &mut Context<Self>, exit: Exit) -> impl Future<Output = ()> + Send {
        let _ = (ctx, exit);
        async {}
    }

    /// Runs on a new instance right after a supervisor restarted the actor in place (on
    /// the same pid, with the messages still queued), before it handles anything;
    /// `reason` is why the previous instance ended.
    fn on_restart(
        &mut self,
        ctx: &mut Context<Self>,
        reason: &ExitReason,
    ) -> impl Future<Output = ()> + Send {
        let _ = (ctx, reason);
        async {}
    }

    /// A message this actor sent with [`Context::send`] while
    /// [`important delivery`](Context::set_important_delivery) was on did not reach its
    /// recipient's mailbox, for the reason in `failure.error`. Runs before the actor
    /// handles its next message. Also for plain remote sends while
    /// [`Context::set_report_undelivered`] is on, once the failure is known (after
    /// messages handled meanwhile). By default it logs a warning.
    fn on_undelivered(
        &mut self,
        ctx: &mut Context<Self>,
        failure: DeliveryFailure,
    ) -> impl Future<Output = ()> + Send {
        // The error may be one the receiving node sent.
        let (to, error) = (untrusted(&failure.to), untrusted_text(&failure.error));
        tracing::warn!(pid = %ctx.pid(), %to, %error, "important send not delivered");
        async {}
    }

    /// Lists the [`RemoteMessage`](crate::RemoteMessage)s this actor accepts from other
    /// nodes (none by default). See [`RemoteMessages`] for an example. A message left
    /// out fails with [`Error::UnknownMessage`] when sent to a remote actor of this type;
    /// `#[ackor::actor]` writes this method from the actor's handlers, listing every
    /// remote message among them (see
    /// [the macros](crate#messages-and-actors-with-the-macros)).
    fn remote_messages(messages: &mut RemoteMessages<Self>) {
        let _ = messages;
    }
}

/// An important send that did not reach its recipient, see [`Actor::on_undelivered`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryFailure {
    /// The recipient.
    pub to: Recipient,
    /// Why: [`Error::ProcessUnknown`], [`Error::MailboxFull`],
    /// [`Error::ProcessTerminated`], [`Error::NoConnection`] (not delivered),
    /// [`Error::ConnectionLost`] or [`Error::Timeout`] (the outcome is unknown).
    pub error: Error,
}

/// Who a message was sent to: a process, or a registered name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// Sent to this pid.
    Pid(Pid),
    /// Sent to the name, resolved on its node.
    Name(crate::ProcessId),
}

impl std::fmt::Display for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Recipient::Pid(pid) => write!(f, "{pid}"),
            Recipient::Name(id) => write!(f, "{id}"),
        }
    }
}

/// A message type, with the type of the answer a caller gets back.
///
/// ```
/// use ackor::Message;
///
/// struct Deposit { amount: u64 }
/// impl Message for Deposit {
///     type Reply = u64; // the new balance
/// }
/// ```
pub trait Message: Send + 'static {
    /// What [`ActorRef::call`](crate::ActorRef::call) resolves to on success.
    type Reply: Send + 'static;

    /// Messages of this type run even while a
    /// [`StashNonReentrant`](crate::ReentrancyMode::StashNonReentrant) actor holds its
    /// user messages: mark read-only queries and health probes, which cannot break the
    /// ordering the stash protects. False by default.
    ///
    /// ```
    /// struct Health;
    /// impl ackor::Message for Health {
    ///     type Reply = bool;
    ///     const INTERLEAVE: bool = true;
    /// }
    /// ```
    const INTERLEAVE: bool = false;
}

/// How an actor handles messages of type `M`.
///
/// `Return` is what the handler returns: the reply itself (`M::Reply`), or a
/// [`Reply<M::Reply>`] when the handler may answer with an error or later.
///
/// ```
/// use ackor::{Actor, BoxError, Context, Handler, Message, Reply, Error};
///
/// struct Account { balance: u64 }
/// # impl Actor for Account {
/// #     type Args = u64;
/// #     async fn init(balance: u64, _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Account { balance }) }
/// # }
/// struct Deposit(u64);
/// impl Message for Deposit { type Reply = u64; }
/// struct Withdraw(u64);
/// impl Message for Withdraw { type Reply = u64; }
///
/// impl Handler<Deposit> for Account {
///     type Return = u64;
///     async fn handle(&mut self, msg: Deposit, _ctx: &mut Context<Self>) -> u64 {
///         self.balance += msg.0;
///         self.balance
///     }
/// }
///
/// impl Handler<Withdraw> for Account {
///     type Return = Reply<u64>;
///     async fn handle(&mut self, msg: Withdraw, _ctx: &mut Context<Self>) -> Reply<u64> {
///         if msg.0 > self.balance {
///             return Reply::Error(Error::rejected("insufficient funds"));
///         }
///         self.balance -= msg.0;
///         Reply::Value(self.balance)
///     }
/// }
/// ```
pub trait Handler<M: Message>: Actor {
    /// What `handle` returns: `M::Reply` or [`Reply<M::Reply>`].
    type Return: Into<Reply<M::Reply>> + Send;

    /// Handles one message. The returned value answers the caller of a `call`; for a
    /// `send` it is dropped.
    fn handle(&mut self, msg: M, ctx: &mut Context<Self>) -> impl Future<Output = Self::Return> + Send;

    /// Handles the message at once, without making a future, or gives it back for
    /// [`Handler::handle`]. Tried first for every message; by default it gives every
    /// message back.
    ///
    /// A handler that never waits can answer here and skip what a future costs (it is
    /// boxed, once per message: about a third of the time of a local send to an actor
    /// whose handler does nothing). `#[ackor::actor]` writes this method for a handler
    /// written as a plain `fn`. A handler may also answer some messages here and give
    /// the others back: a cache hit now, a miss fetched in `handle`. (While the
    /// handling is traced, followed or timed, both run inside one future.)
    ///
    /// The context is the one `handle` gets (sender, reply, call chain). What this
    /// method did before it gave the message back stays done, to the actor's state and
    /// through the context alike (messages sent, a stop asked for): so take the reply
    /// ([`Context::defer_reply`]) only when answering here, or `handle` finds none and
    /// its return value goes nowhere.
    ///
    /// A cache: a hit is answered at once, a miss is given back to `handle`, which
    /// waits for the value and keeps it.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use ackor::{Actor, BoxError, Context, Handler, Message, Node};
    ///
    /// struct Cache { values: HashMap<u32, String> }
    /// # impl Actor for Cache {
    /// #     type Args = ();
    /// #     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
    /// #         Ok(Cache { values: HashMap::new() })
    /// #     }
    /// # }
    /// struct Get(u32);
    /// impl Message for Get { type Reply = String; }
    ///
    /// impl Handler<Get> for Cache {
    ///     type Return = String;
    ///     fn handle_now(&mut self, msg: Get, _ctx: &mut Context<Self>) -> Result<String, Get> {
    ///         self.values.get(&msg.0).cloned().ok_or(msg)
    ///     }
    ///     async fn handle(&mut self, Get(key): Get, _ctx: &mut Context<Self>) -> String {
    ///         let value = fetch(key).await;
    ///         self.values.insert(key, value.clone());
    ///         value
    ///     }
    /// }
    /// # async fn fetch(key: u32) -> String { tokio::task::yield_now().await; format!("value {key}") }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ackor::Error> {
    /// let node = Node::builder().name("cache@local").start().await?;
    /// let cache = node.spawn::<Cache>(())?;
    /// assert_eq!(cache.call(Get(7)).await?, "value 7"); // fetched
    /// assert_eq!(cache.call(Get(7)).await?, "value 7"); // at once
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    fn handle_now(&mut self, msg: M, ctx: &mut Context<Self>) -> Result<Self::Return, M> {
        let _ = ctx;
        Err(msg)
    }
}

/// The answer of a handler that may reject a call or answer it later.
///
/// ```
/// use ackor::{Error, Reply};
///
/// let ok: Reply<u32> = 5.into();
/// assert!(matches!(ok, Reply::Value(5)));
/// let no: Reply<u32> = Reply::Error(Error::rejected("no"));
/// assert!(matches!(no, Reply::Error(_)));
/// ```
#[derive(Debug)]
pub enum Reply<T> {
    /// Answer with this value.
    Value(T),
    /// Answer with this error; the caller's `call` returns it.
    Error(Error),
    /// The handler took the reply with [`Context::defer_reply`] and answers later. If
    /// it did not, the caller gets [`Error::ReplyDropped`].
    Deferred,
}

impl<T> From<T> for Reply<T> {
    fn from(value: T) -> Self {
        Reply::Value(value)
    }
}

impl<T> Reply<T> {
    /// Turns a `Result` into a reply.
    ///
    /// ```
    /// use ackor::{Error, Reply};
    /// assert!(matches!(Reply::from_result(Ok::<u8, Error>(1)), Reply::Value(1)));
    /// ```
    pub fn from_result(result: Result<T, Error>) -> Self {
        match result {
            Ok(v) => Reply::Value(v),
            Err(e) => Reply::Error(e),
        }
    }
}

/// A continuation run on the actor with its state: the items of the response lane.
pub(crate) type Continuation<A> = Box<dyn FnOnce(&mut A, &mut Context<A>) + Send>;

/// An actor's mailbox: signals on the system lane, continuations on the response lane,
/// envelopes on the user lane.
pub(crate) type ActorMailbox<A> = Mailbox<SystemMsg, Box<dyn Envelope<A>>, Continuation<A>>;

/// One item taken from an actor's mailbox.
pub(crate) type ActorItem<A> = Item<SystemMsg, Box<dyn Envelope<A>>, Continuation<A>>;

/// The shared home of one actor: identity, mailbox, failure bookkeeping.
///
/// Every live actor keeps one of these, so what only some actors use is in
/// [`CellExtras`], allocated when first needed (see the idle-actor bound in
/// `tests/idle_memory.rs`).
pub(crate) struct ActorCell<A: Actor> {
    pub(crate) core: ProcessCore,
    pub(crate) mailbox: ActorMailbox<A>,
    pub(crate) call_timeout: Duration,
    extras: OnceLock<Box<CellExtras<A>>>,
}

/// The parts of an actor's cell that only some actors use: its supervisor, the remote
/// messages of its type (an actor that never hears from another node never looks them
/// up), and the chains its held requests wait on (an actor that never makes a
/// stash-mode request has none).
struct CellExtras<A: Actor> {
    /// Its supervisor, for a supervised actor: asked what to do when an instance ends.
    /// Set when the cell is made, before anyone else sees it.
    overseer: Option<Arc<dyn Overseer<A>>>,
    /// The actor type's remote messages, fetched on the first remote delivery.
    remote_table: OnceLock<Arc<RemoteMessages<A>>>,
    /// The chains its stash-mode requests wait on (see `reentrancy::WaitingChains`).
    waiting: WaitingChains,
}

impl<A: Actor> CellExtras<A> {
    fn new(overseer: Option<Arc<dyn Overseer<A>>>) -> Box<Self> {
        Box::new(CellExtras {
            overseer,
            remote_table: OnceLock::new(),
            waiting: WaitingChains::default(),
        })
    }
}

/// How an instance of a supervised actor ended, as its supervisor is told.
#[derive(Debug, Clone)]
pub(crate) enum Ending {
    /// It failed: a handler, continuation or callback panicked, `init` failed, or an
    /// exit signal from a link took it down.
    Failed(ExitReason),
    /// It stopped: it asked to, or was asked to.
    Stopped(ExitReason),
    /// Its supervisor asked it to restart.
    Restarted(ExitReason),
}

impl Ending {
    /// The exit reason it carries.
    pub(crate) fn reason(&self) -> &ExitReason {
        match self {
            Ending::Failed(r) | Ending::Stopped(r) | Ending::Restarted(r) => r,
        }
    }
}

/// What a supervisor decides when an instance of its child ends.
pub(crate) enum Decision<A: Actor> {
    /// Start a new instance in place from these arguments.
    Restart(A::Args),
    /// End the process with this reason.
    Stop(ExitReason),
}

/// The supervisor of an actor, as the actor's run loop sees it.
pub(crate) trait Overseer<A: Actor>: Send + Sync + 'static {
    /// An instance of `pid` ended: restart it (the future may wait, for a backoff or
    /// for siblings) or end the process.
    fn ended(&self, pid: &Pid, ending: Ending)
    -> std::pin::Pin<Box<dyn Future<Output = Decision<A>> + Send>>;
    /// A new instance of `pid` is up (its `init` returned).
    fn started(&self, pid: &Pid);
}

impl<A: Actor> ActorCell<A> {
    pub(crate) fn new(
        pid: Pid,
        capacity: usize,
        call_timeout: Duration,
        overseer: Option<Arc<dyn Overseer<A>>>,
    ) -> Arc<Self> {
        let extras = OnceLock::new();
        if overseer.is_some() {
            let _ = extras.set(CellExtras::new(overseer));
        }
        Arc::new(ActorCell {
            core: ProcessCore::new(pid),
            mailbox: Mailbox::new(capacity),
            call_timeout,
            extras,
        })
    }

    /// The cell's extras, allocated if they were not yet.
    fn extras(&self) -> &CellExtras<A> {
        self.extras.get_or_init(|| CellExtras::new(None))
    }

    /// Its supervisor, for a supervised actor.
    pub(crate) fn overseer(&self) -> Option<&Arc<dyn Overseer<A>>> {
        self.extras.get()?.overseer.as_ref()
    }

    /// The chains its held requests wait on, shared with the actor's request table.
    pub(crate) fn waiting_chains(&self) -> &WaitingChains {
        &self.extras().waiting
    }

    /// Queues a user message; one of a chain this actor's held requests wait on gets in
    /// even when the lane is full (it is what the actor waits for, not what it holds).
    fn push_user(&self, env: Box<dyn Envelope<A>>) -> Result<(), (Box<dyn Envelope<A>>, Error)> {
        match self.mailbox.try_push_user(env) {
            Err((env, Error::MailboxFull)) if self.waits_on(env.chain()) => self.mailbox.push_user_over(env),
            other => other,
        }
    }

    fn waits_on(&self, chain: Option<ChainId>) -> bool {
        let Some(extras) = self.extras.get() else {
            return false;
        };
        chain.is_some_and(|c| {
            extras
                .waiting
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains_key(&c)
        })
    }

    pub(crate) fn mailbox(&self) -> &ActorMailbox<A> {
        &self.mailbox
    }

    /// Queues a call or request, unless the actor waits in a blocking call on the
    /// message's wait-for path (it could never take it: a cycle).
    pub(crate) fn push_chained(&self, env: Box<dyn Envelope<A>>) -> Result<(), Error> {
        if self.core.is_blocked_by(env.path()) {
            return Err(Error::CallCycle);
        }
        self.push_user(env).map_err(|(env, e)| {
            drop(env);
            e
        })
    }
}

impl<A: Actor> ProcessCell for ActorCell<A> {
    fn core(&self) -> &ProcessCore {
        &self.core
    }

    fn push_system(&self, msg: SystemMsg) -> Result<(), SystemMsg> {
        self.mailbox.push_system(msg)
    }

    fn kill(&self) {
        // Close first: callers waiting on this actor see it terminated, not a dropped
        // reply, while the task unwinds.
        let drained = self.mailbox.close();
        drop(drained);
        self.core.abort();
    }
}

impl<A: Actor> Process for ActorCell<A> {
    fn deliver_remote(self: Arc<Self>, message: Delivery<'_>) -> Result<(), Undelivered> {
        let Delivery {
            tag,
            payload,
            from,
            chain,
            path,
            reply,
            trace,
            call_id,
            important,
        } = message;
        if self.core.is_blocked_by(&path) {
            return Err((Error::CallCycle, reply));
        }
        // A reply handle dropped because this actor stopped reports `ProcessTerminated`
        // to the remote caller, as it does to a local one.
        let reply = reply.map(|to| {
            let mailbox_of = Arc::downgrade(&self);
            let send = to.send;
            RemoteReplyTo {
                send: Box::new(move |outcome, ack| {
                    let stopped = mailbox_of.upgrade().is_none_or(|c| c.mailbox.is_closed());
                    match outcome {
                        Err(Error::ReplyDropped) if stopped => send(Err(Error::ProcessTerminated), ack),
                        other => send(other, ack),
                    }
                }),
                ack_timeout: to.ack_timeout,
            }
        });
        // The ids go on the handling's span: kept only while it can be listened to.
        let ids = if call_id != 0 && tracing::level_enabled!(tracing::Level::DEBUG) {
            if important {
                Ids {
                    delivery: call_id,
                    ..Ids::default()
                }
            } else {
                Ids {
                    call: call_id,
                    ..Ids::default()
                }
            }
        } else {
            Ids::default()
        };
        let meta = (trace.is_some() || ids != Ids::default()).then(|| Box::new(Meta { trace, ids }));
        let table = self.extras().remote_table.get_or_init(table::<A>);
        let carried = Carried {
            from,
            chain,
            path,
            meta,
        };
        let env = table.deliver(tag, payload, carried, reply)?;
        if let Err((env, error)) = self.push_user(env) {
            env.fail(error.clone());
            return Err((error, None));
        }
        Ok(())
    }
    fn info(&self) -> ProcessInfo {
        let stats = self.core.stats().snapshot();
        let state = if self.core.is_terminated() {
            ProcessState::Stopped
        } else if self.mailbox.is_closed() {
            ProcessState::Stopping
        } else if stats.restarting {
            ProcessState::Restarting
        } else if self.core.in_blocking_call() {
            ProcessState::WaitingInCall
        } else if stats.holding {
            ProcessState::Stashing
        } else {
            ProcessState::Running
        };
        let lanes = (
            self.mailbox.user_len(),
            self.mailbox.capacity(),
            self.mailbox.system_len(),
        );
        ProcessInfo::new(
            self.core.pid().clone(),
            self.core.name(),
            std::any::type_name::<A>(),
            lanes,
            state,
            stats,
        )
    }
}
