//! The task that runs one actor: init, the message loop, stop, and the notifications
//! its death owes to monitors, links, names and waiters.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;

use super::{Actor, ActorCell, Context};
use crate::error::Error;
use crate::mailbox::{Item, Receiver};
use crate::monitor::{ExitReason, RemoteSignals, SystemMsg};
use crate::node::Node;
use crate::reentrancy::{Next, Reentrancy};
use crate::remote::untrusted_text;

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
) -> impl Future<Output = ()> + Send {
    let guard = ExitGuard {
        cell: cell.clone(),
        node: node.clone(),
        reason: ExitReason::Killed,
    };
    async move {
        let mut guard = guard;
        let mut ctx = Context::new(cell.clone(), node, reentrancy);
        guard.reason = run_actor(&cell, args, &mut ctx).await;
    }
}

async fn run_actor<A: Actor>(cell: &Arc<ActorCell<A>>, args: A::Args, ctx: &mut Context<A>) -> ExitReason {
    let init = AssertUnwindSafe(Box::pin(A::init(args, ctx)))
        .catch_unwind()
        .await;
    let mut actor = match init {
        Ok(Ok(actor)) => actor,
        Ok(Err(e)) => {
            drop(cell.mailbox.close());
            return ExitReason::Error(format!("init failed: {e}"));
        }
        Err(panic) => {
            drop(cell.mailbox.close());
            return ExitReason::from_panic(&*panic);
        }
    };
    let mut rx = Receiver::new();
    let ended = message_loop(cell, &mut actor, ctx, &mut rx).await;

    // Close before anything the actor holds is dropped: callers whose reply handles
    // die with it must see `ProcessTerminated`.
    let mut drained = cell.mailbox.close();
    rx.clear();
    let mut reason = match ended {
        Ok(reason) => reason,
        Err(Killed) => return ExitReason::Killed,
    };
    // Every continuation fires before `on_stop`: those whose outcome is queued with it,
    // then every request still in flight with `RequestCanceled`. A panic in one fails
    // the actor as a panicking handler does (the first one is the exit reason); the
    // others still run.
    let panicked = |panic: Box<dyn std::any::Any + Send>, reason: &mut ExitReason| {
        tracing::warn!(pid = %cell.core.pid(), "continuation panicked while the actor stopped");
        if !matches!(reason, ExitReason::Panic(_)) {
            *reason = ExitReason::from_panic(&*panic);
        }
    };
    for cont in drained.take_responses() {
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| cont(&mut actor, ctx))) {
            panicked(panic, &mut reason);
        }
    }
    drop(drained);
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
    match stopped {
        Ok(()) => reason,
        Err(panic) => ExitReason::from_panic(&*panic),
    }
}

async fn message_loop<A: Actor>(
    cell: &Arc<ActorCell<A>>,
    actor: &mut A,
    ctx: &mut Context<A>,
    rx: &mut Receiver<Box<dyn super::Envelope<A>>>,
) -> Result<ExitReason, Killed> {
    loop {
        rx.set_user_paused(ctx.requests.holding());
        if ctx.requests.take_rescan() {
            rx.rescan();
        }
        ctx.next_item();
        let item = match ctx.requests.next(rx, &cell.mailbox).await {
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
                    return Ok(reason);
                }
                if let Some(reason) = ctx.take_stop() {
                    return Ok(reason);
                }
                continue;
            }
        };
        let panicked = match item {
            Item::User(env) => {
                let mut running = AssertUnwindSafe(env.handle(actor, ctx)).catch_unwind();
                match (&mut running).await {
                    Ok(()) => None,
                    Err(panic) => {
                        // Close before the handler's future (and any reply handle it
                        // holds) is dropped.
                        drop(cell.mailbox.close());
                        drop(running);
                        Some(ExitReason::from_panic(&*panic))
                    }
                }
            }
            Item::Response(cont) => match std::panic::catch_unwind(AssertUnwindSafe(|| cont(actor, ctx))) {
                Ok(()) => None,
                Err(panic) => Some(ExitReason::from_panic(&*panic)),
            },
            Item::System(SystemMsg::Stop(reason)) => return Ok(reason),
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
                    return Ok(exit.reason);
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
            return Ok(reason);
        }
        if let Some(reason) = ctx.take_stop() {
            return Ok(reason);
        }
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
        // The reason may have come from another node (an exit signal).
        tracing::debug!(%pid, reason = %untrusted_text(&self.reason), "actor stopped");
        let remote = self.node.remote().map(|r| r as &dyn RemoteSignals);
        obituary.deliver(&pid, &self.reason, remote);
    }
}
