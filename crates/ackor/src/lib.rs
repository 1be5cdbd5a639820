// How this crate is built: layers, and imports point down.
//
//   lib.rs, testing.rs   api surface: re-exports, the guided docs below
//   stream/              end-to-end delivery: producers, consumers, outboxes, ledgers
//                        (built on the public verbs only)
//   route/               how a message finds its actor: ActorRef (local or remote, decided
//                        here for every verb) and its remote half, the Call/SendImportant
//                        futures, Node's typed verbs (spawn, lookup, resolve, remote
//                        spawn), the Context verbs that address other actors
//   supervision/         Supervisor: child specs, strategies, restart in place (beside
//                        route/, which it uses to address children)
//   actor/  reentrancy/  Actor/Handler/Message, the actor's cell and Context, the run
//                        loop | requests, continuations, the stash (one layer)
//   node/                the Node every actor holds: pids, the process table and names,
//                        config, shutdown; frames from peers routed to processes
//   reliable/            important delivery: delivery ids, the resend store, the dedup
//                        window, acknowledgements, important responses
//   remote/              links, handshake, framing, wire, peers: bytes, pids and frames
//                        only; hands frames up through remote::Inbound
//   monitor/             exit reasons, Down/Exit signals, monitors and links as data
//   mailbox/             the three lanes, generic over what they carry
//   identity, error, fasthash, telemetry, trace   leaves (telemetry: the metrics
//                        table, OTLP export; trace: the trace context a handled message
//                        carries)
//
// A module uses only modules of its own layer or below; never one above. Where a lower
// layer must reach up, it defines a trait the upper one implements (remote::Inbound,
// remote::Custody, monitor::RemoteSignals, node::Process). tests/layering.rs checks
// every `crate::` path against this table and fails on an upward one: change both
// together. The Node handle sits below the actor layer because every actor holds it;
// what names an actor type is added to it from above: starting an actor's task
// (actor/spawn.rs), and the public spawn, lookup and resolve verbs (route/spawn.rs).

