//! Chapter on reentrancy: the three modes side by side on one scenario.
//!
//! A clerk looks something up in a slow backend, then three notes arrive while the
//! lookup is pending. The backend holds the lookup until the chapter releases it, so
//! every step is decided by the chapter, not by timing.

use std::time::Duration;

use ackor::{
    Actor, ActorRef, BoxError, Context, Error, Handler, Message, Node, Reentrancy, ReentrancyMode, Reply,
    ReplyHandle, RequestOptions, SpawnOptions,
};
use tokio::sync::mpsc;

use super::{Outcome, check, say};

/// How long the chapter waits for a state it expects before failing.
const PROMPT: Duration = Duration::from_secs(2);
/// The value the backend answers the lookup with.
const ANSWER: u64 = 42;
/// The notes sent while the lookup is pending.
const NOTES: [u32; 3] = [1, 2, 3];

fn err(e: Error) -> String {
    e.to_string()
}

// ---------------------------------------------------------------- the backend

/// A slow backend: holds every lookup until released.
struct Backend {
    held: Vec<ReplyHandle<u64>>,
}

impl Actor for Backend {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Backend { held: Vec::new() })
    }
}

/// A lookup, answered when released.
struct Slow;
impl Message for Slow {
    type Reply = u64;
}
impl Handler<Slow> for Backend {
    type Return = Reply<u64>;
    async fn handle(&mut self, _: Slow, ctx: &mut Context<Self>) -> Reply<u64> {
        if let Some(handle) = ctx.defer_reply() {
            self.held.push(handle);
        }
        Reply::Deferred
    }
}

/// How many lookups the backend holds.
struct Held;
impl Message for Held {
    type Reply = usize;
}
impl Handler<Held> for Backend {
    type Return = usize;
    async fn handle(&mut self, _: Held, _ctx: &mut Context<Self>) -> usize {
        self.held.len()
    }
}

/// Answers every held lookup with the value; says how many.
struct Release(u64);
impl Message for Release {
    type Reply = usize;
}
impl Handler<Release> for Backend {
    type Return = usize;
    async fn handle(&mut self, msg: Release, _ctx: &mut Context<Self>) -> usize {
        let n = self.held.len();
        for handle in self.held.drain(..) {
            handle.reply(msg.0);
        }
        n
    }
}

// ---------------------------------------------------------------- the clerk

/// What the clerk did, in the order it did it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    /// `request` was refused; the clerk falls back to a blocking call.
    Refused(Error),
    /// The request left; the handler returned.
    Sent,
    /// The lookup's answer arrived (blocking call or continuation).
    Answer(Result<u64, Error>),
    /// A note was handled.
    Note(u32),
}

impl std::fmt::Display for Ev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ev::Refused(_) => write!(f, "refused"),
            Ev::Sent => write!(f, "sent"),
            Ev::Answer(Ok(v)) => write!(f, "answer {v}"),
            Ev::Answer(Err(e)) => write!(f, "answer {e:?}"),
            Ev::Note(n) => write!(f, "note {n}"),
        }
    }
}

/// Looks things up in the backend, takes notes, reports each step as an [`Ev`].
struct Clerk {
    backend: ActorRef<Backend>,
    events: mpsc::UnboundedSender<Ev>,
    notes: Vec<u32>,
}

impl Actor for Clerk {
    type Args = (ActorRef<Backend>, mpsc::UnboundedSender<Ev>);
    async fn init((backend, events): Self::Args, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Clerk {
            backend,
            events,
            notes: Vec::new(),
        })
    }
}

impl Clerk {
    fn report(&self, ev: Ev) {
        let _ = self.events.send(ev);
    }
}

