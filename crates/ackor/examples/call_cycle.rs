//! A call cycle, A → B → A: it completes when A makes a non-blocking request, and
//! fails at once with `Error::CallCycle` when A makes a blocking call.
//!
//! A (a trip planner) asks B (a pricer) for a quote. To answer, B needs something only
//! A knows (its currency), so B's handler makes a blocking `ctx.call` back to A before
//! it answers.
//!
//! 1. A is spawned with `Reentrancy::allow_all()` and asks with `ctx.request`: its
//!    handler returns at once, so A answers B's question while its own request is in
//!    flight, and A's continuation gets B's quote (which it hands to the original
//!    caller through a deferred reply).
//! 2. The same A asks with a blocking `ctx.call` instead: A handles nothing else until
//!    B answers, and B waits for A. Instead of both hanging until the node's call
//!    timeout (10 s here), B's call back to A fails at once with `Error::CallCycle`,
//!    and A's call returns that error.
//!
//! Run with `cargo run -p ackor --example call_cycle`.

use std::time::{Duration, Instant};

use ackor::{
    Actor, ActorRef, BoxError, Context, Error, Handler, Message, Node, Reentrancy, Reply, RequestOptions,
    SpawnOptions,
};

/// The node's call timeout: what a blocking cycle would cost without detection.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

// ------------------------------------------------------------------ B: the pricer

/// B: prices a trip, but needs to ask the planner for its currency first.
struct Pricer;

impl Actor for Pricer {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Pricer)
    }
}

/// Asks for the price of a trip of `km` kilometres.
struct Quote {
    km: u64,
}
impl Message for Quote {
    type Reply = String;
}

impl Handler<Quote> for Pricer {
    type Return = Reply<String>;
    async fn handle(&mut self, msg: Quote, ctx: &mut Context<Self>) -> Reply<String> {
        // The asker is the sender of the message: call it back.
        let Some(asker) = ctx.sender().cloned() else {
            return Reply::Error(Error::rejected("anonymous quote request"));
        };
        let planner = match ctx.node().actor_ref::<Planner>(&asker) {
            Ok(planner) => planner,
            Err(e) => return Reply::Error(e),
        };
        println!(
            "   B: pricing {} km; asking A for its currency (blocking call B → A)",
            msg.km
        );
        match ctx.call(&planner, Currency).await {
            Ok(currency) => {
                let quote = format!("{} {currency}", msg.km * 3 / 10);
                println!("   B: A answered {currency:?}; quoting {quote}");
                Reply::Value(quote)
            }
            Err(e) => {
                println!("   B: the call back to A failed at once: {e:?}");
                Reply::Error(e)
            }
        }
    }
}

// ------------------------------------------------------------------ A: the planner

/// A: plans trips, asking the pricer for quotes.
struct Planner {
    pricer: ActorRef<Pricer>,
    /// How many requests were in flight each time B's question was answered.
    answered_in_flight: Vec<usize>,
}

impl Actor for Planner {
    type Args = ActorRef<Pricer>;
    async fn init(pricer: Self::Args, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Planner {
            pricer,
            answered_in_flight: Vec::new(),
        })
    }
}

/// Plans a trip with a non-blocking request to the pricer; answered (deferred) by the
/// request's continuation.
struct PlanTrip {
    km: u64,
}
impl Message for PlanTrip {
    type Reply = String;
}

impl Handler<PlanTrip> for Planner {
    type Return = Reply<String>;
    async fn handle(&mut self, msg: PlanTrip, ctx: &mut Context<Self>) -> Reply<String> {
        let Some(caller) = ctx.defer_reply::<String>() else {
            return Reply::Error(Error::rejected("PlanTrip must be called, not sent"));
        };
        let pricer = self.pricer.clone();
        let opts = RequestOptions::new().with_request_timeout(Duration::from_secs(2));
        match ctx.request(&pricer, Quote { km: msg.km }, opts) {
            Ok(call) => {
                println!("   A: request A → B sent; the handler returns, A stays available");
                call.then(|_this, _ctx, quote| {
                    println!("   A: continuation runs with B's answer: {quote:?}");
                    match quote {
                        Ok(quote) => caller.reply(quote),
                        Err(e) => caller.fail(e),
                    }
                });
            }
            Err(e) => caller.fail(e),
        }
        Reply::Deferred
    }
}

