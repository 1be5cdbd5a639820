//! Settings of a node's network side.

use std::sync::Arc;
use std::time::Duration;

use super::tls::TlsConfig;
use super::transport::Transport;

/// How a node talks to other nodes; set through [`NodeBuilder`](crate::NodeBuilder).
///
/// ```
/// use std::time::Duration;
/// let cfg = ackor::RemoteConfig::new("secret").links_per_peer(2).heartbeat_interval(Duration::from_millis(500));
/// assert_eq!(cfg.links_per_peer, 2);
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RemoteConfig {
    /// The shared secret nodes prove to each other; it never crosses the wire.
    pub cookie: String,
    /// The largest frame accepted or sent; a larger one closes the link.
    pub max_frame_size: usize,
    /// How often an idle link sends a heartbeat.
    pub heartbeat_interval: Duration,
    /// A link that receives nothing for this long is dead.
    pub heartbeat_timeout: Duration,
    /// How long a handshake may take.
    pub handshake_timeout: Duration,
    /// How long to wait before dialing a peer again after a failure; doubles up to
    /// `max_reconnect_backoff`. While waiting, sends to the peer fail with
    /// [`Error::NoConnection`](crate::Error::NoConnection) at once.
    pub reconnect_backoff: Duration,
    /// The ceiling of the reconnect backoff.
    pub max_reconnect_backoff: Duration,
    /// TCP connections per peer; each sender→recipient pair always uses the same one.
    pub links_per_peer: usize,
    /// TLS for every link, incoming and outgoing; `None` for plain TCP.
    pub tls: Option<TlsConfig>,
    /// How long an important send or response waits for its acknowledgement before
    /// failing with [`Error::Timeout`](crate::Error::Timeout). An important send still
    /// waiting for the link to its node to be made by then is taken back and fails with
    /// [`Error::NoConnection`](crate::Error::NoConnection) instead: it never left.
    pub important_timeout: Duration,
    /// How many important sends to one peer may await their acknowledgement at once;
    /// one more fails at once with [`Error::MailboxFull`](crate::Error::MailboxFull).
    pub important_window: usize,
    /// How many bytes of encoded frames one link may hold before they are written
    /// (while the links come up: all links of the peer together). While a link holds
    /// this much or more, a plain [`ActorRef::send`](crate::ActorRef::send) on it fails
    /// at once with [`Error::MailboxFull`](crate::Error::MailboxFull) and
    /// [`ActorRef::send_wait`](crate::ActorRef::send_wait) waits until the link's
    /// writer has taken the bytes: remote sends get back-pressure instead of an
    /// unbounded queue. Calls, important sends (bounded by `important_window`), replies
    /// and the node's own frames are always queued. A frame larger than this still goes
    /// (the check is before appending), so memory per link stays below about twice this
    /// plus one frame.
    pub link_buffer: usize,
    /// Where links' connections come from; `None` for real TCP. Set with
    /// [`RemoteConfig::transport`].
    pub(crate) transport: Option<Arc<dyn Transport>>,
}

impl std::fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("cookie", &"<secret>")
            .field("max_frame_size", &self.max_frame_size)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("heartbeat_timeout", &self.heartbeat_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("reconnect_backoff", &self.reconnect_backoff)
            .field("max_reconnect_backoff", &self.max_reconnect_backoff)
            .field("links_per_peer", &self.links_per_peer)
            .field("tls", &self.tls.is_some())
            .field("important_timeout", &self.important_timeout)
            .field("important_window", &self.important_window)
            .field("link_buffer", &self.link_buffer)
            .field("transport", &self.transport.as_ref().map_or("tcp", |_| "custom"))
            .finish()
    }
}

impl RemoteConfig {
    /// Defaults with the given cookie: 8 MiB frames, heartbeat every second, dead
    /// after 5 s of silence, 5 s handshake, backoff 100 ms to 5 s, 2 links per peer,
    /// 5 s important-delivery timeout, 65,536 unacknowledged important sends per peer,
    /// 1 MiB link buffer (as Erlang's default distribution buffer busy limit).
    pub fn new(cookie: impl Into<String>) -> Self {
        RemoteConfig {
            cookie: cookie.into(),
            max_frame_size: 8 * 1024 * 1024,
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(5),
            reconnect_backoff: Duration::from_millis(100),
            max_reconnect_backoff: Duration::from_secs(5),
            links_per_peer: 2,
            tls: None,
            important_timeout: Duration::from_secs(5),
            important_window: 65_536,
            link_buffer: 1024 * 1024,
            transport: None,
        }
    }

    /// Sets the maximum frame size.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets the heartbeat interval.
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }

    /// Sets the silence after which a link is dead.
    pub fn heartbeat_timeout(mut self, d: Duration) -> Self {
        self.heartbeat_timeout = d;
        self
    }

    /// Sets the handshake timeout.
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }

    /// Sets the first reconnect backoff.
    pub fn reconnect_backoff(mut self, d: Duration) -> Self {
        self.reconnect_backoff = d;
        self
    }

    /// Sets the default important-delivery timeout.
    pub fn important_timeout(mut self, d: Duration) -> Self {
        self.important_timeout = d;
        self
    }

    /// Sets the per-peer window of unacknowledged important sends.
    pub fn important_window(mut self, n: usize) -> Self {
        self.important_window = n;
        self
    }

    /// Sets how many bytes a link may hold before plain sends on it are refused (see
    /// [`RemoteConfig::link_buffer`]).
    pub fn link_buffer(mut self, bytes: usize) -> Self {
        self.link_buffer = bytes;
        self
    }

    /// Secures every link with TLS.
    pub fn tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Sets the number of links per peer (at least 1).
    pub fn links_per_peer(mut self, n: usize) -> Self {
        self.links_per_peer = n;
        self
    }

    /// Makes and accepts links' connections with `transport` instead of real TCP (a
    /// network simulator in tests, for instance). TLS, if set, runs on top of it.
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }
}
