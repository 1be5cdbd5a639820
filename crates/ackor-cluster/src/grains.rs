//! Virtual actors (grains), the model of Orleans and GoAkt: an actor addressed by its
//! kind and an identity key, which exists logically forever. It is activated on the
//! first message, on the member placement picks ([`Cluster::place`]); passivated once
//! idle for [`Grain::IDLE_TIMEOUT`] (its `on_stop` runs: the place to save its
//! state); activated again, on whichever member placement picks then, by the next
//! message. There is at most one activation in the cluster: an activation is a keyed
//! actor ([`Cluster::spawn_keyed`]), found by its cluster name `<KIND>/<key>`.
//!
//! An activation is an ordinary actor: it makes and takes requests with reentrancy
//! ([`Grain::reentrancy`]), important sends, calls, monitors. A [`GrainRef`] sends to
//! the current activation, activating the grain when it has none; a message that finds
//! the activation gone before it got in (it passivated between the lookup and the
//! delivery: `ProcessUnknown`, or for a send `ProcessTerminated`, which a passivated
//! mailbox answers) is sent again to the next activation. A call that answers
//! `ProcessTerminated` is not sent again: the activation may have stopped after taking
//! it (a kill, a crash), so it may have been handled.
//!
//! Without a cluster of several nodes, a node alone is a cluster of one
//! ([`Cluster::join`] with no seeds): its grains all live on it.

use std::marker::PhantomData;
use std::time::Duration;

use ackor::{ActorRef, Error, Handler, Message, Pid, Reentrancy, RemoteActor, SpawnOptions};

use crate::cluster::Cluster;

/// A virtual actor: its `Args` is its identity key; see the [module docs](self).
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use std::time::Duration;
/// use ackor::{Actor, BoxError, Context, Handler, Message, Node, RemoteActor, RemoteMessage, RemoteMessages};
/// use ackor_cluster::{Cluster, ClusterConfig, Grain};
/// use serde::{Deserialize, Serialize};
///
/// struct Cart { key: String, items: u32 }
/// impl Actor for Cart {
///     type Args = String;
///     async fn init(key: String, _: &mut Context<Self>) -> Result<Self, BoxError> {
///         Ok(Cart { key, items: 0 }) // load the cart's state by its key here
///     }
///     fn remote_messages(m: &mut RemoteMessages<Self>) { m.add::<Add>(); }
/// }
/// impl RemoteActor for Cart { const KIND: &'static str = "doc.cart"; }
/// impl Grain for Cart { const IDLE_TIMEOUT: Duration = Duration::from_secs(60); }
///
/// #[derive(Clone, Serialize, Deserialize)]
/// struct Add;
/// impl Message for Add { type Reply = u32; }
/// impl RemoteMessage for Add { const TAG: &'static str = "doc.cart.add.v1"; }
/// impl Handler<Add> for Cart {
///     type Return = u32;
///     async fn handle(&mut self, _: Add, _: &mut Context<Self>) -> u32 { self.items += 1; self.items }
/// }
///
/// let node = Node::builder().name("a@127.0.0.1:0").cookie("c").start().await?;
/// let cluster = Cluster::join(&node, ClusterConfig::new("doc", "127.0.0.1:0".parse().unwrap())).await?;
/// cluster.host_grains::<Cart>();
/// let cart = cluster.grain::<Cart>("cart-42");
/// assert_eq!(cart.call(Add).await?, 1); // activated by this first message
/// assert_eq!(cart.call(Add).await?, 2);
/// # cluster.leave().await;
/// # node.shutdown().await;
/// # Ok(()) }
/// ```
pub trait Grain: RemoteActor<Args = String> {
    /// How long an activation may stay idle (nothing to handle, no request in flight)
    /// before it is passivated. Default: five minutes.
    const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

    /// The reentrancy of its activations. Default: off.
    fn reentrancy() -> Reentrancy {
        Reentrancy::default()
    }
}

/// How many times a message that found its grain's activation gone is sent again.
const ATTEMPTS: usize = 3;

/// For a send: the activation refused the message at once, it is not in its mailbox
/// (a passivated activation closes its mailbox in the same step as it finds it empty).
fn not_enqueued(e: &Error) -> bool {
    matches!(e, Error::ProcessUnknown | Error::ProcessTerminated)
}

/// For a call: no such activation when the message arrived.
fn not_delivered_call(e: &Error) -> bool {
    matches!(e, Error::ProcessUnknown)
}

