//! Living with the broker the operator has: an exchange that already exists is used as it is
//! (non-durable, with an alternate exchange, shared with another consumer, `amq.topic`); a
//! queue that exists with other arguments is named in `/readyz` and the log, and the daemon
//! consumes once the operator fixed it. A broker that refuses the credentials or the vhost is
//! named in `/readyz`, where the role is `none`.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use uuid::Uuid;
use vcd_blockd::Daemon;
use vcd_sim::NewTask;

use crate::helpers::{
    AMQP_URL, Options, World, captured_logs, craft_create_notification, drain, eventually,
    http_client, wait_until,
};

fn upload(owner_name: &str) -> NewTask {
    NewTask {
        operation: "vdcUploadMedia".into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

/// The operator's exchange, declared before the daemon ever runs.
struct Existing {
    name: String,
    durable: bool,
    arguments: FieldTable,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchanges_that_already_exist_are_used_as_they_are() {
    let connection = Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = connection.create_channel().await.unwrap();
    let tag = Uuid::new_v4().simple().to_string()[..10].to_owned();
    let mut alternate = FieldTable::default();
    alternate.insert(
        "alternate-exchange".into(),
        AMQPValue::LongString(format!("unrouted-{tag}").into()),
    );
    let cases = [
        Existing {
            name: format!("vcd-nondurable-{tag}"),
            durable: false,
            arguments: FieldTable::default(),
        },
        Existing {
            name: format!("VCD-shared-{tag}"),
            durable: true,
            arguments: alternate,
        },
        Existing {
            name: "amq.topic".into(),
            durable: true,
            arguments: FieldTable::default(),
        },
    ];
    for existing in &cases {
        let own = !existing.name.starts_with("amq.");
        if own {
            channel
                .exchange_declare(
                    existing.name.as_str().into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: existing.durable,
                        ..ExchangeDeclareOptions::default()
                    },
                    existing.arguments.clone(),
                )
                .await
                .unwrap();
        }
        // Another product's queue on the same exchange, bound to everything.
        let other = format!("replication-{tag}-{}", existing.durable);
        channel
            .queue_declare(
                other.as_str().into(),
                QueueDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let other_key = if own { "#" } else { "#.blockingtask.create.#" };
        channel
            .queue_bind(
                other.as_str().into(),
                existing.name.as_str().into(),
                other_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();

        let world = World::start(Options {
            exchange: Some(existing.name.clone()),
            ..Options::default()
        })
        .await;
        world.wait_for_first_listing().await;
        let id = world
            .sim
            .create_tasks_quietly(1, upload("shared.iso"))
            .unwrap()[0];
        let crafted =
            craft_create_notification(&world.sim.task(id).unwrap(), &world.sim.base_url());
        world
            .publish(
                &existing.name,
                &crafted.routing_key,
                crafted.headers.clone(),
                crafted.body.as_bytes(),
            )
            .await;
        world.wait_for_status(id, "resumed").await;
        assert!(
            drain(&channel, &other).await >= 1,
            "{}: the other consumer still gets its copy",
            existing.name
        );
        world.finish().await;
        let _ = channel
            .queue_delete(other.as_str().into(), Default::default())
            .await;
        if own {
            let _ = channel
                .exchange_delete(existing.name.as_str().into(), Default::default())
                .await;
        }
    }
    let _ = connection.close(200, "done".into()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_that_exists_with_other_arguments_is_named_in_readyz_until_fixed() {
    let mut world = World::without_daemon(Options {
        queue_type: "classic",
        ..Options::default()
    })
    .await;
    let mut quorum = FieldTable::default();
    quorum.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    world
        .channel
        .queue_declare(
            world.queue.as_str().into(),
            QueueDeclareOptions::durable(),
            quorum,
        )
        .await
        .unwrap();
    let daemon = Daemon::start(world.settings.clone()).await.unwrap();
    let readyz = format!("http://{}/readyz", daemon.http_address);
    world.daemon = Some(daemon);
    let client = http_client();
    // RabbitMQ names the first argument it finds different; which one is up to its version.
    let named = |text: &str| {
        ["x-queue-type", "x-dead-letter-exchange"]
            .iter()
            .any(|argument| {
                text.contains(&format!(
                    "queue \"{}\" already exists with {argument} other than this daemon declares",
                    world.queue
                ))
            })
    };
    let (status, reasons) = eventually("/readyz names the queue's argument", || async {
        let response = client.get(&readyz).send().await.ok()?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.ok()?;
        let reasons: Vec<String> = serde_json::from_value(body["reasons"].clone()).ok()?;
        reasons
            .iter()
            .any(|r| named(r))
            .then_some((status, reasons))
    })
    .await;
    assert_eq!(status, 503, "{reasons:?}");
    // The log line follows the failed attempt, a moment after /readyz shows it.
    eventually("the log says the same", || {
        std::future::ready(named(&captured_logs()).then_some(()))
    })
    .await;
    assert!(!world.daemon().health.source_ready("amqp"));

    // The operator removes the old queue; the daemon's next attempt declares its own.
    world
        .channel
        .queue_delete(world.queue.as_str().into(), Default::default())
        .await
        .unwrap();
    wait_until("the daemon consumes", || {
        world.daemon().health.source_ready("amqp")
    })
    .await;
    let id = world.create(upload("after-the-fix.iso")).await;
    world.wait_for_status(id, "resumed").await;
    let response = client.get(&readyz).send().await.unwrap();
    assert_eq!(response.status(), 200);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_refuses_the_password_or_the_vhost_is_named_in_readyz_and_nobody_leads() {
    for (url, named) in [
        (
            AMQP_URL.replace("guest:guest@", "guest:not-the-password@"),
            "AMQP consumer not active: the broker refused the user name or password in amqp.url (authentication failed)",
        ),
        (
            AMQP_URL.replace("%2f", "no-such-vhost"),
            "AMQP consumer not active: the broker refused the virtual host (NOT_ALLOWED - vhost no-such-vhost not found)",
        ),
    ] {
        let mut world = World::without_daemon(Options::default()).await;
        let amqp = world.settings.amqp.as_mut().expect("broker mode");
        amqp.url = url.clone().into();
        let daemon = Daemon::start(world.settings.clone()).await.unwrap();
        let readyz = format!("http://{}/readyz", daemon.http_address);
        world.daemon = Some(daemon);
        let client = http_client();
        let body = eventually("/readyz names the broker's refusal", || async {
            let response = client.get(&readyz).send().await.ok()?;
            let body: serde_json::Value = response.json().await.ok()?;
            body["reasons"]
                .as_array()?
                .iter()
                .any(|reason| reason.as_str().is_some_and(|r| r.starts_with(named)))
                .then_some(body)
        })
        .await;
        assert_eq!(body["ready"], false, "{body}");
        assert_eq!(
            body["role"], "none",
            "without a broker nobody leads: {body}"
        );
        assert!(!body.to_string().contains("not-the-password"), "{body}");
        world.finish().await;
    }
}

/// The harness's own promise: a world that ends without `finish` (a failed assertion) still
/// leaves neither its exchanges nor its queues on the broker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_world_dropped_without_finish_leaves_nothing_on_the_broker() {
    let world = crate::helpers::World::start(crate::helpers::Options::default()).await;
    let queue = world.queue.clone();
    let exchange = world.xml_exchange.clone();
    drop(world);
    let connection = lapin::Connection::connect(
        crate::helpers::AMQP_URL,
        lapin::ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let passive = |name: String, is_queue: bool| {
        let connection = &connection;
        async move {
            // A passive declare of something missing closes its channel with 404.
            let channel = connection.create_channel().await.unwrap();
            if is_queue {
                channel
                    .queue_declare(
                        name.as_str().into(),
                        lapin::options::QueueDeclareOptions {
                            passive: true,
                            ..Default::default()
                        },
                        lapin::types::FieldTable::default(),
                    )
                    .await
                    .is_ok()
            } else {
                channel
                    .exchange_declare(
                        name.as_str().into(),
                        lapin::ExchangeKind::Topic,
                        lapin::options::ExchangeDeclareOptions {
                            passive: true,
                            ..Default::default()
                        },
                        lapin::types::FieldTable::default(),
                    )
                    .await
                    .is_ok()
            }
        }
    };
    assert!(
        !passive(exchange.clone(), false).await,
        "{exchange} is left"
    );
    for name in [
        queue.clone(),
        format!("{queue}.dead"),
        format!("{queue}.leader"),
    ] {
        assert!(!passive(name.clone(), true).await, "{name} is left");
    }
    let _ = connection.close(200, "done".into()).await;
}
