//! [`RequestCall`] and the state one request shares between its actor and whoever
//! completes it (the reply, a cancel from anywhere).
//!
//! Who completes a request is decided once, by an atomic flag: the first of the reply,
//! [`RequestCall::cancel`], the timeout and the actor's stop wins, and every later
//! completer learns it lost (a late important response gets
//! [`Error::ResponseIgnored`]). The winner's outcome is queued on the actor's response
//! lane, and the continuation runs on the actor's task when that item is taken.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use crate::actor::{ActorCell, Continuation};
use crate::{Actor, Context, Error};

/// What runs on the actor with a request's outcome.
pub(crate) type ThenFn<A, R> = Box<dyn FnOnce(&mut A, &mut Context<A>, Result<R, Error>) + Send>;

/// The state of one request, shared by its [`RequestCall`], the reply route and the
/// actor's table of requests in flight.
pub(crate) struct Shared<A: Actor, R> {
    id: u64,
    settled: AtomicBool,
    state: Mutex<State<A, R>>,
    cell: Weak<ActorCell<A>>,
}

struct State<A: Actor, R> {
    then: Option<ThenFn<A, R>>,
    /// `then` was called (only the first call counts).
    then_set: bool,
    /// The outcome, when it arrived before `then` was called.
    outcome: Option<Result<R, Error>>,
}

