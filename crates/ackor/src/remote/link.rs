//! Links: dialing and accepting TCP (or TLS) connections, and the task of each link,
//! which reads and writes: the writer coalesces every queued frame into one write and
//! sends heartbeats when idle; the reader enforces the maximum frame size and the
//! heartbeat timeout.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use futures_util::StreamExt;
use prost::Message as _;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};

use super::handshake::{self, Local, PeerInfo};
use super::peer::Peer;
use super::wire::{Body, Frame, Heartbeat};
use super::{Remote, address_of};
use crate::error::Error;
use crate::identity::NodeName;

/// Most frames one write may carry.
const BATCH: usize = 512;

/// A link's byte stream: plain TCP or TLS over TCP.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

fn local(remote: &Remote) -> Local<'_> {
    Local {
        node: remote.local_name().as_str(),
        creation: remote.creation(),
        cookie: remote.config().cookie.as_bytes(),
    }
}

/// Accepts peers until aborted.
pub(crate) async fn accept_loop(remote: Arc<Remote>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                tokio::spawn(accept_one(remote.clone(), stream, addr));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

async fn accept_one(remote: Arc<Remote>, tcp: TcpStream, addr: SocketAddr) {
    let _ = tcp.set_nodelay(true);
    let timeout = remote.config().handshake_timeout;
    let secured = async {
        let mut stream: Box<dyn Io> = match &remote.config().tls {
            Some(tls) => tls.accept(tcp).await?,
            None => Box::new(tcp),
        };
        let info = handshake::respond(&mut stream, &local(&remote)).await?;
        Ok::<_, Error>((stream, info))
    };
    let (stream, info) = match tokio::time::timeout(timeout, secured).await {
        Ok(Ok(info)) => info,
        Ok(Err(e)) => {
            metrics::counter!("ackor_remote_handshakes_refused_total").increment(1);
            tracing::warn!(%addr, error = %e, "incoming connection refused");
            return;
        }
        Err(_) => {
            metrics::counter!("ackor_remote_handshakes_refused_total").increment(1);
            tracing::warn!(%addr, "incoming connection refused: handshake timed out");
            return;
        }
    };
    tracing::info!(peer = %info.node, %addr, "peer connected (incoming link)");
    let peer = remote.peer(&NodeName::new(&info.node));
    peer.reachable();
    let generation = peer.begin_links(&remote, info.creation);
    let tasks = start_link(&remote, &peer, generation, stream, None);
    peer.add_incoming(tasks);
}

/// Dials every outgoing link of `peer`; on failure the peer goes into backoff and
/// everything waiting on it fails with `NoConnection`.
pub(crate) async fn dial(remote: Arc<Remote>, peer: Arc<Peer>) {
    let generation = peer.generation();
    match dial_links(&remote, &peer).await {
        Ok(links) => {
            let creation = links.first().map_or(0, |(_, info)| info.creation);
            let generation = peer.begin_links(&remote, creation);
            let mut senders = Vec::with_capacity(links.len());
            let mut tasks = Vec::new();
            for (stream, _) in links {
                let (tx, rx) = mpsc::unbounded_channel();
                senders.push(tx);
                tasks.extend(start_link(&remote, &peer, generation, stream, Some(rx)));
            }
            peer.add_tasks(generation, tasks);
            if peer.connected(generation, creation, senders) {
                tracing::info!(peer = %peer.name(), "peer connected (outgoing links)");
            }
        }
        Err(e) => {
            tracing::warn!(peer = %peer.name(), error = %e, "cannot connect");
            peer.fail(&remote, &e.to_string(), Some(generation), false);
        }
    }
}

async fn dial_links(remote: &Remote, peer: &Peer) -> Result<Vec<(Box<dyn Io>, PeerInfo)>, Error> {
    let addr = address_of(peer.name()).ok_or(Error::NoConnection)?;
    let timeout = remote.config().handshake_timeout;
    let mut links = Vec::with_capacity(remote.config().links_per_peer);
    for _ in 0..remote.config().links_per_peer {
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| Error::Handshake(format!("connecting to {addr} timed out")))?
            .map_err(|e| Error::Handshake(format!("cannot connect to {addr}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let secured = async {
            let mut stream: Box<dyn Io> = match &remote.config().tls {
                Some(tls) => {
                    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
                    let host = host.trim_start_matches('[').trim_end_matches(']');
                    tls.connect(host, tcp).await?
                }
                None => Box::new(tcp),
            };
            let info = handshake::initiate(&mut stream, &local(remote), peer.name().as_str()).await?;
            Ok::<_, Error>((stream, info))
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

/// Starts the reader and writer of one link. `outgoing` is `None` for an accepted
/// link, which carries only heartbeats back.
fn start_link<S>(
    remote: &Arc<Remote>,
    peer: &Arc<Peer>,
    generation: u64,
    stream: S,
    outgoing: Option<mpsc::UnboundedReceiver<Frame>>,
) -> Vec<AbortHandle>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (rd, wr) = tokio::io::split(stream);
    let dialed = outgoing.is_some();
    let (remote, peer) = (remote.clone(), peer.clone());
    // Reader and writer live and die together: when one ends, the other is dropped
    // and the socket closes.
    let task = tokio::spawn(async move {
        let why = tokio::select! {
            why = read_loop(&remote, &peer, rd) => why,
            why = write_loop(&remote, wr, outgoing) => why,
        };
        link_closed(&remote, &peer, generation, &why, dialed);
    });
    vec![task.abort_handle()]
}

/// Reads and dispatches frames until the link fails; returns why.
async fn read_loop<R: AsyncRead + Send>(remote: &Arc<Remote>, peer: &Arc<Peer>, rd: R) -> String {
    let codec = LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(remote.config().max_frame_size)
        .new_codec();
    let mut frames = std::pin::pin!(FramedRead::new(rd, codec));
    let silence = remote.config().heartbeat_timeout;
    // Taken once: the reader lives no longer than the node's network side.
    let Some(node) = remote.node() else {
        return "the node is stopping".to_string();
    };
    loop {
        let next = match tokio::time::timeout(silence, frames.next()).await {
            Ok(next) => next,
            Err(_) => return format!("no heartbeat for {silence:?}"),
        };
        let bytes = match next {
            None => return "the peer closed the link".to_string(),
            Some(Err(e)) => return format!("bad frame: {e}"),
            Some(Ok(bytes)) => bytes.freeze(),
        };
        let frame = match Frame::decode(bytes) {
            Ok(frame) => frame,
            Err(e) => return format!("undecodable envelope: {e}"),
        };
        metrics::counter!("ackor_remote_frames_received_total").increment(1);
        remote.dispatch(&node, peer, frame);
    }
}

/// A link ended. Only the links this node dialed carry its traffic to the peer, so only
/// their loss takes the peer down here; a link the peer dialed is the peer's to mend
/// (it notices, redials and resends), and failing on it too would also tear down the
/// peer's fresh links after a reconnect.
fn link_closed(remote: &Arc<Remote>, peer: &Arc<Peer>, generation: u64, why: &str, dialed: bool) {
    if dialed {
        tracing::warn!(peer = %peer.name(), reason = %why, "link closed");
        peer.fail(remote, why, Some(generation), true);
    } else {
        tracing::debug!(peer = %peer.name(), reason = %why, "incoming link closed");
    }
}

/// Writes queued frames in batches, and heartbeats when idle, until the link fails or
/// its queue is dropped; returns why.
async fn write_loop<W: AsyncWrite + Send>(
    remote: &Arc<Remote>,
    wr: W,
    mut outgoing: Option<mpsc::UnboundedReceiver<Frame>>,
) -> String {
    let mut wr = std::pin::pin!(wr);
    let interval = remote.config().heartbeat_interval;
    let mut batch = Vec::with_capacity(BATCH);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        batch.clear();
        let got = match &mut outgoing {
            Some(rx) => match tokio::time::timeout(interval, rx.recv_many(&mut batch, BATCH)).await {
                Ok(0) => return "the link was closed by this node".to_string(),
                Ok(n) => n,
                Err(_) => 0,
            },
            None => {
                tokio::time::sleep(interval).await;
                0
            }
        };
        if got == 0 {
            batch.push(Frame::new(Body::Heartbeat(Heartbeat {})));
        }
        buf.clear();
        for frame in batch.drain(..) {
            frame.encode_into(&mut buf);
        }
        if let Err(e) = wr.write_all(&buf).await {
            return format!("write failed: {e}");
        }
        metrics::counter!("ackor_remote_frames_sent_total").increment(got.max(1) as u64);
        metrics::counter!("ackor_remote_bytes_sent_total").increment(buf.len() as u64);
        if buf.capacity() > 1024 * 1024 {
            buf = BytesMut::with_capacity(64 * 1024);
        }
    }
}
