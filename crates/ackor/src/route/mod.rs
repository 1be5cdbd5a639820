//! How a message finds its actor: [`ActorRef`], the typed handle every send goes
//! through, decides for each verb whether the actor is on this node (its mailbox is
//! pushed) or on another (the message is encoded and goes through the network side,
//! or through `reliable` for an important send). Beside it: the futures of the
//! verbs that wait ([`Call`], [`SendImportant`]), the [`Node`](crate::Node) verbs that
//! hand out typed handles (spawn, lookup, resolve, remote spawn), and the
//! [`Context`](crate::Context) verbs that address other actors.

mod actor_ref;
mod alias;
mod by_name;
mod call;
mod context;
mod encoded;
mod remote_spawn;
mod remote_target;
mod spawn;

pub use actor_ref::ActorRef;
pub use call::{Call, CallFuture, SendImportant};
pub use encoded::Encoded;
pub use remote_spawn::RemoteActor;
