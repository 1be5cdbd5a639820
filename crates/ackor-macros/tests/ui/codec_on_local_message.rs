use ackor::{Actor, BoxError, Context, Message, MessagePack};

#[derive(Message)]
struct LocalOnly;

struct Worker;

#[ackor::actor]
impl Actor for Worker {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Worker)
    }

    // A codec is for the wire: LocalOnly is not a RemoteMessage.
    #[handler(codec = MessagePack)]
    fn work(&mut self, _: LocalOnly) {}
}

fn main() {}
