//! The network side of a node: TCP (or TLS, or a custom [`Transport`]) links to peer
//! nodes, the handshake, framing, the wire format, and what is pending on each peer.
//! It knows bytes, pids and frames only: frames for this node's processes go up to
//! the node through [`Inbound`], and the frames important delivery needs kept are kept
//! by each peer's [`Custody`] (`crate::reliable` decides what they mean).
//!
//! Each node sends only on links it dialed itself and receives on links the peer
//! dialed, so all traffic from one node to another is ordered per sender→recipient
//! pair: the pair is pinned to one of the `links_per_peer` outgoing links. (The
//! exception: the answers to what came in on a link the peer dialed go back on that
//! link: acknowledgements of important sends and heartbeats, written by that link's
//! own task, and call replies and acknowledgements after handling, queued by the
//! callee's task. A reply keeps no order with the callee's other messages: it goes to
//! the caller's response lane.) Each set
//! of links a node dials is numbered in the handshake; once a newer set is up, the receiver delivers nothing
//! more from the older ones, so nothing in flight on them can arrive after what the
//! sender sends on the new ones (plain messages in flight are lost then). Any link
//! this node dialed dying (an i/o error, a bad frame, silence past the heartbeat
//! timeout) takes the whole peer down: pending calls to it fail with `NoConnection`,
//! monitors of its processes get `Down` with `NoConnection`, links to them an exit
//! signal. Frames its custody keeps (unacknowledged important sends) are kept instead
//! and resent first once the same peer incarnation is reached again (`peer/`); the
//! receiver delivers each once.
//! A link the peer dialed that dies is the peer's to mend: here it only ends.
//! A node that shuts down says goodbye first (`wire::Goodbye`, after its last `Down`s
//! and exit signals): its peers fail what is pending on it the same way, log that it
//! left (not that it was lost), count it in `ackor_remote_peer_left_total`, and do
//! not dial it again until something is sent to it.

mod config;
mod custody;
mod handshake;
mod inbound;
mod lifo;
mod link;
mod log_limit;
mod peer;
mod stats;
mod test_support;
mod tls;
mod transport;
mod untrusted;
pub(crate) mod wire;
#[cfg(test)]
mod wire_props;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use config::RemoteConfig;
pub(crate) use custody::{Custody, NewCustody};
pub(crate) use inbound::{Inbound, LinkState};
pub(crate) use link::LinkQueue;
pub(crate) use peer::{OnDown, Peer, PendingCall, Waiting, Withdrawn};
pub(crate) use stats::ImportantCounters;
pub use stats::{ImportantStats, PeerInfo};
pub(crate) use test_support::{
    acknowledgements_for_test, decode_frames_for_test, handshake_raw, heartbeat_bytes, important_send_bytes,
    respond_for_test, respond_raw, sever,
};
pub use tls::TlsConfig;
pub use transport::{BoxFuture, Connection, Listener, Transport};
pub(crate) use untrusted::{untrusted, untrusted_text};

use crate::error::Error;
use crate::identity::{NodeName, Pid, Ref};
use crate::monitor::{ExitReason, RemoteSignals};
use transport::Listening;
use wire::{Body, Frame, Outgoing, Target, WirePid, WireReason};

