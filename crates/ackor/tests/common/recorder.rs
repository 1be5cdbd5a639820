//! A receiver that records every number it gets, for the fault tests (netns, turmoil).

use std::sync::{Arc, Mutex};

use ackor::{Actor, BoxError, Context, Handler, Message, RemoteMessage, RemoteMessages};
use serde::{Deserialize, Serialize};

/// What a receiver got, in arrival order, shared with the test.
pub type Log = Arc<Mutex<Vec<u64>>>;

/// Records every number it receives.
pub struct Recorder(pub Log);
impl Actor for Recorder {
    type Args = Log;
    async fn init(log: Log, _: &mut Context<Self>) -> Result<Self, BoxError> {
        Ok(Recorder(log))
    }
    fn remote_messages(m: &mut RemoteMessages<Self>) {
        m.add::<Rec>().add::<Count>();
    }
}

#[derive(Serialize, Deserialize)]
pub struct Rec(pub u64);
impl Message for Rec {
    type Reply = ();
}
impl RemoteMessage for Rec {
    const TAG: &'static str = "test.fault.rec";
}
impl Handler<Rec> for Recorder {
    type Return = ();
    async fn handle(&mut self, msg: Rec, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(msg.0);
    }
}

/// How many numbers the recorder has.
#[derive(Serialize, Deserialize)]
pub struct Count;
impl Message for Count {
    type Reply = usize;
}
impl RemoteMessage for Count {
    const TAG: &'static str = "test.fault.count";
}
impl Handler<Count> for Recorder {
    type Return = usize;
    async fn handle(&mut self, _: Count, _: &mut Context<Self>) -> usize {
        self.0.lock().unwrap().len()
    }
}
