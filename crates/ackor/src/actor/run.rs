//! The task that runs one actor: init, the message loop, stop, and the notifications
//! its death owes to monitors, links, names and waiters.

use std::future::Future;
use std::ops::ControlFlow;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;

use super::reply::while_failing;
use super::{Actor, ActorCell, Context, Decision, Ending};
use crate::error::Error;
use crate::mailbox::{Item, Receiver};
use crate::monitor::{ExitReason, ProcessStats, RemoteSignals, SystemMsg};
use crate::node::Node;
use crate::reentrancy::{Next, Reentrancy};
use crate::remote::untrusted_text;
use crate::trace::TraceContext;
use tracing::Instrument;

/// Runs an actor to the end. If the task is aborted (kill) or dropped with the
/// runtime, the guard still closes the mailbox and tells everyone, with `Killed`.
///
/// The guard is made before the future, not inside it: a task killed before its first
/// poll is dropped unpolled, and only what the future captured is dropped then.
///
/// # The size of an idle actor
///
/// This future lives in the actor's tokio task for the actor's whole life, and a
/// future is as large as its largest state, whichever state it is in: it is most of
/// what an idle actor costs (see the bound in `tests/idle_memory.rs`). Hence:
///
/// - the context is built here and captured, not moved into a local of the future; the
///   loop's functions return `async move` blocks that use their arguments in place
///   (an `async fn` keeps each argument twice in its state, the capture and the local
///   it is moved to);
/// - the loop waits in a `poll_fn` over a few references (`Requests::poll_next`);
/// - what runs once or rarely (init, `on_restart`, `on_down`, `on_exit`, the end of an
///   instance, acknowledgements, the span of a traced message) is boxed, so its state
///   is not laid out beside the loop's;
/// - the item taken is turned into a small [`Step`] by a plain function (it takes the
///   item whole: a value matched in place would stay in the state across the awaits
///   of its arms).
pub(crate) fn run<A: Actor>(
    cell: Arc<ActorCell<A>>,
    args: A::Args,
    node: Node,
    reentrancy: Reentrancy,
    idle_timeout: Option<std::time::Duration>,
) -> impl Future<Output = ()> + Send {
    let mut guard = ExitGuard {
        ctx: Some(Context::new(cell.clone(), node, reentrancy, idle_timeout)),
    };
    async move {
        if let Some(ctx) = guard.ctx.as_mut() {
            let reason = run_actor(&cell, args, ctx).await;
            guard.finish(&reason);
        }
    }
}

/// Runs instances of the actor until one ends it (a supervised actor may be restarted
/// in place); returns the exit reason.
#[allow(clippy::manual_async_fn)] // not an `async fn`: see `run`
fn run_actor<'a, A: Actor>(
    cell: &'a Arc<ActorCell<A>>,
    mut args: A::Args,
    ctx: &'a mut Context<A>,
) -> impl Future<Output = ExitReason> + Send + 'a {
    async move {
        // The batch of user messages taken survives a restart in place, like the mailbox.
        let mut rx = Receiver::new();
        // Why the previous instance ended, after a restart in place (boxed: it is rare,
        // and this lives as long as the actor).
        let mut restarted: Option<Box<ExitReason>> = None;
        loop {
            let mut actor = {
                let init = AssertUnwindSafe(Box::pin(A::init(args, ctx)))
                    .catch_unwind()
                    .await;
                match started(init) {
                    Ok(actor) => actor,
                    Err(reason) => {
                        let Some(overseer) = cell.overseer() else {
                            drop(cell.mailbox.close());
                            return reason;
                        };
                        tracing::warn!(pid = %cell.core.pid(), %reason, "supervised actor failed to start");
                        cell.core.stats().failed(reason.to_string());
                        cell.core.stats().set_restarting(true);
                        match overseer.ended(cell.core.pid(), Ending::Failed(reason)).await {
                            Decision::Restart(next) => {
                                args = next;
                                continue;
                            }
                            Decision::Stop(reason) => {
                                drop(cell.mailbox.close());
                                return reason;
                            }
                        }
                    }
                }
            };
            if let Some(overseer) = cell.overseer() {
                cell.core.stats().set_restarting(false);
                overseer.started(cell.core.pid());
            }
            let ending = match message_loop(cell, &mut actor, ctx, &mut rx, restarted.take()).await {
                Ok(ending) => ending,
                Err(Killed) => return ExitReason::Killed,
            };
            if cell.overseer().is_none() {
                // Close before anything the actor holds is dropped: callers whose reply
                // handles die with it must see `ProcessTerminated`.
                let mut drained = cell.mailbox.close();
                rx.clear();
                let responses = drained.take_responses();
                drop(drained);
                return Box::pin(retire(cell, actor, ctx, responses, ending.reason().clone())).await;
            }
            // Supervised: this instance settles what it started and runs `on_stop`; the
            // mailbox stays open, and what is queued waits for the next instance.
            match Box::pin(end_instance(cell, actor, ctx, ending)).await {
                Then::Restart { args: next, reason } => {
                    args = next;
                    restarted = Some(Box::new(reason));
                }
                Then::Stop(reason) => {
                    drop(cell.mailbox.close());
                    rx.clear();
                    return reason;
                }
            }
        }
    }
}

