use ackor::{Actor, BoxError, Context, Message};

struct Tick;
impl Message for Tick {
    type Reply = ();
}

struct Clock;

#[ackor::actor]
impl Actor for Clock {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Clock)
    }

    // A plain `fn` is handled at once: it cannot wait. (Write `async fn` to wait.)
    #[handler]
    fn tick(&mut self, _: Tick) {
        tokio::task::yield_now().await;
    }
}

fn main() {}
