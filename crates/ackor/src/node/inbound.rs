//! Frames from peers, routed to this node's processes: the node's side of
//! [`remote::Inbound`](crate::remote::Inbound). The network side decodes frames; here
//! they find their process (by pid or registered name), which decodes the message with
//! its own actor type, and the answers that must go back (replies, acknowledgements,
//! `Down`s, exit signals) are sent.

use std::sync::Arc;

use super::registry::Found;
use super::{Delivery, Node, Process, RemoteReplyTo};
use crate::error::Error;
use crate::identity::{ChainId, NodeName, Pid, Ref};
use crate::monitor::{ExitReason, SystemMsg, Watcher};
use crate::reliable::{self, Arrival};
use crate::remote::wire::{self, Body, Target, TargetRef, WirePid};
use crate::remote::{self, LinkQueue, LinkState, Peer, Remote, pin, untrusted, untrusted_text};

/// What the node keeps from one frame to the next of a link (its
/// [`LinkState`]).
#[derive(Default)]
struct LinkMemo {
    /// The process the link's last message went to.
    found: Option<Found>,
    /// The important deliveries of the current read, acknowledged at its end.
    acks: reliable::Acks,
}

impl remote::Inbound for Node {
    fn deliver(
        &self,
        remote: &Arc<Remote>,
        peer: &Arc<Peer>,
        deliver: &wire::DeliverRef<'_>,
        back: &Arc<LinkQueue>,
        state: &mut LinkState,
    ) {
        let memo = match state {
            Some(any) if any.is::<LinkMemo>() => any,
            _ => state.insert(Box::new(LinkMemo::default())),
        };
        // (Always a `LinkMemo` now; one call of `on_deliver`, which is then inlined.)
        if let Some(memo) = memo.downcast_mut::<LinkMemo>() {
            self.on_deliver(remote, peer, deliver, back, memo);
        }
    }

    fn read_done(&self, remote: &Arc<Remote>, peer: &Arc<Peer>, back: &LinkQueue, state: &mut LinkState) {
        if let Some(memo) = state.as_mut().and_then(|any| any.downcast_mut::<LinkMemo>()) {
            memo.acks.done(remote, peer, back);
        }
    }

    fn request(&self, remote: &Arc<Remote>, peer: &Arc<Peer>, body: Body) {
        match body {
            Body::Whereis(w) => {
                let pid = self
                    .registry()
                    .whereis(&w.name)
                    .map(|c| WirePid::from(c.core().pid()));
                let reply = Body::WhereisReply(wire::WhereisReply {
                    call_id: w.call_id,
                    pid,
                });
                let _ = remote.send(peer.name(), w.call_id, reply);
            }
            Body::Reply(r) => reliable::confirm_response(remote, peer, r),
            Body::Monitor(m) => self.on_monitor(remote, peer, m),
            Body::Link(l) => self.on_link(remote, peer, l),
            Body::Exit(x) => self.on_exit(peer, x),
            Body::Spawn(s) => {
                let options = s.options.unwrap_or_default();
                let spawned = self
                    .spawnables()
                    .spawn(self, &s.kind, &s.args, &options)
                    .map(|pid| WirePid::from(&pid));
                let reply = match spawned {
                    Ok(pid) => wire::CallReply {
                        call_id: s.call_id,
                        payload: prost::Message::encode_to_vec(&pid).into(),
                        ..Default::default()
                    },
                    Err(e) => {
                        tracing::debug!(
                            peer = %untrusted(peer.name()),
                            kind = %untrusted(&s.kind),
                            error = %untrusted_text(&e),
                            "remote spawn refused"
                        );
                        wire::CallReply {
                            call_id: s.call_id,
                            error: Some(wire::WireError::from(&e)),
                            ..Default::default()
                        }
                    }
                };
                let _ = remote.send(peer.name(), s.call_id, Body::Reply(reply));
            }
            _ => tracing::debug!(peer = %untrusted(peer.name()), "unexpected frame ignored"),
        }
    }

    fn links_lost(&self, links: Vec<(Pid, Pid)>) {
        for (local, remote_pid) in links {
            if let Some(cell) = self.registry().get(&local) {
                cell.core().remove_link(&remote_pid);
                cell.signal_exit(remote_pid, ExitReason::NoConnection);
            }
        }
    }
}