/// A node's network side.
pub(crate) struct Remote {
    local: NodeName,
    creation: u32,
    config: RemoteConfig,
    addr: SocketAddr,
    peers: Mutex<HashMap<NodeName, Arc<Peer>>>,
    next_call: AtomicU64,
    /// Numbers the sets of links this node dials (see `Hello::link_set`).
    next_link_set: AtomicU64,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The runtime links and redials run on.
    runtime: tokio::runtime::Handle,
    /// Makes each peer's custody (what the layer above keeps under its lock).
    new_custody: NewCustody,
    /// Where frames for this node's processes go; cleared at shutdown to end the cycle
    /// (the node holds this side, and the inbound side is the node).
    inbound: Mutex<Option<Arc<dyn Inbound>>>,
    stopped: AtomicBool,
    /// The outcomes of important delivery, for introspection.
    important: Arc<ImportantCounters>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Splits `name@host:port` into its address part.
pub(crate) fn address_of(node: &NodeName) -> Option<&str> {
    let (_, addr) = node.as_str().split_once('@')?;
    addr.rsplit_once(':').map(|_| addr)
}

/// The link a sender→recipient pair always uses.
pub(crate) fn pin(from: Option<&Pid>, to: u64) -> u64 {
    let from = from.map_or(0, |p| p.id());
    from.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ to
}

impl Remote {
    /// Binds the listener. Returns the remote side and the node name with the bound
    /// port (when the name asked for port 0).
    pub(crate) async fn bind(
        name: &NodeName,
        creation: u32,
        config: RemoteConfig,
        runtime: tokio::runtime::Handle,
        new_custody: NewCustody,
    ) -> Result<(Arc<Remote>, NodeName, Listening), Error> {
        if config.links_per_peer == 0 {
            return Err(Error::Config("links_per_peer must be at least 1".into()));
        }
        if config.cookie.is_empty() {
            return Err(Error::Config("the cookie is empty".into()));
        }
        let addr = address_of(name)
            .ok_or_else(|| Error::Config(format!("node name {name} is not name@host:port")))?;
        let (listener, bound) = transport::bind(&config, addr)
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
        let name = match name.as_str().rsplit_once(':') {
            Some((head, "0")) => NodeName::new(format!("{head}:{}", bound.port())),
            _ => name.clone(),
        };
        let remote = Arc::new(Remote {
            local: name.clone(),
            creation,
            config,
            addr: bound,
            peers: Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(first_call_id()),
            next_link_set: AtomicU64::new(1),
            listener: Mutex::new(None),
            runtime,
            new_custody,
            inbound: Mutex::new(None),
            stopped: AtomicBool::new(false),
            important: Arc::default(),
        });
        Ok((remote, name, listener))
    }

    /// Starts accepting peers; what they send to this node's processes goes to
    /// `inbound`.
    pub(crate) fn start(self: &Arc<Self>, inbound: Arc<dyn Inbound>, listener: Listening) {
        *lock(&self.inbound) = Some(inbound);
        let task = self.runtime.spawn(link::accept_loop(self.clone(), listener));
        *lock(&self.listener) = Some(task);
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn config(&self) -> &RemoteConfig {
        &self.config
    }

    /// Where frames for this node's processes go; `None` once shut down.
    pub(crate) fn inbound(&self) -> Option<Arc<dyn Inbound>> {
        lock(&self.inbound).clone()
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }

    pub(crate) fn local_name(&self) -> &NodeName {
        &self.local
    }

    /// This node's important-delivery counters.
    pub(crate) fn important(&self) -> &Arc<ImportantCounters> {
        &self.important
    }

    /// The peers this node is linked to, dials, or still owes something (unacknowledged
    /// sends, monitors, links), as introspection shows them, ordered by name. (A peer
    /// that only ever dialed in and is gone, such as a command-line client, is left out.)
    pub(crate) fn peers_info(&self) -> Vec<PeerInfo> {
        let peers: Vec<Arc<Peer>> = lock(&self.peers).values().cloned().collect();
        let mut infos: Vec<PeerInfo> = peers
            .iter()
            .map(|p| p.info())
            .filter(|p| {
                p.status != "idle" || p.links > 0 || p.unacked_important > 0 || p.monitors > 0 || p.linked > 0
            })
            .collect();
        infos.sort_by(|a, b| a.node.cmp(&b.node));
        infos
    }

    pub(crate) fn creation(&self) -> u32 {
        self.creation
    }

    fn peer(&self, name: &NodeName) -> Arc<Peer> {
        lock(&self.peers)
            .entry(name.clone())
            .or_insert_with(|| Arc::new(Peer::new(name.clone(), (self.new_custody)())))
            .clone()
    }

    pub(crate) fn existing_peer(&self, name: &NodeName) -> Option<Arc<Peer>> {
        lock(&self.peers).get(name).cloned()
    }

    pub(crate) fn next_link_set(&self) -> u64 {
        self.next_link_set.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn next_call_id(&self) -> u64 {
        self.next_call.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues `body` on `back`, the queue of the link a frame came in on, as an answer
    /// to it (see [`LinkQueue::push_frame`]: `ConnectionLost` once that link is gone).
    pub(crate) fn answer_on(&self, back: &LinkQueue, body: Body) -> Result<(), Error> {
        back.push_frame(&Outgoing::Frame(&Frame::new(body)), self.config.max_frame_size)
    }

    /// Queues a frame for `to`, dialing if needed. Fails with `NoConnection` at once
    /// while the peer is known to be unreachable (in reconnect backoff).
    pub(crate) fn send(self: &Arc<Self>, to: &NodeName, pin: u64, body: Body) -> Result<(), Error> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(Error::NodeStopped);
        }
        let peer = self.peer_for(to)?;
        self.send_on(&peer, pin, &Outgoing::Frame(&Frame::new(body)), None, false, None)
    }

    /// The peer `to`, for a sender to keep: fails for this node itself and for a name
    /// without an address.
    pub(crate) fn peer_for(&self, to: &NodeName) -> Result<Arc<Peer>, Error> {
        if to == &self.local {
            return Err(Error::Protocol("a node does not send frames to itself".into()));
        }
        if address_of(to).is_none() {
            return Err(Error::NoConnection);
        }
        Ok(self.peer(to))
    }

    /// Queues a frame on `peer`'s links (see [`Peer::send`]); with `keep = Some((id,
    /// limit))`, also kept by the peer's custody under `id`; with `call`, registering
    /// the pending call.
    pub(crate) fn send_on(
        self: &Arc<Self>,
        peer: &Arc<Peer>,
        pin: u64,
        frame: &Outgoing<'_>,
        keep: Option<(u64, usize)>,
        bounded: bool,
        call: Option<(u64, Waiting)>,
    ) -> Result<(), Error> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(Error::NodeStopped);
        }
        peer.send(self, pin, frame, keep, bounded, call)
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Registers a pending call with `to` and sends its frame. The returned guard
    /// forgets the pending call when the caller gives up.
    pub(crate) fn call(
        self: &Arc<Self>,
        to: &NodeName,
        pin: u64,
        call_id: u64,
        body: Body,
        pending: PendingCall,
    ) -> Result<ForgetCall, Error> {
        let peer = self.peer_for(to)?;
        self.call_on(
            &peer,
            pin,
            call_id,
            &Outgoing::Frame(&Frame::new(body)),
            pending,
            None,
        )
    }