/// The new instance, or why `init` failed.
fn started<A: Actor>(
    init: Result<Result<A, crate::BoxError>, Box<dyn std::any::Any + Send>>,
) -> Result<A, ExitReason> {
    match init {
        Ok(Ok(actor)) => Ok(actor),
        Ok(Err(e)) => Err(ExitReason::Error(format!("init failed: {e}"))),
        Err(panic) => Err(ExitReason::from_panic(&*panic)),
    }
}

/// Ends an instance of a supervised actor: it retires (see [`retire`]) and its
/// supervisor decides. On a restart, the context is ready for the next instance and
/// the reason the previous one ended comes with its arguments.
async fn end_instance<A: Actor>(
    cell: &Arc<ActorCell<A>>,
    actor: A,
    ctx: &mut Context<A>,
    ending: Ending,
) -> Then<A> {
    let Some(overseer) = cell.overseer() else {
        return Then::Stop(ending.reason().clone());
    };
    let failed = matches!(ending, Ending::Failed(_));
    // Failed or asked to restart: its supervisor is about to start a new instance
    // (perhaps after a backoff); an instance that stopped is likely to stay down.
    cell.core
        .stats()
        .set_restarting(!matches!(ending, Ending::Stopped(_)));
    if failed {
        cell.core.stats().failed(ending.reason().to_string());
        metrics::counter!("ackor_actor_failures_total", "actor" => std::any::type_name::<A>()).increment(1);
    }
    let responses = cell.mailbox.take_responses();
    let reason = {
        let mut retiring = Box::pin(retire(cell, actor, ctx, responses, ending.reason().clone()));
        if failed {
            // Reply handles the failed instance drops answer `ActorFailed`.
            let why = ending.reason().to_string();
            with_failing(&why, retiring.as_mut()).await
        } else {
            retiring.await
        }
    };
    let ending = match ending {
        Ending::Failed(_) => Ending::Failed(reason),
        Ending::Stopped(_) => Ending::Stopped(reason),
        Ending::Restarted(_) => Ending::Restarted(reason),
    };
    match overseer.ended(cell.core.pid(), ending.clone()).await {
        Decision::Restart(next) => {
            tracing::info!(pid = %cell.core.pid(), reason = %ending.reason(), actor = std::any::type_name::<A>(), "actor restarted in place");
            metrics::counter!("ackor_actor_restarts_total", "actor" => std::any::type_name::<A>())
                .increment(1);
            ctx.reset_for_restart();
            Then::Restart {
                args: next,
                reason: ending.reason().clone(),
            }
        }
        Decision::Stop(reason) => Then::Stop(reason),
    }
}

/// What follows an instance of a supervised actor, as its supervisor decided.
enum Then<A: Actor> {
    /// A new instance from `args`; `reason` is why the previous one ended.
    Restart {
        args: A::Args,
        reason: ExitReason,
    },
    Stop(ExitReason),
}

/// Polls `future` with [`while_failing`] around every poll: the reply handles it drops
/// answer their callers with [`Error::ActorFailed`].
async fn with_failing<F: Future + Unpin>(why: &str, mut future: F) -> F::Output {
    std::future::poll_fn(|cx| while_failing(why, || std::pin::Pin::new(&mut future).poll(cx))).await
}