/// Look something up: a non-blocking request if the mode allows it, else a blocking call.
struct Lookup;
impl Message for Lookup {
    type Reply = ();
}
impl Handler<Lookup> for Clerk {
    type Return = ();
    async fn handle(&mut self, _: Lookup, ctx: &mut Context<Self>) {
        let backend = self.backend.clone();
        match ctx.request(&backend, Slow, RequestOptions::new()) {
            Ok(call) => {
                self.report(Ev::Sent);
                call.then(|this, _ctx, answer| this.report(Ev::Answer(answer)));
            }
            Err(Error::ReentrancyDisabled) => {
                self.report(Ev::Refused(Error::ReentrancyDisabled));
                let answer = ctx.call(&backend, Slow).await;
                self.report(Ev::Answer(answer));
            }
            Err(e) => self.report(Ev::Answer(Err(e))),
        }
    }
}

/// A plain user message.
struct Note(u32);
impl Message for Note {
    type Reply = ();
}
impl Handler<Note> for Clerk {
    type Return = ();
    async fn handle(&mut self, msg: Note, _ctx: &mut Context<Self>) {
        self.notes.push(msg.0);
        self.report(Ev::Note(msg.0));
    }
}

/// A read-only look inside, marked `INTERLEAVE`: it runs even while notes are held.
struct Peek;
impl Message for Peek {
    type Reply = (Vec<u32>, usize);
    const INTERLEAVE: bool = true;
}
impl Handler<Peek> for Clerk {
    type Return = (Vec<u32>, usize);
    async fn handle(&mut self, _: Peek, ctx: &mut Context<Self>) -> (Vec<u32>, usize) {
        (self.notes.clone(), ctx.requests_in_flight())
    }
}

// ---------------------------------------------------------------- the story

/// Waits until the backend holds a lookup.
async fn backend_holds_one(backend: &ActorRef<Backend>) -> Outcome {
    let waited = tokio::time::timeout(PROMPT, async {
        loop {
            match backend.call(Held).await {
                Ok(1) => return Ok(()),
                Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                Err(e) => return Err(err(e)),
            }
        }
    })
    .await;
    waited.map_err(|_| format!("the backend got no lookup within {PROMPT:?}"))?
}

/// The next thing the clerk did.
async fn next(events: &mut mpsc::UnboundedReceiver<Ev>) -> Result<Ev, String> {
    match tokio::time::timeout(PROMPT, events.recv()).await {
        Ok(Some(ev)) => Ok(ev),
        Ok(None) => Err("the clerk is gone".into()),
        Err(_) => Err(format!("the clerk did nothing within {PROMPT:?}")),
    }
}

/// The next `n` things the clerk did.
async fn take(events: &mut mpsc::UnboundedReceiver<Ev>, n: usize) -> Result<Vec<Ev>, String> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(next(events).await?);
    }
    Ok(out)
}

fn list(evs: &[Ev]) -> String {
    evs.iter().map(Ev::to_string).collect::<Vec<_>>().join(", ")
}

