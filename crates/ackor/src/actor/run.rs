//! The task that runs one actor: init, the message loop, stop, and the notifications
//! its death owes to monitors, links, names and waiters.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::Either;

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
pub(crate) fn run<A: Actor>(
    cell: Arc<ActorCell<A>>,
    args: A::Args,
    node: Node,
    reentrancy: Reentrancy,
    idle_timeout: Option<std::time::Duration>,
) -> impl Future<Output = ()> + Send {
    let guard = ExitGuard {
        cell: cell.clone(),
        node: node.clone(),
        reason: ExitReason::Killed,
    };
    async move {
        let mut guard = guard;
        let mut ctx = Context::new(cell.clone(), node, reentrancy);
        ctx.idle_timeout = idle_timeout;
        guard.reason = run_actor(&cell, args, &mut ctx).await;
    }
}

async fn run_actor<A: Actor>(cell: &Arc<ActorCell<A>>, args: A::Args, ctx: &mut Context<A>) -> ExitReason {
    let overseer = cell.overseer.get().cloned();
    let pid = cell.core.pid().clone();
    // The batch of user messages taken survives a restart in place, like the mailbox.
    let mut rx = Receiver::new();
    let mut args = args;
    let mut restarted: Option<ExitReason> = None;
    loop {
        let init = AssertUnwindSafe(Box::pin(A::init(args, ctx)))
            .catch_unwind()
            .await;
        let mut actor = match init {
            Ok(Ok(actor)) => actor,
            failed => {
                let reason = match failed {
                    Ok(Err(e)) => ExitReason::Error(format!("init failed: {e}")),
                    Err(panic) => ExitReason::from_panic(&*panic),
                    Ok(Ok(_)) => ExitReason::Error("init failed".into()),
                };
                let Some(overseer) = &overseer else {
                    drop(cell.mailbox.close());
                    return reason;
                };
                tracing::warn!(%pid, %reason, "supervised actor failed to start");
                cell.core.stats().failed(reason.to_string());
                cell.core.stats().set_restarting(true);
                match overseer.ended(&pid, Ending::Failed(reason)).await {
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
        };
        if let Some(overseer) = &overseer {
            cell.core.stats().set_restarting(false);
            overseer.started(&pid);
        }
        let ended = match restarted.take() {
            Some(reason) => {
                let res = AssertUnwindSafe(Box::pin(actor.on_restart(ctx, &reason)))
                    .catch_unwind()
                    .await;
                match res {
                    Ok(()) => message_loop(cell, &mut actor, ctx, &mut rx).await,
                    Err(panic) => Ok(Ending::Failed(ExitReason::from_panic(&*panic))),
                }
            }
            None => message_loop(cell, &mut actor, ctx, &mut rx).await,
        };
        let ending = match ended {
            Ok(ending) => ending,
            Err(Killed) => return ExitReason::Killed,
        };
        let Some(overseer) = &overseer else {
            // Close before anything the actor holds is dropped: callers whose reply
            // handles die with it must see `ProcessTerminated`.
            let mut drained = cell.mailbox.close();
            rx.clear();
            let responses = drained.take_responses();
            drop(drained);
            return retire(cell, actor, ctx, responses, ending.reason().clone()).await;
        };
        // Supervised: this instance settles what it started and runs `on_stop`; the
        // mailbox stays open, and what is queued waits for the next instance.
        let failed = matches!(ending, Ending::Failed(_));
        // Failed or asked to restart: its supervisor is about to start a new instance
        // (perhaps after a backoff); an instance that stopped is likely to stay down.
        cell.core
            .stats()
            .set_restarting(!matches!(ending, Ending::Stopped(_)));
        if failed {
            cell.core.stats().failed(ending.reason().to_string());
            metrics::counter!("ackor_actor_failures_total", "actor" => std::any::type_name::<A>())
                .increment(1);
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
        match overseer.ended(&pid, ending.clone()).await {
            Decision::Restart(next) => {
                tracing::info!(%pid, reason = %ending.reason(), actor = std::any::type_name::<A>(), "actor restarted in place");
                metrics::counter!("ackor_actor_restarts_total", "actor" => std::any::type_name::<A>())
                    .increment(1);
                ctx.reset_for_restart();
                args = next;
                restarted = Some(ending.reason().clone());
            }
            Decision::Stop(reason) => {
                drop(cell.mailbox.close());
                rx.clear();
                return reason;
            }
        }
    }
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
    for entry in ctx.requests.drain() {
        entry.pending.settle();
        let canceled = AssertUnwindSafe(|| ctx.fail_request(entry, &mut actor, Error::RequestCanceled));
        if let Err(panic) = std::panic::catch_unwind(canceled) {
            panicked(panic, &mut reason);
        }
    }
    // Important sends those continuations made are settled too.
    if ctx.has_pending_acks()
        && let Some(panic) = settle_acks(&mut actor, ctx).await
    {
        reason = panic;
    }
    let stopped = AssertUnwindSafe(Box::pin(actor.on_stop(ctx, &reason)))
        .catch_unwind()
        .await;
    let reason = match stopped {
        Ok(()) => reason,
        Err(panic) => ExitReason::from_panic(&*panic),
    };
    drop(actor);
    reason
}

async fn message_loop<A: Actor>(
    cell: &Arc<ActorCell<A>>,
    actor: &mut A,
    ctx: &mut Context<A>,
    rx: &mut Receiver<Box<dyn super::Envelope<A>>>,
) -> Result<Ending, Killed> {
    let supervised = cell.overseer.get().is_some();
    // Detailed metrics: how long each handler takes (off by default: two clock reads
    // per message). The histogram is looked up once per instance.
    let timing = ctx
        .node
        .config()
        .detailed_metrics
        .map(|_| metrics::histogram!("ackor_handler_seconds", "actor" => std::any::type_name::<A>()));
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
        let idle = ctx.idle_timeout.filter(|_| ctx.requests.in_flight() == 0);
        let next = match idle {
            None => ctx.requests.next(rx, &cell.mailbox).await,
            // Boxed: the idle timer's future stays out of this loop's state (an actor
            // without an idle timeout keeps the small state it had before).
            Some(idle) => match Box::pin(next_or_idle(ctx.requests.next(rx, &cell.mailbox), idle)).await {
                Some(next) => next,
                // Closed only if nothing came meanwhile, in one step: a message accepted
                // now would be acknowledged and never handled.
                None if supervised || cell.mailbox.close_if_empty() => {
                    tracing::debug!(pid = %cell.core.pid(), ?idle, "actor idle: stopping (passivation)");
                    metrics::counter!("ackor_actor_passivations_total").increment(1);
                    return Ok(Ending::Stopped(ExitReason::Normal));
                }
                None => continue,
            },
        };
        let item = match next {
            Next::Item(item) => item,
            Next::Expired(entry) => {
                let timed_out = AssertUnwindSafe(|| ctx.fail_request(entry, actor, Error::RequestTimeout));
                let mut crashed = std::panic::catch_unwind(timed_out)
                    .err()
                    .map(|panic| ExitReason::from_panic(&*panic));
                if crashed.is_none() && ctx.has_pending_acks() {
                    crashed = settle_acks(actor, ctx).await;
                }
                if let Some(reason) = crashed {
                    tracing::warn!(pid = %cell.core.pid(), %reason, "actor crashed");
                    return Ok(Ending::Failed(reason));
                }
                if let Some(reason) = ctx.take_stop() {
                    return Ok(Ending::Stopped(reason));
                }
                continue;
            }
        };
        let panicked = match item {
            Item::User(env) => {
                let message = env.type_name();
                let came_with = env.trace();
                let stats = cell.core.stats();
                let followed = stats.followed();
                // Untraced, not followed, not timed and nothing listening at DEBUG (two
                // relaxed loads): the handler runs as is, with no span and no trace to
                // carry. Otherwise it runs decorated, boxed: what the decoration needs
                // stays out of this loop's state (and so out of every idle actor's).
                let plain = came_with.is_none()
                    && !followed
                    && timing.is_none()
                    && !tracing::level_enabled!(tracing::Level::DEBUG);
                let handling = if plain {
                    Either::Right(env.handle(actor, ctx))
                } else {
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
                        timing: timing.as_ref().map(|h| (h, std::time::Instant::now())),
                    };
                    Either::Left(Box::pin(decorated.instrument(span)))
                };
                let mut running = AssertUnwindSafe(handling).catch_unwind();
                let outcome = (&mut running).await;
                stats.handled_one();
                match outcome {
                    Ok(()) => None,
                    Err(panic) => {
                        let reason = ExitReason::from_panic(&*panic);
                        tracing::warn!(pid = %cell.core.pid(), %reason, message, "handler panicked: the message is lost");
                        if supervised {
                            // Its caller (and any reply the handler held) is told the
                            // actor failed; the mailbox stays open for the next instance.
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
                        Some(reason)
                    }
                }
            }
            Item::Response(cont) => match std::panic::catch_unwind(AssertUnwindSafe(|| cont(actor, ctx))) {
                Ok(()) => None,
                Err(panic) => Some(ExitReason::from_panic(&*panic)),
            },
            Item::System(SystemMsg::Stop(reason)) => return Ok(Ending::Stopped(reason)),
            Item::System(SystemMsg::Restart(reason)) => return Ok(Ending::Restarted(reason)),
            Item::System(SystemMsg::Down(down)) => {
                if !ctx.accept_down(&down) {
                    continue;
                }
                let res = AssertUnwindSafe(Box::pin(actor.on_down(ctx, down)))
                    .catch_unwind()
                    .await;
                res.err().map(|p| ExitReason::from_panic(&*p))
            }
            Item::System(SystemMsg::Exit(exit)) => {
                if ctx.traps_exits() {
                    let res = AssertUnwindSafe(Box::pin(actor.on_exit(ctx, exit)))
                        .catch_unwind()
                        .await;
                    res.err().map(|p| ExitReason::from_panic(&*p))
                } else if exit.reason.is_abnormal() {
                    return Ok(Ending::Failed(exit.reason));
                } else {
                    None
                }
            }
            Item::Closed => return Err(Killed),
        };
        let panicked = match panicked {
            None if ctx.has_pending_acks() => settle_acks(actor, ctx).await,
            other => other,
        };
        if let Some(reason) = panicked {
            tracing::warn!(pid = %cell.core.pid(), %reason, "actor crashed");
            return Ok(Ending::Failed(reason));
        }
        if let Some(reason) = ctx.take_stop() {
            return Ok(Ending::Stopped(reason));
        }
    }
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

/// Finishes a process however its task ended.
struct ExitGuard<A: Actor> {
    cell: Arc<ActorCell<A>>,
    node: Node,
    reason: ExitReason,
}

impl<A: Actor> Drop for ExitGuard<A> {
    fn drop(&mut self) {
        drop(self.cell.mailbox.close());
        let pid = self.cell.core.pid().clone();
        let Some(obituary) = self.cell.core.terminate(&self.reason) else {
            return;
        };
        if let Some(name) = &obituary.name {
            self.node.registry().unregister_if(name, &pid);
        }
        self.node.registry().remove(&pid);
        self.node.registry().remove_aliases_of(&pid);
        // The reason may have come from another node (an exit signal).
        tracing::debug!(%pid, reason = %untrusted_text(&self.reason), "actor stopped");
        let remote = self.node.remote().map(|r| r as &dyn RemoteSignals);
        obituary.deliver(&pid, &self.reason, remote);
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
        timing: Option<(&'a metrics::Histogram, std::time::Instant)>,
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
