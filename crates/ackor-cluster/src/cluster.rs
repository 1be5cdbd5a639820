//! [`Cluster`]: a running node's membership: join, leave, the member list and its
//! events, and cluster-wide names.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};

use ackor::{Actor, ActorRef, Error, Handler, Node, NodeName, Pid, ProcessId};
use chitchat::transport::Transport;
use chitchat::{ChitchatConfig, ChitchatHandle, ChitchatId, FailureDetectorConfig, NodeState};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;

use crate::config::ClusterConfig;
use crate::gossip::{ClusterKey, SignedUdp};
use crate::member::{LEAVING, META, Member, MemberEvent};
use crate::names::{self, Claim, NAME};

/// How many events a slow [`Cluster::events`] receiver may fall behind before it
/// misses some (it is told how many: `RecvError::Lagged`).
const EVENT_BUFFER: usize = 1024;

/// A node's membership in a cluster. Cheap to clone; every clone is the same
/// membership. See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) node: Node,
    /// This node as a member (live gossip lists it too, once the first round is done).
    me: Member,
    pub(crate) config: ClusterConfig,
    gossip_addr: SocketAddr,
    chitchat: Mutex<Option<ChitchatHandle>>,
    events: broadcast::Sender<MemberEvent>,
    pub(crate) view: Mutex<View>,
    reconciler: Mutex<Option<AbortHandle>>,
    /// This node's members of each process group (what its fan-out serves).
    pub(crate) local_groups: Mutex<BTreeMap<String, BTreeSet<Pid>>>,
    /// Cluster names of keyed actors living here: one that loses its name is stopped.
    pub(crate) keyed: Mutex<BTreeSet<String>>,
}

/// What this node last saw of the cluster.
#[derive(Default)]
pub(crate) struct View {
    /// Live members, by node name and incarnation (this node included).
    members: BTreeMap<(NodeName, u32), Member>,
    /// Members that announced their leave: their disappearance is no `Down`.
    leaving: BTreeSet<(NodeName, u32)>,
    /// The owner of each cluster name.
    pub(crate) owners: BTreeMap<String, Claim>,
    /// The members of each process group, cluster-wide.
    pub(crate) groups: BTreeMap<String, BTreeSet<Pid>>,
}

impl Cluster {
    /// Joins (or founds, without seeds) the cluster of `config` with the running,
    /// networked `node`: gossip starts on `config`'s address, and the node's name and
    /// creation become its member identity.
    ///
    /// Fails with [`Error::Config`] for a node without a network side (no cookie) or
    /// a gossip address that cannot be bound.
    pub async fn join(node: &Node, config: ClusterConfig) -> Result<Cluster, Error> {
        let cookie = node
            .config()
            .remote
            .as_ref()
            .map(|r| r.cookie.clone())
            .ok_or_else(|| Error::Config("a cluster member needs a networked node (set a cookie)".into()))?;
        let secret = config.secret.clone().unwrap_or(cookie);
        let key = ClusterKey::new(&config.cluster_id, &secret);
        let (transport, gossip_addr): (Box<dyn Transport>, SocketAddr) = match &config.in_memory {
            Some(_) if config.gossip_addr.port() == 0 => {
                return Err(Error::Config(
                    "in-memory gossip needs a gossip address with a port".into(),
                ));
            }
            Some(channels) => (Box::new(channels.clone()), config.gossip_addr),
            None => {
                let (udp, bound) = SignedUdp::bind(config.gossip_addr, key).await.map_err(|e| {
                    Error::Config(format!(
                        "cannot bind the gossip address {}: {e}",
                        config.gossip_addr
                    ))
                })?;
                (Box::new(udp), bound)
            }
        };
        let id = ChitchatId::new(node.name().as_str(), u64::from(node.creation()), gossip_addr);
        let chitchat_config = ChitchatConfig {
            chitchat_id: id,
            cluster_id: config.cluster_id.clone(),
            gossip_interval: config.gossip_interval,
            listen_addr: gossip_addr,
            seed_nodes: config.seeds.clone(),
            failure_detector_config: FailureDetectorConfig {
                phi_threshold: config.phi_threshold,
                initial_interval: config.initial_heartbeat_interval,
                dead_node_grace_period: config.dead_member_grace,
                ..FailureDetectorConfig::default()
            },
            marked_for_deletion_grace_period: config.dead_member_grace,
            catchup_callback: None,
            extra_liveness_predicate: None,
        };
        let initial = config
            .metadata
            .iter()
            .map(|(k, v)| (format!("{META}{k}"), v.clone()))
            .collect();
        let handle = chitchat::spawn_chitchat(chitchat_config, initial, transport.as_ref())
            .await
            .map_err(|e| Error::Config(format!("cannot start gossip: {e}")))?;
        let watcher = handle.chitchat().lock().await.live_nodes_watcher();
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let me = Member {
            node: node.name().clone(),
            creation: node.creation(),
            gossip_addr,
            metadata: config.metadata.clone(),
        };
        let inner = Arc::new(Inner {
            me,
            node: node.clone(),
            config,
            gossip_addr,
            chitchat: Mutex::new(Some(handle)),
            events,
            view: Mutex::new(View::default()),
            reconciler: Mutex::new(None),
            local_groups: Mutex::new(BTreeMap::new()),
            keyed: Mutex::new(BTreeSet::new()),
        });
        crate::agent::start(&inner)?;
        // The view holds this node from the start.
        let live = watcher.borrow().clone();
        reconcile(&inner, &live).await;
        let task = tokio::spawn(reconcile_loop(Arc::downgrade(&inner), watcher));
        *lock(&inner.reconciler) = Some(task.abort_handle());
        tracing::info!(node = %node.name(), gossip = %gossip_addr, cluster = %inner.config.cluster_id, "joined cluster");
        let mut joined = lock(memberships());
        joined.retain(|m| m.strong_count() > 0);
        joined.push(Arc::downgrade(&inner));
        drop(joined);
        Ok(Cluster { inner })
    }

