//! Timers: a message to this actor after a delay, or at every period, with a handle
//! that cancels it. A timer belongs to the process: it ends when the actor stops (its
//! task holds the actor weakly and notices the closed mailbox), and it survives a
//! restart in place by a supervisor, as an Erlang timer survives nothing but the
//! process.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::AbortHandle;

use super::Context;
use crate::actor::{Actor, ActorCell, Envelope, Handler, Message, MsgEnvelope};
use crate::error::Error;
use crate::identity::Pid;

/// A timer started by [`Context::send_after`] or [`Context::send_interval`].
///
/// Clones cancel the same timer. Dropping the handle leaves the timer running; [`Timer::cancel`] stops it. A message
/// the timer put in the mailbox before the cancel stays there (as with Erlang's
/// `cancel_timer`): a handler that must not see a tick after canceling checks its own
/// state.
#[derive(Debug, Clone)]
pub struct Timer {
    task: AbortHandle,
}

impl Timer {
    /// Stops the timer: it sends nothing more. Idempotent.
    pub fn cancel(&self) {
        self.task.abort();
    }

    /// True once a one-shot timer has sent its message, or any timer was canceled or
    /// ended with its actor.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl<A: Actor> Context<A> {
    /// Sends `msg` to this actor after `delay`, as if the actor sent it to itself then
    /// (its sender is this actor). If the mailbox is full then, the timer waits for
    /// room: the message is not lost. Returns a [`Timer`] to cancel it.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// use std::time::Duration;
    /// use ackor::{Actor, BoxError, Context, Handler, Message, Node};
    ///
    /// struct Session { expired: bool }
    /// struct Expire;
    /// impl Message for Expire { type Reply = (); }
    /// impl Actor for Session {
    ///     type Args = ();
    ///     async fn init(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
    ///         let _timer = ctx.send_after(Duration::from_millis(20), Expire);
    ///         Ok(Session { expired: false })
    ///     }
    /// }
    /// impl Handler<Expire> for Session {
    ///     type Return = ();
    ///     async fn handle(&mut self, _: Expire, _: &mut Context<Self>) { self.expired = true; }
    /// }
    /// # struct IsExpired;
    /// # impl Message for IsExpired { type Reply = bool; }
    /// # impl Handler<IsExpired> for Session {
    /// #     type Return = bool;
    /// #     async fn handle(&mut self, _: IsExpired, _: &mut Context<Self>) -> bool { self.expired }
    /// # }
    /// let node = Node::builder().name("doc@local").start().await?;
    /// let session = node.spawn::<Session>(())?;
    /// tokio::time::sleep(Duration::from_millis(100)).await;
    /// assert!(session.call(IsExpired).await?);
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn send_after<M>(&self, delay: Duration, msg: M) -> Timer
    where
        A: Handler<M>,
        M: Message,
    {
        let cell = Arc::downgrade(&self.cell);
        let task = self.node.runtime().spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(cell) = cell.upgrade() else { return };
            let sender = Some(cell.core.pid().clone());
            // Fails only when the actor has stopped: then nobody wants it.
            let _ = cell.mailbox.push_user_wait(self_envelope(msg, sender)).await;
        });
        Timer {
            task: task.abort_handle(),
        }
    }

    /// Sends a message made by `make` to this actor every `period`, the first one
    /// after one period, until the [`Timer`] is canceled or the actor stops. A tick
    /// that finds the mailbox full is skipped (counted in
    /// `ackor_timer_ticks_skipped_total`), so a busy actor is not flooded with ticks
    /// it cannot keep up with; later ticks keep the period.
    ///
    /// Fails with [`Error::Config`] for a zero period.
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// use std::time::Duration;
    /// use ackor::{Actor, BoxError, Context, Handler, Message, Node, Timer};
    ///
    /// struct Heart { beats: u32, timer: Option<Timer> }
    /// struct Beat;
    /// impl Message for Beat { type Reply = (); }
    /// impl Actor for Heart {
    ///     type Args = ();
    ///     async fn init(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
    ///         let timer = ctx.send_interval(Duration::from_millis(5), || Beat)?;
    ///         Ok(Heart { beats: 0, timer: Some(timer) })
    ///     }
    /// }
    /// impl Handler<Beat> for Heart {
    ///     type Return = ();
    ///     async fn handle(&mut self, _: Beat, _: &mut Context<Self>) {
    ///         self.beats += 1;
    ///         if self.beats == 3 {
    ///             self.timer.take().map(|t| t.cancel());
    ///         }
    ///     }
    /// }
    /// # struct Beats;
    /// # impl Message for Beats { type Reply = u32; }
    /// # impl Handler<Beats> for Heart {
    /// #     type Return = u32;
    /// #     async fn handle(&mut self, _: Beats, _: &mut Context<Self>) -> u32 { self.beats }
    /// # }
    /// let node = Node::builder().name("doc@local").start().await?;
    /// let heart = node.spawn::<Heart>(())?;
    /// tokio::time::sleep(Duration::from_millis(100)).await;
    /// assert_eq!(heart.call(Beats).await?, 3);
    /// node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn send_interval<M, F>(&self, period: Duration, mut make: F) -> Result<Timer, Error>
    where
        A: Handler<M>,
        M: Message,
        F: FnMut() -> M + Send + 'static,
    {
        if period.is_zero() {
            return Err(Error::Config("a timer's period must be above zero".into()));
        }
        let cell: Weak<ActorCell<A>> = Arc::downgrade(&self.cell);
        let task = self.node.runtime().spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(cell) = cell.upgrade() else { return };
                let sender = Some(cell.core.pid().clone());
                match cell.mailbox.try_push_user(self_envelope(make(), sender)) {
                    Ok(()) => {}
                    Err((_, Error::MailboxFull)) => {
                        metrics::counter!("ackor_timer_ticks_skipped_total").increment(1);
                        tracing::debug!(pid = %cell.core.pid(), "timer tick skipped: mailbox full");
                    }
                    // The actor has stopped.
                    Err(_) => return,
                }
            }
        });
        Ok(Timer {
            task: task.abort_handle(),
        })
    }
}

/// A timer's message, from the actor to itself.
fn self_envelope<A: Handler<M>, M: Message>(msg: M, sender: Option<Pid>) -> Box<dyn Envelope<A>> {
    Box::new(MsgEnvelope {
        msg,
        sender,
        reply: None,
        chain: None,
        path: Box::default(),
        meta: crate::actor::Meta::current(),
    })
}
