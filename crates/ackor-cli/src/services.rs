//! Actors every `ackor node` process hosts, registered by name:
//!
//! - `echo` ([`Echo`]): answers [`Ping`] with the text and the node's name;
//! - `relay` ([`Relay`]): answers [`Forward`] by calling `echo` on another node, so a
//!   test can make two node processes talk to each other.

use ackor::{
    Actor, BoxError, Context, Error, Handler, Message, Node, ProcessId, RemoteMessage, RemoteMessages, Reply,
};
use serde::{Deserialize, Serialize};

/// Answers pings.
pub struct Echo;

impl Actor for Echo {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Echo)
    }
    fn remote_messages(messages: &mut RemoteMessages<Self>) {
        messages.add::<Ping>();
    }
}

/// Asks `echo` to answer; the reply is `"<text> from <node>"`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ping(pub String);

impl Message for Ping {
    type Reply = String;
}

impl RemoteMessage for Ping {
    const TAG: &'static str = "ackor.cli.ping.v1";
}

impl Handler<Ping> for Echo {
    type Return = String;
    async fn handle(&mut self, msg: Ping, ctx: &mut Context<Self>) -> String {
        format!("{} from {}", msg.0, ctx.node().name())
    }
}

/// Calls `echo` on other nodes on request.
pub struct Relay;

impl Actor for Relay {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Relay)
    }
    fn remote_messages(messages: &mut RemoteMessages<Self>) {
        messages.add::<Forward>();
    }
}

/// Asks `relay` to ping `echo` on `node`; the reply is what that echo answered.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forward {
    /// The node whose `echo` to call.
    pub node: String,
    /// The text to send.
    pub text: String,
}

impl Message for Forward {
    type Reply = String;
}

impl RemoteMessage for Forward {
    const TAG: &'static str = "ackor.cli.forward.v1";
}

impl Handler<Forward> for Relay {
    type Return = Reply<String>;
    async fn handle(&mut self, msg: Forward, ctx: &mut Context<Self>) -> Reply<String> {
        let node = ctx.node().clone();
        let id = ProcessId::new("echo", ackor::NodeName::new(&msg.node));
        let answer = async {
            let echo = node.resolve::<Echo>(&id).await?;
            ctx.call(&echo, Ping(msg.text)).await
        };
        Reply::from_result(answer.await)
    }
}

/// Spawns `echo` and `relay` on `node`.
pub fn start(node: &Node) -> Result<(), Error> {
    node.spawn_with::<Echo>((), ackor::SpawnOptions::default().name("echo"))?;
    node.spawn_with::<Relay>((), ackor::SpawnOptions::default().name("relay"))?;
    Ok(())
}