/// Runs the scenario with a clerk in `reentrancy`; returns everything it did, in order.
async fn scenario(
    node: &Node,
    backend: &ActorRef<Backend>,
    reentrancy: Reentrancy,
) -> Result<Vec<Ev>, String> {
    let mode = reentrancy.mode;
    let (tx, mut events) = mpsc::unbounded_channel();
    let clerk = node
        .spawn_with::<Clerk>(
            (backend.clone(), tx),
            SpawnOptions::default().reentrancy(reentrancy),
        )
        .map_err(err)?;
    clerk.send(Lookup).map_err(err)?;
    backend_holds_one(backend).await?;
    let first = next(&mut events).await?;
    let mut seen = vec![first.clone()];
    for n in NOTES {
        clerk.send(Note(n)).map_err(err)?;
    }
    match mode {
        ReentrancyMode::Off => {
            let refused = match &first {
                Ev::Refused(e) => format!("Err({e:?})"),
                other => other.to_string(),
            };
            say(format!(
                "request → {refused}: with reentrancy off, the clerk makes a blocking call instead."
            ));
            check(
                first == Ev::Refused(Error::ReentrancyDisabled),
                "request to be refused with ReentrancyDisabled",
            )?;
            let waiting = clerk.mailbox_len().unwrap_or(0); // a local actor: always Some
            say(format!(
                "3 notes sent: {waiting} wait in the mailbox behind the blocked clerk."
            ));
            check(waiting == NOTES.len(), "the 3 notes to wait in the mailbox")?;
            check(
                events.try_recv().is_err(),
                "the clerk to handle nothing while blocked",
            )?;
        }
        ReentrancyMode::AllowAll => {
            say(format!("request: {first}; the handler returned at once."));
            check(first == Ev::Sent, "the request to be sent")?;
            let (notes, in_flight) = clerk.call(Peek).await.map_err(err)?;
            say(format!(
                "3 notes sent: handled already ({notes:?}), with {in_flight} request in flight."
            ));
            check(
                notes == NOTES && in_flight == 1,
                "the notes handled while the request is in flight",
            )?;
            seen.extend(take(&mut events, NOTES.len()).await?);
        }
        ReentrancyMode::StashNonReentrant => {
            say(format!("request: {first}; the handler returned at once."));
            check(first == Ev::Sent, "the request to be sent")?;
            let (notes, in_flight) = clerk.call(Peek).await.map_err(err)?;
            say(format!(
                "3 notes sent, then an INTERLEAVE Peek: it runs and sees notes {notes:?} handled, \
                 {in_flight} request in flight: the notes are held."
            ));
            check(
                notes.is_empty() && in_flight == 1,
                "the notes held while the request is in flight",
            )?;
            check(
                events.try_recv().is_err(),
                "nothing else handled while the notes are held",
            )?;
        }
    }
    let released = backend.call(Release(ANSWER)).await.map_err(err)?;
    check(released == 1, "the backend to answer the one lookup it held")?;
    seen.extend(take(&mut events, 1 + NOTES.len() + 1 - seen.len()).await?);
    say(format!(
        "backend answers {ANSWER} → the clerk did: {}.",
        list(&seen)
    ));
    clerk.stop().map_err(err)?;
    clerk.wait_for_stop().await;
    Ok(seen)
}

pub async fn three_modes() -> Outcome {
    let node = Node::builder()
        .name("reentrancy@localhost")
        .start()
        .await
        .map_err(err)?;
    let backend = node.spawn::<Backend>(()).map_err(err)?;
    say("A clerk asks a slow backend for a lookup; 3 notes arrive while it is pending.");
    say("The backend holds the lookup until the tour releases it.");

    let answer = Ev::Answer(Ok(ANSWER));
    let notes = NOTES.map(Ev::Note);
    let cases = [
        (
            "Off",
            Reentrancy::default(),
            [
                vec![Ev::Refused(Error::ReentrancyDisabled), answer.clone()],
                notes.to_vec(),
            ]
            .concat(),
            "notes wait behind the blocking call",
        ),
        (
            "AllowAll",
            Reentrancy::allow_all(),
            [vec![Ev::Sent], notes.to_vec(), vec![answer.clone()]].concat(),
            "notes handled while the request is in flight",
        ),
        (
            "StashNonReentrant",
            Reentrancy::stash_non_reentrant(),
            [vec![Ev::Sent, answer.clone()], notes.to_vec()].concat(),
            "notes held, replayed in order after the continuation",
        ),
    ];
    let mut rows = Vec::new();
    for (name, reentrancy, expected, meaning) in cases {
        println!();
        say(format!("{name}:"));
        let seen = scenario(&node, &backend, reentrancy).await?;
        check(
            seen == expected,
            &format!("{name}: {} (got {})", list(&expected), list(&seen)),
        )?;
        rows.push((name, seen, meaning));
    }

    println!();
    say("Side by side (what the clerk did, in order):");
    for (name, seen, meaning) in rows {
        say(format!("  {name:<18} {:<44} {meaning}", list(&seen)));
    }
    node.shutdown().await;
    Ok(())
}