/// Ends an instance that `ending` stopped: every continuation fires before `on_stop` —
/// those whose outcome was queued (`responses`), then every request still in flight
/// with `RequestCanceled` — then `on_stop`; the instance is dropped. A panic in one
/// continuation fails the actor as a panicking handler does (the first one is the exit
/// reason); the others still run. Returns the final exit reason.
async fn retire<A: Actor>(
    cell: &Arc<ActorCell<A>>,
    mut actor: A,
    ctx: &mut Context<A>,
    responses: std::collections::VecDeque<super::Continuation<A>>,
    reason: ExitReason,
) -> ExitReason {
    let mut reason = reason;
    let panicked = |panic: Box<dyn std::any::Any + Send>, reason: &mut ExitReason| {
        tracing::warn!(pid = %cell.core.pid(), "continuation panicked while the actor stopped");
        if !matches!(reason, ExitReason::Panic(_)) {
            *reason = ExitReason::from_panic(&*panic);
        }
    };
    for cont in responses {
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| cont(&mut actor, ctx))) {
            panicked(panic, &mut reason);
        }
    }
    for entry in ctx.requests.drain(cell) {
        entry.pending.settle();
        let canceled = AssertUnwindSafe(|| ctx.fail_request(entry, &mut actor, Error::RequestCanceled));
        if let Err(panic) = std::panic::catch_unwind(canceled) {
            panicked(panic, &mut reason);
        }
    }
    // Important sends those continuations made are settled too.
    if ctx.has_pending_acks()
        && let Some(panic) = Box::pin(settle_acks(&mut actor, ctx)).await
    {
        reason = panic;
    }
    // Not boxed: this future is (it runs once, at the end).
    let stopped = AssertUnwindSafe(actor.on_stop(ctx, &reason)).catch_unwind().await;
    let reason = match stopped {
        Ok(()) => reason,
        Err(panic) => ExitReason::from_panic(&*panic),
    };
    drop(actor);
    reason
}