    /// The cluster membership of `node`, if it joined one: for actors, which hold
    /// their node ([`Context::node`](ackor::Context::node)) and need the cluster (a
    /// grain that sends to other grains, say).
    pub fn of(node: &Node) -> Option<Cluster> {
        lock(memberships())
            .iter()
            .filter_map(Weak::upgrade)
            .find(|inner| inner.node.name() == node.name() && inner.node.creation() == node.creation())
            .map(|inner| Cluster { inner })
    }

    /// The UDP address this node gossips on.
    pub fn gossip_addr(&self) -> SocketAddr {
        self.inner.gossip_addr
    }

    /// The node this membership belongs to.
    pub fn node(&self) -> &Node {
        &self.inner.node
    }

    /// The live members as this node sees them now, this node included, ordered by
    /// node name.
    pub fn members(&self) -> Vec<Member> {
        lock(&self.inner.view).members.values().cloned().collect()
    }

    /// Membership events from now on, for a task. A receiver that falls more than
    /// 1024 events behind misses the oldest ones and is told how many.
    pub fn events(&self) -> broadcast::Receiver<MemberEvent> {
        self.inner.events.subscribe()
    }

    /// Sends every membership event from now on to `actor` (a plain send; one that
    /// finds the mailbox full waits for room, so the actor sees every event in
    /// order). Ends when the actor stops.
    pub fn subscribe<A>(&self, actor: &ActorRef<A>)
    where
        A: Actor + Handler<MemberEvent>,
    {
        let mut events = self.events();
        let actor = actor.clone();
        tokio::spawn(async move {
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(actor = %actor.pid(), missed = n, "membership events missed: the actor fell behind");
                        continue;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if actor.send_wait(event).await.is_err() {
                    return;
                }
            }
        });
    }

    /// Leaves the cluster gracefully: announces the leave, keeps gossiping for the
    /// leave grace so the others see it (they get [`MemberEvent::Left`], not `Down`),
    /// then stops gossiping. Cluster names of this node go with it. The node itself
    /// keeps running.
    pub async fn leave(&self) {
        let Some(handle) = lock(&self.inner.chitchat).take() else {
            return;
        };
        handle
            .with_chitchat(|c| c.self_node_state().set(LEAVING, "1"))
            .await;
        tokio::time::sleep(self.inner.config.leave_grace).await;
        if let Some(task) = lock(&self.inner.reconciler).take() {
            task.abort();
        }
        if let Some(agent) = self.inner.node.whereis(crate::agent::AGENT) {
            let _ = self.inner.node.stop(&agent, ackor::ExitReason::Normal);
        }
        if let Err(e) = handle.shutdown().await {
            tracing::debug!(error = %e, "gossip ended with an error");
        }
        tracing::info!(node = %self.inner.node.name(), "left cluster");
    }

    // ------------------------------------------------------------------ names

    /// Registers `name` for the local process `pid` across the cluster: from then on
    /// [`Cluster::whereis`] and [`Cluster::process_id`] on every member find it (once
    /// gossip has carried it, typically within a few gossip intervals). The name is
    /// also registered on this node ([`Node::register`]), so the name-addressed verbs
    /// of ackor resolve it where it lives, when the message arrives.
    ///
    /// Fails with [`Error::NameTaken`] if a live member already owns the name, and
    /// with [`Error::ProcessUnknown`] for a pid that is not a live process of this node.
    /// Two members that register one name concurrently both succeed here; then the
    /// rule of the [`names`](crate#cluster-wide-names) section decides, and the loser
    /// gets [`MemberEvent::NameLost`]. The name is dropped when the process stops, or
    /// its node leaves or dies.
    pub async fn register(&self, name: &str, pid: &Pid) -> Result<(), Error> {
        if pid.node() != self.inner.node.name() || !self.inner.node.is_alive(pid) {
            return Err(Error::ProcessUnknown);
        }
        if let Some(owner) = lock(&self.inner.view).owners.get(name)
            && &owner.pid != pid
        {
            return Err(Error::NameTaken(name.to_string()));
        }
        // (Already registered here for it when it was spawned with the name.)
        if self.inner.node.whereis(name).as_ref() != Some(pid) {
            self.inner.node.register(name, pid)?;
        }
        let claim = Claim {
            pid: pid.clone(),
            at_ms: names::now_ms(),
        };
        let value = claim.encode();
        if self
            .with_own_state(|s| s.set(format!("{NAME}{name}"), value))
            .await
            .is_none()
        {
            self.inner.node.unregister(name);
            return Err(Error::NodeStopped);
        }
        lock(&self.inner.view)
            .owners
            .entry(name.to_string())
            .or_insert(claim);
        // The claim goes with the process.
        let (cluster, name, pid) = (Arc::downgrade(&self.inner), name.to_string(), pid.clone());
        let node = self.inner.node.clone();
        tokio::spawn(async move {
            node.wait_for_exit(&pid).await;
            if let Some(inner) = cluster.upgrade() {
                Cluster { inner }.drop_claim(&name, &pid).await;
            }
        });
        Ok(())
    }

    /// Unregisters a cluster name this node owns. Returns false if it owned none.
    pub async fn unregister(&self, name: &str) -> bool {
        let owned = lock(&self.inner.view)
            .owners
            .get(name)
            .filter(|c| c.pid.node() == self.inner.node.name())
            .map(|c| c.pid.clone());
        match owned {
            Some(pid) => {
                self.drop_claim(name, &pid).await;
                true
            }
            None => false,
        }
    }

    /// The process registered as `name` in the cluster, as far as gossip has told this
    /// node.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        lock(&self.inner.view).owners.get(name).map(|c| c.pid.clone())
    }

    /// The address of cluster name `name` for ackor's name-addressed verbs
    /// ([`Node::call_name`], [`Node::send_important_name`], `Context::request_name`,
    /// ...): the name on the node that owns it, resolved there on arrival. Fails with
    /// [`Error::ProcessUnknown`] when no member owns it.
    pub fn process_id(&self, name: &str) -> Result<ProcessId, Error> {
        let owner = self.whereis(name).ok_or(Error::ProcessUnknown)?;
        Ok(ProcessId::new(name, owner.node().clone()))
    }

    /// Removes this node's claim on `name` for `pid`, and the local name.
    async fn drop_claim(&self, name: &str, pid: &Pid) {
        let key = format!("{NAME}{name}");
        let me = self.inner.node.name().clone();
        self.with_own_state(|s| {
            let mine = s.get(&key).and_then(|v| Claim::decode(&me, v));
            if mine.is_some_and(|c| &c.pid == pid) {
                s.delete(&key);
            }
        })
        .await;
        if self.inner.node.whereis(name).as_ref() == Some(pid) {
            self.inner.node.unregister(name);
        }
        let mut view = lock(&self.inner.view);
        if view.owners.get(name).is_some_and(|c| &c.pid == pid) {
            view.owners.remove(name);
        }
        lock(&self.inner.keyed).remove(name);
    }

    /// Runs `f` on this node's gossip state; `None` after [`Cluster::leave`].
    pub(crate) async fn with_own_state<T>(&self, f: impl FnOnce(&mut NodeState) -> T) -> Option<T> {
        let chitchat = lock(&self.inner.chitchat)
            .as_ref()
            .map(ChitchatHandle::chitchat)?;
        let mut c = chitchat.lock().await;
        Some(f(c.self_node_state()))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.reconciler).take() {
            task.abort();
        }
        if let Some(handle) = lock(&self.chitchat).take() {
            let _ = handle.initiate_shutdown();
        }
    }
}

