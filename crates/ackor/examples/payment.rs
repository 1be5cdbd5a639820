//! A payment over RR-2PC: a plain call, answered with an important response.
//!
//! The payment service charges, then answers with `reply_important`: it learns
//! whether the client really received the receipt. When the client had already given
//! up (its call timed out), the service hears `ResponseIgnored` and refunds, so money
//! is never taken without the client knowing.
//!
//! Run with `cargo run -p ackor --example payment`.

use std::time::Duration;

use ackor::{Actor, BoxError, Context, Error, Message, Node, ProcessId, RemoteMessage, Reply, SpawnOptions};
use serde::{Deserialize, Serialize};

/// Charge `amount`; `processing_ms` simulates a slow bank.
#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[message(reply = String)]
#[remote(tag = "example.payment.pay.v1")]
struct Pay {
    amount: u64,
    processing_ms: u64,
}

/// What the service has charged so far.
#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[message(reply = u64)]
#[remote(tag = "example.payment.total.v1")]
struct Total;

struct Payments {
    charged: u64,
}

// `#[ackor::actor]` turns each `#[handler]` into an `impl Handler<M>` and registers
// both messages for remote use (they are `RemoteMessage`s): no `remote_messages` to
// keep in step by hand.
#[ackor::actor]
impl Actor for Payments {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Payments { charged: 0 })
    }

    #[handler]
    async fn pay(&mut self, msg: Pay, ctx: &mut Context<Self>) -> Reply<String> {
        tokio::time::sleep(Duration::from_millis(msg.processing_ms)).await;
        self.charged += msg.amount;
        let Some(receipt) = ctx.defer_reply::<String>() else {
            return Reply::Deferred;
        };
        match receipt
            .reply_important(format!("receipt for {}", msg.amount))
            .await
        {
            Ok(()) => println!("   service: the client has the receipt for {}", msg.amount),
            Err(e) => {
                self.charged -= msg.amount;
                println!("   service: receipt not delivered ({e}): refunded {}", msg.amount);
            }
        }
        Reply::Deferred
    }

    #[handler]
    fn total(&mut self, _: Total) -> u64 {
        self.charged
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let bank = Node::builder()
        .name("bank@127.0.0.1:0")
        .cookie("pay")
        .start()
        .await?;
    let shop = Node::builder()
        .name("shop@127.0.0.1:0")
        .cookie("pay")
        .start()
        .await?;
    bank.spawn_with::<Payments>((), SpawnOptions::default().name("payments"))?;
    let payments = shop
        .resolve::<Payments>(&ProcessId::new("payments", bank.name().clone()))
        .await?;

    println!("1. A quick payment:");
    let receipt = payments
        .call(Pay {
            amount: 30,
            processing_ms: 10,
        })
        .await;
    println!("   client: {receipt:?}");
    assert_eq!(receipt, Ok("receipt for 30".into()));

    println!("2. A slow payment; the client gives up after 100 ms:");
    let receipt = payments
        .call(Pay {
            amount: 70,
            processing_ms: 300,
        })
        .timeout(Duration::from_millis(100))
        .await;
    println!("   client: {receipt:?}");
    assert_eq!(receipt, Err(Error::Timeout));
    tokio::time::sleep(Duration::from_millis(400)).await;

    let total = payments.call(Total).await?;
    println!("3. Charged in total: {total} (the abandoned payment was refunded)");
    assert_eq!(total, 30);

    shop.shutdown().await;
    bank.shutdown().await;
    Ok(())
}
