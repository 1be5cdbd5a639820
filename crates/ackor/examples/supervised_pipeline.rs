//! A supervised pipeline, Source → Parser → Aggregator, where the Parser crashes on bad
//! input and nothing else is lost.
//!
//! - One supervisor, one-for-one, starts the stages downstream first (aggregator,
//!   parser, source), each under a registered name, so a stage finds the next one in
//!   its `init`.
//! - The source sends every line to the parser at once (`send`): lines queue up in the
//!   parser's mailbox. A bad line makes the parser panic; the supervisor restarts it
//!   **in place** (same pid, same name, same mailbox), and the new instance goes on
//!   with the lines queued behind the bad one, in order. Only the bad line is lost.
//! - The new instance's `on_restart` reports each crash to the aggregator, in the
//!   stream; a caller of the failed message (here `main`, once) gets `ActorFailed`.
//!
//! Run with `cargo run -p ackor --example supervised_pipeline`.

use std::time::Duration;

use ackor::supervision::{ChildSpec, Strategy, Supervisor, SupervisorSpec, WhichChildren};
use ackor::{Actor, ActorRef, BoxError, Context, Error, ExitReason, Handler, Message, Node, ProcessId};

/// The local actor registered as `name`.
fn find<A: Actor>(node: &Node, name: &str) -> Result<ActorRef<A>, Error> {
    node.lookup::<A>(&ProcessId::new(name, node.name().clone()))
}

// --------------------------------------------------------------- aggregator

/// Counts parsed values and records crash reports, in the order they come.
#[derive(Default)]
struct Aggregator {
    values: Vec<(u64, i64)>,
    crashes: Vec<String>,
}
impl Actor for Aggregator {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Aggregator::default())
    }
}
/// Line `seq` parsed to this value.
struct Parsed(u64, i64);
impl Message for Parsed {
    type Reply = ();
}
impl Handler<Parsed> for Aggregator {
    type Return = ();
    async fn handle(&mut self, Parsed(seq, value): Parsed, _: &mut Context<Self>) {
        self.values.push((seq, value));
    }
}
/// The parser crashed, for this reason.
struct Crashed(String);
impl Message for Crashed {
    type Reply = ();
}
impl Handler<Crashed> for Aggregator {
    type Return = ();
    async fn handle(&mut self, msg: Crashed, _: &mut Context<Self>) {
        self.crashes.push(msg.0);
    }
}
/// What the aggregator has: the values (with their line numbers) and crash reports.
struct Summary;
impl Message for Summary {
    type Reply = (Vec<(u64, i64)>, Vec<String>);
}
impl Handler<Summary> for Aggregator {
    type Return = (Vec<(u64, i64)>, Vec<String>);
    async fn handle(&mut self, _: Summary, _: &mut Context<Self>) -> Self::Return {
        (self.values.clone(), self.crashes.clone())
    }
}

// ------------------------------------------------------------------- parser

/// Parses lines into numbers; panics on anything else (let it crash).
struct Parser(ActorRef<Aggregator>);
impl Actor for Parser {
    type Args = ();
    async fn init(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Parser(find(ctx.node(), "aggregator")?))
    }
    async fn on_restart(&mut self, ctx: &mut Context<Self>, reason: &ExitReason) {
        println!("   parser {} restarted in place after {reason}", ctx.pid());
        let _ = self.0.send(Crashed(reason.to_string()));
    }
}
/// Line number `seq` of the stream, answered with its value.
struct Line(u64, String);
impl Message for Line {
    type Reply = i64;
}
impl Handler<Line> for Parser {
    type Return = i64;
    async fn handle(&mut self, Line(seq, text): Line, _: &mut Context<Self>) -> i64 {
        tokio::time::sleep(Duration::from_millis(5)).await; // some work: lines queue up
        let value = text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("line {seq}: {text:?} is not a number"));
        let _ = self.0.send(Parsed(seq, value));
        value
    }
}
/// Answered once every line queued before it was handled.
struct Flush;
impl Message for Flush {
    type Reply = ();
}
impl Handler<Flush> for Parser {
    type Return = ();
    async fn handle(&mut self, _: Flush, _: &mut Context<Self>) {}
}