//! # ackor
//!
//! A distributed actor framework for messages that must not get lost.
//!
//! An actor is state owned by one task that handles typed messages one at a time.
//! Actors live on a [`Node`]; you talk to one through an [`ActorRef`]: `send` (fire and
//! forget), `call` (request and reply, with a timeout), `stop`, `kill`. Each actor has
//! a three-lane mailbox: system messages first, then responses (never refused because
//! the mailbox is full), then user messages (bounded). Messages from one sender to one
//! recipient arrive in the order they were sent.
//!
//! ## A first actor
//!
//! ```
//! use ackor::{Actor, BoxError, Context, Handler, Message, Node};
//!
//! // The actor's state.
//! struct Counter {
//!     count: u64,
//! }
//!
//! impl Actor for Counter {
//!     type Args = u64; // what spawn passes to init
//!     async fn init(start: u64, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
//!         Ok(Counter { count: start })
//!     }
//! }
//!
//! // A message and the type of its reply.
//! struct Increment(u64);
//! impl Message for Increment {
//!     type Reply = u64;
//! }
//!
//! impl Handler<Increment> for Counter {
//!     type Return = u64;
//!     async fn handle(&mut self, msg: Increment, _ctx: &mut Context<Self>) -> u64 {
//!         self.count += msg.0;
//!         self.count
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
//! let node = Node::builder().name("quickstart@localhost").start().await?;
//! let counter = node.spawn::<Counter>(0)?;
//!
//! counter.send(Increment(2))?;                       // fire and forget
//! let now = counter.call(Increment(3)).await?;       // request and reply
//! assert_eq!(now, 5);
//!
//! node.shutdown().await;                             // stops every actor
//! # Ok(()) }
//! ```
//!
//! A handler that never waits, as this one, can skip the future made for each message
//! (unless its handling is traced or timed):
//! write it as a plain `fn` under [`#[ackor::actor]`](#messages-and-actors-with-the-macros),
//! or give `Handler` a [`handle_now`](Handler::handle_now) too.
//!
//! ## Failures are seen, not guessed
//!
//! Errors say what happened: [`Error::MailboxFull`] and [`Error::ProcessTerminated`]
//! come back from `send` at once; a `call` whose callee stops answers
//! [`Error::ProcessTerminated`] as soon as it stops, not at the timeout. A panic in an
//! actor stops only that actor, with [`ExitReason::Panic`], which its monitors
//! ([`Context::monitor`] → [`Actor::on_down`]) and links ([`Context::link`]) see.
//!
//! ## Several nodes
//!
//! A node with a cookie listens on the `host:port` of its name and talks to other
//! nodes over TCP (TLS optional, see [`TlsConfig`]). Messages that cross the wire are
//! serde types with a stable tag ([`RemoteMessage`]); an actor lists the ones it accepts
//! in [`Actor::remote_messages`] (or has `#[ackor::actor]` list them, see
//! [the macros](#messages-and-actors-with-the-macros) below). An [`ActorRef`] to a remote
//! actor is used exactly like a local one.
//!
//! ```
//! use ackor::{Actor, BoxError, Context, Handler, Message, Node, ProcessId, RemoteMessage, RemoteMessages, SpawnOptions};
//! use serde::{Deserialize, Serialize};
//!
//! struct Bank { balance: u64 }
//!
//! #[derive(Serialize, Deserialize)]
//! struct Deposit(u64);
//! impl Message for Deposit { type Reply = u64; }
//! impl RemoteMessage for Deposit { const TAG: &'static str = "bank.deposit.v1"; }
//!
//! impl Actor for Bank {
//!     type Args = ();
//!     async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
//!         Ok(Bank { balance: 0 })
//!     }
//!     fn remote_messages(messages: &mut RemoteMessages<Self>) {
//!         messages.add::<Deposit>();
//!     }
//! }
//!
//! impl Handler<Deposit> for Bank {
//!     type Return = u64;
//!     async fn handle(&mut self, msg: Deposit, _ctx: &mut Context<Self>) -> u64 {
//!         self.balance += msg.0;
//!         self.balance
//!     }
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
//! // Port 0: each node picks a free port, and its name carries the real one.
//! let a = Node::builder().name("a@127.0.0.1:0").cookie("secret").start().await?;
//! let b = Node::builder().name("b@127.0.0.1:0").cookie("secret").start().await?;
//! b.spawn_with::<Bank>((), SpawnOptions::default().name("bank"))?;
//!
//! // On a: find b's bank by name, then call it as if it were local.
//! let bank = a.resolve::<Bank>(&ProcessId::new("bank", b.name().clone())).await?;
//! assert!(bank.is_remote());
//! assert_eq!(bank.call(Deposit(10)).await?, 10);
//!
//! // Important delivery: Ok only once the deposit is in the bank's mailbox.
//! bank.send_important(Deposit(5)).await?;
//! assert_eq!(bank.call_important(Deposit(0)).await?, 15);
//!
//! a.shutdown().await;
//! b.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Remote errors are as precise as local ones: [`Error::ProcessUnknown`] for a pid or
//! name that does not exist there, [`Error::MailboxFull`], [`Error::UnknownMessage`]
//! for a tag the other node does not know, [`Error::NoConnection`] when the node
//! cannot be reached (the message surely did not arrive), [`Error::ConnectionLost`] when
//! the connection drops mid-call (it may have been handled) — at once, not at the
//! timeout.
//! Monitors and links work across nodes; losing a node delivers `Down` / exit
//! signals with [`ExitReason::NoConnection`].
//!
//! ## Important delivery
//!
//! [`ActorRef::send_important`] resolves `Ok(())` only when the receiving node has put
//! the message in the actor's mailbox, and otherwise says why: [`Error::ProcessUnknown`],
//! [`Error::MailboxFull`], [`Error::ProcessTerminated`], [`Error::NoConnection`]
//! (definitely not delivered), [`Error::ConnectionLost`] (the node restarted before
//! acknowledging: fate unknown) or [`Error::Timeout`] (no acknowledgement in time).
//! Every error is true: none says "not delivered" of a message that was.
//! [`ActorRef::call_important`] confirms the request the same way, and
//! [`ReplyHandle::reply_important`] tells a responder whether its caller got the answer
//! ([`Error::ResponseIgnored`] if not): RR-2PC and FR-2PC, the base for 2PC/3PC.
//! Unacknowledged important sends survive a link flap (resent, deduplicated); a
//! restarted peer fails them. To a local actor they are plain sends.
//!
//! `Ok` means *in the mailbox*, not *handled*: a message still queued when its node
//! crashes (or its actor stops) is lost, and nobody is told. To know a message was
//! handled, acknowledge it after handling ([`SendImportant::after_handling`]: `Ok` once
//! the handler finished, an error if it panicked or its actor or node went away first).
//!
//! ## Delivery that survives a crash
//!
//! A [`stream`] carries a sequence of messages from a [`stream::Producer`] to a
//! [`stream::Consumer`] registered under a name: numbered, kept in the producer's
//! [`stream::Outbox`] until handled, sent within a window the consumer grants, resent in
//! order to whatever instance the name reaches after a restart, and deduplicated there
//! by the consumer's [`stream::Ledger`]. With a durable outbox (the `ackor-durable`
//! crate) nothing a producer accepted is lost when its process is killed; with the
//! consumer's record kept with its effects, every message is handled exactly once (the
//! [`stream`] module says exactly when).
//!
//! ## Reentrancy
//!
//! An actor spawned with a [`Reentrancy`] mode can make non-blocking requests:
//! [`Context::request`] returns a [`RequestCall`] at once, and its
//! [`then`](RequestCall::then) continuation runs on the actor, with `&mut` state, when the
//! reply (or an error, [`Error::RequestTimeout`], [`Error::RequestCanceled`]) comes. Meanwhile
//! the actor handles every message ([`ReentrancyMode::AllowAll`]) or holds its user messages
//! in their exact order ([`ReentrancyMode::StashNonReentrant`]). A blocking `call` that
//! would wait on itself fails at once with [`Error::CallCycle`]. The [`reentrancy`] module
//! has the details and an example.
//!
//! ## Supervision
//!
//! A [`supervision::Supervisor`] restarts its children when they fail (OTP's one-for-one,
//! one-for-all and rest-for-one, with restart types, intensity, backoff and ordered
//! start and stop), **in place**: same pid, same name, and the messages already queued
//! are handled by the new instance. Only the message being handled is lost, and its
//! caller gets [`Error::ActorFailed`]. See the [`supervision`] module.
//!
//! ## Looking at running nodes
//!
//! Every node answers `ackor.inspect`, a service the node runs itself (so it answers
//! even when every actor is stuck), locally and to any node with the cookie:
//! [`Node::inspect`] asks it. It tells a node's processes (mailbox depth, state such as
//! stashing or restarting, messages handled, requests in flight, last failure), one
//! process's links and monitors and, while followed, the trace ids of the messages it
//! handles, and the node's peers (links, round-trip time, bytes, unacknowledged
//! important sends) and important-delivery outcomes. See the [`inspect`] module;
//! `ackor ps`, `ackor inspect` and the web observer (`ackor observe`) use it. The
//! metrics and the traces are below.
//!
#![cfg_attr(feature = "macros", doc = include_str!("../docs/macros.md"))]
#![doc = include_str!("../docs/metrics.md")]
#![doc = include_str!("../docs/tracing.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod actor;
mod error;
mod fasthash;
mod identity;
mod mailbox;
mod monitor;
mod node;
pub mod reentrancy;
mod reliable;
mod remote;
mod route;
pub mod stream;
pub mod supervision;
pub mod telemetry;
pub mod testing;
pub mod trace;

