//! Messages that cross the wire: the [`RemoteMessage`] tag, the per-actor table of
//! remote-capable messages, and the payload codec.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Actor, Envelope, Forward, Handler, Message, Meta, MsgEnvelope, ReplyHandle};
use crate::error::Error;
use crate::fasthash::FastMap;
use crate::identity::ChainId;
use crate::identity::Pid;
use crate::node::{RemoteReplyTo, Undelivered};

/// A message type that can be sent to actors on other nodes.
///
/// It is a serde type with a stable wire `TAG`, declared once; its reply is a serde type
/// too. The actor lists the remote messages it accepts in
/// [`Actor::remote_messages`]. With the `macros` feature (on by default),
/// `#[derive(RemoteMessage)]` with `#[remote(tag = "...")]` writes this impl, and
/// `#[ackor::actor]` registers every remote message the actor handles, so none is
/// forgotten: see [the macros](crate#messages-and-actors-with-the-macros). By hand:
///
/// ```
/// use ackor::{Message, RemoteMessage};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Deposit { amount: u64 }
/// impl Message for Deposit { type Reply = u64; }
/// impl RemoteMessage for Deposit { const TAG: &'static str = "bank.deposit.v1"; }
/// ```
pub trait RemoteMessage: Message<Reply: Serialize + DeserializeOwned> + Serialize + DeserializeOwned {
    /// The stable name of the message type on the wire. Change it when the format
    /// changes incompatibly.
    const TAG: &'static str;
}

/// How message values become payload bytes, chosen per message type when it is
/// registered ([`RemoteMessages::add`] uses [`MessagePack`], [`RemoteMessages::add_with`]
/// any other). Both nodes must register the message with the same codec: it is part of
/// the message's wire contract, like its tag.
///
/// ```
/// use ackor::{Codec, Error};
/// use serde::{de::DeserializeOwned, Serialize};
///
/// /// Debug-friendly payloads (here: MessagePack with field names, for the example).
/// struct Named;
/// impl Codec for Named {
///     fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
///         rmp_serde::to_vec_named(value).map_err(|e| Error::Codec(e.to_string()))
///     }
///     fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
///         rmp_serde::from_slice(bytes).map_err(|e| Error::Codec(e.to_string()))
///     }
/// }
/// let bytes = Named::encode(&(1u8, "x")).unwrap();
/// assert_eq!(Named::decode::<(u8, String)>(&bytes).unwrap(), (1, "x".to_string()));
/// ```
pub trait Codec: 'static {
    /// Encodes a value.
    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error>;
    /// Decodes a value; malformed bytes give [`Error::Codec`].
    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error>;
    /// Encodes a value at the end of `out` (which is reused from message to message).
    /// The default appends what [`Codec::encode`] returns; override it to write into
    /// `out` directly and save an allocation per message.
    fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&Self::encode(value)?);
        Ok(())
    }
}

/// The default codec: MessagePack (`rmp-serde`), compact, fields by position.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessagePack;

impl Codec for MessagePack {
    fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
        rmp_serde::to_vec(value).map_err(|e| Error::Codec(e.to_string()))
    }

    fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
        rmp_serde::from_slice(bytes).map_err(|e| Error::Codec(e.to_string()))
    }

    fn encode_into<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<(), Error> {
        rmp_serde::encode::write(out, value).map_err(|e| Error::Codec(e.to_string()))
    }
}

/// What a received message's envelope carries besides the message and its reply
/// route.
pub(crate) struct Carried {
    pub(crate) from: Option<Pid>,
    pub(crate) chain: Option<ChainId>,
    pub(crate) path: Vec<u64>,
    pub(crate) meta: Option<Box<Meta>>,
}

/// Turns received bytes into an envelope for actor `A`.
type DeliverFn<A> = fn(&[u8], Carried, Option<RemoteReplyTo>) -> Result<Box<dyn Envelope<A>>, Undelivered>;
/// Encodes a message given as `&dyn Any` (the sender knows its type, not its serde
/// bounds) at the end of a buffer.
type EncodeFn = fn(&dyn Any, &mut Vec<u8>) -> Result<(), Error>;
/// Decodes a reply into a boxed value of the message's reply type.
pub(crate) type DecodeReply = fn(&[u8]) -> Result<Box<dyn Any + Send>, Error>;

