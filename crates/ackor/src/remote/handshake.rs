//! The handshake: both sides prove they know the shared cookie without sending it.
//!
//! ```text
//! initiator                                   responder
//!   Hello { version, node, creation, nonce_i } ->
//!                                          <- Hello { version, node, creation, nonce_r }
//!   Proof { HMAC(cookie, "I" nonce_r ...) }  ->   (checked; refused with a reason)
//!                                          <- Proof { HMAC(cookie, "R" nonce_i ...) }
//! ```
//!
//! Each proof binds the role, the peer's fresh nonce and both node names, so a proof
//! cannot be replayed, reflected back, or moved to another pair of nodes. Handshake
//! messages are length-prefixed protobuf, at most [`MAX_HANDSHAKE_MESSAGE`] bytes, so
//! garbage instead of a handshake is refused at once rather than read as a huge length.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::untrusted::{untrusted, untrusted_text};
use super::wire::{FEATURES, Hello, PROTOCOL_VERSION, Proof};
use crate::error::Error;

/// The largest handshake message accepted.
pub(crate) const MAX_HANDSHAKE_MESSAGE: usize = 4096;
const NONCE_LEN: usize = 32;

/// What a handshake learns about the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerInfo {
    pub(crate) node: String,
    pub(crate) creation: u32,
    pub(crate) features: u64,
    /// The initiator's link set (see [`Hello::link_set`]); 0 if not told.
    pub(crate) link_set: u64,
}

impl From<Hello> for PeerInfo {
    fn from(hello: Hello) -> Self {
        PeerInfo {
            node: hello.node,
            creation: hello.creation,
            features: hello.features,
            link_set: hello.link_set,
        }
    }
}

/// Our side of a handshake.
pub(crate) struct Local<'a> {
    pub(crate) node: &'a str,
    pub(crate) creation: u32,
    pub(crate) cookie: &'a [u8],
    /// The set a dialed link belongs to (0 when responding).
    pub(crate) link_set: u64,
}

#[derive(Clone, Copy)]
enum Role {
    Initiator,
    Responder,
}

impl Role {
    fn byte(self) -> u8 {
        match self {
            Role::Initiator => b'I',
            Role::Responder => b'R',
        }
    }
}

fn mac(cookie: &[u8], role: Role, nonce: &[u8], prover: &str, verifier: &str) -> Result<Hmac<Sha256>, Error> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(cookie).map_err(|e| Error::Config(e.to_string()))?;
    m.update(b"ackor-handshake-v1");
    m.update(&[role.byte()]);
    m.update(nonce);
    m.update(&(prover.len() as u32).to_be_bytes());
    m.update(prover.as_bytes());
    m.update(verifier.as_bytes());
    Ok(m)
}

fn nonce() -> Result<Vec<u8>, Error> {
    let mut n = vec![0u8; NONCE_LEN];
    getrandom::fill(&mut n).map_err(|e| Error::Handshake(format!("no randomness: {e}")))?;
    Ok(n)
}

pub(crate) async fn write_message<S: AsyncWrite + Unpin, M: prost::Message>(
    io: &mut S,
    msg: &M,
) -> Result<(), Error> {
    let body = msg.encode_to_vec();
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    io.write_all(&out).await.map_err(io_err)?;
    io.flush().await.map_err(io_err)
}

pub(crate) async fn read_message<S: AsyncRead + Unpin, M: prost::Message + Default>(
    io: &mut S,
) -> Result<M, Error> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await.map_err(io_err)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_HANDSHAKE_MESSAGE {
        return Err(Error::Handshake(format!(
            "handshake message of {len} bytes (at most {MAX_HANDSHAKE_MESSAGE}): not an ackor peer?"
        )));
    }
    let mut body = vec![0u8; len];
    io.read_exact(&mut body).await.map_err(io_err)?;
    M::decode(body.as_slice()).map_err(|e| Error::Handshake(format!("undecodable handshake message: {e}")))
}

fn io_err(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::Handshake("the peer closed the connection".into()),
        _ => Error::Handshake(format!("i/o: {e}")),
    }
}

fn check_hello(hello: &Hello) -> Result<(), Error> {
    if hello.version != PROTOCOL_VERSION {
        return Err(Error::Handshake(format!(
            "protocol version {} (this node speaks {PROTOCOL_VERSION})",
            hello.version
        )));
    }
    if hello.node.is_empty() {
        return Err(Error::Handshake("the peer sent no node name".into()));
    }
    Ok(())
}

fn hello(local: &Local<'_>, nonce: Vec<u8>) -> Hello {
    Hello {
        version: PROTOCOL_VERSION,
        node: local.node.to_string(),
        creation: local.creation,
        features: FEATURES,
        nonce,
        link_set: local.link_set,
    }
}

