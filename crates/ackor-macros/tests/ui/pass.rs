// Every form the macros accept builds.
use ackor::{Actor, BoxError, Context, Message, MessagePack, RemoteMessage, RemoteMessages, Reply};
use serde::{Deserialize, Serialize};

#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[message(reply = u64)]
#[remote(tag = "pass.get.v1")]
struct Get;

#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[remote(tag = "pass.set.v1")]
struct Set(u64);

#[derive(Message)]
#[message(reply = bool, interleave)]
struct Health;

#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[message(reply = Option<T>)]
#[remote(tag = "pass.echo.v1")]
struct Echo<T: Send + 'static>(T);

struct Cell<T> {
    value: u64,
    last: Option<T>,
}

#[ackor::actor]
impl<T> Actor for Cell<T>
where
    T: Clone + Send + 'static,
{
    type Args = ();

    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Cell { value: 0, last: None })
    }

    fn remote_messages(_: &mut RemoteMessages<Self>) {}

    /// Docs stay with the handler.
    #[handler]
    async fn get(&mut self, _msg: Get, _ctx: &mut Context<Self>) -> Reply<u64> {
        Reply::Value(self.value)
    }

    #[handler(codec = MessagePack)]
    fn set(&mut self, Set(value): Set) {
        self.value = value;
    }

    #[handler]
    #[allow(clippy::unused_self)]
    fn health(&mut self, _: Health) -> bool {
        true
    }

    // `#[cfg]` removes the handler, its impl and its registration: `Missing` is no type.
    #[handler]
    #[cfg(any())]
    fn missing(&mut self, _: Missing) {}

    #[handler]
    fn echo(&mut self, Echo(value): Echo<T>) -> Option<T> {
        self.last.replace(value)
    }
}

// Plain `fn` handlers that share a name, or have a raw one, on an actor type that is a
// `Box` (no inherent methods allowed on it here); `return` and `?` answer the reply.
#[derive(Message)]
#[message(reply = Result<u32, String>)]
struct Parse(String);

#[derive(Message)]
#[message(reply = u32)]
struct Len(String);

struct Parser;

#[ackor::actor]
impl Actor for Box<Parser> {
    type Args = ();

    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Box::new(Parser))
    }

    #[handler]
    fn on(&mut self, Parse(text): Parse) -> Result<u32, String> {
        if text.is_empty() {
            return Err("empty".into());
        }
        let n = text.parse::<u32>().map_err(|e| e.to_string())?;
        Ok(n)
    }

    #[handler]
    fn on(&mut self, Len(text): Len, _ctx: &mut Context<Self>) -> u32 {
        text.len() as u32
    }
}

struct Keywords;

#[derive(Message)]
struct Type;

#[ackor::actor]
impl Actor for Keywords {
    type Args = ();

    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Keywords)
    }

    #[handler]
    fn r#type(&mut self, _: Type) {}
}

fn main() {}