impl<A: Actor, R: Send + 'static> Shared<A, R> {
    pub(crate) fn new(id: u64, cell: &Arc<ActorCell<A>>) -> Arc<Self> {
        Arc::new(Shared {
            id,
            settled: AtomicBool::new(false),
            state: Mutex::new(State {
                then: None,
                then_set: false,
                outcome: None,
            }),
            cell: Arc::downgrade(cell),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State<A, R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Completes the request from off the actor (its reply, a cancel): queues the
    /// outcome for the actor. [`Error::ResponseIgnored`] if it was already complete
    /// (timed out, canceled) or the actor is gone: the outcome is discarded.
    pub(crate) fn complete(self: &Arc<Self>, outcome: Result<R, Error>) -> Result<(), Error> {
        if !self.settle() {
            return Err(Error::ResponseIgnored);
        }
        self.queue(outcome)
    }

    fn queue(self: &Arc<Self>, outcome: Result<R, Error>) -> Result<(), Error> {
        let Some(cell) = self.cell.upgrade() else {
            return Err(Error::ResponseIgnored);
        };
        let shared = self.clone();
        let item: Continuation<A> =
            Box::new(move |actor, ctx| ctx.finish_request(shared.id, actor, &shared, outcome));
        // A closed mailbox means the actor is stopping: its stop completes every request
        // still in its table with `RequestCanceled`.
        cell.mailbox()
            .push_response(item)
            .map_err(|_| Error::ResponseIgnored)
    }

    /// On the actor: hands the outcome to the continuation, or keeps it for `then`.
    pub(crate) fn run(&self, actor: &mut A, ctx: &mut Context<A>, outcome: Result<R, Error>) {
        let mut st = self.lock();
        match st.then.take() {
            Some(then) => {
                drop(st);
                then(actor, ctx, outcome);
            }
            None => st.outcome = Some(outcome),
        }
    }
}

impl<A: Actor, R> Shared<A, R> {
    /// Claims the right to complete the request; false if someone else did.
    pub(crate) fn settle(&self) -> bool {
        !self.settled.swap(true, Ordering::AcqRel)
    }
}

/// A request in flight as the actor's table sees it, whatever its reply type.
pub(crate) trait Pending<A: Actor>: Send + Sync {
    /// See [`Shared::settle`].
    fn settle(&self) -> bool;
    /// On the actor: completes the request with `error` (timeout, stop).
    fn fail(&self, actor: &mut A, ctx: &mut Context<A>, error: Error);
}

impl<A: Actor, R: Send + 'static> Pending<A> for Shared<A, R> {
    fn settle(&self) -> bool {
        Shared::settle(self)
    }

    fn fail(&self, actor: &mut A, ctx: &mut Context<A>, error: Error) {
        self.run(actor, ctx, Err(error));
    }
}

/// A non-blocking request in flight, returned by
/// [`Context::request`](crate::Context::request): register what to do with its outcome
/// with [`then`](RequestCall::then), give up on it with [`cancel`](RequestCall::cancel).
///
/// Dropping it neither cancels the request nor stops it from counting as in flight;
/// without a continuation its outcome is discarded.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use std::time::Duration;
/// use ackor::{Actor, BoxError, Context, Error, Handler, Message, Node, Reentrancy, RequestCall,
///     RequestOptions, SpawnOptions};
///
/// struct Sleepy;
/// impl Actor for Sleepy {
///     type Args = ();
///     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Sleepy) }
/// }
/// struct Nap;
/// impl Message for Nap { type Reply = (); }
/// impl Handler<Nap> for Sleepy {
///     type Return = ();
///     async fn handle(&mut self, _: Nap, _: &mut Context<Self>) { tokio::time::sleep(Duration::from_secs(1)).await }
/// }
///
/// struct Impatient { sleepy: ackor::ActorRef<Sleepy>, outcome: Option<Result<(), Error>>, call: Option<RequestCall<Impatient, ()>> }
/// impl Actor for Impatient {
///     type Args = ackor::ActorRef<Sleepy>;
///     async fn init(sleepy: Self::Args, _: &mut Context<Self>) -> Result<Self, BoxError> {
///         Ok(Impatient { sleepy, outcome: None, call: None })
///     }
/// }
/// struct Start;
/// impl Message for Start { type Reply = Result<(), Error>; }
/// impl Handler<Start> for Impatient {
///     type Return = Result<(), Error>;
///     async fn handle(&mut self, _: Start, ctx: &mut Context<Self>) -> Result<(), Error> {
///         let sleepy = self.sleepy.clone();
///         let call = ctx.request(&sleepy, Nap, RequestOptions::new())?;
///         call.then(|this, _ctx, outcome| this.outcome = Some(outcome));
///         self.call = Some(call);
///         Ok(())
///     }
/// }
/// struct GiveUp;
/// impl Message for GiveUp { type Reply = bool; }
/// impl Handler<GiveUp> for Impatient {
///     type Return = bool;
///     async fn handle(&mut self, _: GiveUp, _: &mut Context<Self>) -> bool {
///         self.call.as_ref().is_some_and(|c| c.cancel())
///     }
/// }
/// struct Outcome;
/// impl Message for Outcome { type Reply = Option<Result<(), Error>>; }
/// impl Handler<Outcome> for Impatient {
///     type Return = Option<Result<(), Error>>;
///     async fn handle(&mut self, _: Outcome, _: &mut Context<Self>) -> Option<Result<(), Error>> { self.outcome.clone() }
/// }
///
/// let node = Node::builder().name("doc@local").start().await?;
/// let sleepy = node.spawn::<Sleepy>(())?;
/// let me = node.spawn_with::<Impatient>(sleepy, SpawnOptions::default().reentrancy(Reentrancy::allow_all()))?;
/// me.call(Start).await??;
/// assert!(me.call(GiveUp).await?);  // canceled now
/// assert!(!me.call(GiveUp).await?); // idempotent
/// assert_eq!(me.call(Outcome).await?, Some(Err(Error::RequestCanceled)));
/// node.shutdown().await;
/// # Ok(()) }
/// ```
#[must_use = "no continuation runs unless `.then(..)` is called on the RequestCall: the reply would be discarded"]
pub struct RequestCall<A: Actor, R> {
    shared: Arc<Shared<A, R>>,
}

impl<A: Actor, R: Send + 'static> RequestCall<A, R> {
    pub(crate) fn new(shared: Arc<Shared<A, R>>) -> Self {
        RequestCall { shared }
    }

    /// Registers the continuation: it runs on the actor's task, with its state and
    /// context, once the request completes — with the reply, the callee's error,
    /// [`Error::RequestTimeout`], [`Error::RequestCanceled`] (also when the actor stops
    /// first), or the addressing error of a callee that stopped or could not be reached.
    ///
    /// Only the first call counts. If the request has already completed, the
    /// continuation runs right after the current handler, before any other message.
    /// A panic in it stops the actor, as a panic in a handler does. It always runs,
    /// unless the actor is killed ([`ActorRef::kill`](crate::ActorRef::kill) runs
    /// nothing of the actor's any more).
    pub fn then<F>(&self, continuation: F)
    where
        F: FnOnce(&mut A, &mut Context<A>, Result<R, Error>) + Send + 'static,
    {
        let mut st = self.shared.lock();
        if st.then_set {
            tracing::debug!(
                request = self.shared.id,
                "then called twice: only the first counts"
            );
            return;
        }
        st.then_set = true;
        let Some(outcome) = st.outcome.take() else {
            st.then = Some(Box::new(continuation));
            return;
        };
        drop(st);
        let Some(cell) = self.shared.cell.upgrade() else {
            return;
        };
        let item: Continuation<A> = Box::new(move |actor, ctx| continuation(actor, ctx, outcome));
        if cell.mailbox().push_first(item).is_err() {
            tracing::debug!(
                request = self.shared.id,
                "continuation dropped: the actor has stopped"
            );
        }
    }

    /// Gives up on the request: unless it has already completed, its continuation runs
    /// with [`Error::RequestCanceled`] and a reply arriving later is discarded (an
    /// important response then gets [`Error::ResponseIgnored`]). Best-effort: the callee
    /// may still do the work. Idempotent; returns whether this call canceled it.
    pub fn cancel(&self) -> bool {
        if !self.shared.settle() {
            return false;
        }
        metrics::counter!("ackor_requests_canceled_total").increment(1);
        let _ = self.shared.queue(Err(Error::RequestCanceled));
        true
    }

    /// True once the request has completed (replied, failed, timed out or canceled).
    pub fn is_complete(&self) -> bool {
        self.shared.settled.load(Ordering::Acquire)
    }

    /// The request's id, unique among this actor's requests (it appears in traces).
    pub fn id(&self) -> u64 {
        self.shared.id
    }
}

impl<A: Actor, R> std::fmt::Debug for RequestCall<A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestCall")
            .field("id", &self.shared.id)
            .field("complete", &self.shared.settled.load(Ordering::Acquire))
            .finish()
    }
}

/// A future piped back to its actor by [`Context::pipe_to`](crate::Context::pipe_to),
/// whose continuation is registered already: unlike a [`RequestCall`], dropping it
/// loses nothing. Keep it to cancel the future or to ask whether it has completed.
pub struct Piped<A: Actor, R>(pub(crate) RequestCall<A, R>);

impl<A: Actor, R: Send + 'static> Piped<A, R> {
    /// Cancels the piped future (it is dropped); its continuation runs with
    /// [`Error::RequestCanceled`]. Returns whether this call canceled it.
    pub fn cancel(&self) -> bool {
        self.0.cancel()
    }

    /// True once the future has completed or was canceled.
    pub fn is_complete(&self) -> bool {
        self.0.is_complete()
    }

    /// Its id among this actor's requests.
    pub fn id(&self) -> u64 {
        self.0.id()
    }
}

impl<A: Actor, R> std::fmt::Debug for Piped<A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Piped").field(&self.0).finish()
    }
}
