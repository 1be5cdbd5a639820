//! Links: dialing and accepting TCP (or TLS) connections, and the task of each link,
//! which reads and writes. Senders encode their frames straight into the link's
//! [`LinkQueue`] (a byte buffer); the writer takes all of it at once, writes it in one
//! go, and sends a heartbeat when a heartbeat interval passed without a write. The
//! reader splits what it reads into frames (enforcing the maximum frame size), hands
//! them to the dispatcher, and ends the link after the heartbeat timeout of silence.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::handshake::{self, Local, PeerInfo};
use super::log_limit::LogLimit;
use super::peer::{Answer, Peer};
use super::stats;
use super::transport::{self, Listening, Raw};
use super::untrusted::{untrusted, untrusted_text};
use super::wire::{
    Body, CallReply, Frame, Heartbeat, Outgoing, answered_in_place, decode_frame, deliver_in_place,
    encode_ack,
};
use super::{Inbound, LinkState, Remote, address_of, lifo};
use crate::error::Error;
use crate::identity::NodeName;

/// What the reader asks of the socket at least per read.
const READ_CHUNK: usize = 64 * 1024;

/// The reader hands on at most this many important sends before it lets their
/// acknowledgements out, even in the middle of what one read brought: the sender then
/// gets the first acknowledgements of a big read (64 KiB holds about 1 400 small sends)
/// while the receiver still delivers the rest, so both nodes work at once instead of
/// in turns (1024 in flight: 1.9 → 2.7–3.0 M msg/s; 64 to 512 measured alike).
const IMPORTANT_PER_TURN: u64 = 256;

/// The reader lets other tasks run after handing on this many frames.
const YIELD_EVERY: u64 = 8 * 1024;

/// A read that brought at least this many important sends gives the writer its turn,
/// so their acknowledgements go out before the reader reads on.
const ACKS_BEFORE_WRITING: u64 = 64;

/// A writer's spare buffer above this capacity is given back after its write.
const KEEP_CAPACITY: usize = 4 * 1024 * 1024;

/// A listener logs at most one refused incoming connection per this period (with the
/// count of those refused meanwhile); every one is counted in
/// `ackor_remote_handshakes_refused_total`.
const REFUSALS_LOGGED_EVERY: Duration = Duration::from_secs(1);

/// A link's byte stream: plain TCP, TLS, or a custom transport's connection.
pub(crate) use super::transport::Connection as Io;

/// A link's connection after the handshake. Plain TCP is kept as a `TcpStream` so its
/// halves split without a lock; anything else (TLS, a custom transport) is boxed.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<dyn Io>),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The outgoing bytes of one link: length-prefixed frames, encoded by the senders (on
/// a link the peer dialed: the answers to what came in on it), in the order they were
/// queued. The link's writer takes everything at once.
pub(crate) struct LinkQueue {
    outbox: Mutex<Outbox>,
    /// Wakes the writer when the outbox stops being empty.
    ready: Notify,
    /// Wakes senders waiting for room; shared by all links of the peer.
    room: Arc<Notify>,
    /// Bounded sends are refused while the outbox holds at least this many bytes.
    limit: usize,
    /// Frames the link's own reader queued since it last looked (see
    /// [`LinkQueue::push_from_reader`]).
    from_reader: AtomicU64,
    /// Set while the writer has taken bytes it has not finished writing.
    writing: AtomicBool,
}

#[derive(Default)]
struct Outbox {
    bytes: BytesMut,
    frames: u64,
    /// A bounded send was refused since the writer last took the bytes: tell the
    /// waiters when there is room again.
    refused: bool,
    /// Bounded sends refused since the writer last took the bytes (see `lifo`).
    refusals: u32,
    /// The link's task ended: nothing queued now would leave (see
    /// [`LinkQueue::push_frame`]).
    closed: bool,
}