    /// [`Remote::call`] to a peer the caller already holds; with `keep = Some(limit)`,
    /// the peer's custody also keeps the frame under the call's id until it is
    /// answered (see [`Custody`]), refused beyond `limit` kept frames.
    pub(crate) fn call_on(
        self: &Arc<Self>,
        peer: &Arc<Peer>,
        pin: u64,
        call_id: u64,
        frame: &Outgoing<'_>,
        pending: impl Into<Waiting>,
        keep: Option<usize>,
    ) -> Result<ForgetCall, Error> {
        let keep = keep.map(|limit| (call_id, limit));
        self.send_on(peer, pin, frame, keep, false, Some((call_id, pending.into())))?;
        Ok(ForgetCall {
            peer: Some(peer.clone()),
            call_id,
        })
    }

    /// Asks `node` for the pid registered as `name`.
    pub(crate) async fn whereis(
        self: &Arc<Self>,
        node: &NodeName,
        name: &str,
        timeout: std::time::Duration,
    ) -> Result<Pid, Error> {
        let call_id = self.next_call_id();
        let body = Body::Whereis(wire::Whereis {
            call_id,
            name: name.to_string(),
        });
        self.call_for_pid(node, call_id, body, timeout).await
    }

    /// Asks `node` to spawn an actor of `kind`; returns its pid.
    pub(crate) async fn spawn(
        self: &Arc<Self>,
        node: &NodeName,
        kind: &str,
        args: Vec<u8>,
        options: wire::WireSpawnOptions,
        timeout: std::time::Duration,
    ) -> Result<Pid, Error> {
        let call_id = self.next_call_id();
        let body = Body::Spawn(wire::Spawn {
            call_id,
            kind: kind.to_string(),
            args: args.into(),
            options: Some(options),
        });
        self.call_for_pid(node, call_id, body, timeout).await
    }

    /// Sends `body` as call `call_id` and waits for a reply carrying a pid.
    async fn call_for_pid(
        self: &Arc<Self>,
        node: &NodeName,
        call_id: u64,
        body: Body,
        timeout: std::time::Duration,
    ) -> Result<Pid, Error> {
        let bytes = self.call_for_bytes(node, call_id, body, timeout).await?;
        <WirePid as prost::Message>::decode(bytes)
            .map(|p| p.to_pid())
            .map_err(|e| Error::Protocol(format!("undecodable pid: {e}")))
    }

