//! Gossip on UDP, signed: chitchat's messages travel in datagrams that carry an HMAC
//! under a key only members have, so a node without the cluster's secret cannot join,
//! and nothing unauthenticated reaches chitchat's decoder.
//!
//! A datagram is `MAGIC (4 bytes) | tag (16) | message id (4) | index (1) | count (1) |
//! chunk`, where `tag` is HMAC-SHA256 of everything after it under the cluster key, cut
//! to 128 bits, and the cluster key is SHA-256 of a domain label, the cluster id and the
//! secret. Nodes of another cluster (another id, or the same id with another secret)
//! thus fail the check too. A chitchat message is one chunk, or, when it does not fit in
//! one datagram with this header (chitchat fills datagrams up to the UDP maximum), a
//! few, put together again by the receiver (a message with a lost chunk is lost, as a
//! lost datagram is; gossip repairs it in a later round).
//!
//! What this protects: who takes part in gossip (membership, names, groups, metadata
//! cannot be forged or altered by someone without the secret). What it does not: gossip
//! is not encrypted (anyone on the path reads it), and a captured datagram can be
//! replayed; chitchat ignores state older than what it has, so a replay changes
//! nothing once newer gossip has arrived. A replayed first message of a gossip round,
//! sent with a forged source address, makes the member answer that address with its
//! reply (up to a few datagrams): gossip ports should not be reachable from outside
//! the cluster's network. (A timestamp and the addresses under the signature would
//! close this; not done yet.)

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chitchat::transport::{Socket, Transport};
use chitchat::{ChitchatMessage, Deserializable, Serializable};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Marks an ackor gossip datagram (and its format version).
const MAGIC: &[u8; 4] = b"AKG2";
/// Bytes of the HMAC kept.
const TAG_LEN: usize = 16;
/// Message id, chunk index, chunk count.
const CHUNK_HEADER: usize = 4 + 1 + 1;
const HEADER_LEN: usize = MAGIC.len() + TAG_LEN + CHUNK_HEADER;
/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;
/// The largest chunk of a message in one datagram.
const MAX_CHUNK: usize = MAX_DATAGRAM - HEADER_LEN;
/// How long chunks of an incomplete message are kept, and how many such messages.
const REASSEMBLY_TTL: Duration = Duration::from_secs(5);
const REASSEMBLY_MAX: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// The key every member of a cluster signs its gossip with.
#[derive(Clone)]
pub(crate) struct ClusterKey([u8; 32]);

/// A verified chunk of a message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Chunk<'a> {
    pub(crate) id: u32,
    pub(crate) index: u8,
    pub(crate) count: u8,
    pub(crate) bytes: &'a [u8],
}

impl ClusterKey {
    pub(crate) fn new(cluster_id: &str, secret: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"ackor-cluster-gossip-v1\0");
        h.update((cluster_id.len() as u64).to_be_bytes());
        h.update(cluster_id.as_bytes());
        h.update(secret.as_bytes());
        ClusterKey(h.finalize().into())
    }

    fn mac(&self) -> HmacSha256 {
        // An HMAC takes a key of any length: this cannot fail.
        <HmacSha256 as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"))
    }

    /// The datagrams that carry `body` as message `id`: one, unless it is too large.
    pub(crate) fn seal(&self, id: u32, body: &[u8]) -> Vec<Vec<u8>> {
        let chunks: Vec<&[u8]> = if body.is_empty() {
            vec![body]
        } else {
            body.chunks(MAX_CHUNK).collect()
        };
        let count = u8::try_from(chunks.len()).unwrap_or(u8::MAX);
        chunks
            .iter()
            .take(usize::from(count))
            .enumerate()
            .map(|(index, chunk)| {
                let mut signed = Vec::with_capacity(CHUNK_HEADER + chunk.len());
                signed.extend_from_slice(&id.to_be_bytes());
                signed.push(u8::try_from(index).unwrap_or(u8::MAX));
                signed.push(count);
                signed.extend_from_slice(chunk);
                let mut mac = self.mac();
                mac.update(&signed);
                let tag = mac.finalize().into_bytes();
                let mut out = Vec::with_capacity(HEADER_LEN + chunk.len());
                out.extend_from_slice(MAGIC);
                out.extend_from_slice(&tag[..TAG_LEN]);
                out.extend_from_slice(&signed);
                out
            })
            .collect()
    }

    /// The chunk a datagram sealed with this key carries, or why not.
    pub(crate) fn open<'a>(&self, datagram: &'a [u8]) -> Result<Chunk<'a>, &'static str> {
        if datagram.len() < HEADER_LEN || &datagram[..MAGIC.len()] != MAGIC {
            return Err("not an ackor gossip datagram");
        }
        let (tag, signed) = datagram[MAGIC.len()..].split_at(TAG_LEN);
        let mut mac = self.mac();
        mac.update(signed);
        mac.verify_truncated_left(tag)
            .map_err(|_| "bad signature: another cluster, or another secret")?;
        let (head, bytes) = signed.split_at(CHUNK_HEADER);
        let (index, count) = (head[4], head[5]);
        if count == 0 || index >= count {
            return Err("bad chunk numbering");
        }
        Ok(Chunk {
            id: u32::from_be_bytes([head[0], head[1], head[2], head[3]]),
            index,
            count,
            bytes,
        })
    }
}