impl LinkQueue {
    pub(crate) fn new(room: Arc<Notify>, limit: usize) -> Arc<Self> {
        Arc::new(LinkQueue {
            outbox: Mutex::new(Outbox::default()),
            ready: Notify::new(),
            room,
            limit,
            from_reader: AtomicU64::new(0),
            writing: AtomicBool::new(false),
        })
    }

    /// Appends one frame written by `encode` (which writes nothing when it fails). A
    /// `bounded` send is refused with [`Error::MailboxFull`] while the outbox holds
    /// `limit` bytes or more.
    #[inline(always)]
    pub(crate) fn push<R>(
        &self,
        bounded: bool,
        encode: impl FnOnce(&mut BytesMut) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut outbox = lock(&self.outbox);
        if bounded && outbox.bytes.len() >= self.limit {
            outbox.refused = true;
            outbox.refusals = outbox.refusals.saturating_add(1);
            let spinning = outbox.refusals == lifo::SPINNING;
            drop(outbox);
            if spinning {
                // The writer should be draining a full queue: make sure it can run
                // even if it was woken on this thread and a sender spins on it.
                lifo::dislodge();
            }
            return Err(Error::MailboxFull);
        }
        let was_empty = outbox.bytes.is_empty();
        let out = encode(&mut outbox.bytes)?;
        outbox.frames += 1;
        drop(outbox);
        if was_empty {
            self.ready.notify_one();
        }
        Ok(out)
    }

