//! `ackor demo --observe`: after the tour, three nodes stay up with traffic flowing
//! between them, and the web observer shows them live until Ctrl-C:
//!
//! - `bank`'s relay sends bursts of important pings to `shop`'s echo (acknowledged);
//! - `shop` sends important pings to `audit`'s sink, which has room for one and takes
//!   5 s over each (most are refused: `mailbox_full`);
//! - on `shop`, a `Clerk` in stash mode asks a slow `Ledger` with requests and holds its
//!   other messages back meanwhile (state `stashing`, a growing stash, a request in
//!   flight);
//! - on `shop`, a supervised `Flaky` worker crashes every few seconds and is restarted
//!   in place after a backoff (state `restarting`, its last failure).

use std::net::SocketAddr;
use std::time::Duration;

use ackor::supervision::{Backoff, ChildSpec, Strategy, Supervisor, SupervisorSpec};
use ackor::{
    Actor, ActorRef, BoxError, Context, Handler, Message, ProcessId, Reentrancy, ReentrancyMode,
    RequestOptions, SpawnOptions,
};
use ackor_cli::services::{Echo, ForwardImportant, Ping, Relay};
use tokio::signal::unix::{SignalKind, signal};

use super::say;

const COOKIE: &str = "demo-observe";

/// Takes a second over each piece of work.
struct Ledger;

impl Actor for Ledger {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Ledger)
    }
}

struct Post;
impl Message for Post {
    type Reply = ();
}
impl Handler<Post> for Ledger {
    type Return = ();
    async fn handle(&mut self, _: Post, _: &mut Context<Self>) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// In stash mode: each `Sale` asks the ledger with a request, and the sales that come
/// meanwhile wait in its mailbox, in order.
struct Clerk {
    ledger: ActorRef<Ledger>,
}

impl Actor for Clerk {
    type Args = ActorRef<Ledger>;
    async fn init(ledger: ActorRef<Ledger>, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Clerk { ledger })
    }
}

struct Sale;
impl Message for Sale {
    type Reply = ();
}
impl Handler<Sale> for Clerk {
    type Return = ();
    async fn handle(&mut self, _: Sale, ctx: &mut Context<Self>) {
        let ledger = self.ledger.clone();
        if let Ok(request) = ctx.request(&ledger, Post, RequestOptions::new()) {
            request.then(|_, _, _| {});
        }
    }
}

/// Crashes when told to; its supervisor restarts it.
struct Flaky;

impl Actor for Flaky {
    type Args = ();
    async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Flaky)
    }
}

struct Crash;
impl Message for Crash {
    type Reply = ();
}
impl Handler<Crash> for Flaky {
    type Return = ();
    async fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        panic!("crashed on purpose, for the observer");
    }
}

/// Starts the three nodes and their traffic, serves the observer for `shop` at `addr`,
/// and runs until SIGINT or SIGTERM.
pub async fn run(addr: SocketAddr) -> Result<(), String> {
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("signals: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("signals: {e}"))?;
    let start = |name| super::nodes::start(name, COOKIE);
    let (shop, bank, audit) = (start("shop").await?, start("bank").await?, start("audit").await?);
    let err = |e: ackor::Error| e.to_string();

    let ledger = shop
        .spawn_with::<Ledger>((), SpawnOptions::default().name("ledger"))
        .map_err(err)?;
    let clerk = shop
        .spawn_with::<Clerk>(
            ledger,
            SpawnOptions::default()
                .name("clerk")
                .mailbox_capacity(64)
                .reentrancy(Reentrancy::new(ReentrancyMode::StashNonReentrant)),
        )
        .map_err(err)?;
    let spec = SupervisorSpec::new(Strategy::OneForOne)
        .intensity(1000, Duration::from_secs(1))
        .child(
            ChildSpec::new::<Flaky>("flaky", || ())
                .name("flaky")
                .backoff(Backoff::exponential(
                    Duration::from_secs(2),
                    Duration::from_secs(2),
                )),
        );
    shop.spawn_with::<Supervisor>(spec, SpawnOptions::default().name("supervisor"))
        .map_err(err)?;

    let relay = ProcessId::new("relay", bank.name().clone());
    let sink = ProcessId::new("sink", audit.name().clone());
    let shop_name = shop.name().to_string();
    let traffic = {
        let (shop, bank) = (shop.clone(), bank.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            for n in 0u64.. {
                tick.tick().await;
                // A burst from bank to shop, acknowledged by shop.
                let burst = ForwardImportant {
                    node: shop_name.clone(),
                    name: "echo".into(),
                    text: format!("burst {n}"),
                    count: 5,
                };
                let _ = bank.call_name::<Relay, _>(&relay, burst).await;
                // The clerk gets a sale: it holds the others while the ledger works.
                let _ = clerk.send(Sale);
                if n % 8 == 0 {
                    // shop to audit's slow sink: mostly refused with MailboxFull.
                    let _ = shop
                        .send_important_name::<Echo, _>(&sink, Ping(format!("audit {n}")))
                        .await;
                }
                if n % 24 == 12
                    && let Some(flaky) = shop.whereis("flaky")
                    && let Ok(flaky) = shop.actor_ref::<Flaky>(&flaky)
                {
                    let _ = flaky.send(Crash);
                }
            }
        })
    };

    let bound = crate::observe::serve_node(&shop, addr, Duration::from_secs(5)).await?;
    println!();
    say(format!(
        "Three nodes stay up with traffic flowing: {}, {}, {}.",
        shop.name(),
        bank.name(),
        audit.name()
    ));
    say(format!(
        "The observer shows {}: open http://{bound}/",
        shop.name()
    ));
    say("(bursts of important sends, refusals from a full sink, a clerk stashing, a worker restarting)");
    say("Ctrl-C to stop.");
    println!("observing http://{bound}/");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    traffic.abort();
    for node in [shop, bank, audit] {
        node.shutdown().await;
    }
    Ok(())
}