/// The chunks of one message received so far, and since when.
type Parts = (Instant, Vec<Option<Vec<u8>>>);

/// Chunks of messages not complete yet, by sender and message id.
#[derive(Default)]
struct Reassembly {
    partial: HashMap<(SocketAddr, u32), Parts>,
}

impl Reassembly {
    /// Adds a chunk; the whole message once its last chunk is in.
    fn add(&mut self, from: SocketAddr, chunk: Chunk<'_>) -> Option<Vec<u8>> {
        if chunk.count == 1 {
            return Some(chunk.bytes.to_vec());
        }
        let now = Instant::now();
        self.partial
            .retain(|_, (since, _)| now.duration_since(*since) < REASSEMBLY_TTL);
        if self.partial.len() >= REASSEMBLY_MAX
            && !self.partial.contains_key(&(from, chunk.id))
            && let Some(oldest) = self
                .partial
                .iter()
                .min_by_key(|(_, (since, _))| *since)
                .map(|(k, _)| *k)
        {
            self.partial.remove(&oldest);
        }
        let (_, parts) = self
            .partial
            .entry((from, chunk.id))
            .or_insert_with(|| (now, vec![None; usize::from(chunk.count)]));
        if parts.len() != usize::from(chunk.count) {
            return None; // a sender that changed its mind about the count: ignore it
        }
        parts[usize::from(chunk.index)] = Some(chunk.bytes.to_vec());
        if parts.iter().any(Option::is_none) {
            return None;
        }
        let (_, parts) = self.partial.remove(&(from, chunk.id))?;
        Some(parts.into_iter().flatten().flatten().collect())
    }
}

/// Opens the signed socket chitchat gossips on. It is bound before chitchat starts
/// (so a node asking for port 0 knows its gossip address first) and handed over once.
pub(crate) struct SignedUdp {
    socket: Mutex<Option<tokio::net::UdpSocket>>,
    key: ClusterKey,
}

impl SignedUdp {
    /// Binds `addr`; returns the transport and the address it is bound to.
    pub(crate) async fn bind(addr: SocketAddr, key: ClusterKey) -> std::io::Result<(Self, SocketAddr)> {
        let socket = tokio::net::UdpSocket::bind(addr).await?;
        let bound = socket.local_addr()?;
        Ok((
            SignedUdp {
                socket: Mutex::new(Some(socket)),
                key,
            },
            bound,
        ))
    }
}

#[async_trait]
impl Transport for SignedUdp {
    async fn open(&self, _listen_addr: SocketAddr) -> anyhow::Result<Box<dyn Socket>> {
        let socket = self
            .socket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| anyhow::anyhow!("the gossip socket was already opened"))?;
        Ok(Box::new(SignedSocket {
            socket,
            key: self.key.clone(),
            body: Vec::with_capacity(MAX_DATAGRAM),
            next_id: 0,
            recv: vec![0; MAX_DATAGRAM].into_boxed_slice(),
            reassembly: Reassembly::default(),
            refused: Refusals::default(),
        }))
    }
}

struct SignedSocket {
    socket: tokio::net::UdpSocket,
    key: ClusterKey,
    body: Vec<u8>,
    next_id: u32,
    recv: Box<[u8]>,
    reassembly: Reassembly,
    refused: Refusals,
}

#[async_trait]
impl Socket for SignedSocket {
    async fn send(&mut self, to: SocketAddr, msg: ChitchatMessage) -> anyhow::Result<()> {
        self.body.clear();
        msg.serialize(&mut self.body);
        self.next_id = self.next_id.wrapping_add(1);
        for datagram in self.key.seal(self.next_id, &self.body) {
            if let Err(e) = self.socket.send_to(&datagram, to).await {
                // A peer that is gone or unreachable: the failure detector deals with it.
                tracing::debug!(%to, error = %e, "gossip send failed");
                break;
            }
        }
        Ok(())
    }

