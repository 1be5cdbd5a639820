//! The network side of a node: TCP links to peer nodes, the handshake, framing, and
//! routing of messages, replies, monitors and links across them.
//!
//! Each node sends only on links it dialed itself and receives on links the peer
//! dialed, so all traffic from one node to another is ordered per sender→recipient
//! pair: the pair is pinned to one of the `links_per_peer` outgoing links. (The one
//! exception: the acknowledgement of an important send goes back on the link the send
//! came in on, written by that link's own task.) Each set of links a node dials is
//! numbered in the handshake; once a newer set is up, the receiver delivers nothing
//! more from the older ones, so nothing in flight on them can arrive after what the
//! sender sends on the new ones (plain messages in flight are lost then). Any link
//! this node dialed dying (an i/o error, a bad frame, silence past the heartbeat
//! timeout) takes the whole peer down: pending calls to it fail with `NoConnection`,
//! monitors of its processes get `Down` with `NoConnection`, links to them an exit
//! signal. Unacknowledged important sends are kept instead and resent once the same
//! peer incarnation is reached again (`peer.rs`); the receiver delivers each once.
//! A link the peer dialed that dies is the peer's to mend: here it only ends.

mod config;
mod handshake;
mod link;
mod messages;
mod peer;
mod tls;
mod transport;
pub(crate) mod wire;
#[cfg(test)]
mod wire_props;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use config::RemoteConfig;
pub use messages::{Codec, MessagePack, RemoteMessage, RemoteMessages};
pub(crate) use messages::{DecodeReply, RemoteReplyTo, Undelivered, table};
pub(crate) use peer::{Peer, PendingCall, RemoteMonitor, Waiting};
pub use tls::TlsConfig;
pub use transport::{BoxFuture, Connection, Listener, Transport};

use crate::error::Error;
use crate::identity::ChainId;
use crate::identity::{NodeName, Pid, Ref};
use crate::monitor::{ExitReason, ProcessCell, SystemMsg, Watcher};
use crate::node::Node;
use link::LinkQueue;
use transport::Listening;
use wire::{Body, Frame, Outgoing, Target, WirePid, WireReason};

