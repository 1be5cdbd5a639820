//! Type-erased user messages: the items of the user lane.

use std::future::Future;
use std::pin::Pin;

use super::reply::{ErasedReply, ReplyHandle};
use super::{Actor, Context, Handler, Message, Reply};
use crate::identity::ChainId;
use crate::identity::Pid;
use crate::remote::untrusted_text;
use crate::trace::TraceContext;

/// One user message for an actor of type `A`, whatever its message type.
pub(crate) trait Envelope<A: Actor>: Send {
    /// Runs the handler for the message, then answers the caller if there is one: all
    /// of it in the future returned.
    fn handle<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

    /// [`Envelope::handle`], with what needs no waiting done now: a message that
    /// [`Handler::handle_now`] takes is handled and answered before this returns
    /// (`None`). The future returned, if any, does the rest.
    fn handle_now<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> Option<Pin<Box<dyn Future<Output = ()> + Send + 'a>>>;

    /// The message could not be queued: tell its caller why, if there is one.
    fn fail(self: Box<Self>, error: crate::Error);

    /// The call chain of a call or request (none for a plain send).
    fn chain(&self) -> Option<ChainId>;

    /// The message's type, for logs.
    fn type_name(&self) -> &'static str;

    /// The tokens of the blocking calls this message is handled for (its wait-for
    /// path): the blocking call it is, and those its sender was handling.
    fn path(&self) -> &[u64];

    /// The message's type runs while user messages are held ([`Message::INTERLEAVE`]).
    fn interleaves(&self) -> bool;

    /// The trace the message was sent in, if any (see [`crate::trace`]).
    fn trace(&self) -> Option<TraceContext>;

    /// The ids it came with, for its handling's span (zero: none).
    fn ids(&self) -> Ids;
}

/// The ids a message came with, shown on the span of its handling: the call id of a
/// remote call, the delivery id of an important send from another node, the request id
/// of a request ([`Context::request`]). Set only while the span can be listened to (at
/// `DEBUG`): nothing to allocate otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ids {
    pub(crate) call: u64,
    pub(crate) delivery: u64,
    pub(crate) request: u64,
}

/// What an envelope carries besides the message, boxed: a message sent outside any
/// trace and without ids carries one word for it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Meta {
    pub(crate) trace: Option<TraceContext>,
    pub(crate) ids: Ids,
}

impl Meta {
    /// The metadata of a message sent now: the sender's current trace, if any.
    pub(crate) fn current() -> Option<Box<Meta>> {
        crate::trace::current().map(|trace| {
            Box::new(Meta {
                trace: Some(trace),
                ids: Ids::default(),
            })
        })
    }
}

impl<M: Message> MsgEnvelope<M> {
    /// Hands the context what it keeps while the message is handled, and gives the
    /// message out.
    ///
    /// Set before the handler's future is made, not in it: its arguments would be
    /// stored in the future and read back on its first poll.
    #[inline(always)]
    fn begin<A: Actor>(self, ctx: &mut Context<A>) -> M {
        let MsgEnvelope {
            msg,
            sender,
            reply,
            chain,
            path,
            meta: _,
        } = self;
        ctx.begin_message(sender, reply.map(ErasedReply::new), chain, path);
        msg
    }
}

/// Once the handler returned: counts the message and answers its caller, if it has
/// one. An important reply is given back with its handle, to [`confirm`].
///
/// Counted before the reply leaves: a caller that has its answer sees it counted (a
/// handler that panics is counted by the run loop).
#[inline(always)]
fn answer<A: Actor, M: Message>(
    ctx: &mut Context<A>,
    out: Reply<M::Reply>,
) -> Option<(ReplyHandle<M::Reply>, M::Reply)> {
    ctx.cell.core.stats().handled_one();
    let handle = ctx.end_message()?.downcast::<M::Reply>().ok()?;
    match out {
        Reply::Value(v) if ctx.important_delivery() => return Some((handle, v)),
        Reply::Value(v) => handle.reply(v),
        Reply::Error(e) => handle.fail(e),
        // Dropping the handle tells the caller nobody will answer.
        Reply::Deferred => drop(handle),
    }
    None
}

/// The rest of a message's handling, after [`Handler::handle_now`]: `handle` for a
/// message it gave back, then the answer (confirmed, if important).
async fn finish<A: Handler<M>, M: Message>(
    actor: &mut A,
    ctx: &mut Context<A>,
    now: Result<<A as Handler<M>>::Return, M>,
) {
    let out = match now {
        Ok(out) => out,
        Err(msg) => actor.handle(msg, ctx).await,
    };
    if let Some((handle, value)) = answer::<A, M>(ctx, out.into()) {
        confirm(ctx, handle, value).await;
    }
}

/// Sends an important reply and waits until the caller's node has it.
async fn confirm<A: Actor, T: Send + 'static>(ctx: &mut Context<A>, handle: ReplyHandle<T>, value: T) {
    if let Err(e) = handle.reply_important(value).await {
        ctx.node().count_ignored_response();
        // The error may be one the caller's node sent.
        let error = untrusted_text(&e);
        tracing::warn!(pid = %ctx.pid(), %error, "important response not confirmed");
    }
}

/// A message, who sent it, and where the answer goes (for a call).
pub(crate) struct MsgEnvelope<M: Message> {
    pub(crate) msg: M,
    pub(crate) sender: Option<Pid>,
    pub(crate) reply: Option<ReplyHandle<M::Reply>>,
    pub(crate) chain: Option<ChainId>,
    /// See [`Envelope::path`]; empty (no allocation) for all but blocking calls.
    pub(crate) path: Box<[u64]>,
    /// See [`Envelope::trace`] and [`Envelope::ids`].
    pub(crate) meta: Option<Box<Meta>>,
}

impl<A, M> Envelope<A> for MsgEnvelope<M>
where
    A: Handler<M>,
    M: Message,
{
    fn handle<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        let msg = (*self).begin(ctx);
        Box::pin(async move {
            let now = actor.handle_now(msg, ctx);
            finish::<A, M>(actor, ctx, now).await;
        })
    }

    fn handle_now<'a>(
        self: Box<Self>,
        actor: &'a mut A,
        ctx: &'a mut Context<A>,
    ) -> Option<Pin<Box<dyn Future<Output = ()> + Send + 'a>>> {
        let msg = (*self).begin(ctx);
        match actor.handle_now(msg, ctx) {
            Ok(out) => {
                let (handle, value) = answer::<A, M>(ctx, out.into())?;
                Some(Box::pin(confirm(ctx, handle, value)))
            }
            Err(msg) => Some(Box::pin(finish::<A, M>(actor, ctx, Err(msg)))),
        }
    }

    fn fail(self: Box<Self>, error: crate::Error) {
        if let Some(reply) = self.reply {
            reply.fail(error);
        }
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<M>()
    }

    fn chain(&self) -> Option<ChainId> {
        self.chain
    }

    fn path(&self) -> &[u64] {
        &self.path
    }

    fn interleaves(&self) -> bool {
        M::INTERLEAVE
    }

    fn trace(&self) -> Option<TraceContext> {
        self.meta.as_ref().and_then(|m| m.trace)
    }

    fn ids(&self) -> Ids {
        self.meta.as_ref().map(|m| m.ids).unwrap_or_default()
    }
}