/// The remote messages an actor type accepts; filled in by
/// [`Actor::remote_messages`].
///
/// A message type missing here fails at run time with [`Error::UnknownMessage`], on the
/// receiving node and on the sending one (which encodes with the table of the same actor
/// type). `#[ackor::actor]` fills the table from the actor's `#[handler]`s instead (see
/// [the macros](crate#messages-and-actors-with-the-macros)); by hand:
///
/// ```
/// use ackor::{Actor, BoxError, Context, Handler, Message, RemoteMessage, RemoteMessages};
/// use serde::{Deserialize, Serialize};
///
/// struct Bank { balance: u64 }
/// #[derive(Serialize, Deserialize)]
/// struct Deposit(u64);
/// impl Message for Deposit { type Reply = u64; }
/// impl RemoteMessage for Deposit { const TAG: &'static str = "bank.deposit.v1"; }
///
/// impl Actor for Bank {
///     type Args = ();
///     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Bank { balance: 0 }) }
///     fn remote_messages(messages: &mut RemoteMessages<Self>) {
///         messages.add::<Deposit>();
///     }
/// }
/// impl Handler<Deposit> for Bank {
///     type Return = u64;
///     async fn handle(&mut self, msg: Deposit, _: &mut Context<Self>) -> u64 {
///         self.balance += msg.0;
///         self.balance
///     }
/// }
/// ```
pub struct RemoteMessages<A: Actor> {
    /// By the tag's bytes: a received tag is looked up as it arrived.
    by_tag: FastMap<&'static [u8], DeliverFn<A>>,
    by_type: FastMap<TypeId, (&'static str, EncodeFn, DecodeReply)>,
}

impl<A: Actor> RemoteMessages<A> {
    fn new() -> Self {
        RemoteMessages {
            by_tag: FastMap::default(),
            by_type: FastMap::default(),
        }
    }

    /// Accepts `M` from other nodes (and lets this node send `M` to remote actors of
    /// type `A`), with payloads in [`MessagePack`].
    pub fn add<M>(&mut self) -> &mut Self
    where
        M: RemoteMessage,
        A: Handler<M>,
    {
        self.add_with::<M, MessagePack>()
    }

    /// Like [`RemoteMessages::add`], with payloads (the message and its reply) in
    /// codec `C`.
    pub fn add_with<M, C>(&mut self) -> &mut Self
    where
        M: RemoteMessage,
        A: Handler<M>,
        C: Codec,
    {
        self.by_tag.insert(M::TAG.as_bytes(), deliver::<A, M, C>);
        self.by_type.insert(
            TypeId::of::<M>(),
            (M::TAG, encode_any::<M, C>, decode_reply::<M, C>),
        );
        self
    }

    /// Builds the envelope for a received message.
    pub(crate) fn deliver(
        &self,
        tag: &[u8],
        payload: &[u8],
        carried: Carried,
        reply: Option<RemoteReplyTo>,
    ) -> Result<Box<dyn Envelope<A>>, Undelivered> {
        match self.by_tag.get(tag) {
            Some(f) => f(payload, carried, reply),
            None => Err((
                Error::UnknownMessage(String::from_utf8_lossy(tag).into_owned()),
                reply,
            )),
        }
    }

    /// The tag, encoder and reply decoder for message type `M`, when registered.
    pub(crate) fn sender_side<M: 'static>(&self) -> Option<(&'static str, EncodeFn, DecodeReply)> {
        self.by_type.get(&TypeId::of::<M>()).copied()
    }
}

