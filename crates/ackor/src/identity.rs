//! Names of nodes and processes: [`NodeName`], [`Pid`], [`ProcessId`], [`Ref`].

use std::fmt;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The name of a node, `name@host:port` for a networked node or any non-empty string
/// for a local one.
///
/// Cloning is cheap (a reference count).
///
/// ```
/// use ackor::NodeName;
///
/// let name = NodeName::new("a@127.0.0.1:4370");
/// assert_eq!(name.as_str(), "a@127.0.0.1:4370");
/// assert_eq!(name.to_string(), "a@127.0.0.1:4370");
/// ```
#[derive(Clone, Eq, PartialOrd, Ord)]
pub struct NodeName(Arc<str>);

/// Two handles to one name are equal without comparing the text (a node's pids share
/// its name).
impl PartialEq for NodeName {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

/// As the text hashes (equal names hash equal, shared or not).
impl std::hash::Hash for NodeName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl NodeName {
    /// Creates a node name.
    pub fn new(name: impl AsRef<str>) -> Self {
        NodeName(Arc::from(name.as_ref()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// The identity of one process on one node incarnation. Never reused: a node that
/// restarts gets a new `creation`, and ids only grow.
///
/// ```
/// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
/// use ackor::{Actor, BoxError, Context, Node};
///
/// struct Idle;
/// impl Actor for Idle {
///     type Args = ();
///     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Idle) }
/// }
///
/// let node = Node::builder().name("doc@local").start().await?;
/// let a = node.spawn::<Idle>(())?;
/// let b = node.spawn::<Idle>(())?;
/// assert_ne!(a.pid(), b.pid());
/// assert_eq!(a.pid().node(), node.name());
/// node.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid {
    node: NodeName,
    id: u64,
    creation: u32,
}

impl Pid {
    /// Creates a pid; a node makes these when it spawns processes.
    pub fn new(node: NodeName, id: u64, creation: u32) -> Self {
        Pid { node, id, creation }
    }

    /// The node the process runs on.
    pub fn node(&self) -> &NodeName {
        &self.node
    }

    /// The process number, unique on its node incarnation.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The process id, borrowed (a table keyed by it borrows it from its entries).
    pub(crate) fn id_ref(&self) -> &u64 {
        &self.id
    }

    /// The incarnation of the node that spawned the process.
    pub fn creation(&self) -> u32 {
        self.creation
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}.{}.{}>", self.node, self.id, self.creation)
    }
}

/// Reads a pid as it is displayed, `<node.id.creation>` (the node name may hold dots:
/// the last two are the separators).
///
/// ```
/// use ackor::{NodeName, Pid};
///
/// let pid = Pid::new(NodeName::new("a@127.0.0.1:4000"), 7, 42);
/// let read: Pid = pid.to_string().parse().unwrap();
/// assert_eq!(read, pid);
/// assert!("<no-id>".parse::<Pid>().is_err());
/// ```
impl std::str::FromStr for Pid {
    type Err = crate::error::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || crate::error::Error::Config(format!("`{s}` is not a pid (<node.id.creation>)"));
        let inner = s
            .trim()
            .strip_prefix('<')
            .and_then(|s| s.strip_suffix('>'))
            .ok_or_else(bad)?;
        let mut parts = inner.rsplitn(3, '.');
        let creation = parts.next().and_then(|c| c.parse().ok()).ok_or_else(bad)?;
        let id = parts.next().and_then(|i| i.parse().ok()).ok_or_else(bad)?;
        let node = parts.next().filter(|n| !n.is_empty()).ok_or_else(bad)?;
        Ok(Pid::new(NodeName::new(node), id, creation))
    }
}

impl fmt::Debug for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A registered name on a given node.
///
/// ```
/// use ackor::{NodeName, ProcessId};
///
/// let id = ProcessId::new("bank", NodeName::new("a@127.0.0.1:4370"));
/// assert_eq!(id.to_string(), "{bank, a@127.0.0.1:4370}");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ProcessId {
    /// The registered name.
    pub name: String,
    /// The node the name is registered on.
    pub node: NodeName,
}

impl ProcessId {
    /// Creates a process id.
    pub fn new(name: impl Into<String>, node: NodeName) -> Self {
        ProcessId {
            name: name.into(),
            node,
        }
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}, {}}}", self.name, self.node)
    }
}

/// A reference unique across nodes and node incarnations: monitor handles, call
/// correlation, delivery ids.
///
/// ```
/// use ackor::{NodeName, Ref};
///
/// let node = NodeName::new("a@local");
/// let a = Ref::new(node.clone(), 1);
/// let b = Ref::new(node, 1);
/// assert_ne!(a, b);
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ref {
    node: NodeName,
    creation: u32,
    id: u64,
}

static NEXT_REF: AtomicU64 = AtomicU64::new(1);

impl Ref {
    /// Makes a fresh reference owned by `node` in incarnation `creation`.
    pub fn new(node: NodeName, creation: u32) -> Self {
        Ref {
            node,
            creation,
            id: NEXT_REF.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// A reference with a known number (one received from another node).
    pub(crate) fn from_parts(node: NodeName, creation: u32, id: u64) -> Self {
        Ref { node, creation, id }
    }

    /// The number of the reference, unique within its node incarnation.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#Ref<{}.{}.{}>", self.node, self.creation, self.id)
    }
}

/// The call chain a message belongs to: every request and call made while handling a
/// message carries the chain of that message (or a new one), so an actor can let in a
/// message of a chain it is itself waiting on (call-chain reentrancy), and a blocking
/// call that would wait on itself is detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ChainId(NonZeroU64);

impl ChainId {
    /// Decodes a wire value (0: none).
    pub(crate) fn from_wire(v: u64) -> Option<Self> {
        NonZeroU64::new(v).map(ChainId)
    }

    pub(crate) fn get(self) -> u64 {
        self.0.get()
    }

    pub(crate) fn to_wire(chain: Option<Self>) -> u64 {
        chain.map_or(0, |c| c.0.get())
    }

    /// A chain id for message `seq` of process `id` on the node with `seed`: distinct
    /// per message without any shared counter (splitmix64 finalizer over the three).
    pub(crate) fn derive(seed: u64, id: u64, seq: u64) -> Self {
        let mut z = seed ^ id.rotate_left(32) ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 63 bits: at most 9 bytes as a varint, which the wire's fast decoder takes.
        ChainId(NonZeroU64::new(z >> 1).unwrap_or(NonZeroU64::MIN))
    }
}