    /// Calls the process registered as `name` on `node` with a message already in its
    /// wire form (`tag`, `payload`) and waits at most `timeout` for the reply's payload.
    pub(crate) async fn call_named_raw(
        self: &Arc<Self>,
        node: &NodeName,
        name: &str,
        tag: &'static str,
        payload: Vec<u8>,
        timeout: std::time::Duration,
    ) -> Result<bytes::Bytes, Error> {
        let call_id = self.next_call_id();
        let body = Body::Deliver(wire::Deliver {
            to: Some(Target::Name(name.to_string())),
            tag: bytes::Bytes::from_static(tag.as_bytes()),
            payload: payload.into(),
            call_id,
            ..Default::default()
        });
        self.call_for_bytes(node, call_id, body, timeout).await
    }

    /// Sends `body` as call `call_id` and waits for the reply's payload.
    async fn call_for_bytes(
        self: &Arc<Self>,
        node: &NodeName,
        call_id: u64,
        body: Body,
        timeout: std::time::Duration,
    ) -> Result<bytes::Bytes, Error> {
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let pending: PendingCall = Box::new(move |outcome| {
            let _ = tx.send(outcome);
            Ok(())
        });
        let mut forget = self.call(node, call_id, call_id, body, pending)?;
        let outcome = match tokio::time::timeout(timeout, &mut rx).await {
            Ok(outcome) => outcome,
            // A call that never left says so, whatever the handshake still does.
            Err(_) => match forget.withdraw() {
                Withdrawn::NeverLeft => return Err(Error::NoConnection),
                Withdrawn::Left => return Err(Error::Timeout),
                // Its outcome is being handed over right now.
                Withdrawn::Settled => rx.await,
            },
        };
        match outcome {
            Err(_) => Err(Error::NoConnection),
            Ok(outcome) => outcome,
        }
    }

    /// Monitors a remote process; `Down` arrives through `monitor`.
    pub(crate) fn monitor(
        self: &Arc<Self>,
        target: &Pid,
        watcher: Option<&Pid>,
        mref: &Ref,
        on_down: OnDown,
    ) {
        let peer = self.peer(target.node());
        peer.add_monitor(mref.id(), target, on_down);
        // A waiter that is not a process is addressed as process 0 of this node: the
        // `Down` only needs to find its way back here.
        let nobody = Pid::new(self.local.clone(), 0, self.creation);
        let watcher = Some(watcher.unwrap_or(&nobody));
        let body = Body::Monitor(wire::Monitor {
            ref_id: mref.id(),
            watcher: watcher.map(WirePid::from),
            target: Some(Target::Pid(WirePid::from(target))),
            remove: false,
        });
        if let Err(e) = self.send(target.node(), pin(watcher, target.id()), body) {
            tracing::debug!(target = %untrusted(target), error = %e, "remote monitor could not be sent");
            if let Some(on_down) = peer.take_monitor(mref.id()) {
                on_down(target.clone(), ExitReason::NoConnection);
            }
        }
    }

    pub(crate) fn demonitor(self: &Arc<Self>, target: &Pid, watcher: &Pid, mref: &Ref) {
        if let Some(peer) = self.existing_peer(target.node()) {
            peer.take_monitor(mref.id());
        }
        let body = Body::Monitor(wire::Monitor {
            ref_id: mref.id(),
            watcher: Some(WirePid::from(watcher)),
            target: Some(Target::Pid(WirePid::from(target))),
            remove: true,
        });
        let _ = self.send(target.node(), pin(Some(watcher), target.id()), body);
    }

    /// Links a local process with a remote one (the local half is already recorded);
    /// fails when the link request cannot be sent (the caller undoes the local half).
    pub(crate) fn link(self: &Arc<Self>, local: &Pid, remote: &Pid) -> Result<(), Error> {
        let peer = self.peer(remote.node());
        peer.add_link(local.clone(), remote.clone());
        let body = Body::Link(wire::Link {
            from: Some(WirePid::from(local)),
            to: Some(WirePid::from(remote)),
            remove: false,
        });
        let sent = self.send(remote.node(), pin(Some(local), remote.id()), body);
        if sent.is_err() {
            peer.remove_link(local, remote);
        }
        sent
    }

    pub(crate) fn unlink(self: &Arc<Self>, local: &Pid, remote: &Pid) {
        if let Some(peer) = self.existing_peer(remote.node()) {
            peer.remove_link(local, remote);
        }
        let body = Body::Link(wire::Link {
            from: Some(WirePid::from(local)),
            to: Some(WirePid::from(remote)),
            remove: true,
        });
        let _ = self.send(remote.node(), pin(Some(local), remote.id()), body);
    }