/// Runs the initiator's side. `expected` is the node we dialed; a peer that answers
/// with another name is refused.
pub(crate) async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    local: &Local<'_>,
    expected: &str,
) -> Result<PeerInfo, Error> {
    let my_nonce = nonce()?;
    write_message(io, &hello(local, my_nonce.clone())).await?;
    let theirs: Hello = read_message(io).await?;
    check_hello(&theirs)?;
    if theirs.node != expected {
        return Err(Error::Handshake(format!(
            "dialed {} but {} answered",
            untrusted(expected),
            untrusted(&theirs.node)
        )));
    }
    send_proof(io, local, Role::Initiator, &theirs).await?;
    let answer: Proof = read_message(io).await?;
    if !answer.refused.is_empty() {
        return Err(Error::Handshake(format!(
            "refused by {}: {}",
            untrusted(&theirs.node),
            untrusted_text(&answer.refused)
        )));
    }
    mac(local.cookie, Role::Responder, &my_nonce, &theirs.node, local.node)?
        .verify_slice(&answer.digest)
        .map_err(|_| Error::Handshake(format!("{} does not know our cookie", untrusted(&theirs.node))))?;
    Ok(PeerInfo::from(theirs))
}

/// Runs the responder's side.
pub(crate) async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    local: &Local<'_>,
) -> Result<PeerInfo, Error> {
    let theirs: Hello = read_message(io).await?;
    if let Err(e) = check_hello(&theirs) {
        refuse(io, &e).await;
        return Err(e);
    }
    let my_nonce = nonce()?;
    write_message(io, &hello(local, my_nonce.clone())).await?;
    let proof: Proof = read_message(io).await?;
    let verified =
        mac(local.cookie, Role::Initiator, &my_nonce, &theirs.node, local.node)?.verify_slice(&proof.digest);
    if verified.is_err() {
        let e = Error::Handshake(format!("{} does not know our cookie", untrusted(&theirs.node)));
        refuse(io, &Error::Handshake("wrong cookie".into())).await;
        return Err(e);
    }
    send_proof(io, local, Role::Responder, &theirs).await?;
    Ok(PeerInfo::from(theirs))
}

/// Proves, in `role`, that we know the cookie: the HMAC over the peer's nonce.
async fn send_proof<S: AsyncWrite + Unpin>(
    io: &mut S,
    local: &Local<'_>,
    role: Role,
    theirs: &Hello,
) -> Result<(), Error> {
    let digest = mac(local.cookie, role, &theirs.nonce, local.node, &theirs.node)?;
    let proof = Proof {
        digest: digest.finalize().into_bytes().to_vec(),
        refused: String::new(),
    };
    write_message(io, &proof).await
}

async fn refuse<S: AsyncWrite + Unpin>(io: &mut S, why: &Error) {
    let reason = match why {
        Error::Handshake(r) => r.clone(),
        other => other.to_string(),
    };
    let _ = write_message(
        io,
        &Proof {
            digest: Vec::new(),
            refused: reason,
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn pair(
        cookie_a: &'static [u8],
        cookie_b: &'static [u8],
    ) -> (Result<PeerInfo, Error>, Result<PeerInfo, Error>) {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let la = Local {
            node: "a@h:1",
            creation: 1,
            cookie: cookie_a,
            link_set: 0,
        };
        let lb = Local {
            node: "b@h:2",
            creation: 2,
            cookie: cookie_b,
            link_set: 0,
        };
        tokio::join!(initiate(&mut a, &la, "b@h:2"), respond(&mut b, &lb))
    }

    #[tokio::test]
    async fn same_cookie_succeeds_both_ways() {
        let (a, b) = pair(b"secret", b"secret").await;
        assert_eq!(
            a.map(|p| (p.node, p.creation)).ok(),
            Some(("b@h:2".to_string(), 2))
        );
        assert_eq!(
            b.map(|p| (p.node, p.creation)).ok(),
            Some(("a@h:1".to_string(), 1))
        );
    }

    #[tokio::test]
    async fn wrong_cookie_is_refused_with_a_reason() {
        let (a, b) = pair(b"secret", b"other").await;
        assert!(matches!(a, Err(Error::Handshake(m)) if m.contains("wrong cookie")));
        assert!(matches!(b, Err(Error::Handshake(m)) if m.contains("cookie")));
    }

    #[tokio::test]
    async fn garbage_instead_of_hello_is_refused() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let lb = Local {
            node: "b@h:2",
            creation: 2,
            cookie: b"secret",
            link_set: 0,
        };
        a.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.ok();
        let r = respond(&mut b, &lb).await;
        assert!(matches!(r, Err(Error::Handshake(m)) if m.contains("not an ackor peer")));
    }
}
