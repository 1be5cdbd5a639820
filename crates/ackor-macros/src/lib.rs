//! Macros for [ackor](https://docs.rs/ackor): declare a message, a remote message and an
//! actor's handlers in one place each, so a remote message cannot be half-declared.
//!
//! Use them through `ackor` (its default feature `macros` re-exports them at its root),
//! not from this crate: the code they generate names `::ackor::...`, so the `ackor`
//! crate must be a dependency under that name (not renamed in `Cargo.toml`).
//!
//! - [`#[derive(Message)]`](macro@Message): `impl Message`, the reply type from
//!   `#[message(reply = Type)]` (`()` without it).
//! - [`#[derive(RemoteMessage)]`](macro@RemoteMessage): `impl RemoteMessage` with the wire
//!   tag from `#[remote(tag = "...")]`, which is required.
//! - [`#[actor]`](macro@actor), on an `impl Actor for X` block: each method marked
//!   `#[handler]` becomes an `impl Handler<M> for X`, and `Actor::remote_messages`
//!   registers every handled message type that is a `RemoteMessage`. Forgetting to
//!   register one is no longer possible.
//!
//! ```
//! use ackor::{Actor, BoxError, Context, Message, Node, RemoteMessage};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Message, RemoteMessage, Serialize, Deserialize)]
//! #[message(reply = u64)]
//! #[remote(tag = "bank.deposit.v1")]
//! struct Deposit(u64);
//!
//! struct Bank { balance: u64 }
//!
//! #[ackor::actor]
//! impl Actor for Bank {
//!     type Args = ();
//!     async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
//!         Ok(Bank { balance: 0 })
//!     }
//!
//!     // Becomes `impl Handler<Deposit> for Bank`; `Deposit` is registered for
//!     // remote use because it is a `RemoteMessage`.
//!     #[handler]
//!     async fn deposit(&mut self, msg: Deposit) -> u64 {
//!         self.balance += msg.0;
//!         self.balance
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ackor::Error> {
//! let node = Node::builder().name("macros@localhost").start().await?;
//! let bank = node.spawn::<Bank>(())?;
//! assert_eq!(bank.call(Deposit(7)).await?, 7);
//! node.shutdown().await;
//! # Ok(()) }
//! ```

use proc_macro::TokenStream;

mod actor;
mod message;

/// Implements `ackor::Message`.
///
/// `#[message(reply = Type)]` sets the reply type (`()` when omitted);
/// `#[message(interleave)]` sets `Message::INTERLEAVE` (the message runs even while a
/// stash-mode actor holds its user messages: for read-only queries).
///
/// ```
/// use ackor::Message;
///
/// #[derive(Message)]
/// #[message(reply = u64)]
/// struct Balance;
///
/// #[derive(Message)] // reply ()
/// struct Reset;
///
/// #[derive(Message)]
/// #[message(reply = bool, interleave)]
/// struct Health;
///
/// fn reply_of<M: Message>() -> &'static str { std::any::type_name::<M::Reply>() }
/// assert_eq!(reply_of::<Balance>(), "u64");
/// assert_eq!(reply_of::<Reset>(), "()");
/// assert!(<Health as Message>::INTERLEAVE);
/// ```
#[proc_macro_derive(Message, attributes(message))]
pub fn derive_message(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    message::derive_message(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Implements `ackor::RemoteMessage`: the stable wire tag from the required
/// `#[remote(tag = "...")]`.
///
/// It does not implement `Message` (derive [`Message`](macro@Message) or write the impl)
/// nor the serde traits (derive `Serialize` and `Deserialize`): a remote message needs
/// all three, and the compiler says which is missing. Change the tag when the format
/// changes incompatibly; both nodes must agree on it.
///
/// ```
/// use ackor::{Message, RemoteMessage};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Message, RemoteMessage, Serialize, Deserialize)]
/// #[message(reply = String)]
/// #[remote(tag = "chat.say.v1")]
/// struct Say { text: String }
///
/// assert_eq!(<Say as RemoteMessage>::TAG, "chat.say.v1");
/// ```
#[proc_macro_derive(RemoteMessage, attributes(remote))]
pub fn derive_remote_message(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    message::derive_remote_message(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Writes an actor's handlers inside its `impl Actor for X` block, and registers its
/// remote messages.
///
/// Each method marked `#[handler]` is moved out into an `impl Handler<M> for X`:
///
/// - `&mut self` first, then the message (`msg: M`, any pattern), then optionally the
///   context (`ctx: &mut Context<Self>`; omit it when the handler does not use it);
/// - the return type is `Handler::Return`: the reply (`M::Reply`) or a
///   `Reply<M::Reply>`; no return type means `()`;
/// - `async fn`, or plain `fn` for a handler that never waits: the macro then writes
///   `Handler::handle_now` from it, and the message is handled at once, with no future
///   made for it unless the handling is traced, followed or timed (the faster way; a
///   plain `fn` cannot `.await`);
/// - the method's attributes and docs go with it (`#[cfg]` on the whole impl): onto
///   `handle` for an `async fn`, onto `handle_now` for a plain `fn`.
///
/// The macro also writes `Actor::remote_messages`: it registers every handled message
/// type that implements `RemoteMessage` (with `RemoteMessages::add`, MessagePack
/// payloads) and skips the others, which stay local-only: sending one to a remote actor
/// fails with `Error::UnknownMessage`. `#[handler(codec = C)]` registers the message
/// with codec `C` instead (`RemoteMessages::add_with::<M, C>`); the message must then be
/// a `RemoteMessage`, or the build fails. A `remote_messages` you write in the block is
/// kept, after the generated registrations.
///
/// Whether a message is remote is decided on the concrete types: a message type that
/// depends on the actor's generic parameters is registered only with
/// `#[handler(codec = ...)]` or by hand. The impl's generics and where-clause are
/// copied to each `Handler` impl.
///
/// ```
/// use ackor::{Actor, BoxError, Context, Error, Message, MessagePack, Node, RemoteMessage, Reply};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Message, RemoteMessage, Serialize, Deserialize)]
/// #[message(reply = u64)]
/// #[remote(tag = "bank.withdraw.v1")]
/// struct Withdraw(u64);
///
/// #[derive(Message, RemoteMessage, Serialize, Deserialize)]
/// #[message(reply = u64)]
/// #[remote(tag = "bank.balance.v1")]
/// struct Balance;
///
/// /// Local only: not a `RemoteMessage`, so it is not registered.
/// #[derive(Message)]
/// struct Audit(std::sync::mpsc::Sender<u64>);
///
/// struct Bank { balance: u64 }
///
/// #[ackor::actor]
/// impl Actor for Bank {
///     type Args = u64;
///     async fn init(balance: u64, _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
///         Ok(Bank { balance })
///     }
///
///     /// Refuses to overdraw.
///     #[handler]
///     async fn withdraw(&mut self, Withdraw(amount): Withdraw, _ctx: &mut Context<Self>) -> Reply<u64> {
///         if amount > self.balance {
///             return Reply::Error(Error::rejected("insufficient funds"));
///         }
///         self.balance -= amount;
///         Reply::Value(self.balance)
///     }
///
///     #[handler(codec = MessagePack)]
///     fn balance(&mut self, _: Balance) -> u64 {
///         self.balance
///     }
///
///     #[handler]
///     fn audit(&mut self, msg: Audit) {
///         let _ = msg.0.send(self.balance);
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ackor::Error> {
/// let node = Node::builder().name("bank@localhost").start().await?;
/// let bank = node.spawn::<Bank>(10)?;
/// assert_eq!(bank.call(Withdraw(3)).await?, 7);
/// assert!(bank.call(Withdraw(100)).await.is_err());
/// assert_eq!(bank.call(Balance).await?, 7);
/// let (tx, rx) = std::sync::mpsc::channel();
/// bank.call(Audit(tx)).await?;
/// assert_eq!(rx.recv().ok(), Some(7));
/// node.shutdown().await;
/// # Ok(()) }
/// ```
#[proc_macro_attribute]
pub fn actor(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let item = syn::parse_macro_input!(item as syn::ItemImpl);
    actor::expand(args, item)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