    /// Sends an exit signal to a remote process: from a linked process that stopped,
    /// or (with `from` `None`) a stop/kill request.
    pub(crate) fn exit(
        self: &Arc<Self>,
        from: Option<&Pid>,
        to: &Pid,
        reason: &ExitReason,
    ) -> Result<(), Error> {
        if let (Some(f), Some(peer)) = (from, self.existing_peer(to.node())) {
            peer.remove_link(f, to);
        }
        let body = Body::Exit(wire::ExitSignal {
            from: from.map(WirePid::from),
            to: Some(WirePid::from(to)),
            reason: Some(WireReason::from(reason)),
        });
        self.send(to.node(), pin(from, to.id()), body)
    }

    /// Tells a remote watcher that a local process stopped.
    pub(crate) fn down(self: &Arc<Self>, watcher: &Pid, ref_id: u64, pid: &Pid, reason: &ExitReason) {
        let body = Body::Down(wire::Down {
            ref_id,
            pid: Some(WirePid::from(pid)),
            reason: Some(WireReason::from(reason)),
        });
        let _ = self.send(watcher.node(), pin(Some(pid), watcher.id()), body);
    }

    /// Stops accepting and waits until the listening socket is closed, so the address
    /// can be bound again at once.
    pub(crate) async fn close_listener(&self) {
        let task = lock(&self.listener).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Says goodbye to every peer this node has a live link with (see
    /// [`wire::Goodbye`]), after whatever is queued on those links already, and waits
    /// (at most `wait`) until the goodbyes are written and the peers have closed the
    /// links they dialed to this node (they do once they have taken the goodbye in).
    /// Call it after the node's processes stopped (their last `Down`s and exit signals
    /// are queued by then) and before [`Remote::shutdown`].
    pub(crate) async fn leave(self: &Arc<Self>, wait: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        let goodbye = Frame::new(Body::Goodbye(wire::Goodbye {
            creation: self.creation,
        }));
        let peers: Vec<_> = lock(&self.peers).values().cloned().collect();
        let mut told = Vec::new();
        let mut queues = Vec::new();
        for peer in peers {
            let links = peer.all_queues();
            if links.is_empty() {
                continue;
            }
            for link in &links {
                let max = self.config.max_frame_size;
                let _ = link.push(false, |out| Outgoing::Frame(&goodbye).encode(out, max));
            }
            metrics::counter!("ackor_remote_goodbyes_sent_total").increment(1);
            queues.extend(links);
            told.push(peer);
        }
        if told.is_empty() {
            return;
        }
        let step = std::time::Duration::from_millis(5);
        while tokio::time::Instant::now() < deadline
            && (queues.iter().any(|q| !q.is_flushed()) || told.iter().any(|p| p.has_incoming()))
        {
            tokio::time::sleep(step).await;
        }
        tracing::debug!(peers = told.len(), "goodbye said");
    }

    /// Stops accepting, closes every link, fails everything pending.
    pub(crate) fn shutdown(self: &Arc<Self>) {
        self.stopped.store(true, Ordering::Release);
        if let Some(l) = lock(&self.listener).as_ref() {
            l.abort();
        }
        let peers: Vec<_> = lock(&self.peers).values().cloned().collect();
        for peer in peers {
            peer.fail(self, "node shutting down", None, false);
            peer.close_incoming();
        }
        *lock(&self.inbound) = None;
    }

    /// Declares `name` down (see [`Peer::declare_down`]); false if this node never
    /// dealt with it.
    pub(crate) fn declare_down(self: &Arc<Self>, name: &NodeName, why: &str) -> bool {
        match self.existing_peer(name) {
            Some(peer) => {
                peer.declare_down(self, why);
                true
            }
            None => false,
        }
    }

    /// Names of peers with an outgoing connection up.
    pub(crate) fn connected_peers(&self) -> Vec<NodeName> {
        lock(&self.peers)
            .values()
            .filter(|p| p.is_up())
            .map(|p| p.name().clone())
            .collect()
    }

    /// Dials `peer` (its links come up in the background).
    fn dial(self: &Arc<Self>, peer: Arc<Peer>) {
        // Only while the network side runs: from `start` until `shutdown` has ended.
        if self.inbound().is_none() {
            return;
        }
        self.runtime.spawn(link::dial(self.clone(), peer));
    }

    /// Handles a frame that arrived from `peer` on the link whose queue is `back`:
    /// answers to this node's calls here, everything addressed to its processes
    /// through the node's [`Inbound`].
    fn dispatch(
        self: &Arc<Self>,
        inbound: &dyn Inbound,
        peer: &Arc<Peer>,
        frame: Frame,
        back: &Arc<LinkQueue>,
        state: &mut LinkState,
    ) {
        let Some(body) = frame.body else {
            tracing::debug!(peer = %untrusted(peer.name()), "frame with an unknown body ignored");
            return;
        };
        match body {
            Body::Deliver(d) => inbound.deliver(self, peer, &d.as_ref(), back, state),
            // An important response wants an answer of its own: the layer above's.
            Body::Reply(r) if r.ack_id != 0 => inbound.request(self, peer, Body::Reply(r)),
            Body::Reply(r) => {
                let outcome = match &r.error {
                    Some(e) => Err(Error::from(e)),
                    None => Ok(r.payload),
                };
                let _ = peer.complete_call(r.call_id, outcome);
            }
            Body::WhereisReply(r) => {
                let outcome = match r.pid {
                    Some(pid) => Ok(bytes::Bytes::from(prost::Message::encode_to_vec(&pid))),
                    None => Err(Error::ProcessUnknown),
                };
                let _ = peer.complete_call(r.call_id, outcome);
            }
            Body::Down(d) => {
                if let Some(on_down) = peer.take_monitor(d.ref_id) {
                    let pid = d.pid.as_ref().map(WirePid::to_pid);
                    let reason = ExitReason::from(d.reason.as_ref());
                    if let Some(pid) = pid {
                        on_down(pid, reason);
                    }
                }
            }
            Body::Heartbeat(h) => {
                if h.ping != 0 {
                    let pong = Frame::new(Body::Heartbeat(wire::Heartbeat {
                        ping: 0,
                        pong: h.ping,
                    }));
                    let _ = back.push_from_reader(&Outgoing::Frame(&pong), self.config.max_frame_size);
                }
                if h.pong != 0 {
                    peer.stats().pong(h.pong);
                }
            }
            Body::Goodbye(g) => peer.left(self, g.creation),
            other => inbound.request(self, peer, other),
        }
    }
}

impl RemoteSignals for Arc<Remote> {
    fn down(&self, watcher: &Pid, ref_id: u64, pid: &Pid, reason: &ExitReason) {
        Remote::down(self, watcher, ref_id, pid, reason);
    }

    fn exit_signal(&self, from: &Pid, to: &Pid, reason: &ExitReason) {
        let _ = self.exit(Some(from), to, reason);
    }
}

/// Forgets a pending call when dropped: a caller that gives up (timeout, cancel)
/// leaves nothing behind.
pub(crate) struct ForgetCall {
    /// `None` once the call has its outcome: nothing is left to forget.
    peer: Option<Arc<Peer>>,
    call_id: u64,
}

impl ForgetCall {
    /// The call got its outcome (its pending entry is gone with it): nothing to do when
    /// dropped, which saves a lock of the peer per call.
    pub(crate) fn answered(&mut self) {
        self.peer = None;
    }

    /// The caller's deadline passed: takes the call's frame back if it has not left
    /// (it was queued while the links to the peer come up), so the caller can answer
    /// [`Error::NoConnection`] truthfully, whatever the handshake does later. See
    /// [`Peer::withdraw_call`].
    pub(crate) fn withdraw(&mut self) -> Withdrawn {
        let Some(peer) = &self.peer else {
            return Withdrawn::Settled;
        };
        let withdrawn = peer.withdraw_call(self.call_id);
        if withdrawn == Withdrawn::NeverLeft {
            self.peer = None;
        }
        withdrawn
    }
}

impl Drop for ForgetCall {
    fn drop(&mut self) {
        if let Some(peer) = &self.peer {
            peer.remove_call(self.call_id);
        }
    }
}

/// Where this incarnation's call and delivery ids start: at random in `[1, 2^62]`, so
/// an answer meant for an earlier incarnation of this node (a late acknowledgement
/// after handling, a late reply) cannot match a call of this one. Ids only increase
/// from there, as the receivers' dedup windows need.
fn first_call_id() -> u64 {
    let mut bytes = [0u8; 8];
    // Without randomness (never seen on supported systems) fall back to the clock.
    let random = match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    };
    (random >> 2) | 1
}