/// Handles items until the instance ends: `Ok` with how, `Err` if it was killed.
/// `restarted` is why the previous instance ended, for a restart in place.
#[allow(clippy::manual_async_fn)] // not an `async fn`: see `run`
fn message_loop<'a, A: Actor>(
    cell: &'a Arc<ActorCell<A>>,
    actor: &'a mut A,
    ctx: &'a mut Context<A>,
    rx: &'a mut Receiver<Box<dyn super::Envelope<A>>>,
    restarted: Option<Box<ExitReason>>,
) -> impl Future<Output = Result<Ending, Killed>> + Send + 'a {
    async move {
        if let Some(reason) = restarted {
            let res = AssertUnwindSafe(Box::pin(actor.on_restart(ctx, &reason)))
                .catch_unwind()
                .await;
            if let Err(panic) = res {
                return Ok(Ending::Failed(ExitReason::from_panic(&*panic)));
            }
        }
        let supervised = cell.overseer().is_some();
        // Detailed metrics: how long each handler takes (off by default: two clock
        // reads per message). The histogram is looked up once per instance and kept in
        // the context's extras, not in this loop's state.
        if ctx.node.config().detailed_metrics.is_some() {
            ctx.set_handler_histogram(
                metrics::histogram!("ackor_handler_seconds", "actor" => std::any::type_name::<A>()),
            );
        }
        loop {
            let holding = ctx.requests.holding();
            rx.set_user_paused(holding);
            cell.core
                .stats()
                .set_loop(ctx.requests.in_flight(), holding, rx.batched());
            if ctx.requests.take_rescan() {
                rx.rescan();
            }
            ctx.next_item();
            let step = if let Some(env) = ctx.requests.next_batched(rx, cell) {
                // Working through a batch: nothing to wait for, nothing to sort out.
                Step::User(env)
            } else {
                let next = {
                    let idle = ctx.idle_timeout().filter(|_| ctx.requests.in_flight() == 0);
                    // Where an idle actor waits.
                    let requests = &mut ctx.requests;
                    let next = std::future::poll_fn(|cx| requests.poll_next(rx, cell, cx));
                    match idle {
                        None => next.await,
                        // Boxed: the idle timer's future stays out of this loop's state.
                        Some(idle) => match Box::pin(next_or_idle(next, idle)).await {
                            Some(next) => next,
                            // Closed only if nothing came meanwhile, in one step: a message
                            // accepted now would be acknowledged and never handled.
                            None if supervised || cell.mailbox.close_if_empty() => {
                                tracing::debug!(pid = %cell.core.pid(), ?idle, "actor idle: stopping (passivation)");
                                metrics::counter!("ackor_actor_passivations_total").increment(1);
                                return Ok(Ending::Stopped(ExitReason::Normal));
                            }
                            None => continue,
                        },
                    }
                };
                match step(next, actor, ctx) {
                    ControlFlow::Continue(step) => step,
                    ControlFlow::Break(ended) => return ended,
                }
            };
            // A panic ends the instance at once (`crashed`). Nothing larger than a word
            // is carried out of an arm that waits: a value assigned from this match
            // would be kept in the loop's state across all their awaits.
            match step {
                Step::User(env) => {
                    let message = env.type_name();
                    // What needs no waiting runs now; `running` is the rest, if any.
                    // (Nothing but `message` and `running` is kept across the await:
                    // this is the loop's state.)
                    let mut running = None;
                    if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| {
                        running = start_handling(cell, actor, ctx, env)
                            .map(|rest| AssertUnwindSafe(rest).catch_unwind());
                    })) {
                        drop(running); // none: the handler panicked before it made a future
                        let reason = lost(cell, message, &*panic);
                        if supervised {
                            let reply = ctx.end_message();
                            while_failing(&reason.to_string(), || drop(reply));
                        } else {
                            drop(cell.mailbox.close());
                        }
                        return Ok(crashed(cell, reason));
                    }
                    if let Some(rest) = running.as_mut()
                        && let Err(panic) = rest.await
                    {
                        let reason = lost(cell, message, &*panic);
                        if supervised {
                            // Its caller (and any reply the future still holds) is told
                            // the actor failed; the mailbox stays open for the next
                            // instance. (A reply handle in a local of the handler was
                            // dropped as the panic unwound, before this: its caller gets
                            // `ReplyDropped`.)
                            let why = reason.to_string();
                            while_failing(&why, || drop(running));
                            let reply = ctx.end_message();
                            while_failing(&why, || drop(reply));
                        } else {
                            // Close before the handler's future (and any reply handle it
                            // holds) is dropped.
                            drop(cell.mailbox.close());
                            drop(running);
                        }
                        return Ok(crashed(cell, reason));
                    }
                }
                Step::Ran => {}
                Step::Down(down) => {
                    if !ctx.accept_down(&down) {
                        continue;
                    }
                    let res = AssertUnwindSafe(Box::pin(actor.on_down(ctx, *down)))
                        .catch_unwind()
                        .await;
                    if let Err(panic) = res {
                        return Ok(crashed(cell, ExitReason::from_panic(&*panic)));
                    }
                }
                Step::Exit(exit) => {
                    if ctx.traps_exits() {
                        let res = AssertUnwindSafe(Box::pin(actor.on_exit(ctx, *exit)))
                            .catch_unwind()
                            .await;
                        if let Err(panic) = res {
                            return Ok(crashed(cell, ExitReason::from_panic(&*panic)));
                        }
                    } else if exit.reason.is_abnormal() {
                        return Ok(Ending::Failed(exit.reason));
                    }
                }
            }
            // Boxed: only actors with important delivery on wait here.
            if ctx.has_pending_acks()
                && let Some(reason) = Box::pin(settle_acks(actor, ctx)).await
            {
                return Ok(crashed(cell, reason));
            }
            if let Some(reason) = ctx.take_stop() {
                return Ok(Ending::Stopped(reason));
            }
        }
    }
}

/// What the loop does with the item it took, once what runs without waiting has run.
/// Its payloads are boxes: the value is kept in the loop's state while the actor
/// handles it (see `run`).
enum Step<A: Actor> {
    /// Handle this user message.
    User(Box<dyn super::Envelope<A>>),
    /// It ran (a continuation, or an expired request's) and returned.
    Ran,
    Down(Box<crate::Down>),
    Exit(Box<crate::Exit>),
}

