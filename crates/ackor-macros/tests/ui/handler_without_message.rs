use ackor::{Actor, BoxError, Context};

struct Clock;

#[ackor::actor]
impl Actor for Clock {
    type Args = ();
    async fn init(_: (), _ctx: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Clock)
    }

    #[handler]
    fn tick(&mut self) {}
}

fn main() {}