/// A node's network side.
pub(crate) struct Remote {
    local: NodeName,
    /// `local` as bytes, shared by every pid of this node put on the wire.
    local_wire: bytes::Bytes,
    creation: u32,
    config: RemoteConfig,
    addr: SocketAddr,
    peers: Mutex<HashMap<NodeName, Arc<Peer>>>,
    next_call: AtomicU64,
    /// Numbers the sets of links this node dials (see `Hello::link_set`).
    next_link_set: AtomicU64,
    listener: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The node, to deliver what arrives; cleared at shutdown to end the cycle.
    node: Mutex<Option<Node>>,
    stopped: AtomicBool,
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
            local_wire: bytes::Bytes::copy_from_slice(name.as_str().as_bytes()),
            creation,
            config,
            addr: bound,
            peers: Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(1),
            next_link_set: AtomicU64::new(1),
            listener: Mutex::new(None),
            node: Mutex::new(None),
            stopped: AtomicBool::new(false),
        });
        Ok((remote, name, listener))
    }

    /// Starts accepting peers.
    pub(crate) fn start(self: &Arc<Self>, node: Node, listener: Listening) {
        *lock(&self.node) = Some(node.clone());
        let task = node.runtime().spawn(link::accept_loop(self.clone(), listener));
        *lock(&self.listener) = Some(task);
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn config(&self) -> &RemoteConfig {
        &self.config
    }

    pub(crate) fn node(&self) -> Option<Node> {
        lock(&self.node).clone()
    }

    pub(crate) fn local_name(&self) -> &NodeName {
        &self.local
    }

    pub(crate) fn creation(&self) -> u32 {
        self.creation
    }

    fn peer(&self, name: &NodeName) -> Arc<Peer> {
        lock(&self.peers)
            .entry(name.clone())
            .or_insert_with(|| Arc::new(Peer::new(name.clone())))
            .clone()
    }

    fn existing_peer(&self, name: &NodeName) -> Option<Arc<Peer>> {
        lock(&self.peers).get(name).cloned()
    }

    /// `pid` as it travels; without copying the name for a pid of this node.
    pub(crate) fn wire_pid(&self, pid: &Pid) -> WirePid {
        if pid.node() == &self.local {
            WirePid {
                node: self.local_wire.clone(),
                id: pid.id(),
                creation: pid.creation(),
            }
        } else {
            WirePid::from(pid)
        }
    }

    pub(crate) fn next_link_set(&self) -> u64 {
        self.next_link_set.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn next_call_id(&self) -> u64 {
        self.next_call.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues a frame for `to`, dialing if needed. Fails with `NoConnection` at once
    /// while the peer is known to be unreachable (in reconnect backoff).
    pub(crate) fn send(self: &Arc<Self>, to: &NodeName, pin: u64, body: Body) -> Result<(), Error> {
        self.send_tracked(to, pin, body, None)
    }

    fn send_tracked(
        self: &Arc<Self>,
        to: &NodeName,
        pin: u64,
        body: Body,
        track: Option<u64>,
    ) -> Result<(), Error> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(Error::NodeStopped);
        }
        let peer = self.peer_for(to)?;
        self.send_on(
            &peer,
            pin,
            &Outgoing::Frame(&Frame::new(body)),
            track,
            false,
            None,
        )
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

    /// Queues a frame on `peer`'s links (see [`Peer::send`]); with `track`, as the
    /// important send of that delivery id; with `call`, registering the pending call.
    pub(crate) fn send_on(
        self: &Arc<Self>,
        peer: &Arc<Peer>,
        pin: u64,
        frame: &Outgoing<'_>,
        track: Option<u64>,
        bounded: bool,
        call: Option<(u64, Waiting)>,
    ) -> Result<(), Error> {
        if self.stopped.load(Ordering::Acquire) {
            return Err(Error::NodeStopped);
        }
        let track = track.map(|id| (id, self.config.important_window));
        peer.send(self, pin, frame, track, bounded, call)
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Registers a pending call with `to` and sends its frame; with `important`, also
    /// keeps a copy of the frame until it is acknowledged (resent after a link flap).
    /// The returned guard forgets the pending call when the caller gives up.
    pub(crate) fn call(
        self: &Arc<Self>,
        to: &NodeName,
        pin: u64,
        call_id: u64,
        body: Body,
        pending: PendingCall,
        important: bool,
    ) -> Result<ForgetCall, Error> {
        let peer = self.peer_for(to)?;
        self.call_on(
            &peer,
            pin,
            call_id,
            &Outgoing::Frame(&Frame::new(body)),
            pending,
            important,
        )
    }

    /// [`Remote::call`] to a peer the caller already holds.
    pub(crate) fn call_on(
        self: &Arc<Self>,
        peer: &Arc<Peer>,
        pin: u64,
        call_id: u64,
        frame: &Outgoing<'_>,
        pending: impl Into<Waiting>,
        important: bool,
    ) -> Result<ForgetCall, Error> {
        let track = important.then_some(call_id);
        self.send_on(peer, pin, frame, track, false, Some((call_id, pending.into())))?;
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
        let (tx, rx) = tokio::sync::oneshot::channel();
        let pending: PendingCall = Box::new(move |outcome| {
            let _ = tx.send(outcome);
            Ok(())
        });
        let _forget = self.call(node, call_id, call_id, body, pending, false)?;
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(Error::Timeout),
            Ok(Err(_)) => Err(Error::NoConnection),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Ok(Ok(bytes))) => <WirePid as prost::Message>::decode(bytes)
                .map(|p| p.to_pid())
                .map_err(|e| Error::Protocol(format!("undecodable pid: {e}"))),
        }
    }

    /// Monitors a remote process; `Down` arrives through `monitor`.
    pub(crate) fn monitor(
        self: &Arc<Self>,
        target: &Pid,
        watcher: Option<&Pid>,
        mref: &Ref,
        monitor: RemoteMonitor,
    ) {
        let peer = self.peer(target.node());
        peer.add_monitor(mref.id(), target, monitor);
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
            tracing::debug!(%target, error = %e, "remote monitor could not be sent");
            if let Some(m) = peer.take_monitor(mref.id()) {
                m.fire(target.clone(), ExitReason::NoConnection);
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

    /// Links a local process with a remote one (the local half is already recorded).
    pub(crate) fn link(self: &Arc<Self>, local: &Pid, remote: &Pid, cell: &Arc<dyn ProcessCell>) {
        let peer = self.peer(remote.node());
        peer.add_link(local.clone(), remote.clone());
        let body = Body::Link(wire::Link {
            from: Some(WirePid::from(local)),
            to: Some(WirePid::from(remote)),
            remove: false,
        });
        if self
            .send(remote.node(), pin(Some(local), remote.id()), body)
            .is_err()
        {
            peer.remove_link(local, remote);
            cell.core().remove_link(remote);
            cell.signal_exit(remote.clone(), ExitReason::NoConnection);
        }
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
        *lock(&self.node) = None;
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
        let Some(node) = self.node() else { return };
        node.runtime().spawn(link::dial(self.clone(), peer));
    }

    /// Delivers a frame that arrived from `peer` on the link whose queue is `back`.
    fn dispatch(self: &Arc<Self>, node: &Node, peer: &Arc<Peer>, frame: Frame, back: &LinkQueue) {
        let Some(body) = frame.body else {
            tracing::debug!(peer = %peer.name(), "frame with an unknown body ignored");
            return;
        };
        match body {
            Body::Deliver(d) => self.on_deliver(node, peer, d, back),
            Body::Reply(r) => {
                let outcome = match &r.error {
                    Some(e) => Err(Error::from(e)),
                    None => Ok(r.payload),
                };
                let taken = peer.complete_call(r.call_id, outcome);
                if r.ack_id != 0 {
                    // An important response: tell the responder whether its caller got it.
                    let ack = Body::Reply(wire::CallReply {
                        call_id: r.ack_id,
                        error: taken.err().as_ref().map(wire::WireError::from),
                        ..Default::default()
                    });
                    let _ = self.send(peer.name(), r.call_id, ack);
                }
            }
            Body::Whereis(w) => {
                let pid = node
                    .registry()
                    .whereis(&w.name)
                    .map(|c| WirePid::from(c.core().pid()));
                let reply = Body::WhereisReply(wire::WhereisReply {
                    call_id: w.call_id,
                    pid,
                });
                let _ = self.send(peer.name(), w.call_id, reply);
            }
            Body::WhereisReply(r) => {
                let outcome = match r.pid {
                    Some(pid) => Ok(bytes::Bytes::from(prost::Message::encode_to_vec(&pid))),
                    None => Err(Error::ProcessUnknown),
                };
                let _ = peer.complete_call(r.call_id, outcome);
            }
            Body::Monitor(m) => self.on_monitor(node, peer, m),
            Body::Down(d) => {
                if let Some(m) = peer.take_monitor(d.ref_id) {
                    let pid = d.pid.as_ref().map(WirePid::to_pid);
                    let reason = ExitReason::from(d.reason.as_ref());
                    if let Some(pid) = pid {
                        m.fire(pid, reason);
                    }
                }
            }
            Body::Link(l) => self.on_link(node, peer, l),
            Body::Exit(x) => self.on_exit(node, peer, x),
            Body::Heartbeat(_) => {}
            Body::Spawn(s) => {
                let options = s.options.unwrap_or_default();
                let spawned = node.spawn_for_peer(&s.kind, &s.args, &options);
                let reply = match spawned {
                    Ok(pid) => wire::CallReply {
                        call_id: s.call_id,
                        payload: prost::Message::encode_to_vec(&pid).into(),
                        ..Default::default()
                    },
                    Err(e) => {
                        tracing::debug!(peer = %peer.name(), kind = %s.kind, error = %e, "remote spawn refused");
                        wire::CallReply {
                            call_id: s.call_id,
                            error: Some(wire::WireError::from(&e)),
                            ..Default::default()
                        }
                    }
                };
                let _ = self.send(peer.name(), s.call_id, Body::Reply(reply));
            }
        }
    }

    fn resolve(&self, node: &Node, target: Option<&Target>) -> Option<Arc<dyn ProcessCell>> {
        match target? {
            Target::Pid(p) if p.is_on(&self.local) => {
                node.registry()
                    .get(&Pid::new(self.local.clone(), p.id, p.creation))
            }
            Target::Pid(_) => None,
            Target::Name(n) => node.registry().whereis(n),
        }
    }

    fn on_deliver(self: &Arc<Self>, node: &Node, peer: &Arc<Peer>, mut d: wire::Deliver, back: &LinkQueue) {
        let tag = match std::str::from_utf8(&d.tag) {
            Ok(tag) => std::borrow::Cow::Borrowed(tag),
            Err(_) => String::from_utf8_lossy(&d.tag),
        };
        let span = tracing::trace_span!("deliver", peer = %peer.name(), tag = %tag, call_id = d.call_id);
        let _enter = span.enter();
        let from = d.from.as_ref().map(|p| p.to_pid_on(peer.name()));
        if d.ack
            && let Some(before) = peer.claim(d.call_id)
        {
            // A resend after a link flap: deliver once; acknowledge again if the first
            // copy is done (if it is still being delivered, it answers itself).
            metrics::counter!("ackor_important_deduplicated_total").increment(1);
            if let peer::Seen::Done(error) = before {
                self.acknowledge(back, d.call_id, error);
            }
            return;
        }
        // A call's reply comes from the handler; an important send's acknowledgement
        // comes from this node as soon as the message is in the mailbox, on the link
        // the message came in on.
        let reply = (d.call_id != 0 && !d.ack)
            .then(|| self.reply_route(peer.name().clone(), d.call_id, from.clone(), &d.to));
        let outcome = match self.resolve(node, d.to.as_ref()) {
            Some(cell) => {
                let chain = ChainId::from_wire(d.chain);
                let path = std::mem::take(&mut d.path);
                cell.deliver_remote(&tag, &d.payload, from.clone(), chain, path, reply)
            }
            None => Err((Error::ProcessUnknown, reply)),
        };
        match outcome {
            Ok(()) => {
                if d.ack {
                    metrics::counter!("ackor_important_acked_total").increment(1);
                    peer.record(d.call_id, None);
                    self.acknowledge(back, d.call_id, None);
                }
            }
            Err((error, reply)) => {
                metrics::counter!("ackor_remote_undelivered_total", "reason" => error_label(&error))
                    .increment(1);
                tracing::debug!(peer = %peer.name(), tag = %tag, %error, "remote message not delivered");
                if d.ack {
                    let error = wire::WireError::from(&error);
                    peer.record(d.call_id, Some(error.clone()));
                    self.acknowledge(back, d.call_id, Some(error));
                } else if let Some(route) = reply {
                    (route.send)(Err(error), None);
                }
            }
        }
    }

    /// Answers an important send: on `back`, the queue of the link it came in on,
    /// whose writer (in the same task as the reader) writes it right after this read.
    /// No other task is woken, which would cost a worker wake-up per acknowledgement.
    fn acknowledge(&self, back: &LinkQueue, delivery_id: u64, error: Option<wire::WireError>) {
        let ack = Frame::new(Body::Reply(wire::CallReply {
            call_id: delivery_id,
            error,
            ..Default::default()
        }));
        if let Err(e) = back.push_from_reader(&Outgoing::Frame(&ack), self.config.max_frame_size) {
            tracing::debug!(delivery_id, error = %e, "acknowledgement not sent");
        }
    }

    /// The route back to a remote caller.
    fn reply_route(
        self: &Arc<Self>,
        caller_node: NodeName,
        call_id: u64,
        caller: Option<Pid>,
        to: &Option<Target>,
    ) -> RemoteReplyTo {
        let remote = self.clone();
        let callee_id = match to {
            Some(Target::Pid(p)) => p.id,
            _ => 0,
        };
        RemoteReplyTo {
            send: Box::new(move |outcome, ack| {
                let (payload, error) = match outcome {
                    Ok(bytes) => (bytes::Bytes::from(bytes), None),
                    Err(e) => (bytes::Bytes::new(), Some(wire::WireError::from(&e))),
                };
                let pin = caller.as_ref().map_or(call_id, |c| pin(None, c.id()) ^ callee_id);
                // An important response waits for the caller's node to confirm: it is a
                // call of its own (so a connection lost after it left is `ConnectionLost`,
                // one that never left `NoConnection`).
                let Some(tx) = ack else {
                    let body = Body::Reply(wire::CallReply {
                        call_id,
                        payload,
                        error,
                        ack_id: 0,
                    });
                    if let Err(e) = remote.send(&caller_node, pin, body) {
                        tracing::debug!(to = %caller_node, %e, "reply lost: no route to the caller");
                    }
                    return;
                };
                let ack_id = remote.next_call_id();
                let confirm: PendingCall = Box::new(move |outcome| {
                    let _ = tx.send(outcome.map(|_| ()));
                    Ok(())
                });
                let body = Body::Reply(wire::CallReply {
                    call_id,
                    payload,
                    error,
                    ack_id,
                });
                match remote.call(&caller_node, pin, ack_id, body, confirm, false) {
                    // The responder bounds its wait itself; the entry goes with the answer
                    // or the connection.
                    Ok(mut waiting) => waiting.answered(),
                    Err(e) => tracing::debug!(to = %caller_node, %e, "reply lost: no route to the caller"),
                }
            }),
            ack_timeout: self.config.important_timeout,
        }
    }

    fn on_monitor(self: &Arc<Self>, node: &Node, peer: &Arc<Peer>, m: wire::Monitor) {
        let Some(watcher) = m.watcher.as_ref().map(WirePid::to_pid) else {
            return;
        };
        let mref = Ref::from_parts(peer.name().clone(), 0, m.ref_id);
        let cell = self.resolve(node, m.target.as_ref());
        if m.remove {
            if let Some(cell) = cell {
                cell.core().remove_monitor(&mref);
            }
            return;
        }
        let target_pid = match (&cell, &m.target) {
            (Some(c), _) => c.core().pid().clone(),
            (None, Some(Target::Pid(p))) => p.to_pid(),
            (None, _) => Pid::new(self.local.clone(), 0, self.creation),
        };
        let added = match cell {
            Some(c) => c.core().add_monitor(
                mref,
                Watcher::Remote {
                    watcher: watcher.clone(),
                    ref_id: m.ref_id,
                },
            ),
            None => Err(ExitReason::NoProcess),
        };
        if let Err(reason) = added {
            self.down(&watcher, m.ref_id, &target_pid, &reason);
        }
    }

    fn on_link(self: &Arc<Self>, node: &Node, peer: &Arc<Peer>, l: wire::Link) {
        let (Some(from), Some(to)) = (
            l.from.as_ref().map(WirePid::to_pid),
            l.to.as_ref().map(WirePid::to_pid),
        ) else {
            return;
        };
        let cell = node.registry().get(&to);
        if l.remove {
            if let Some(c) = cell {
                c.core().remove_link(&from);
            }
            peer.remove_link(&to, &from);
            return;
        }
        let added = match cell {
            Some(c) => c.core().add_link(from.clone(), None),
            None => Err(ExitReason::NoProcess),
        };
        match added {
            Ok(()) => peer.add_link(to, from),
            Err(reason) => {
                let _ = self.exit(Some(&to), &from, &reason);
            }
        }
    }

    fn on_exit(self: &Arc<Self>, node: &Node, peer: &Arc<Peer>, x: wire::ExitSignal) {
        let Some(to) = x.to.as_ref().map(WirePid::to_pid) else {
            return;
        };
        let reason = ExitReason::from(x.reason.as_ref());
        let Some(cell) = node.registry().get(&to) else {
            return;
        };
        match x.from.as_ref().map(WirePid::to_pid) {
            Some(from) => {
                peer.remove_link(&to, &from);
                cell.core().remove_link(&from);
                cell.signal_exit(from, reason);
            }
            // A stop or kill request from another node.
            None if reason == ExitReason::Killed => cell.kill(),
            None => {
                let _ = cell.push_system(SystemMsg::Stop(reason));
            }
        }
    }
}

/// Cuts every link between this node and `peer` as a network fault would (for tests).
pub(crate) fn sever(remote: &Arc<Remote>, peer: &NodeName) {
    if let Some(p) = remote.existing_peer(peer) {
        p.fail(remote, "severed", None, true);
    }
}

/// Runs the initiator's handshake on a raw stream (for wire-level tests).
pub(crate) async fn handshake_raw(
    stream: &mut tokio::net::TcpStream,
    name: &str,
    cookie: &str,
    expected: &str,
) -> Result<(), Error> {
    let local = handshake::Local {
        node: name,
        creation: 1,
        cookie: cookie.as_bytes(),
        link_set: 0,
    };
    handshake::initiate(stream, &local, expected).await.map(|_| ())
}

/// Runs the responder's handshake on a raw stream (for wire-level tests).
pub(crate) async fn respond_raw(
    stream: &mut tokio::net::TcpStream,
    name: &str,
    cookie: &str,
) -> Result<(), Error> {
    let local = handshake::Local {
        node: name,
        creation: 1,
        cookie: cookie.as_bytes(),
        link_set: 0,
    };
    handshake::respond(stream, &local).await.map(|_| ())
}

/// A length-prefixed heartbeat frame (for wire-level tests).
pub(crate) fn heartbeat_bytes() -> Vec<u8> {
    let mut buf = bytes::BytesMut::new();
    Frame::new(Body::Heartbeat(wire::Heartbeat {})).encode_into(&mut buf);
    buf.to_vec()
}

/// Decodes frames as a link reader does (for fuzzing through `testing`).
pub(crate) fn decode_frames_for_test(bytes: &[u8], max_frame_size: usize) -> usize {
    let mut buf = bytes::BytesMut::from(bytes);
    let mut frames = 0;
    while let Ok(Some(frame)) = link::next_frame(&mut buf, max_frame_size) {
        let Ok(frame) = wire::decode_frame(frame) else {
            break;
        };
        frames += 1;
        // The conversions the dispatcher applies to what it reads.
        match frame.body {
            Some(Body::Deliver(d)) => {
                let _ = d.from.as_ref().map(WirePid::to_pid);
            }
            Some(Body::Reply(r)) => {
                let _ = r.error.as_ref().map(Error::from);
            }
            Some(Body::Down(d)) => {
                let _ = ExitReason::from(d.reason.as_ref());
                let _ = d.pid.as_ref().map(WirePid::to_pid);
            }
            Some(Body::Exit(x)) => {
                let _ = ExitReason::from(x.reason.as_ref());
            }
            _ => {}
        }
    }
    frames
}

/// Runs the responder's handshake against fixed bytes (for fuzzing through `testing`):
/// the bytes are written while the responder reads, and what it writes back is read
/// and dropped, so inputs of any size reach every step the bytes allow.
pub(crate) async fn respond_for_test(bytes: &[u8]) -> Result<(), Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut ours, theirs) = tokio::io::duplex(64 * 1024);
    let (mut their_rd, mut their_wr) = tokio::io::split(theirs);
    let input = bytes.to_vec();
    let write = async move {
        let _ = their_wr.write_all(&input).await;
        let _ = their_wr.shutdown().await;
    };
    let drain = async move {
        let mut sink = vec![0u8; 4096];
        while matches!(their_rd.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    let local = handshake::Local {
        node: "fuzz@127.0.0.1:1",
        creation: 1,
        cookie: b"fuzz",
        link_set: 0,
    };
    let respond = async move {
        let outcome = handshake::respond(&mut ours, &local).await.map(|_| ());
        drop(ours);
        outcome
    };
    let (outcome, (), ()) = tokio::join!(respond, write, drain);
    outcome
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
}

impl Drop for ForgetCall {
    fn drop(&mut self) {
        if let Some(peer) = &self.peer {
            peer.remove_call(self.call_id);
        }
    }
}

/// A short, fixed label for an error, for metrics.
fn error_label(e: &Error) -> &'static str {
    match e {
        Error::ProcessUnknown => "process_unknown",
        Error::MailboxFull => "mailbox_full",
        Error::ProcessTerminated => "process_terminated",
        Error::UnknownMessage(_) => "unknown_message",
        Error::Codec(_) => "codec",
        Error::CallCycle => "call_cycle",
        _ => "other",
    }
}
