//! Gossip on UDP, signed: chitchat's messages travel in datagrams that carry an HMAC
//! under a key only members have, so a node without the cluster's secret cannot join,
//! and nothing unauthenticated reaches chitchat's decoder.
//!
//! A datagram is `MAGIC (4 bytes) | tag (16 bytes) | chitchat message`, where `tag` is
//! HMAC-SHA256 of the message under the cluster key, cut to 128 bits, and the cluster
//! key is SHA-256 of a domain label, the cluster id and the secret. Nodes of another
//! cluster (another id, or the same id with another secret) thus fail the check too.
//!
//! What this protects: who takes part in gossip (membership, names, groups, metadata
//! cannot be forged or altered by someone without the secret). What it does not: gossip
//! is not encrypted (anyone on the path reads it), and a captured datagram can be
//! replayed; chitchat ignores state older than what it has, so a replay changes
//! nothing once newer gossip has arrived.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chitchat::transport::{Socket, Transport};
use chitchat::{ChitchatMessage, Deserializable, Serializable};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Marks an ackor gossip datagram (and its format version).
const MAGIC: &[u8; 4] = b"AKG1";
/// Bytes of the HMAC kept.
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + TAG_LEN;
/// The largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;

type HmacSha256 = Hmac<Sha256>;

/// The key every member of a cluster signs its gossip with.
#[derive(Clone)]
pub(crate) struct ClusterKey([u8; 32]);

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

    /// `MAGIC | tag | body` for `body`.
    pub(crate) fn seal(&self, body: &[u8], out: &mut Vec<u8>) {
        let mut mac = self.mac();
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        out.clear();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&tag[..TAG_LEN]);
        out.extend_from_slice(body);
    }

    /// The body of a datagram sealed with this key, or why not.
    pub(crate) fn open<'a>(&self, datagram: &'a [u8]) -> Result<&'a [u8], &'static str> {
        if datagram.len() < HEADER_LEN || &datagram[..MAGIC.len()] != MAGIC {
            return Err("not an ackor gossip datagram");
        }
        let (tag, body) = datagram[MAGIC.len()..].split_at(TAG_LEN);
        let mut mac = self.mac();
        mac.update(body);
        mac.verify_truncated_left(tag)
            .map_err(|_| "bad signature: another cluster, or another secret")?;
        Ok(body)
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
            out: Vec::with_capacity(MAX_DATAGRAM),
            recv: vec![0; MAX_DATAGRAM].into_boxed_slice(),
            refused: Refusals::default(),
        }))
    }
}

struct SignedSocket {
    socket: tokio::net::UdpSocket,
    key: ClusterKey,
    body: Vec<u8>,
    out: Vec<u8>,
    recv: Box<[u8]>,
    refused: Refusals,
}

#[async_trait]
impl Socket for SignedSocket {
    async fn send(&mut self, to: SocketAddr, msg: ChitchatMessage) -> anyhow::Result<()> {
        self.body.clear();
        msg.serialize(&mut self.body);
        self.key.seal(&self.body, &mut self.out);
        if self.out.len() > MAX_DATAGRAM {
            // chitchat fills a datagram up to the UDP maximum; the signature does not
            // fit on the largest ones. Dropped: gossip goes on with the next round.
            metrics::counter!("ackor_cluster_gossip_oversize_total").increment(1);
            tracing::warn!(%to, bytes = self.out.len(), "gossip datagram too large to sign; dropped");
            return Ok(());
        }
        if let Err(e) = self.socket.send_to(&self.out, to).await {
            // A peer that is gone or unreachable: the failure detector deals with it.
            tracing::debug!(%to, error = %e, "gossip send failed");
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
            let datagram = &self.recv[..len];
            let mut body = match self.key.open(datagram) {
                Ok(body) => body,
                Err(why) => {
                    self.refused.note(from, why);
                    continue;
                }
            };
            match ChitchatMessage::deserialize(&mut body) {
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
        let mut out = Vec::new();
        key.seal(b"hello", &mut out);
        assert_eq!(key.open(&out), Ok(&b"hello"[..]));
        assert!(ClusterKey::new("c1", "other").open(&out).is_err());
        assert!(ClusterKey::new("c2", "s").open(&out).is_err());
        let mut tampered = out.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(&tampered).is_err());
        assert!(key.open(b"AKG1").is_err());
        assert!(key.open(b"").is_err());
    }
}
