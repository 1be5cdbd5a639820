//! Streams to a cluster-wide name: the producer finds the consumer through the
//! cluster every time the stream (re)opens, so a consumer that moves to another
//! member (its node died, it was placed elsewhere) is found where it is now.

use std::sync::Arc;

use ackor::Error;
use ackor::stream::ProducerConfig;

use crate::cluster::Cluster;

impl Cluster {
    /// The configuration of a stream [`Producer`](ackor::stream::Producer) named
    /// `producer` whose consumer is the cluster name `name`: looked up in the cluster
    /// each time the stream opens, so the stream follows the consumer from member to
    /// member. Until some member owns the name, the producer keeps what it is given
    /// and retries.
    ///
    /// The consumer side is a [`Consumer`](ackor::stream::Consumer) registered
    /// cluster-wide:
    ///
    /// ```
    /// # #[tokio::main] async fn main() -> Result<(), ackor::Error> {
    /// use ackor::stream::{Consumer, ConsumerConfig, Delivery, Producer};
    /// use ackor::{Actor, BoxError, Context, Handler, Node, RemoteConfig};
    /// use ackor_cluster::{Cluster, ClusterConfig};
    /// # #[derive(serde::Serialize, serde::Deserialize)]
    /// # struct Order(u64);
    /// # impl ackor::Message for Order { type Reply = (); }
    /// # impl ackor::RemoteMessage for Order { const TAG: &'static str = "doc.cluster.order"; }
    /// # struct Shop;
    /// # impl Actor for Shop {
    /// #     type Args = ();
    /// #     async fn init(_: (), _: &mut Context<Self>) -> Result<Self, BoxError> { Ok(Shop) }
    /// # }
    /// # impl Handler<Delivery<Order>> for Shop {
    /// #     type Return = ();
    /// #     async fn handle(&mut self, _: Delivery<Order>, _: &mut Context<Self>) {}
    /// # }
    /// let node = Node::builder().name("shop@127.0.0.1:0").remote(RemoteConfig::new("cookie")).start().await?;
    /// let cluster = Cluster::join(&node, ClusterConfig::new("shops", "127.0.0.1:0".parse().unwrap())).await?;
    ///
    /// let shop = node.spawn::<Shop>(())?;
    /// let consumer = Consumer::<Order>::spawn(&node, "orders", &shop, ConsumerConfig::new())?;
    /// cluster.register("orders", consumer.pid()).await?;
    ///
    /// let producer = Producer::<Order>::start(&node, cluster.stream_to("checkout", "orders")).await?;
    /// let seq = producer.send(Order(1)).await?;
    /// producer.wait_confirmed(seq).await?;
    /// # cluster.leave().await;
    /// # node.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn stream_to(&self, producer: impl Into<String>, name: &str) -> ProducerConfig {
        // Weak: a producer does not keep the membership alive.
        let (cluster, name) = (Arc::downgrade(&self.inner), name.to_string());
        ProducerConfig::resolved(producer, move || {
            let at = match cluster.upgrade() {
                Some(inner) => Cluster { inner }.process_id(&name),
                None => Err(Error::NodeStopped),
            };
            Box::pin(std::future::ready(at))
        })
    }
}