/// Turns the next item into a [`Step`], running it if it needs no waiting; breaks
/// with how the instance ends when it does (a stop, a restart, a kill, a panicking
/// continuation).
fn step<A: Actor>(
    next: Next<A>,
    actor: &mut A,
    ctx: &mut Context<A>,
) -> ControlFlow<Result<Ending, Killed>, Step<A>> {
    let item = match next {
        Next::Item(item) => item,
        Next::Expired(entry) => {
            let timed_out = AssertUnwindSafe(|| ctx.fail_request(*entry, actor, Error::RequestTimeout));
            let outcome = std::panic::catch_unwind(timed_out);
            return ran(ctx, outcome);
        }
    };
    match item {
        Item::User(env) => ControlFlow::Continue(Step::User(env)),
        Item::Response(cont) => {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| cont(actor, ctx)));
            ran(ctx, outcome)
        }
        Item::System(SystemMsg::Stop(reason)) => ControlFlow::Break(Ok(Ending::Stopped(reason))),
        Item::System(SystemMsg::Restart(reason)) => ControlFlow::Break(Ok(Ending::Restarted(reason))),
        Item::System(SystemMsg::Down(down)) => ControlFlow::Continue(Step::Down(down)),
        Item::System(SystemMsg::Exit(exit)) => ControlFlow::Continue(Step::Exit(exit)),
        Item::Closed => ControlFlow::Break(Err(Killed)),
    }
}

/// A continuation ran: a panic in it fails the instance.
fn ran<A: Actor>(
    ctx: &Context<A>,
    outcome: std::thread::Result<()>,
) -> ControlFlow<Result<Ending, Killed>, Step<A>> {
    match outcome {
        Ok(()) => ControlFlow::Continue(Step::Ran),
        Err(panic) => ControlFlow::Break(Ok(crashed(&ctx.cell, ExitReason::from_panic(&*panic)))),
    }
}

/// A handler panicked: the message is lost. It counts as handled, if not to the end
/// (one that returns is counted in its envelope, before its reply leaves). Returns the
/// exit reason.
fn lost<A: Actor>(cell: &ActorCell<A>, message: &str, panic: &(dyn std::any::Any + Send)) -> ExitReason {
    cell.core.stats().handled_one();
    let reason = ExitReason::from_panic(panic);
    tracing::warn!(pid = %cell.core.pid(), %reason, message, "handler panicked: the message is lost");
    reason
}

/// The instance failed: a handler, continuation or callback panicked with `reason`.
fn crashed<A: Actor>(cell: &ActorCell<A>, reason: ExitReason) -> Ending {
    tracing::warn!(pid = %cell.core.pid(), %reason, "actor crashed");
    Ending::Failed(reason)
}

/// Starts handling a user message; returns the future that finishes it, if there is
/// more to do. Untraced, not followed, not timed and nothing listening at DEBUG (two
/// relaxed loads): a handler that takes the message at once
/// ([`Handler::handle_now`](super::Handler::handle_now)) runs and answers here, with
/// no future; another runs in its own future, with no span and no trace to carry.
/// Otherwise it runs decorated, boxed (all of it, inside its span and trace): what the
/// decoration needs stays out of the loop's state (and so out of every idle actor's).
fn start_handling<'a, A: Actor>(
    cell: &'a ActorCell<A>,
    actor: &'a mut A,
    ctx: &'a mut Context<A>,
    env: Box<dyn super::Envelope<A>>,
) -> Option<Pin<Box<dyn Future<Output = ()> + Send + 'a>>> {
    let came_with = env.trace();
    let timing = ctx.handler_histogram();
    let stats = cell.core.stats();
    let followed = stats.followed();
    if came_with.is_none() && !followed && timing.is_none() && !tracing::level_enabled!(tracing::Level::DEBUG)
    {
        return env.handle_now(actor, ctx);
    }
    let message = env.type_name();
    let span = tracing::debug_span!(
        "ackor.handle",
        actor = std::any::type_name::<A>(),
        message,
        pid = %cell.core.pid(),
        trace_id = tracing::field::Empty,
        span_id = tracing::field::Empty,
        call_id = tracing::field::Empty,
        delivery_id = tracing::field::Empty,
        request_id = tracing::field::Empty,
        parent_span_id = tracing::field::Empty,
    );
    let ids = env.ids();
    for (field, id) in [
        ("call_id", ids.call),
        ("delivery_id", ids.delivery),
        ("request_id", ids.request),
    ] {
        if id != 0 {
            span.record(field, id);
        }
    }
    let trace = handling_trace(&span, came_with, followed);
    let decorated = Decorated {
        inner: env.handle(actor, ctx),
        trace,
        follow: followed.then_some((stats, message)),
        timing: timing.map(|h| (h, std::time::Instant::now())),
    };
    Some(Box::pin(decorated.instrument(span)))
}

