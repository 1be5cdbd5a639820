//! # ackor-cluster
//!
//! Clusters of [ackor](ackor) nodes: a node joins with a cluster id, a gossip address
//! and a few seed addresses, and from then on knows every live member, learns when one
//! joins, leaves or dies, and reaches any of them by node name without configuring
//! addresses (ackor dials a `name@host:port` by its name).
//!
//! Membership and failure detection are [chitchat]'s: scuttlebutt anti-entropy gossip
//! over UDP with a phi-accrual failure detector, as Quickwit runs it in production.
//! This crate adds what an actor system needs on top:
//!
//! - **Members and events** ([`Cluster::members`], [`Cluster::events`],
//!   [`Cluster::subscribe`] for an actor): [`MemberEvent::Up`], [`MemberEvent::Left`]
//!   (a graceful [`Cluster::leave`]) and [`MemberEvent::Down`] (judged dead). A member
//!   judged dead goes through ackor's peer-down path at once
//!   ([`ackor::Node::disconnect`]): its pending calls and important sends fail
//!   (`ConnectionLost` or `NoConnection`), monitors of its processes get `Down`, links
//!   exit. A member that restarts has a new creation: it is a new member.
//! - **Who may join**: every gossip datagram is signed with a key derived from the
//!   cluster id and a secret (by default the node's cookie); datagrams of other
//!   clusters, with another secret, or malformed are dropped (counted, and logged at a
//!   limited rate) before chitchat decodes anything. Gossip is signed, not encrypted;
//!   see `gossip.rs` for what is and is not protected.
//! - **Cluster-wide names** ([`Cluster::register`], [`Cluster::whereis`],
//!   [`Cluster::process_id`]), usable with every name-addressed verb of ackor.
//! - **Process groups**, like Erlang's `pg` ([`Cluster::join_group`],
//!   [`Cluster::group_members`], [`Cluster::broadcast`]): a broadcast is encoded once
//!   and sent once to each node with members, which hands it to its members.
//! - **Placement** ([`Cluster::place`]): rendezvous hashing over the live members, and
//!   [`Cluster::spawn_keyed`], one actor per key in the cluster, started again where
//!   placement says when its member leaves or dies (on the next ask for it).
//!
//! - **Grains** (virtual actors, as in Orleans and GoAkt: [`Grain`], [`Cluster::grain`]):
//!   an actor addressed by kind and key, activated by its first message where
//!   placement says, passivated when idle, activated again by the next message; one
//!   activation in the cluster at a time.
//!
//! Every member runs an agent actor, registered on its node as `ackor.cluster`, that
//! the other members address for broadcasts and keyed spawns.
//!
//! ## Cluster-wide names
//!
//! A name registered on one member is seen by all once gossip carries it. When two
//! members register one name concurrently, the earliest claim (by the claiming node's
//! clock, in milliseconds) wins, and equal times go to the smaller node name: every
//! member applies this rule to the same gossip, so all agree on the owner; the loser
//! drops its claim and gets [`MemberEvent::NameLost`]. A member that leaves or dies
//! takes its names with it.
//!
//! ```
//! # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
//! use std::time::Duration;
//! use ackor::{Actor, BoxError, Context, Handler, Message, Node, RemoteMessage, RemoteMessages};
//! use ackor_cluster::{Cluster, ClusterConfig};
//! # use serde::{Deserialize, Serialize};
//! # struct Bank(u64);
//! # #[derive(Serialize, Deserialize)] struct Deposit(u64);
//! # impl Message for Deposit { type Reply = u64; }
//! # impl RemoteMessage for Deposit { const TAG: &'static str = "doc.cluster.deposit.v1"; }
//! # impl Actor for Bank {
//! #     type Args = ();
//! #     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Bank(0)) }
//! #     fn remote_messages(m: &mut RemoteMessages<Self>) { m.add::<Deposit>(); }
//! # }
//! # impl Handler<Deposit> for Bank {
//! #     type Return = u64;
//! #     async fn handle(&mut self, m: Deposit, _: &mut Context<Self>) -> u64 { self.0 += m.0; self.0 }
//! # }
//!
//! let gossip = "127.0.0.1:0".parse().unwrap();
//! let fast = Duration::from_millis(50);
//! let a = Node::builder().name("a@127.0.0.1:0").cookie("secret").start().await?;
//! let b = Node::builder().name("b@127.0.0.1:0").cookie("secret").start().await?;
//! let ca = Cluster::join(&a, ClusterConfig::new("doc", gossip).gossip_interval(fast)).await?;
//! let seed = ca.gossip_addr().to_string();
//! let cb = Cluster::join(&b, ClusterConfig::new("doc", gossip).gossip_interval(fast).seeds([seed])).await?;
//!
//! // b hosts the bank under a cluster name; a finds it by that name, no address given.
//! let bank = b.spawn::<Bank>(())?;
//! cb.register("bank", bank.pid()).await?;
//! while ca.whereis("bank").is_none() {
//!     tokio::time::sleep(fast).await;
//! }
//! let balance = a.call_name::<Bank, _>(&ca.process_id("bank")?, Deposit(5)).await?;
//! assert_eq!(balance, 5);
//! a.send_important_name::<Bank, _>(&ca.process_id("bank")?, Deposit(1)).await?;
//!
//! cb.leave().await;
//! ca.leave().await;
//! a.shutdown().await;
//! b.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## Which chitchat
//!
//! This crate uses chitchat 0.11: later versions no longer let a transport encode and
//! decode gossip messages, which signing every datagram needs.

#![doc = include_str!("../docs/metrics.md")]

mod agent;
mod cluster;
mod config;
mod gossip;
mod grains;
mod groups;
mod member;
mod names;
mod placement;
mod streams;

pub use cluster::Cluster;

/// ackor-cluster's metrics, from the table in the crate docs.
pub mod telemetry {
    const TABLE: &str = include_str!("../docs/metrics.md");

    /// Every metric ackor-cluster records.
    ///
    /// ```
    /// assert!(ackor_cluster::telemetry::metrics().any(|m| m.name == "ackor_cluster_gossip_refused_total"));
    /// ```
    pub fn metrics() -> impl Iterator<Item = ackor::telemetry::Metric> {
        ackor::telemetry::parse(TABLE)
    }

    /// Describes them to the installed `metrics` recorder and registers each at zero
    /// (see [`ackor::telemetry::describe`]).
    pub fn describe() {
        ackor::telemetry::describe_all(metrics());
    }
}

/// What tests of clustered code need: chitchat's in-memory gossip transport, whose
/// links can be cut and healed (see [`ClusterConfig::in_memory`]).
pub mod testing {
    pub use chitchat::transport::ChannelTransport;
}
pub use config::ClusterConfig;
pub use grains::{Grain, GrainRef};
pub use member::{Member, MemberEvent};
