//! Reentrancy: non-blocking requests whose replies come back as continuations run on
//! the requesting actor, so it can keep handling messages while it waits.
//!
//! An actor spawned with a [`Reentrancy`] other than [`ReentrancyMode::Off`] can call
//! [`Context::request`](crate::Context::request) (or
//! [`request_name`](crate::Context::request_name)): the message leaves at once and a
//! [`RequestCall`] comes back; [`RequestCall::then`] registers what to do with the reply.
//! The continuation runs on the actor's task with `&mut` state, for every outcome: the
//! reply, the callee's error, [`Error::RequestTimeout`](crate::Error::RequestTimeout),
//! [`Error::RequestCanceled`](crate::Error::RequestCanceled).
//!
//! | mode | while a request is in flight |
//! |---|---|
//! | [`Off`](ReentrancyMode::Off) | `request` fails with `ReentrancyDisabled`; use `call` |
//! | [`AllowAll`](ReentrancyMode::AllowAll) | every incoming message is handled |
//! | [`StashNonReentrant`](ReentrancyMode::StashNonReentrant) | user messages wait in the mailbox in arrival order; replies, continuations, system messages, messages of the same call chain and [`Message::INTERLEAVE`](crate::Message::INTERLEAVE) types still run |
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
//! use ackor::{Actor, BoxError, Context, Handler, Message, Node, Reentrancy, RequestOptions, SpawnOptions};
//!
//! struct Price;
//! impl Message for Price { type Reply = u64; }
//! struct Oracle;
//! impl Actor for Oracle {
//!     type Args = ();
//!     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Oracle) }
//! }
//! impl Handler<Price> for Oracle {
//!     type Return = u64;
//!     async fn handle(&mut self, _: Price, _: &mut Context<Self>) -> u64 { 42 }
//! }
//!
//! struct Trader { oracle: ackor::ActorRef<Oracle>, last: Option<u64> }
//! impl Actor for Trader {
//!     type Args = ackor::ActorRef<Oracle>;
//!     async fn init(oracle: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
//!         Ok(Trader { oracle, last: None })
//!     }
//! }
//! struct Refresh;
//! impl Message for Refresh { type Reply = Result<(), ackor::Error>; }
//! impl Handler<Refresh> for Trader {
//!     type Return = Result<(), ackor::Error>;
//!     async fn handle(&mut self, _: Refresh, ctx: &mut Context<Self>) -> Result<(), ackor::Error> {
//!         let oracle = self.oracle.clone();
//!         // Returns at once; the continuation runs when the price arrives.
//!         ctx.request(&oracle, Price, RequestOptions::new())?
//!             .then(|this, _ctx, price| this.last = price.ok());
//!         Ok(())
//!     }
//! }
//! struct Last;
//! impl Message for Last { type Reply = Option<u64>; }
//! impl Handler<Last> for Trader {
//!     type Return = Option<u64>;
//!     async fn handle(&mut self, _: Last, _: &mut Context<Self>) -> Option<u64> { self.last }
//! }
//!
//! let node = Node::builder().name("doc@local").start().await?;
//! let oracle = node.spawn::<Oracle>(())?;
//! let trader = node.spawn_with::<Trader>(oracle, SpawnOptions::default().reentrancy(Reentrancy::allow_all()))?;
//! trader.call(Refresh).await??;
//! # tokio::time::sleep(std::time::Duration::from_millis(20)).await;
//! assert_eq!(trader.call(Last).await?, Some(42));
//! node.shutdown().await;
//! # Ok(()) }
//! ```

mod deadlines;
mod request;
mod table;

use std::time::Duration;

pub(crate) use request::{Pending, Shared};
pub use request::{Piped, RequestCall};
pub(crate) use table::{Entry, Guard, Next, Requests, WaitingChains};

/// How an actor treats incoming messages while its requests are in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ReentrancyMode {
    /// No requests: [`Context::request`](crate::Context::request) fails with
    /// [`Error::ReentrancyDisabled`](crate::Error::ReentrancyDisabled). The default.
    #[default]
    Off,
    /// Every incoming message is handled while requests are in flight. The actor's
    /// state may change between a request and its continuation.
    AllowAll,
    /// While a request made in this mode is in flight, user messages wait in the
    /// mailbox in their arrival order; replies, continuations and system messages still
    /// run, and so do messages of a call chain the actor is waiting on and message types
    /// marked [`Message::INTERLEAVE`](crate::Message::INTERLEAVE). When the last such
    /// request completes, the held messages run in order.
    StashNonReentrant,
}

