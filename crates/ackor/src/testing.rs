//! Helpers for ackor's own wire-level tests: they let a test speak the raw protocol
//! (a real handshake, then bytes of its choosing) to a running node. Not part of the
//! supported API.

use tokio::net::TcpStream;

use crate::error::Error;
use crate::remote::handshake_raw;

/// Dials `addr`, runs the real handshake as node `name` with `cookie`, expecting the
/// peer to be `expected`, and hands back the raw stream for the test to write frames
/// (length-prefixed protobuf) or garbage.
pub async fn handshaken_stream(
    addr: &str,
    name: &str,
    cookie: &str,
    expected: &str,
) -> Result<TcpStream, Error> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| Error::Handshake(format!("connect: {e}")))?;
    handshake_raw(&mut stream, name, cookie, expected).await?;
    Ok(stream)
}

/// An encoded, length-prefixed frame carrying a heartbeat: a valid frame to write
/// after a handshake.
pub fn heartbeat_frame() -> Vec<u8> {
    crate::remote::heartbeat_bytes()
}

/// An encoded, length-prefixed frame carrying an important send to `to` of the message
/// with tag `tag` and encoded bytes `payload` (as [`crate::Codec::encode`] gives them),
/// under `delivery_id`: the receiving node acknowledges it on the same link.
///
/// ```
/// let to = ackor::Pid::new(ackor::NodeName::new("b@127.0.0.1:1"), 1, 1);
/// let frame = ackor::testing::important_send_frame(&to, "demo.put", &[0xc0], 7);
/// assert_eq!(u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize, frame.len() - 4);
/// ```
pub fn important_send_frame(to: &crate::Pid, tag: &str, payload: &[u8], delivery_id: u64) -> Vec<u8> {
    crate::remote::important_send_bytes(to, tag, payload, delivery_id)
}

/// The delivery ids acknowledged by the whole frames at the front of `bytes` (other
/// frames are skipped), and how many bytes those frames take: what to drop from the
/// front before reading on.
pub fn acknowledgements(bytes: &[u8]) -> (Vec<u64>, usize) {
    crate::remote::acknowledgements_for_test(bytes)
}

/// Runs the link's frame decoder (length prefix with `max_frame_size`, then the
/// protobuf envelope and its conversions) over `bytes`, as a reader would; returns
/// how many frames decoded. For fuzzing: it must never panic.
pub fn decode_frames(bytes: &[u8], max_frame_size: usize) -> usize {
    crate::remote::decode_frames_for_test(bytes, max_frame_size)
}

/// Runs the responder's side of the handshake against `bytes` from a peer. For
/// fuzzing: it must never panic, and garbage must be refused.
pub async fn respond_to_handshake(bytes: &[u8]) -> Result<(), Error> {
    crate::remote::respond_for_test(bytes).await
}

/// A peer that completes the handshake as node `prefix@127.0.0.1:<port>` on every
/// connection and then reads and discards everything, never answering: no
/// acknowledgements, no replies, no heartbeats. Returns its node name; it stops when
/// the returned task is aborted.
pub async fn mute_peer(prefix: &str, cookie: &str) -> Result<(String, tokio::task::JoinHandle<()>), Error> {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::Config(e.to_string()))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::Config(e.to_string()))?
        .port();
    let name = format!("{prefix}@127.0.0.1:{port}");
    let (node, cookie) = (name.clone(), cookie.to_string());
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (node, cookie) = (node.clone(), cookie.clone());
            tokio::spawn(async move {
                if crate::remote::respond_raw(&mut stream, &node, &cookie)
                    .await
                    .is_ok()
                {
                    let mut sink = vec![0u8; 64 * 1024];
                    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    Ok((name, task))
}

/// A peer that completes the handshake as node `prefix@127.0.0.1:<port>` on every
/// connection and then reads nothing until `true` is sent on the returned channel
/// (from then on it reads and discards everything, like [`mute_peer`]): a link to it
/// fills up. It stops when the returned task is aborted.
pub async fn stalled_peer(
    prefix: &str,
    cookie: &str,
) -> Result<
    (
        String,
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    ),
    Error,
> {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| Error::Config(e.to_string()))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::Config(e.to_string()))?
        .port();
    let name = format!("{prefix}@127.0.0.1:{port}");
    let (node, cookie) = (name.clone(), cookie.to_string());
    let (release, released) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (node, cookie, mut released) = (node.clone(), cookie.clone(), released.clone());
            tokio::spawn(async move {
                if crate::remote::respond_raw(&mut stream, &node, &cookie)
                    .await
                    .is_ok()
                    && released.wait_for(|r| *r).await.is_ok()
                {
                    let mut sink = vec![0u8; 64 * 1024];
                    while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    Ok((name, release, task))
}

/// Cuts every link between `node` and the node `peer`, as a network fault would: both
/// sides see the links die; unacknowledged important sends are resent once the links
/// are back.
pub fn sever_links(node: &crate::Node, peer: &crate::NodeName) {
    if let Some(remote) = node.remote() {
        crate::remote::sever(remote, peer);
    }
}

/// Asks node `on` to spawn an actor of `kind` (`args` MessagePack-encoded) with the raw
/// reentrancy mode code `mode` in its spawn options, as a node of another version could
/// send it.
pub async fn spawn_remote_with_mode_code(
    node: &crate::Node,
    on: &crate::NodeName,
    kind: &str,
    args: Vec<u8>,
    mode: i32,
) -> Result<crate::Pid, Error> {
    let options = crate::remote::wire::WireSpawnOptions {
        reentrancy_mode: mode,
        ..Default::default()
    };
    node.spawn_remote_raw(on, kind, args, options).await
}

/// Calls the process registered as `name` on node `on` with a message in its wire form
/// (`tag`, `payload` of the test's choosing) and returns the reply's payload: for
/// tests of what a node answers to requests it cannot decode.
pub async fn call_named_raw(
    node: &crate::Node,
    on: &crate::NodeName,
    name: &str,
    tag: &'static str,
    payload: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    let remote = node
        .remote()
        .ok_or_else(|| Error::Config("this node has no network side (set a cookie)".into()))?;
    let reply = remote
        .call_named_raw(on, name, tag, payload, node.config().call_timeout)
        .await?;
    Ok(reply.to_vec())
}