impl Cluster {
    /// Lets this member host activations of grains of kind `G`. Call it on every member
    /// that placement may pick.
    pub fn host_grains<G: Grain>(&self) {
        self.inner.node.allow_remote_spawn::<G>();
    }

    /// The grain of kind `G` with identity `key`. Nothing is activated until a message
    /// is sent.
    pub fn grain<G: Grain>(&self, key: impl Into<String>) -> GrainRef<G> {
        GrainRef {
            cluster: self.clone(),
            key: key.into(),
            kind: PhantomData,
        }
    }
}

/// A reference to a grain: its kind and key. Cheap to clone.
pub struct GrainRef<G: Grain> {
    cluster: Cluster,
    key: String,
    kind: PhantomData<fn() -> G>,
}

impl<G: Grain> Clone for GrainRef<G> {
    fn clone(&self) -> Self {
        GrainRef {
            cluster: self.cluster.clone(),
            key: self.key.clone(),
            kind: PhantomData,
        }
    }
}

impl<G: Grain> std::fmt::Debug for GrainRef<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GrainRef({}/{})", G::KIND, self.key)
    }
}

impl<G: Grain> GrainRef<G> {
    /// The grain's identity key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The grain's current activation, activated now if it has none. For what
    /// [`GrainRef`] has no verb for: requests from an actor (`Context::request`),
    /// monitors, links.
    pub async fn activation(&self) -> Result<ActorRef<G>, Error> {
        let options = SpawnOptions::default()
            .idle_timeout(G::IDLE_TIMEOUT)
            .reentrancy(G::reentrancy());
        self.cluster
            .spawn_keyed::<G>(&self.key, self.key.clone(), options)
            .await
    }

    /// Calls the grain (activating it if needed) and waits for the reply; errors as
    /// for [`ActorRef::call`], after up to three tries when the activation it found was
    /// already gone (see the module docs).
    pub async fn call<M>(&self, msg: M) -> Result<M::Reply, Error>
    where
        G: Handler<M>,
        M: Message + Clone,
    {
        // Only `ProcessUnknown` is sure to mean "not delivered" for a call: a call whose
        // activation stopped after taking the message also answers `ProcessTerminated`.
        self.to_activation(not_delivered_call, |a| {
            let msg = msg.clone();
            async move { a.call(msg).await }
        })
        .await
    }

    /// An important send to the grain (activating it if needed): `Ok` once the message
    /// is in the activation's mailbox; see [`GrainRef::call`] for retries.
    pub async fn send_important<M>(&self, msg: M) -> Result<(), Error>
    where
        G: Handler<M>,
        M: Message + Clone,
    {
        self.to_activation(not_enqueued, |a| {
            let msg = msg.clone();
            async move { a.send_important(msg).await }
        })
        .await
    }

    /// A plain send to the grain (activating it if needed): errors known here at once,
    /// as for [`ActorRef::send`].
    pub async fn send<M>(&self, msg: M) -> Result<(), Error>
    where
        G: Handler<M>,
        M: Message + Clone,
    {
        self.to_activation(not_enqueued, |a| {
            let msg = msg.clone();
            async move { a.send(msg) }
        })
        .await
    }

    /// Runs `deliver` on the current activation; again on the next one when it found
    /// the activation gone before the message got in (`gone_before` says which errors
    /// mean that for the verb).
    async fn to_activation<T, F, Fut>(&self, gone_before: fn(&Error) -> bool, deliver: F) -> Result<T, Error>
    where
        F: Fn(ActorRef<G>) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let mut gone: Option<Pid> = None;
        for attempt in 1..=ATTEMPTS {
            let activation = self.activation_other_than(gone.as_ref()).await?;
            match deliver(activation.clone()).await {
                Err(e) if gone_before(&e) && attempt < ATTEMPTS => {
                    tracing::debug!(grain = %self.key, kind = G::KIND, pid = %activation.pid(), "grain activation gone; sending again");
                    gone = Some(activation.pid().clone());
                }
                other => return other,
            }
        }
        Err(Error::ProcessUnknown)
    }

    /// The current activation, waiting (a bounded while) for gossip to forget `gone`.
    async fn activation_other_than(&self, gone: Option<&Pid>) -> Result<ActorRef<G>, Error> {
        let name = format!("{}/{}", G::KIND, self.key);
        let deadline = tokio::time::Instant::now() + self.cluster.node().config().call_timeout;
        while gone.is_some() && self.cluster.whereis(&name).as_ref() == gone {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Timeout);
            }
            tokio::time::sleep(self.cluster.inner.config.gossip_interval).await;
        }
        self.activation().await
    }
}
