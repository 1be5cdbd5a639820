//! The continuations of requests and piped futures, run on the actor.

use std::future::Future;
use std::sync::Arc;

use super::Context;
use crate::Actor;
use crate::error::Error;
use crate::reentrancy::{Entry, Pending, Piped, ReentrancyMode, RequestCall, Shared};

impl<A: Actor> Context<A> {
    /// Runs the continuation of request `id` with its outcome, if the request was still
    /// in flight (the first completion wins; see `reentrancy::request`).
    pub(crate) fn finish_request<R: Send + 'static>(
        &mut self,
        id: u64,
        actor: &mut A,
        shared: &Shared<A, R>,
        outcome: Result<R, Error>,
    ) {
        let Some(entry) = self.requests.remove(id, &self.cell) else {
            return;
        };
        let _span = tracing::debug_span!("ackor.continuation", pid = %self.pid(), request_id = id).entered();
        tracing::trace!(ok = outcome.is_ok(), "request complete");
        self.chain = entry.chain();
        shared.run(actor, self, outcome);
    }

    /// Completes a request the actor itself settled (timeout, stop) with `error`.
    pub(crate) fn fail_request(&mut self, entry: Entry<A>, actor: &mut A, error: Error) {
        let _span =
            tracing::debug_span!("ackor.continuation", pid = %self.pid(), request_id = entry.id()).entered();
        tracing::trace!(%error, "request failed");
        self.chain = entry.chain();
        let pending: Arc<dyn Pending<A>> = entry.pending.clone();
        drop(entry);
        pending.fail(actor, self, error);
    }

    /// Requests (and piped futures) of this actor in flight. In a continuation, its own
    /// request no longer counts: the continuation may start the next one within the cap.
    pub fn requests_in_flight(&self) -> usize {
        self.requests.in_flight()
    }

    /// The actor's reentrancy mode: as spawned, or as last set with
    /// [`Context::set_reentrancy_mode`].
    pub fn reentrancy_mode(&self) -> ReentrancyMode {
        self.requests.mode()
    }

    /// Switches reentrancy while the actor runs (GoAkt's enable/disable): the mode
    /// applies to requests and piped futures started from now on. With
    /// [`ReentrancyMode::Off`] new requests are refused with
    /// [`Error::ReentrancyDisabled`]; requests already in flight complete and run their
    /// continuations as they were started (one started in
    /// [`StashNonReentrant`](ReentrancyMode::StashNonReentrant) still holds user
    /// messages until it completes). A supervisor's restart in place goes back to the
    /// mode the actor was spawned with.
    ///
    /// ```
    /// use ackor::{Actor, BoxError, Context, ReentrancyMode};
    ///
    /// struct Gate;
    /// impl Actor for Gate {
    ///     type Args = ();
    ///     async fn init(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
    ///         // Spawned without reentrancy; this actor turns it on for itself.
    ///         ctx.set_reentrancy_mode(ReentrancyMode::AllowAll);
    ///         Ok(Gate)
    ///     }
    /// }
    /// ```
    pub fn set_reentrancy_mode(&mut self, mode: ReentrancyMode) {
        self.requests.set_mode(mode);
    }

    /// Runs `future` off the actor (on the runtime) and, when it finishes, runs
    /// `continuation` on the actor with its output. The continuation travels on the
    /// response lane: it is never refused because the user lane is full, and it runs
    /// before queued user messages.
    ///
    /// Piped futures follow the rules of requests: they count against
    /// [`Reentrancy::max_in_flight`](crate::Reentrancy::max_in_flight) ([`Error::ReentrancyInFlightLimit`] beyond it), hold
    /// user messages while in flight in
    /// [`StashNonReentrant`](crate::ReentrancyMode::StashNonReentrant), and can be
    /// canceled through the returned [`Piped`](crate::Piped) handle (the future is dropped). They work
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
    pub fn pipe_to<F, C>(&mut self, future: F, continuation: C) -> Result<Piped<A, F::Output>, Error>
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
            .insert(id, admitted, chain, shared, Some(Box::new(guard)), &self.cell);
        Ok(Piped(call))
    }
}

/// Aborts a piped future when its request leaves the table (canceled, or the actor
/// stopped); a no-op once the future has finished.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