pub use actor::{Actor, Context, DeliveryFailure, Handler, Message, Recipient, Reply, ReplyHandle, Timer};
pub use actor::{Codec, MessagePack, RemoteMessage, RemoteMessages, SpawnOptions};
pub use error::{BoxError, Error};
pub use identity::{NodeName, Pid, ProcessId, Ref};
pub use monitor::{Down, Exit, ExitReason, MonitorRef};
pub use node::{
    DEFAULT_CALL_TIMEOUT, DEFAULT_MAILBOX_CAPACITY, DEFAULT_SHUTDOWN_TIMEOUT, Node, NodeBuilder, NodeConfig,
    ProcessInfo, ProcessState,
};

/// Looking at running nodes, this one or others across the network: [`Node::info`],
/// [`Node::processes`], [`Node::process`], and [`Node::inspect`], which asks any node
/// through the `ackor.inspect` service every node answers (the node itself answers,
/// so a node whose actors are all stuck still says what they are doing). `ackor ps`,
/// `ackor inspect` and the web observer (`ackor observe`) are built on it.
pub mod inspect {
    pub use crate::node::{
        HandledMessage, INSPECT, ImportantStats, Inspector, NodeInfo, PeerInfo, ProcessDetail, ProcessInfo,
        ProcessState,
    };
}
pub use reentrancy::{Piped, Reentrancy, ReentrancyMode, RequestCall, RequestOptions};
pub use remote::{BoxFuture, Connection, Listener, Transport};
pub use remote::{RemoteConfig, TlsConfig};
pub use route::{ActorRef, Call, CallFuture, Encoded, RemoteActor, SendImportant};

/// The macros (default feature `macros`): see
/// [Messages and actors with the macros](crate#messages-and-actors-with-the-macros).
#[cfg(feature = "macros")]
pub use ackor_macros::{Message, RemoteMessage, actor};

/// What the code `#[ackor::actor]` generates uses; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::actor::{Probe, ViaLocal, ViaRemote};
    pub use serde;
}
