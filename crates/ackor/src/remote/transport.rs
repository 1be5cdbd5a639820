//! Where links' byte streams come from: real TCP by default, or a [`Transport`] set in
//! [`RemoteConfig::transport`](super::RemoteConfig::transport) (a network simulator in
//! tests, for instance). Only making and accepting connections goes through it; TLS,
//! the handshake and framing run on top of whatever it gives.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

use super::RemoteConfig;

/// A boxed, sendable future, as the transport traits return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A connection's byte stream, as a [`Transport`] gives it.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Connection for T {}

/// How a node makes and accepts the connections of its links, in place of real TCP.
///
/// `addr` is the `host:port` part of a node name (`name@host:port`): [`Transport::bind`]
/// gets this node's, [`Transport::connect`] the peer's.
/// Connecting and accepting are bounded by the handshake timeout; the connection must
/// be an ordered, reliable byte stream (as TCP). The crate's `tests/turmoil_faults.rs`
/// has one over [turmoil](https://docs.rs/turmoil)'s simulated network.
pub trait Transport: Send + Sync + 'static {
    /// Listens on `addr`; returns the listener and the address it is bound to (its port
    /// replaces a port 0 in the node's name).
    fn bind(&self, addr: &str) -> BoxFuture<'static, io::Result<(Box<dyn Listener>, SocketAddr)>>;

    /// Connects to `addr`.
    fn connect(&self, addr: &str) -> BoxFuture<'static, io::Result<Box<dyn Connection>>>;
}

/// A listener made by [`Transport::bind`]; dropping it stops listening.
pub trait Listener: Send {
    /// The next incoming connection, with the address it came from.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<(Box<dyn Connection>, SocketAddr)>>;
}

/// A node's listener: real TCP, or a custom transport's.
pub(crate) enum Listening {
    Tcp(TcpListener),
    Custom(Box<dyn Listener>),
}

/// A fresh connection, before TLS and the handshake.
pub(crate) enum Raw {
    Tcp(TcpStream),
    Custom(Box<dyn Connection>),
}

/// Listens on `addr` with the configured transport; returns the bound address too.
pub(crate) async fn bind(config: &RemoteConfig, addr: &str) -> io::Result<(Listening, SocketAddr)> {
    match &config.transport {
        Some(t) => {
            let (listener, bound) = t.bind(addr).await?;
            Ok((Listening::Custom(listener), bound))
        }
        None => {
            let listener = TcpListener::bind(addr).await?;
            let bound = listener.local_addr()?;
            Ok((Listening::Tcp(listener), bound))
        }
    }
}

impl Listening {
    /// The next incoming connection.
    pub(crate) async fn accept(&mut self) -> io::Result<(Raw, SocketAddr)> {
        match self {
            Listening::Tcp(l) => {
                let (tcp, addr) = l.accept().await?;
                let _ = tcp.set_nodelay(true);
                Ok((Raw::Tcp(tcp), addr))
            }
            Listening::Custom(l) => {
                let (io, addr) = l.accept().await?;
                Ok((Raw::Custom(io), addr))
            }
        }
    }
}

/// Connects to `addr` with the configured transport.
pub(crate) async fn connect(config: &RemoteConfig, addr: &str) -> io::Result<Raw> {
    match &config.transport {
        Some(t) => Ok(Raw::Custom(t.connect(addr).await?)),
        None => {
            let tcp = TcpStream::connect(addr).await?;
            let _ = tcp.set_nodelay(true);
            Ok(Raw::Tcp(tcp))
        }
    }
}