/// The next item, or `None` when none came for `idle`. The timer is armed only when
/// nothing is ready at once (a busy actor pays no timer per message). Taking the next
/// item is cancel-safe: an item is taken in the poll that returns it.
async fn next_or_idle<F: Future>(next: F, idle: std::time::Duration) -> Option<F::Output> {
    // Beyond what a timer holds (about two years; a peer may ask for more): no timeout.
    if idle > std::time::Duration::from_secs(2 * 365 * 24 * 3600) {
        return Some(next.await);
    }
    let mut next = std::pin::pin!(next);
    let ready = std::future::poll_fn(|cx| std::task::Poll::Ready(next.as_mut().poll(cx))).await;
    match ready {
        std::task::Poll::Ready(item) => Some(item),
        std::task::Poll::Pending => tokio::time::timeout(idle, next).await.ok(),
    }
}

/// Waits for the acknowledgements of the important sends the last item made and
/// reports each failure to `on_undelivered`; a panic there is returned as the reason.
async fn settle_acks<A: Actor>(actor: &mut A, ctx: &mut Context<A>) -> Option<ExitReason> {
    for failure in ctx.settle_acks().await {
        let res = AssertUnwindSafe(Box::pin(actor.on_undelivered(ctx, failure)))
            .catch_unwind()
            .await;
        if let Err(panic) = res {
            return Some(ExitReason::from_panic(&*panic));
        }
    }
    None
}

/// The mailbox was closed under the actor: it was killed and skips `on_stop`.
struct Killed;

/// Finishes a process however its task ended: with its exit reason when the future
/// completes ([`ExitGuard::finish`]), with `Killed` when it is dropped before (an
/// abort, or the runtime going away). It owns the actor's context (which holds its
/// cell and node): the context is dropped first, then the process ends.
struct ExitGuard<A: Actor> {
    ctx: Option<Context<A>>,
}

impl<A: Actor> ExitGuard<A> {
    fn finish(&mut self, reason: &ExitReason) {
        let Some(ctx) = self.ctx.take() else {
            return;
        };
        let (cell, node) = (ctx.cell.clone(), ctx.node.clone());
        drop(ctx);
        drop(cell.mailbox.close());
        let pid = cell.core.pid().clone();
        let Some(obituary) = cell.core.terminate(reason) else {
            return;
        };
        if let Some(name) = &obituary.name {
            node.registry().unregister_if(name, &pid);
        }
        node.registry().remove(&pid);
        node.registry().remove_aliases_of(&pid);
        // The reason may have come from another node (an exit signal).
        tracing::debug!(%pid, reason = %untrusted_text(reason), "actor stopped");
        let remote = node.remote().map(|r| r as &dyn RemoteSignals);
        obituary.deliver(&pid, reason, remote);
        cell.core.gone();
    }
}

impl<A: Actor> Drop for ExitGuard<A> {
    fn drop(&mut self) {
        self.finish(&ExitReason::Killed);
    }
}