/// Every membership of this process, for [`Cluster::of`].
fn memberships() -> &'static Mutex<Vec<Weak<Inner>>> {
    static JOINED: std::sync::OnceLock<Mutex<Vec<Weak<Inner>>>> = std::sync::OnceLock::new();
    JOINED.get_or_init(Default::default)
}

/// Keeps the view in step with gossip: membership events, peer-down, name owners.
async fn reconcile_loop(
    inner: Weak<Inner>,
    mut watcher: tokio::sync::watch::Receiver<BTreeMap<ChitchatId, NodeState>>,
) {
    loop {
        let live = watcher.borrow_and_update().clone();
        let Some(strong) = inner.upgrade() else { return };
        reconcile(&strong, &live).await;
        drop(strong);
        if watcher.changed().await.is_err() {
            return;
        }
    }
}

async fn reconcile(inner: &Arc<Inner>, live: &BTreeMap<ChitchatId, NodeState>) {
    let me = (inner.node.name().clone(), inner.node.creation());
    let mut events = Vec::new();
    let mut down = Vec::new();
    let lost = {
        let mut view = lock(&inner.view);
        let mut members = BTreeMap::new();
        for (id, state) in live {
            let member = Member::from_gossip(id, state);
            let key = member.key();
            let leaving = state.get(LEAVING).is_some();
            if leaving {
                if view.leaving.insert(key.clone()) && view.members.contains_key(&key) && key != me {
                    events.push(MemberEvent::Left(member));
                }
                continue;
            }
            if !view.members.contains_key(&key) && key != me {
                events.push(MemberEvent::Up(member.clone()));
            }
            members.insert(key, member);
        }
        if !view.leaving.contains(&me) {
            members.entry(me.clone()).or_insert_with(|| inner.me.clone());
        }
        for (key, member) in &view.members {
            if members.contains_key(key) || view.leaving.contains(key) || key == &me {
                continue;
            }
            events.push(MemberEvent::Down(member.clone()));
            down.push(member.node.clone());
        }
        view.leaving.retain(|k| {
            live.keys()
                .any(|id| (NodeName::new(&*id.node_id), id.generation_id as u32) == *k)
        });
        view.members = members;
        let owners = names::owners(live.iter().filter(|(id, state)| {
            state.get(LEAVING).is_none()
                || (&*id.node_id == me.0.as_str() && id.generation_id == u64::from(me.1))
        }));
        // Our claims another member won.
        let lost: Vec<(String, Claim, Pid)> = live
            .iter()
            .filter(|(id, _)| &*id.node_id == me.0.as_str() && id.generation_id == u64::from(me.1))
            .flat_map(|(id, state)| {
                let node = NodeName::new(&*id.node_id);
                state
                    .key_values()
                    .filter_map(|(k, v)| Some((k.strip_prefix(NAME)?.to_string(), Claim::decode(&node, v)?)))
                    .collect::<Vec<_>>()
            })
            .filter_map(|(name, mine)| {
                let winner = owners.get(&name)?;
                (winner.pid != mine.pid).then(|| (name, mine, winner.pid.clone()))
            })
            .collect();
        view.owners = owners;
        view.groups = crate::groups::members(live.iter().filter(|(_, state)| state.get(LEAVING).is_none()));
        lost
    };
    for node in down {
        // Whatever waits on the dead node fails now, not at a heartbeat timeout.
        inner.node.disconnect(&node);
        tracing::info!(%node, "cluster member down");
    }
    let cluster = Cluster { inner: inner.clone() };
    for (name, mine, winner) in lost {
        let keyed = lock(&inner.keyed).contains(&name);
        cluster.drop_claim(&name, &mine.pid).await;
        if keyed {
            // A second activation of a keyed actor: the winner's is the one.
            let _ = inner.node.stop(&mine.pid, ackor::ExitReason::Normal);
        }
        tracing::info!(%name, %winner, "cluster name lost to a concurrent registration");
        events.push(MemberEvent::NameLost { name, winner });
    }
    for event in events {
        let _ = inner.events.send(event);
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