fn deliver<A, M, C>(
    payload: &[u8],
    carried: Carried,
    reply: Option<RemoteReplyTo>,
) -> Result<Box<dyn Envelope<A>>, Undelivered>
where
    A: Handler<M>,
    M: RemoteMessage,
    C: Codec,
{
    let msg: M = match C::decode(payload) {
        Ok(m) => m,
        Err(e) => return Err((e, reply)),
    };
    let reply = reply.map(|to| {
        let send = to.send;
        ReplyHandle::<M::Reply>::forwarding(Forward {
            send: Box::new(move |outcome: Result<M::Reply, Error>, ack| {
                send(outcome.and_then(|v| C::encode(&v)), ack);
            }),
            ack_timeout: to.ack_timeout,
        })
    });
    Ok(Box::new(MsgEnvelope {
        msg,
        sender: carried.from,
        reply,
        chain: carried.chain,
        path: carried.path.into_boxed_slice(),
        meta: carried.meta,
    }))
}

fn encode_any<M: RemoteMessage, C: Codec>(msg: &dyn Any, out: &mut Vec<u8>) -> Result<(), Error> {
    match msg.downcast_ref::<M>() {
        Some(m) => C::encode_into(m, out),
        None => Err(Error::Codec("message type mismatch".into())),
    }
}

fn decode_reply<M: RemoteMessage, C: Codec>(bytes: &[u8]) -> Result<Box<dyn Any + Send>, Error> {
    let v: M::Reply = C::decode(bytes)?;
    Ok(Box::new(v))
}

/// The table of actor type `A`, built once per process from
/// [`Actor::remote_messages`].
pub(crate) fn table<A: Actor>() -> Arc<RemoteMessages<A>> {
    static TABLES: OnceLock<Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>> = OnceLock::new();
    let tables = TABLES.get_or_init(Default::default);
    let mut map = tables.lock().unwrap_or_else(|p| p.into_inner());
    let entry = map.entry(TypeId::of::<A>()).or_insert_with(|| {
        let mut t = RemoteMessages::<A>::new();
        A::remote_messages(&mut t);
        Arc::new(t)
    });
    match entry.clone().downcast::<RemoteMessages<A>>() {
        Ok(t) => t,
        // Unreachable: the entry for A's TypeId is always a RemoteMessages<A>.
        Err(_) => Arc::new(RemoteMessages::new()),
    }
}

/// What `#[ackor::actor]` calls to register each message type its handlers take:
/// `(&Probe::<A, M>::new()).register(messages)`, with [`ViaRemote`] and [`ViaLocal`] in
/// scope. Method lookup tries the receiver's type `&Probe` before `&&Probe`, so
/// [`ViaRemote`] (on `Probe`, method on `&Probe`) wins where `M` is a [`RemoteMessage`]
/// and registers it; elsewhere only [`ViaLocal`] (on `&Probe`) applies, and does nothing.
/// The choice is made on the concrete types at the call site (autoref specialization),
/// not by trait selection on generic parameters.
#[doc(hidden)]
pub struct Probe<A, M>(PhantomData<fn() -> (A, M)>);

impl<A, M> Probe<A, M> {
    /// A probe for actor `A` and message `M`.
    #[allow(clippy::new_without_default)] // only the macro builds one
    pub fn new() -> Self {
        Probe(PhantomData)
    }
}

/// Registers `M` for remote use: the message is a [`RemoteMessage`]. See [`Probe`].
#[doc(hidden)]
pub trait ViaRemote<A: Actor> {
    /// Adds the message to `messages` with [`RemoteMessages::add`].
    fn register(&self, messages: &mut RemoteMessages<A>);
}

impl<A, M> ViaRemote<A> for Probe<A, M>
where
    A: Handler<M>,
    M: RemoteMessage,
{
    fn register(&self, messages: &mut RemoteMessages<A>) {
        messages.add::<M>();
    }
}

/// Leaves `M` local-only: the message is not a [`RemoteMessage`]. See [`Probe`].
#[doc(hidden)]
pub trait ViaLocal<A: Actor> {
    /// Does nothing.
    fn register(&self, messages: &mut RemoteMessages<A>);
}

impl<A: Actor, M> ViaLocal<A> for &Probe<A, M> {
    fn register(&self, messages: &mut RemoteMessages<A>) {
        let _ = messages;
    }
}