impl ReentrancyMode {
    /// The mode's code on the wire (remote spawn options).
    pub(crate) fn to_wire(self) -> i32 {
        match self {
            ReentrancyMode::Off => 0,
            ReentrancyMode::AllowAll => 1,
            ReentrancyMode::StashNonReentrant => 2,
        }
    }

    /// Decodes a wire code; an unknown code (from a newer node) is `Off`, so a
    /// mixed-version cluster never turns reentrancy on by mistake.
    ///
    /// ```
    /// use ackor::ReentrancyMode;
    /// assert_eq!(ReentrancyMode::from_wire(1), ReentrancyMode::AllowAll);
    /// assert_eq!(ReentrancyMode::from_wire(2), ReentrancyMode::StashNonReentrant);
    /// assert_eq!(ReentrancyMode::from_wire(99), ReentrancyMode::Off);
    /// ```
    pub fn from_wire(code: i32) -> Self {
        match code {
            1 => ReentrancyMode::AllowAll,
            2 => ReentrancyMode::StashNonReentrant,
            _ => ReentrancyMode::Off,
        }
    }
}

/// The reentrancy of an actor, set when it is spawned with
/// [`SpawnOptions::reentrancy`](crate::SpawnOptions::reentrancy). Off by default.
///
/// ```
/// use ackor::{Reentrancy, ReentrancyMode};
///
/// let r = Reentrancy::stash_non_reentrant().max_in_flight(8);
/// assert_eq!(r.mode, ReentrancyMode::StashNonReentrant);
/// assert_eq!(r.max_in_flight, 8);
/// assert_eq!(Reentrancy::default().mode, ReentrancyMode::Off);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Reentrancy {
    /// What runs while requests are in flight.
    pub mode: ReentrancyMode,
    /// The most requests (and [`Context::pipe_to`](crate::Context::pipe_to) futures) in
    /// flight at once; beyond it `request` fails with
    /// [`Error::ReentrancyInFlightLimit`](crate::Error::ReentrancyInFlightLimit). 0 means
    /// no limit.
    pub max_in_flight: usize,
}

impl Reentrancy {
    /// Reentrancy in `mode`, with no in-flight limit.
    pub fn new(mode: ReentrancyMode) -> Self {
        Reentrancy {
            mode,
            max_in_flight: 0,
        }
    }

    /// [`ReentrancyMode::AllowAll`].
    pub fn allow_all() -> Self {
        Self::new(ReentrancyMode::AllowAll)
    }

    /// [`ReentrancyMode::StashNonReentrant`].
    pub fn stash_non_reentrant() -> Self {
        Self::new(ReentrancyMode::StashNonReentrant)
    }

    /// Caps the requests in flight at once (0: no limit).
    pub fn max_in_flight(mut self, max: usize) -> Self {
        self.max_in_flight = max;
        self
    }
}

/// Options of one request.
///
/// ```
/// use std::time::Duration;
/// use ackor::{ReentrancyMode, RequestOptions};
///
/// let opts = RequestOptions::new()
///     .with_reentrancy_mode(ReentrancyMode::AllowAll)
///     .with_request_timeout(Duration::from_millis(200));
/// # let _ = opts;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestOptions {
    pub(crate) mode: Option<ReentrancyMode>,
    /// `None`: the node's call timeout; `Some(None)`: no timeout.
    pub(crate) timeout: Option<Option<Duration>>,
}

impl RequestOptions {
    /// The defaults: the actor's mode, the node's call timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses `mode` for this request instead of the actor's. It cannot enable what the
    /// actor has off: with the actor's mode `Off`, or `mode` `Off`, the request fails
    /// with [`Error::ReentrancyDisabled`](crate::Error::ReentrancyDisabled).
    pub fn with_reentrancy_mode(mut self, mode: ReentrancyMode) -> Self {
        self.mode = Some(mode);
        self
    }

    /// Completes the request with [`Error::RequestTimeout`](crate::Error::RequestTimeout)
    /// if no reply came within `timeout`. `Duration::ZERO` means no timeout; without
    /// this option the node's call timeout applies, so no request waits forever by
    /// default.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some((!timeout.is_zero()).then_some(timeout));
        self
    }
}
