use ackor::{Message, RemoteMessage};

// Forgot the serde derives.
#[derive(Message, RemoteMessage)]
#[remote(tag = "app.plain.v1")]
struct Plain(u64);

fn main() {}