// ------------------------------------------------------------------- source

/// Numbers the lines it is fed and sends them on to the parser.
struct Source {
    parser: ActorRef<Parser>,
    next: u64,
}
impl Actor for Source {
    type Args = ();
    async fn init(_: (), ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        let parser = find(ctx.node(), "parser")?;
        Ok(Source { parser, next: 1 })
    }
}
/// Lines to send down the pipeline.
struct Feed(Vec<&'static str>);
impl Message for Feed {
    type Reply = Result<(), Error>;
}
impl Handler<Feed> for Source {
    type Return = Result<(), Error>;
    async fn handle(&mut self, msg: Feed, _: &mut Context<Self>) -> Result<(), Error> {
        for text in msg.0 {
            self.parser.send(Line(self.next, text.to_string()))?;
            self.next += 1;
        }
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One line per panic, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info.payload().downcast_ref::<String>().cloned();
        println!("   ! panic: {}", msg.unwrap_or_else(|| info.to_string()));
    }));
    let node = Node::builder().name("pipeline@local").start().await?;
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(10, Duration::from_secs(5))
        .child(ChildSpec::new::<Aggregator>("aggregator", || ()).name("aggregator"))
        .child(ChildSpec::new::<Parser>("parser", || ()).name("parser"))
        .child(ChildSpec::new::<Source>("source", || ()).name("source"));
    let sup = node.spawn::<Supervisor>(spec)?;
    let before = sup.call(WhichChildren).await?; // answered once every stage is up
    let (source, parser) = (find::<Source>(&node, "source")?, find::<Parser>(&node, "parser")?);
    let aggregator = find::<Aggregator>(&node, "aggregator")?;
    let (s, p, a) = (source.pid(), parser.pid(), aggregator.pid());
    println!("One supervisor, one-for-one: source {s} → parser {p} → aggregator {a}");

    let lines = vec!["12", "7", "seven", "30", "-4", "4O", "100", "", "8", "21"];
    println!("1. Feeding {} lines, 3 of them bad, all at once:", lines.len());
    let expected: Vec<(u64, i64)> = (1..)
        .zip(&lines)
        .filter_map(|(seq, l)| l.parse().ok().map(|v| (seq, v)))
        .collect();
    source.call(Feed(lines)).await??;
    parser.call(Flush).await?; // every line has gone through the parser
    let (values, crashes) = aggregator.call(Summary).await?;
    println!("   aggregator counted {values:?}");
    assert_eq!(values, expected, "every good line, in order");
    assert_eq!(crashes.len(), 3, "each crash reported: {crashes:?}");
    for (report, seq) in crashes.iter().zip([3, 6, 8]) {
        assert!(report.contains(&format!("line {seq}:")), "{report}");
    }
    assert_eq!(sup.call(WhichChildren).await?, before, "same stages, same pids");
    let sum: i64 = values.iter().map(|v| v.1).sum();
    println!("   the sum is {sum}; every stage kept its pid");

    println!("2. A caller of a line that crashes the parser is told:");
    let answer = parser.call(Line(100, "NaN?".into())).await;
    println!("   the caller got {answer:?}");
    parser.call(Flush).await?; // the restart has happened
    assert!(matches!(answer, Err(Error::ActorFailed(ref why)) if why.contains("line 100")));

    println!("3. The pipeline keeps running:");
    source.call(Feed(vec!["5"])).await??;
    parser.call(Flush).await?;
    let (values, crashes) = aggregator.call(Summary).await?;
    println!(
        "   aggregator now has {} values, the last {:?}",
        values.len(),
        values.last()
    );
    assert_eq!(values.last(), Some(&(11, 5)));
    assert_eq!((values.len(), crashes.len()), (expected.len() + 1, 4));
    node.shutdown().await;
    println!("All good lines counted in order; 4 crashes, each reported.");
    Ok(())
}
