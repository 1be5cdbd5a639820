//! Three-phase commit over FR-2PC: a coordinator and three participants on three nodes.
//!
//! Every phase is a `call_important` (the request surely reached the participant's
//! mailbox, or the coordinator knows at once why not) answered with an important
//! response (the participant knows the coordinator got its answer). A participant
//! that is missing or whose mailbox is full makes the coordinator abort cleanly, with
//! the precise reason, instead of waiting for a timeout.
//!
//! Run with `cargo run -p ackor --example three_phase_commit`.

use std::time::Duration;

use ackor::{Actor, ActorRef, BoxError, Context, Error, Message, Node, RemoteMessage, SpawnOptions};
use serde::{Deserialize, Serialize};

/// One phase of the protocol; the reply is the participant's vote or acknowledgement.
#[derive(Debug, Clone, Copy, Message, RemoteMessage, Serialize, Deserialize)]
#[message(reply = bool)]
#[remote(tag = "example.3pc.phase.v1")]
enum Phase {
    CanCommit,
    PreCommit,
    DoCommit,
    Abort,
}

/// Keeps a participant busy, so its (tiny) mailbox fills up.
#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[remote(tag = "example.3pc.stall.v1")]
struct Stall(u64);

/// A participant: votes, pre-commits, commits or aborts, and answers importantly.
struct Participant {
    name: String,
    state: &'static str,
}

// The `#[handler]`s become `Handler` impls, and both messages are registered for remote
// use by the macro.
#[ackor::actor]
impl Actor for Participant {
    type Args = String;
    async fn init(name: String, ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        // FR-2PC: every answer of this participant is acknowledged by the caller's node.
        ctx.set_important_delivery(true);
        Ok(Participant { name, state: "idle" })
    }

    #[handler]
    fn phase(&mut self, phase: Phase) -> bool {
        self.state = match phase {
            Phase::CanCommit => "voted yes",
            Phase::PreCommit => "pre-committed",
            Phase::DoCommit => "committed",
            Phase::Abort => "aborted",
        };
        println!("      {} is {}", self.name, self.state);
        true
    }

    #[handler]
    async fn stall(&mut self, msg: Stall) {
        tokio::time::sleep(Duration::from_millis(msg.0)).await;
    }
}

/// Runs the three phases against `participants`; aborts the others on the first
/// failure and returns its reason.
async fn three_phase_commit(participants: &[ActorRef<Participant>]) -> Result<(), Error> {
    for phase in [Phase::CanCommit, Phase::PreCommit, Phase::DoCommit] {
        println!("   {phase:?}");
        for (i, p) in participants.iter().enumerate() {
            match p.call_important(phase).await {
                Ok(true) => {}
                Ok(false) => return abort(participants, i, Error::rejected("voted no")).await,
                Err(e) => return abort(participants, i, e).await,
            }
        }
    }
    Ok(())
}

async fn abort(participants: &[ActorRef<Participant>], failed: usize, why: Error) -> Result<(), Error> {
    println!(
        "   participant {} failed: {why} — aborting the others",
        failed + 1
    );
    for (i, p) in participants.iter().enumerate() {
        if i != failed {
            let _ = p.call_important(Phase::Abort).await;
        }
    }
    Err(why)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let start = |name: &'static str| async move {
        Node::builder()
            .name(format!("{name}@127.0.0.1:0"))
            .cookie("3pc-example")
            .start()
            .await
    };
    let (a, b, c) = (start("a").await?, start("b").await?, start("c").await?);
    let spawn = |node: &Node, name: &str, capacity: usize| {
        node.spawn_with::<Participant>(
            name.to_string(),
            SpawnOptions::default().mailbox_capacity(capacity),
        )
    };

    println!("1. All three participants present:");
    let p1 = spawn(&a, "p1", 16)?;
    let p2 = a.actor_ref::<Participant>(spawn(&b, "p2", 16)?.pid())?;
    let p3 = a.actor_ref::<Participant>(spawn(&c, "p3", 16)?.pid())?;
    let outcome = three_phase_commit(&[p1.clone(), p2.clone(), p3.clone()]).await;
    println!("   => {outcome:?}\n");
    assert_eq!(outcome, Ok(()));

    println!("2. Participant 3 is gone (its process stopped):");
    let gone = c.actor_ref::<Participant>(p3.pid())?;
    gone.stop()?;
    gone.wait_for_stop().await;
    let outcome = three_phase_commit(&[p1.clone(), p2.clone(), p3]).await;
    println!("   => {outcome:?}\n");
    assert_eq!(outcome, Err(Error::ProcessUnknown));

    println!("3. Participant 2's mailbox is full:");
    let busy = a.actor_ref::<Participant>(spawn(&b, "p2-busy", 2)?.pid())?;
    busy.send_important(Stall(500)).await?; // being handled: takes one of the two slots
    tokio::time::sleep(Duration::from_millis(50)).await;
    busy.send_important(Stall(0)).await?; // fills the other
    let outcome = three_phase_commit(&[p1, busy]).await;
    println!("   => {outcome:?}");
    assert_eq!(outcome, Err(Error::MailboxFull));

    for node in [a, b, c] {
        node.shutdown().await;
    }
    Ok(())
}
