use ackor::{Message, RemoteMessage};
use serde::{Deserialize, Serialize};

#[derive(Message, RemoteMessage, Serialize, Deserialize)]
struct NoTag;

#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[remote(tag = "")]
struct EmptyTag;

#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[remote(tag = 7)]
struct NumberTag;

#[derive(Message, RemoteMessage, Serialize, Deserialize)]
#[remote(tag = "app.versioned.v1", version = 2)]
struct UnknownKey;

fn main() {}