    /// Appends a frame, whatever the outbox holds, without waking the writer: for the
    /// link's own reader, which runs in the writer's task (the writer looks at the
    /// outbox each time the task runs, so it writes the frame right after the read).
    pub(crate) fn push_from_reader(&self, frame: &Outgoing<'_>, max: usize) -> Result<(), Error> {
        let mut outbox = lock(&self.outbox);
        frame.encode(&mut outbox.bytes, max)?;
        outbox.frames += 1;
        self.from_reader.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn is_empty(&self) -> bool {
        lock(&self.outbox).bytes.is_empty()
    }

    /// True once everything queued so far has been written to the connection (or the
    /// writer is gone).
    pub(crate) fn is_flushed(&self) -> bool {
        let outbox = lock(&self.outbox);
        outbox.bytes.is_empty() && !self.writing.load(Ordering::Acquire)
    }

    /// Appends the acknowledgements of important sends `delivery_ids` under one lock,
    /// whatever the outbox holds, without waking the writer (see
    /// [`LinkQueue::push_from_reader`]).
    pub(crate) fn push_acks_from_reader(&self, delivery_ids: &[u64]) {
        let mut outbox = lock(&self.outbox);
        for &id in delivery_ids {
            encode_ack(&mut outbox.bytes, id);
        }
        outbox.frames += delivery_ids.len() as u64;
        drop(outbox);
        self.from_reader
            .fetch_add(delivery_ids.len() as u64, Ordering::Relaxed);
    }

    /// Appends `frame`, whatever the outbox holds, for a task other than the link's
    /// own (an answer to what came in on it: a call's reply, an acknowledgement after
    /// handling); fails if it is larger than `max`
    /// bytes, and with [`Error::ConnectionLost`] once the link's task ended (the bytes
    /// would never leave, and the queue is kept alive by whoever still holds it).
    pub(crate) fn push_frame(&self, frame: &Outgoing<'_>, max: usize) -> Result<(), Error> {
        let mut outbox = lock(&self.outbox);
        if outbox.closed {
            return Err(Error::ConnectionLost);
        }
        let was_empty = outbox.bytes.is_empty();
        frame.encode(&mut outbox.bytes, max)?;
        outbox.frames += 1;
        drop(outbox);
        if was_empty {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// The link's task ended: frees what was queued and refuses
    /// [`LinkQueue::push_frame`] from now on.
    fn close(&self) {
        let mut outbox = lock(&self.outbox);
        outbox.closed = true;
        outbox.bytes = BytesMut::new();
        drop(outbox);
        self.writing.store(false, Ordering::Release);
    }

    /// Appends an already encoded frame, whatever the outbox holds.
    pub(crate) fn push_encoded(&self, frame: &[u8]) {
        let _ = self.push(false, |out| {
            out.extend_from_slice(frame);
            Ok(())
        });
    }

    /// Whether a bounded send would be accepted now; if not, the writer will wake the
    /// peer's waiters once it has taken the bytes.
    pub(crate) fn has_room(&self) -> bool {
        let mut outbox = lock(&self.outbox);
        if outbox.bytes.len() >= self.limit {
            outbox.refused = true;
            false
        } else {
            true
        }
    }

    /// Swaps everything queued into `into` (which must be empty); returns how many
    /// frames that is.
    fn take(&self, into: &mut BytesMut) -> u64 {
        let mut outbox = lock(&self.outbox);
        if outbox.bytes.is_empty() {
            return 0;
        }
        std::mem::swap(&mut outbox.bytes, into);
        self.writing.store(true, Ordering::Release);
        let frames = std::mem::take(&mut outbox.frames);
        let refused = std::mem::take(&mut outbox.refused);
        outbox.refusals = 0;
        drop(outbox);
        if refused {
            self.room.notify_waiters();
        }
        frames
    }
}

fn local(remote: &Remote, link_set: u64) -> Local<'_> {
    Local {
        node: remote.local_name().as_str(),
        creation: remote.creation(),
        cookie: remote.config().cookie.as_bytes(),
        link_set,
    }
}

/// Accepts peers until aborted.
pub(crate) async fn accept_loop(remote: Arc<Remote>, mut listener: Listening) {
    let refusals = Arc::new(LogLimit::new(REFUSALS_LOGGED_EVERY));
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                tokio::spawn(accept_one(remote.clone(), stream, addr, refusals.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

/// Secures (TLS) and handshakes one incoming connection, and starts its link. A refused
/// one is counted, and logged at most once per [`REFUSALS_LOGGED_EVERY`] (`refusals`):
/// whoever can reach the port can make many.
async fn accept_one(remote: Arc<Remote>, raw: Raw, addr: SocketAddr, refusals: Arc<LogLimit>) {
    let timeout = remote.config().handshake_timeout;
    let secured = async {
        match &remote.config().tls {
            Some(tls) => {
                let mut stream = match raw {
                    Raw::Tcp(tcp) => tls.accept(tcp).await?,
                    Raw::Custom(io) => tls.accept(io).await?,
                };
                let info = handshake::respond(&mut stream, &local(&remote, 0)).await?;
                Ok::<_, Error>((Stream::Tls(stream), info))
            }
            None => {
                let mut stream = match raw {
                    Raw::Tcp(tcp) => Stream::Plain(tcp),
                    Raw::Custom(io) => Stream::Tls(io),
                };
                let info = match &mut stream {
                    Stream::Plain(tcp) => handshake::respond(tcp, &local(&remote, 0)).await?,
                    Stream::Tls(io) => handshake::respond(io, &local(&remote, 0)).await?,
                };
                Ok((stream, info))
            }
        }
    };
    let (stream, info) = match tokio::time::timeout(timeout, secured).await {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => {
            metrics::counter!("ackor_remote_handshakes_refused_total").increment(1);
            if let Some(suppressed) = refusals.allow() {
                // The error may quote the peer's hello: escaped.
                tracing::warn!(%addr, error = %untrusted_text(&e), suppressed, "incoming connection refused");
            }
            return;
        }
        Err(_) => {
            metrics::counter!("ackor_remote_handshakes_refused_total").increment(1);
            if let Some(suppressed) = refusals.allow() {
                tracing::warn!(%addr, suppressed, "incoming connection refused: handshake timed out");
            }
            return;
        }
    };
    tracing::info!(peer = %untrusted(&info.node), %addr, "peer connected (incoming link)");
    let peer = remote.peer(&NodeName::new(&info.node));
    peer.reachable();
    let generation = peer.begin_links(&remote, info.creation);
    // A link of a newer set from the peer ends delivery from the older ones (the peer
    // gave them up, and resends what it still needs): what was in flight on them
    // cannot arrive after what the peer sends now.
    let set = match info.link_set {
        0 => None,
        set if peer.incoming_links(info.creation, set) => Some((info.creation, set)),
        _ => {
            tracing::debug!(peer = %untrusted(&info.node), %addr, "link of an older set refused");
            return;
        }
    };
    let back = LinkQueue::new(peer.room(), remote.config().link_buffer);
    let task = start_link(&remote, &peer, generation, stream, Incoming(back.clone(), set));
    peer.add_incoming(vec![(task, back)]);
}

/// Dials every outgoing link of `peer`; on failure the peer goes into backoff and
/// everything waiting on it fails with `NoConnection`.
pub(crate) async fn dial(remote: Arc<Remote>, peer: Arc<Peer>) {
    let generation = peer.generation();
    match dial_links(&remote, &peer).await {
        Ok(links) => {
            let creation = links.first().map_or(0, |(_, info)| info.creation);
            let generation = peer.begin_links(&remote, creation);
            let mut queues = Vec::with_capacity(links.len());
            let mut tasks = Vec::new();
            for (stream, _) in links {
                let queue = LinkQueue::new(peer.room(), remote.config().link_buffer);
                tasks.push(start_link(
                    &remote,
                    &peer,
                    generation,
                    stream,
                    Dialed(queue.clone()),
                ));
                queues.push(queue);
            }
            peer.add_tasks(generation, tasks);
            if peer.connected(generation, creation, queues, remote.important()) {
                tracing::info!(peer = %untrusted(peer.name()), "peer connected (outgoing links)");
            }
        }
        Err(e) => {
            tracing::warn!(peer = %untrusted(peer.name()), error = %untrusted_text(&e), "cannot connect");
            peer.fail(&remote, &e.to_string(), Some(generation), false);
        }
    }
}

async fn dial_links(remote: &Remote, peer: &Peer) -> Result<Vec<(Stream, PeerInfo)>, Error> {
    let addr = address_of(peer.name()).ok_or(Error::NoConnection)?;
    let timeout = remote.config().handshake_timeout;
    let link_set = remote.next_link_set();
    let mut links = Vec::with_capacity(remote.config().links_per_peer);
    for _ in 0..remote.config().links_per_peer {
        let raw = tokio::time::timeout(timeout, transport::connect(remote.config(), addr))
            .await
            .map_err(|_| Error::Handshake(format!("connecting to {addr} timed out")))?
            .map_err(|e| Error::Handshake(format!("cannot connect to {addr}: {e}")))?;
        let expected = peer.name().as_str();
        let secured = async {
            match &remote.config().tls {
                Some(tls) => {
                    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    let mut stream = match raw {
                        Raw::Tcp(tcp) => tls.connect(host, tcp).await?,
                        Raw::Custom(io) => tls.connect(host, io).await?,
                    };
                    let info = handshake::initiate(&mut stream, &local(remote, link_set), expected).await?;
                    Ok::<_, Error>((Stream::Tls(stream), info))
                }
                None => {
                    let mut stream = match raw {
                        Raw::Tcp(tcp) => Stream::Plain(tcp),
                        Raw::Custom(io) => Stream::Tls(io),
                    };
                    let local = local(remote, link_set);
                    let info = match &mut stream {
                        Stream::Plain(tcp) => handshake::initiate(tcp, &local, expected).await?,
                        Stream::Tls(io) => handshake::initiate(io, &local, expected).await?,
                    };
                    Ok((stream, info))
                }
            }
        };
        let (stream, info) = tokio::time::timeout(timeout, secured)
            .await
            .map_err(|_| Error::Handshake(format!("handshake with {} timed out", peer.name())))??;
        if let Some((_, first)) = links.first()
            && first != &info
        {
            return Err(Error::Handshake(format!(
                "{} restarted while connecting",
                peer.name()
            )));
        }
        links.push((stream, info));
    }
    Ok(links)
}

/// Which way a link was made; with the queue of what it carries out.
enum Role {
    /// This node dialed it: it carries this node's frames.
    Dialed(Arc<LinkQueue>),
    /// The peer dialed it, as part of the given (creation, link set) when the peer
    /// told: it carries the peer's frames; only the answers to them go back
    /// (acknowledgements of important sends, heartbeats, call replies).
    Incoming(Arc<LinkQueue>, Option<(u32, u64)>),
}
use Role::{Dialed, Incoming};

/// Starts the task of one link, which reads and writes.
fn start_link(
    remote: &Arc<Remote>,
    peer: &Arc<Peer>,
    generation: u64,
    stream: Stream,
    role: Role,
) -> AbortHandle {
    match stream {
        Stream::Plain(tcp) => {
            let (rd, wr) = tcp.into_split();
            spawn_link(remote, peer, generation, rd, wr, role)
        }
        Stream::Tls(io) => {
            let (rd, wr) = tokio::io::split(io);
            spawn_link(remote, peer, generation, rd, wr, role)
        }
    }
}

fn spawn_link<R, W>(
    remote: &Arc<Remote>,
    peer: &Arc<Peer>,
    generation: u64,
    rd: R,
    wr: W,
    role: Role,
) -> AbortHandle
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (queue, set, dialed) = match role {
        Dialed(queue) => (queue, None, true),
        Incoming(queue, set) => (queue, set, false),
    };
    let (remote, peer) = (remote.clone(), peer.clone());
    // Reader and writer live and die together: when one ends, the other is dropped
    // and the socket closes. The writer is polled after the reader, so what the
    // reader queued on this link goes out in the same run of the task.
    let task = tokio::spawn(async move {
        // Closes the queue however the task ends, aborted included.
        let _closing = Closing(queue.clone());
        let turn = WriterTurn::default();
        let mut read = std::pin::pin!(read_loop(&remote, &peer, rd, set, &queue, &turn));
        let mut write = std::pin::pin!(write_loop(&remote, &peer, wr, &queue));
        let why = std::future::poll_fn(|cx| {
            loop {
                if let Poll::Ready(why) = read.as_mut().poll(cx) {
                    return Poll::Ready(why);
                }
                if let Poll::Ready(why) = write.as_mut().poll(cx) {
                    return Poll::Ready(Closed::Ended(why));
                }
                // The reader stepped aside for the writer only: its turn again, in
                // this same run of the task.
                if !turn.take() {
                    return Poll::Pending;
                }
            }
        })
        .await;
        // Nothing more will be written: whoever waits for a flush need not wait on, and
        // what is queued is freed.
        queue.close();
        link_closed(&remote, &peer, generation, &why, dialed);
    });
    task.abort_handle()
}

/// How the reader of a link lets its writer go first without leaving the task: it
/// sets the flag and returns `Pending` once without arranging a wake-up; the link's
/// task polls the writer and, seeing the flag, the reader again. (A `yield_now`
/// would reschedule the task, and the wake-up of another worker that may bring
/// costs more than the acknowledgements it lets out: 64 in flight ran slower than 32.)
#[derive(Default)]
struct WriterTurn(AtomicBool);

impl WriterTurn {
    /// Steps aside for the writer; see [`WriterTurn`].
    async fn give(&self) {
        self.0.store(true, Ordering::Relaxed);
        let mut stepped_aside = false;
        std::future::poll_fn(|_| {
            if std::mem::replace(&mut stepped_aside, true) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }

    /// Whether the reader asked for the writer's turn since this was last called.
    fn take(&self) -> bool {
        self.0.swap(false, Ordering::Relaxed)
    }
}

/// What the node keeps between the frames of a link (see [`Inbound`]). Dropped however
/// the reader ends (a panic in the middle of a read included, when its future is
/// dropped), it finishes what the node deferred, as at the end of each read: no
/// important delivery is left in progress for good.
struct NodeState<'a> {
    inbound: &'a dyn Inbound,
    remote: &'a Arc<Remote>,
    peer: &'a Arc<Peer>,
    back: &'a Arc<LinkQueue>,
    state: LinkState,
}

impl NodeState<'_> {
    /// Every frame of a read was handed on (see [`Inbound::read_done`]).
    fn read_done(&mut self) {
        self.inbound
            .read_done(self.remote, self.peer, self.back, &mut self.state);
    }
}

impl Drop for NodeState<'_> {
    fn drop(&mut self) {
        self.read_done();
    }
}

/// Closes a link's queue when dropped (see [`LinkQueue::close`]).
struct Closing(Arc<LinkQueue>);

impl Drop for Closing {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Why a link ended.
enum Closed {
    /// The peer broke the protocol: a frame over the size limit, one that does not
    /// decode, or the link closed in the middle of a frame.
    Violation(String),
    /// Anything else: the peer closed it, i/o failed, silence, a newer link set, this
    /// node stopping.
    Ended(String),
}

impl Closed {
    fn reason(&self) -> &str {
        match self {
            Closed::Violation(why) | Closed::Ended(why) => why,
        }
    }
}

/// Reads and dispatches frames until the link fails; returns why. Every frame read is
/// handed on before the next read; silence is checked a few times per heartbeat
/// timeout (no timer per frame). A link of link set `set` stops (and drops what it
/// has not handed on) once the peer's links of a newer set are up.
async fn read_loop<R: AsyncRead + Unpin>(
    remote: &Arc<Remote>,
    peer: &Arc<Peer>,
    mut rd: R,
    set: Option<(u32, u64)>,
    back: &Arc<LinkQueue>,
    turn: &WriterTurn,
) -> Closed {
    let max = remote.config().max_frame_size;
    let silence = remote.config().heartbeat_timeout;
    // Taken once: the reader lives no longer than the node's network side.
    let Some(inbound) = remote.inbound() else {
        return Closed::Ended("the node is stopping".to_string());
    };
    let step = (silence / 4).max(Duration::from_millis(1));
    let mut check = tokio::time::interval_at(Instant::now() + step, step);
    check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut heard = false;
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut since_yield = 0;
    // Plain answers to calls and important sends, handed over together (one lock of
    // the peer for all of them) before any other frame and at the end of each read.
    let mut answers: Vec<Answer> = Vec::new();
    // What the node keeps between the frames of this link.
    let mut node = NodeState {
        inbound: &*inbound,
        remote,
        peer,
        back,
        state: None,
    };
    loop {
        // Every whole frame in the buffer, while no newer link set can come up.
        let newest = match set {
            Some((creation, set)) => match peer.deliver_from(creation, set) {
                Some(newest) => Some(newest),
                None => return Closed::Ended("links of a newer set from the peer replaced it".to_string()),
            },
            None => None,
        };
        let mut frames = 0u64;
        let mut important = 0u64;
        let failed = loop {
            let len = match frame_len(&mut buf, max) {
                Ok(Some(len)) => len,
                Ok(None) => break None,
                Err(e) => break Some(Closed::Violation(e)),
            };
            frames += 1;
            // A plain `Deliver` and an acknowledgement (the bulk of the traffic) are
            // read where they lie. (Borrowed where it was returned: not moved again.)
            if let Some(deliver) = &deliver_in_place(&buf[4..4 + len]) {
                if !answers.is_empty() {
                    peer.complete_calls(&mut answers);
                }
                let ack = deliver.ack;
                inbound.deliver(remote, peer, deliver, back, &mut node.state);
                buf.advance(4 + len);
                if ack {
                    important += 1;
                    if important == IMPORTANT_PER_TURN {
                        break None;
                    }
                }
                continue;
            }
            if let Some(call_id) = answered_in_place(&buf[4..4 + len]) {
                answers.push((call_id, Ok(Bytes::new()), None));
                buf.advance(4 + len);
                continue;
            }
            buf.advance(4);
            match decode_frame(buf.split_to(len).freeze()) {
                Ok(Frame {
                    body:
                        Some(Body::Reply(CallReply {
                            call_id,
                            payload,
                            error: None,
                            ack_id: 0,
                        })),
                    ..
                }) => answers.push((call_id, Ok(payload), None)),
                Ok(frame) => {
                    if !answers.is_empty() {
                        peer.complete_calls(&mut answers);
                    }
                    remote.dispatch(&*inbound, peer, frame, back, &mut node.state);
                }
                Err(e) => break Some(Closed::Violation(format!("undecodable envelope: {e}"))),
            }
        };
        // The reader stopped early to let acknowledgements out: the frames left in the
        // buffer are handed on before the socket is read again.
        let more = important == IMPORTANT_PER_TURN;
        if !answers.is_empty() {
            peer.complete_calls(&mut answers);
        }
        // Before anything can end the task: what the node deferred must be done.
        node.read_done();
        drop(newest);
        if let Some(why) = failed {
            return why;
        }
        if frames > 0 {
            metrics::counter!("ackor_remote_frames_received_total").increment(frames);
            peer.stats().frames_received.fetch_add(frames, Ordering::Relaxed);
            // Let the actors handed messages run before reading on: a reader that finds
            // more in the socket every time would otherwise keep its worker until the
            // task budget runs out (128 reads), and the mailboxes behind it would fill
            // up (and the heap with them) meanwhile.
            since_yield += frames;
            let acks = back.from_reader.swap(0, Ordering::Relaxed);
            if since_yield >= YIELD_EVERY {
                since_yield = 0;
                tokio::task::yield_now().await;
            } else if acks >= ACKS_BEFORE_WRITING {
                // A read that brought many important sends: their acknowledgements go
                // out at once, so the sender can go on while the rest is read. (Not for
                // a few: the reader returns to the writer soon anyway.)
                turn.give().await;
            }
        }
        if more {
            continue;
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        tokio::select! {
            biased;
            read = rd.read_buf(&mut buf) => match read {
                Ok(0) if buf.is_empty() => return Closed::Ended("the peer closed the link".to_string()),
                Ok(0) => {
                    return Closed::Violation("the peer closed the link in the middle of a frame".to_string());
                }
                Ok(n) => {
                    heard = true;
                    peer.stats().bytes_received.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) => return Closed::Ended(format!("read failed: {e}")),
            },
            now = check.tick() => {
                if heard {
                    heard = false;
                    last_heard = now;
                } else if now.duration_since(last_heard) >= silence {
                    return Closed::Ended(format!("no heartbeat for {silence:?}"));
                }
            }
        }
    }
}

/// Takes the next whole frame (without its length prefix) off the front of `buf`, or
/// `None` if `buf` does not hold one yet (then it has room reserved for the rest); a
/// length over `max` is an error.
pub(crate) fn next_frame(buf: &mut BytesMut, max: usize) -> Result<Option<Bytes>, String> {
    let Some(len) = frame_len(buf, max)? else {
        return Ok(None);
    };
    buf.advance(4);
    Ok(Some(buf.split_to(len).freeze()))
}

/// The length of the whole frame at the front of `buf` (after its 4-byte length
/// prefix), or `None` if `buf` does not hold one yet (then it has room reserved for
/// the rest); a length over `max` is an error.
fn frame_len(buf: &mut BytesMut, max: usize) -> Result<Option<usize>, String> {
    let Some(prefix) = buf.first_chunk::<4>() else {
        return Ok(None);
    };
    let len = u32::from_be_bytes(*prefix) as usize;
    if len > max {
        return Err(format!(
            "bad frame: a frame of {len} bytes exceeds the maximum of {max}"
        ));
    }
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    Ok(Some(len))
}

/// A link ended. Only the links this node dialed carry its traffic to the peer (besides
/// the answers to what came in on the peer's links: acknowledgements and call replies,
/// which a lost link takes down on the peer's side), so only their loss takes the peer
/// down here; a link the peer dialed is the peer's to mend
/// (it notices, redials and resends), and failing on it too would also tear down the
/// peer's fresh links after a reconnect. The end of a link the peer dialed is logged
/// as a warning only when the peer broke the protocol on it (the peer's own log tells
/// of the rest).
fn link_closed(remote: &Arc<Remote>, peer: &Arc<Peer>, generation: u64, why: &Closed, dialed: bool) {
    let (name, reason) = (untrusted(peer.name()), untrusted_text(why.reason()));
    match why {
        _ if dialed => {
            tracing::warn!(peer = %name, %reason, "link closed");
            peer.fail(remote, why.reason(), Some(generation), true);
        }
        Closed::Violation(_) => tracing::warn!(peer = %name, %reason, "incoming link closed"),
        Closed::Ended(_) => tracing::debug!(peer = %name, %reason, "incoming link closed"),
    }
}

/// Writes what was queued on the link, all of it at once, and once per heartbeat
/// interval a ping heartbeat (alone on an idle link, after the frames on a busy one:
/// it keeps the link alive and its answer measures the round trip), until the link
/// fails; returns why.
async fn write_loop<W: AsyncWrite + Unpin>(
    remote: &Arc<Remote>,
    peer: &Peer,
    mut wr: W,
    queue: &LinkQueue,
) -> String {
    let interval = remote.config().heartbeat_interval;
    let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut spare = BytesMut::new();
    loop {
        let frames = queue.take(&mut spare);
        let ping = if frames == 0 {
            // Woken by a sender, or polled after the reader queued something (it does
            // not wake this task: it is this task), or time for a heartbeat.
            let mut ready = std::pin::pin!(queue.ready.notified());
            let heartbeat = std::future::poll_fn(|cx| {
                if !queue.is_empty() || ready.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(false);
                }
                tick.poll_tick(cx).map(|_| true)
            })
            .await;
            if !heartbeat {
                continue;
            }
            true
        } else {
            // Busy: has the interval passed? (No waker kept: the wait above registers
            // the real one when the link goes idle.)
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            tick.poll_tick(&mut cx).is_ready()
        };
        if ping {
            let ping = Heartbeat {
                ping: stats::ping_stamp(),
                pong: 0,
            };
            Frame::new(Body::Heartbeat(ping)).encode_into(&mut spare);
        }
        if let Err(e) = wr.write_all(&spare).await {
            return format!("write failed: {e}");
        }
        // TLS may keep the last records of a write in its own buffer when the socket
        // took only part (tokio-rustls does): they would wait for the next write, a
        // heartbeat interval away. On plain TCP this does nothing (no system call).
        if let Err(e) = wr.flush().await {
            return format!("write failed: {e}");
        }
        queue.writing.store(false, Ordering::Release);
        let frames = frames + u64::from(ping);
        metrics::counter!("ackor_remote_frames_sent_total").increment(frames);
        metrics::counter!("ackor_remote_bytes_sent_total").increment(spare.len() as u64);
        peer.stats().frames_sent.fetch_add(frames, Ordering::Relaxed);
        peer.stats()
            .bytes_sent
            .fetch_add(spare.len() as u64, Ordering::Relaxed);
        spare.clear();
        if spare.capacity() > KEEP_CAPACITY {
            spare = BytesMut::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_queued_after_its_link_ended_fails_with_connection_lost_and_nothing_is_kept() {
        let queue = LinkQueue::new(Arc::new(Notify::new()), 1024);
        let reply = Frame::new(Body::Reply(CallReply {
            call_id: 7,
            ..Default::default()
        }));
        assert_eq!(queue.push_frame(&Outgoing::Frame(&reply), 1 << 20), Ok(()));
        assert!(!queue.is_empty());
        // The link's task ends (however it ends, `Closing` closes its queue).
        drop(Closing(queue.clone()));
        assert!(queue.is_empty() && queue.is_flushed());
        assert_eq!(
            queue.push_frame(&Outgoing::Frame(&reply), 1 << 20),
            Err(Error::ConnectionLost)
        );
        assert!(queue.is_empty());
    }
}
