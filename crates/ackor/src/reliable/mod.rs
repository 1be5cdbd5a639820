//! Important delivery: the sender learns for certain whether a message reached the
//! recipient's mailbox (or, for an important response, the waiting caller).
//!
//! Everything about it is in this folder; the network side below only carries its
//! frames and keeps, under each peer's lock, what [`store`] asks it to keep.
//!
//! **Sending** ([`send`]). An important send gets a *delivery id* from the node's call
//! counter (unique per node incarnation, increasing, so the receiver's window can be
//! a ring). Its frame is a `Deliver` with `ack` set and that id. As the frame is
//! queued on a link, the peer's [custody](crate::remote::Custody) — this folder's
//! [`store::PeerCustody`] — copies it (into 16 KiB chunks shared by neighbouring
//! frames), in the same step, so a reconnect can never resend a frame that was not
//! queued yet. At most `important_window` frames per peer wait for their
//! acknowledgement; beyond it the send fails at once with [`Error::MailboxFull`]. The
//! sender waits on [`AckWait`], whose deadline runs from the send; the deadline is kept
//! with the peer's pending calls, whose one sweeper task ends the sends that reach it
//! (no timer per send).
//!
//! **Acknowledging** ([`receive`]). The receiving node puts the message in the mailbox
//! (or learns why it cannot) and answers on the link the frame came in on, with the
//! id and the error if any. Before delivering it asks the peer's dedup window
//! ([`dedup`]): a copy it already has (resent after a link flap) is not delivered again
//! but answered again with the first copy's outcome.
//!
//! **Why each answer is true.**
//! - `Ok(())`: the receiving node said the message is in the mailbox.
//! - [`Error::ProcessUnknown`], [`Error::MailboxFull`], [`Error::ProcessTerminated`],
//!   [`Error::UnknownMessage`], ...: the receiving node said so, and did not deliver it.
//! - [`Error::NoConnection`]: the frame never left this node (no link could be had), so
//!   it surely did not arrive. A send whose timeout passes while the links are still
//!   being made is taken out of the queue then (it never leaves) and answers this too.
//! - [`Error::ConnectionLost`]: the peer restarted (a new incarnation) before answering:
//!   the old one may have had it; the store forgets the copy (a new incarnation must
//!   not get the old one's messages).
//! - [`Error::Timeout`]: the frame left, and no answer came within the timeout.
//!   Across a link flap to the *same* incarnation the copy is resent and the dedup
//!   window keeps it from landing twice, so the sender still gets a definite answer.
//!
//! **Important responses** ([`response`]). A responder's reply carries an `ack_id`;
//! the caller's node answers it with whether a caller was still waiting
//! ([`Error::ResponseIgnored`] if not), and the responder waits for that answer as for
//! a call of its own.

mod dedup;
mod receive;
mod response;
mod send;
mod store;

pub(crate) use receive::{Acks, Arrival, arrived, refused, settle_when_handled};
pub(crate) use response::{AckSender, confirm_response, send_response};
pub(crate) use send::{AckWait, delivery_id, send};
pub(crate) use store::new_custody;

#[cfg(doc)]
use crate::error::Error;