impl Node {
    /// The local process a frame is addressed to.
    fn process_at(&self, remote: &Remote, target: Option<&Target>) -> Option<Arc<dyn Process>> {
        self.process_at_ref(
            remote,
            target.map(|t| match t {
                Target::Pid(p) => TargetRef::Pid(p.as_ref()),
                Target::Name(n) => TargetRef::Name(n),
            }),
        )
    }

    /// [`Node::process_at`], for a borrowed target.
    fn process_at_ref(&self, remote: &Remote, target: Option<TargetRef<'_>>) -> Option<Arc<dyn Process>> {
        self.process_found(remote, target, &mut None)
    }

    /// [`Node::process_at_ref`], answered from `found` (the process the same caller
    /// found last) while that is still the answer (see [`Registry::get_found`]).
    fn process_found(
        &self,
        remote: &Remote,
        target: Option<TargetRef<'_>>,
        found: &mut Option<Found>,
    ) -> Option<Arc<dyn Process>> {
        let local = remote.local_name();
        match target? {
            TargetRef::Pid(p) if p.is_on(local) => {
                self.registry().get_found(found, local, p.id, p.creation).cloned()
            }
            TargetRef::Pid(_) => None,
            TargetRef::Name(n) => self.registry().whereis(n),
        }
    }

    fn on_deliver(
        &self,
        remote: &Arc<Remote>,
        peer: &Arc<Peer>,
        d: &wire::DeliverRef<'_>,
        back: &Arc<LinkQueue>,
        memo: &mut LinkMemo,
    ) {
        // The tag as text, for logs and the node's own service (the process looks its
        // bytes up as they are).
        let text = || String::from_utf8_lossy(d.tag);
        let span = tracing::trace_span!(
            "deliver",
            peer = %untrusted(peer.name()),
            tag = %untrusted(&text()),
            call_id = d.call_id
        );
        let _enter = span.enter();
        if let Some(TargetRef::Name(name)) = d.to
            && name == super::INSPECT
            && d.call_id != 0
            && !d.ack
        {
            // The node answers it itself (see `introspect::service`).
            let reply = match super::introspect::answer(self, &text(), d.payload) {
                Ok(payload) => wire::CallReply {
                    call_id: d.call_id,
                    payload: payload.into(),
                    ..Default::default()
                },
                Err(e) => wire::CallReply {
                    call_id: d.call_id,
                    error: Some(wire::WireError::from(&e)),
                    ..Default::default()
                },
            };
            // Back on the link the call came in on, as every call's reply.
            let _ = remote.answer_on(back, Body::Reply(reply));
            return;
        }
        let from = d.from.map(|p| p.to_pid_on(peer.name()));
        if d.ack && matches!(reliable::arrived(remote, peer, back, d.call_id), Arrival::Repeat) {
            return;
        }
        // A call's reply comes from the handler, on the link the call came in on; an
        // important send's acknowledgement comes from this node once the message is in
        // the mailbox, on that link too, with the others of the same read (see
        // `reliable::Acks`), or, acknowledged after handling, from the handler through
        // a reply route of its own.
        let handled = d.ack && d.handled;
        let reply = if handled {
            let settle = reliable::settle_when_handled(remote, peer, back, d.call_id);
            Some(RemoteReplyTo {
                send: Box::new(move |outcome, confirm| {
                    let sent = settle(outcome.as_ref().map(drop));
                    // A handler that answered with `reply_important` learns whether
                    // the acknowledgement left.
                    if let Some(confirm) = confirm {
                        let _ = confirm.send(sent);
                    }
                }),
                ack_timeout: remote.config().important_timeout,
            })
        } else {
            (d.call_id != 0 && !d.ack)
                .then(|| reply_route(remote, peer.name().clone(), back, d.call_id, from.clone(), d.to))
        };
        let outcome = match self.process_found(remote, d.to, &mut memo.found) {
            Some(cell) => cell.deliver_remote(Delivery {
                tag: d.tag,
                payload: d.payload,
                from: from.clone(),
                chain: ChainId::from_wire(d.chain),
                path: d.path.to_vec(),
                reply,
                trace: d.trace.and_then(wire::WireTrace::to_trace),
                call_id: d.call_id,
                important: d.ack,
            }),
            None => Err((Error::ProcessUnknown, reply)),
        };
        match outcome {
            Ok(()) => {
                if d.ack && !handled {
                    memo.acks.delivered(peer, d.call_id);
                }
            }
            Err((error, reply)) => {
                metrics::counter!("ackor_remote_undelivered_total", "reason" => error.label()).increment(1);
                let to = match d.to {
                    Some(TargetRef::Pid(p)) => p.to_pid_on(remote.local_name()).to_string(),
                    Some(TargetRef::Name(n)) => n.to_string(),
                    None => String::new(),
                };
                let sender = from.as_ref().map(Pid::to_string).unwrap_or_default();
                tracing::debug!(
                    peer = %untrusted(peer.name()),
                    to = %untrusted(&to),
                    from = %untrusted(&sender),
                    tag = %untrusted(&text()),
                    error = %untrusted_text(&error),
                    important = d.ack,
                    "remote message not delivered"
                );
                if d.ack {
                    // Acknowledged after handling, the route (if the process took it)
                    // has already answered.
                    if !handled || reply.is_some() {
                        reliable::refused(remote, peer, back, d.call_id, &error);
                    }
                } else if let Some(route) = reply {
                    (route.send)(Err(error), None);
                }
            }
        }
    }