    async fn recv(&mut self) -> anyhow::Result<(SocketAddr, ChitchatMessage)> {
        loop {
            let (len, from) = match self.socket.recv_from(&mut self.recv).await {
                Ok(got) => got,
                // ICMP errors of earlier sends surface here on some systems: not fatal.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => continue,
                Err(e) => return Err(e.into()),
            };
            let chunk = match self.key.open(&self.recv[..len]) {
                Ok(chunk) => chunk,
                Err(why) => {
                    self.refused.note(from, why);
                    continue;
                }
            };
            let Some(message) = self.reassembly.add(from, chunk) else {
                continue;
            };
            match ChitchatMessage::deserialize(&mut message.as_slice()) {
                Ok(msg) => return Ok((from, msg)),
                // Signed by a member, yet not understood: a member of another version.
                Err(e) => self.refused.note(from, &format!("undecodable gossip: {e}")),
            }
        }
    }
}

/// Logs refused datagrams at most once per interval (a flood must not flood the log),
/// counting all of them.
#[derive(Default)]
struct Refusals {
    last_log: Option<Instant>,
    since_log: u64,
}

impl Refusals {
    const INTERVAL: Duration = Duration::from_secs(10);

    fn note(&mut self, from: SocketAddr, why: &str) {
        metrics::counter!("ackor_cluster_gossip_refused_total").increment(1);
        self.since_log += 1;
        let now = Instant::now();
        if self
            .last_log
            .is_none_or(|t| now.duration_since(t) >= Self::INTERVAL)
        {
            tracing::warn!(%from, reason = %why, refused = self.since_log, "gossip datagram refused");
            self.last_log = Some(now);
            self.since_log = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sealed_datagram_opens_only_with_the_same_cluster_and_secret() {
        let key = ClusterKey::new("c1", "s");
        let sealed = key.seal(7, b"hello");
        assert_eq!(sealed.len(), 1);
        let out = &sealed[0];
        let chunk = key.open(out).unwrap();
        assert_eq!(
            (chunk.id, chunk.index, chunk.count, chunk.bytes),
            (7, 0, 1, &b"hello"[..])
        );
        assert!(ClusterKey::new("c1", "other").open(out).is_err());
        assert!(ClusterKey::new("c2", "s").open(out).is_err());
        let mut tampered = out.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(&tampered).is_err());
        assert!(key.open(b"AKG2").is_err());
        assert!(key.open(b"").is_err());
    }

    #[test]
    fn a_message_too_large_for_one_datagram_travels_in_chunks_and_is_put_together() {
        let key = ClusterKey::new("c", "s");
        let body: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
        let sealed = key.seal(1, &body);
        assert_eq!(sealed.len(), 3);
        assert!(sealed.iter().all(|d| d.len() <= MAX_DATAGRAM));
        let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut reassembly = Reassembly::default();
        // Out of order, with a duplicate.
        assert_eq!(reassembly.add(from, key.open(&sealed[2]).unwrap()), None);
        assert_eq!(reassembly.add(from, key.open(&sealed[0]).unwrap()), None);
        assert_eq!(reassembly.add(from, key.open(&sealed[0]).unwrap()), None);
        assert_eq!(reassembly.add(from, key.open(&sealed[1]).unwrap()), Some(body));
        assert!(reassembly.partial.is_empty());
    }

    #[test]
    fn bad_chunk_numbers_are_refused_and_incomplete_messages_are_bounded() {
        let key = ClusterKey::new("c", "s");
        // A member's datagram that says chunk 3 of 2.
        let mut forged = key.seal(1, b"x").remove(0);
        forged[MAGIC.len() + TAG_LEN + 4] = 3;
        forged[MAGIC.len() + TAG_LEN + 5] = 2;
        assert!(key.open(&forged).is_err()); // the signature no longer matches
        let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut reassembly = Reassembly::default();
        let big = vec![0u8; MAX_CHUNK + 1];
        for id in 0..(REASSEMBLY_MAX as u32 + 10) {
            let first = key.seal(id, &big).remove(0);
            assert_eq!(reassembly.add(from, key.open(&first).unwrap()), None);
        }
        assert!(reassembly.partial.len() <= REASSEMBLY_MAX);
    }
}
