//! The two limits a drain is measured against, in the same run: the broker's rate (a consumer
//! that only acknowledges the same notifications, with the daemon's prefetch) and the sim's
//! own request rate (64 clients reading blocking tasks as fast as it answers).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use lapin::options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use uuid::Uuid;

use crate::world::World;

/// Drains `count` messages from the ack-only queue, acknowledging each as it comes, with
/// `prefetch` unacknowledged at most; returns messages per second.
pub(crate) async fn ack_only_rate(
    world: &World,
    count: usize,
    prefetch: u16,
) -> Result<f64, String> {
    let channel = &world.channel;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let mut consumer = channel
        .basic_consume(
            world.ack_only_queue.as_str().into(),
            "ack-only".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut acked = 0;
    while acked < count {
        let next = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .map_err(|_| format!("ack-only consumer: nothing for 30 s after {acked}"))?;
        let delivery = next
            .ok_or("ack-only consumer ended")?
            .map_err(|e| e.to_string())?;
        delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        acked += 1;
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    let _ = channel
        .basic_cancel("ack-only".into(), BasicCancelOptions::default())
        .await;
    Ok(rate)
}

/// Requests per second the sim answers to `clients` concurrent readers of `task` over
/// `during`, with whatever latency its faults add.
pub(crate) async fn sim_rate(
    world: &World,
    task: Uuid,
    clients: usize,
    during: Duration,
) -> Result<f64, String> {
    vcd_blockd::install_crypto_provider();
    let http = reqwest::Client::new();
    let base = world.sim.base_url();
    let login = http
        .post(format!("{base}/api/sessions"))
        .basic_auth("administrator@System", Some("vmware"))
        .header("Accept", "application/*+xml;version=37.2")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let token = login
        .headers()
        .get("x-vcloud-authorization")
        .cloned()
        .ok_or("the sim gave no session token")?;
    let url = format!("{base}/api/admin/extension/blockingTask/{task}");
    let answered = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (http, url, token, answered) =
            (http.clone(), url.clone(), token.clone(), answered.clone());
        workers.spawn(async move {
            while started.elapsed() < during {
                let sent = http
                    .get(&url)
                    .header("x-vcloud-authorization", token.clone())
                    .header("Accept", "application/*+xml;version=37.2")
                    .send()
                    .await;
                if let Ok(response) = sent
                    && response.bytes().await.is_ok()
                {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    Ok(answered.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}