/// Plans a trip with a blocking call to the pricer.
struct PlanTripBlocking {
    km: u64,
}
impl Message for PlanTripBlocking {
    type Reply = String;
}

impl Handler<PlanTripBlocking> for Planner {
    type Return = Reply<String>;
    async fn handle(&mut self, msg: PlanTripBlocking, ctx: &mut Context<Self>) -> Reply<String> {
        println!("   A: blocking call A → B; A handles nothing else until B answers");
        let quote = ctx.call(&self.pricer, Quote { km: msg.km }).await;
        println!("   A: the blocking call returned {quote:?}");
        Reply::from_result(quote)
    }
}

/// B's question to A.
struct Currency;
impl Message for Currency {
    type Reply = &'static str;
}

impl Handler<Currency> for Planner {
    type Return = &'static str;
    async fn handle(&mut self, _: Currency, ctx: &mut Context<Self>) -> &'static str {
        let in_flight = ctx.requests_in_flight();
        println!("   A: answering B's question with {in_flight} request(s) of my own in flight");
        self.answered_in_flight.push(in_flight);
        "EUR"
    }
}

/// How many requests were in flight each time A answered B's question.
struct Answered;
impl Message for Answered {
    type Reply = Vec<usize>;
}

impl Handler<Answered> for Planner {
    type Return = Vec<usize>;
    async fn handle(&mut self, _: Answered, _ctx: &mut Context<Self>) -> Vec<usize> {
        self.answered_in_flight.clone()
    }
}

// ------------------------------------------------------------------ the story

/// Fails the example unless `cond` holds.
fn check(cond: bool, what: &str) -> Result<(), Box<dyn std::error::Error>> {
    if cond {
        Ok(())
    } else {
        Err(format!("expected: {what}").into())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let node = Node::builder()
        .name("cycle@local")
        .call_timeout(CALL_TIMEOUT)
        .start()
        .await?;
    let pricer = node.spawn::<Pricer>(())?;
    let planner = node.spawn_with::<Planner>(
        pricer.clone(),
        SpawnOptions::default().reentrancy(Reentrancy::allow_all()),
    )?;

    println!("1. A → B → A with a non-blocking request (A is AllowAll):");
    let quote = planner.call(PlanTrip { km: 300 }).await?;
    println!("   caller: A's deferred reply: {quote:?}");
    check(quote == "90 EUR", "the quote \"90 EUR\" from A's continuation")?;
    let answered = planner.call(Answered).await?;
    check(
        answered == [1],
        "A to have answered B's question while its own request was in flight",
    )?;

    println!();
    println!("2. The same cycle with a blocking call from A:");
    let started = Instant::now();
    let blocked = planner.call(PlanTripBlocking { km: 300 }).await;
    let elapsed = started.elapsed();
    println!(
        "   caller: {blocked:?} after {elapsed:?} (the call timeout is {:?})",
        CALL_TIMEOUT
    );
    check(
        blocked == Err(Error::CallCycle),
        "Error::CallCycle for the blocking cycle",
    )?;
    check(
        elapsed < Duration::from_secs(1),
        "the cycle to be detected at once, not at the call timeout",
    )?;
    check(
        planner.call(Answered).await? == [1],
        "A not to have handled B's question during its blocking call",
    )?;

    println!();
    println!("3. Both actors carry on:");
    let again = planner.call(PlanTrip { km: 100 }).await?;
    println!("   caller: {again:?}");
    check(again == "30 EUR", "a second non-blocking cycle to complete")?;

    node.shutdown().await;
    println!();
    println!("The request cycle completed; the blocking one failed fast with CallCycle.");
    Ok(())
}