    fn on_monitor(&self, remote: &Arc<Remote>, peer: &Arc<Peer>, m: wire::Monitor) {
        let Some(watcher) = m.watcher.as_ref().map(WirePid::to_pid) else {
            return;
        };
        let mref = Ref::from_parts(peer.name().clone(), 0, m.ref_id);
        let cell = self.process_at(remote, m.target.as_ref());
        if m.remove {
            if let Some(cell) = cell {
                cell.core().remove_monitor(&mref);
            }
            return;
        }
        let target_pid = match (&cell, &m.target) {
            (Some(c), _) => c.core().pid().clone(),
            (None, Some(Target::Pid(p))) => p.to_pid(),
            (None, _) => Pid::new(remote.local_name().clone(), 0, remote.creation()),
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
            remote.down(&watcher, m.ref_id, &target_pid, &reason);
        }
    }

    fn on_link(&self, remote: &Arc<Remote>, peer: &Arc<Peer>, l: wire::Link) {
        let (Some(from), Some(to)) = (
            l.from.as_ref().map(WirePid::to_pid),
            l.to.as_ref().map(WirePid::to_pid),
        ) else {
            return;
        };
        let cell = self.registry().get(&to);
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
                let _ = remote.exit(Some(&to), &from, &reason);
            }
        }
    }

    fn on_exit(&self, peer: &Arc<Peer>, x: wire::ExitSignal) {
        let Some(to) = x.to.as_ref().map(WirePid::to_pid) else {
            return;
        };
        let reason = ExitReason::from(x.reason.as_ref());
        let Some(cell) = self.registry().get(&to) else {
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

/// The route back to a remote caller.
fn reply_route(
    remote: &Arc<Remote>,
    caller_node: NodeName,
    back: &Arc<LinkQueue>,
    call_id: u64,
    caller: Option<Pid>,
    to: Option<TargetRef<'_>>,
) -> RemoteReplyTo {
    let ack_timeout = remote.config().important_timeout;
    let remote = remote.clone();
    let back = back.clone();
    let callee_id = match to {
        Some(TargetRef::Pid(p)) => p.id,
        _ => 0,
    };
    RemoteReplyTo {
        send: Box::new(move |outcome, ack| {
            let (payload, error) = match outcome {
                Ok(bytes) => (bytes::Bytes::from(bytes), None),
                Err(e) => (bytes::Bytes::new(), Some(wire::WireError::from(&e))),
            };
            // An important response waits for the caller's node to confirm, and is kept
            // to resend: it goes on this node's own links.
            if let Some(tx) = ack {
                let pin = caller.as_ref().map_or(call_id, |c| pin(None, c.id()) ^ callee_id);
                reliable::send_response(&remote, &caller_node, pin, call_id, (payload, error), tx);
                return;
            }
            let reply = Body::Reply(wire::CallReply {
                call_id,
                payload,
                error,
                ack_id: 0,
            });
            // On the link the call came in on, like an acknowledgement: it carries the
            // TCP acknowledgement of the call with it (on a link of its own, each call
            // cost one more segment, a pure ACK, and about 2 µs more round trip). A
            // reply has no order to keep with anything else this node sends (it goes
            // to the caller's response lane). If that link is gone, the caller's node
            // lost it too and has failed the call with `ConnectionLost` (and
            // `push_frame` refuses it).
            if let Err(e) = remote.answer_on(&back, reply) {
                tracing::debug!(to = %untrusted(&caller_node), %e, "reply not sent");
            }
        }),
        ack_timeout,
    }
}
