//! Leaves the broker as it was before a run: deletes the exchanges the sim publishes to and a
//! vcd-blockd queue with its companions (dead-letter queue and exchange, leader queue). Used by
//! `vcd-sim clean-broker` at the end of the demo.

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Connection, ConnectionProperties};

/// Deletes `exchanges` and, with `queue`, `<queue>`, `<queue>.dead`, `<queue>.leader` and the
/// exchange `<queue>.dlx`; what does not exist is skipped. Returns the names it asked the
/// broker to delete.
pub async fn clean_broker(
    url: &str,
    exchanges: &[String],
    queue: Option<&str>,
) -> Result<Vec<String>, lapin::Error> {
    let connection = Connection::connect(url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    let mut deleted = Vec::new();
    let queues: Vec<String> = queue
        .map(|q| vec![q.to_owned(), format!("{q}.dead"), format!("{q}.leader")])
        .unwrap_or_default();
    for name in &queues {
        // Deleting a queue that does not exist succeeds in RabbitMQ.
        channel
            .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
            .await?;
        deleted.push(format!("queue {name}"));
    }
    let mut all_exchanges: Vec<String> = exchanges.to_vec();
    all_exchanges.extend(queue.map(|q| format!("{q}.dlx")));
    for name in &all_exchanges {
        if name.starts_with("amq.") || name.is_empty() {
            continue;
        }
        channel
            .exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default())
            .await?;
        deleted.push(format!("exchange {name}"));
    }
    let _ = connection.close(200, "cleaned".into()).await;
    Ok(deleted)
}