/// The trace a message is handled in: a child of the one it came with, or (only while
/// its span is listened to or the process is followed) a new one; recorded on the span,
/// with the sender's span as `parent_span_id` (what OTLP export needs to draw the tree).
fn handling_trace(
    span: &tracing::Span,
    came_with: Option<TraceContext>,
    followed: bool,
) -> Option<TraceContext> {
    let trace = match came_with {
        Some(parent) => {
            span.record(
                "parent_span_id",
                tracing::field::display(format_args!("{:016x}", parent.span_id)),
            );
            parent.child()
        }
        None if span.is_disabled() && !followed => return None,
        None => TraceContext::root(),
    };
    span.record(
        "trace_id",
        tracing::field::display(format_args!("{:032x}", trace.trace_id)),
    );
    span.record(
        "span_id",
        tracing::field::display(format_args!("{:016x}", trace.span_id)),
    );
    Some(trace)
}

pin_project_lite::pin_project! {
    /// A handler's future, decorated: polled with its trace as the thread's current one
    /// (so what it sends carries the trace), and once done, recorded for a follower of
    /// its process and timed for the handler-latency histogram, as asked.
    struct Decorated<'a, F> {
        #[pin]
        inner: F,
        trace: Option<TraceContext>,
        follow: Option<(&'a ProcessStats, &'static str)>,
        // The histogram of the actor type, and when the handler started.
        timing: Option<(metrics::Histogram, std::time::Instant)>,
    }
}

impl<F: Future> Future for Decorated<'_, F> {
    type Output = F::Output;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let this = self.project();
        let polled = match this.trace {
            None => this.inner.poll(cx),
            Some(trace) => crate::trace::with_current(Some(*trace), || this.inner.poll(cx)),
        };
        if polled.is_ready() {
            if let (Some((stats, message)), Some(trace)) = (this.follow, this.trace) {
                stats.record(message, trace.trace_id, trace.span_id);
            }
            if let Some((histogram, started)) = this.timing {
                histogram.record(started.elapsed().as_secs_f64());
            }
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    //! Where an idle actor's heap goes: its run future (inside its tokio task), its
    //! cell, and their parts. `tests/idle_memory.rs` guards the total; these bounds
    //! say which part grew. Sizes are of the test build (unoptimized), where futures
    //! are largest; `cargo test -- --nocapture` prints them.

    use super::*;

    struct Small;

    impl Actor for Small {
        type Args = ();
        async fn init(_: (), _: &mut Context<Self>) -> Result<Self, crate::BoxError> {
            Ok(Small)
        }
    }

    #[test]
    fn the_run_future_and_the_cell_of_an_actor_stay_small() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        rt.block_on(async {
            let node = Node::builder()
                .name("sizes@local")
                .start()
                .await
                .unwrap_or_else(|e| panic!("node: {e}"));
            let pid = node.next_pid().unwrap_or_else(|e| panic!("pid: {e}"));
            let cell = ActorCell::<Small>::new(pid, 8, std::time::Duration::from_secs(1), None);
            let future = run(cell.clone(), (), node.clone(), Reentrancy::default(), None);
            let mut ctx = Context::new(cell.clone(), node.clone(), Reentrancy::default(), None);
            let (mut actor, mut rx) = (Small, Receiver::new());
            let run_actor_size = std::mem::size_of_val(&run_actor(&cell, (), &mut ctx));
            let loop_size = std::mem::size_of_val(&message_loop(&cell, &mut actor, &mut ctx, &mut rx, None));
            // The tokio task is the future plus 104 B, rounded up to 128: past 400 B
            // here (Small is empty), the task of the guard's 8-byte `Counter` grows
            // from 512 to 640 B.
            let sizes = [
                ("run future", std::mem::size_of_val(&future), 400),
                ("run_actor future", run_actor_size, 208),
                ("message_loop future", loop_size, 120),
                ("Context", std::mem::size_of::<Context<Small>>(), 152),
                ("ActorCell", std::mem::size_of::<ActorCell<Small>>(), 280),
                (
                    "ProcessCore",
                    std::mem::size_of::<crate::monitor::ProcessCore>(),
                    136,
                ),
                (
                    "mailbox",
                    std::mem::size_of::<super::super::ActorMailbox<Small>>(),
                    112,
                ),
            ];
            for (what, size, bound) in sizes {
                println!("{what}: {size} bytes (bound {bound})");
            }
            for (what, size, bound) in sizes {
                assert!(size <= bound, "{what}: {size} bytes, more than {bound}");
            }
            drop(future);
            node.shutdown().await;
        });
    }
}
