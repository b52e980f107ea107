//! What the daemon does with deliveries that are not simply new tasks: other notification
//! types, duplicates, tasks already decided, malformed messages and hostile hrefs.

use crate::helpers::{Options, World, craft_create_notification, wait_until};
use lapin::types::{AMQPValue, FieldTable};
use vcd_sim::NewTask;

fn upload(owner_name: &str) -> NewTask {
    NewTask {
        operation: "vdcUploadMedia".into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_of_other_types_change_nothing() {
    let world = World::start(Options::default()).await;
    // vCD announces every action with a further notification; an operator binding broadly
    // (as here) must not make the daemon react to its own resume.
    world
        .channel
        .queue_bind(
            world.queue.as_str().into(),
            world.xml_exchange.as_str().into(),
            "#.blockingtask.resume.#".into(),
            Default::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let id = world.create(upload("first.iso")).await;
    world.wait_for_status(id, "resumed").await;
    wait_until("the resume notification is counted", || {
        world.daemon().metrics.notifications_with("other_type") == 1
    })
    .await;
    let about_task: Vec<_> = world
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.path.contains(&id.to_string()))
        .collect();
    assert_eq!(
        about_task.len(),
        2,
        "one read and one resume, nothing for the resume event: {about_task:#?}"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_notification_twice_yields_one_action() {
    let world = World::start(Options::default()).await;
    let id = world.create(upload("twice.iso")).await;
    let view = world.sim.task(id).unwrap();
    let crafted = craft_create_notification(&view, &world.sim.base_url());
    world.publish_crafted(&crafted).await;
    world.publish_crafted(&crafted).await;
    world.wait_for_status(id, "resumed").await;
    wait_until("all three deliveries are handled", || {
        let metrics = &world.daemon().metrics;
        metrics.notifications_with("decided") + metrics.notifications_with("already_decided") == 3
    })
    .await;
    assert_eq!(
        world.action_calls(id).len(),
        1,
        "one resume, however often the task is announced"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_already_decided_in_vcd_gets_no_action() {
    // Declare the queue, then stop consuming so the notification waits in the queue.
    let mut world = World::without_daemon(Options::default())
        .await
        .with_daemon()
        .await;
    world.stop_daemon().await;
    let id = world.create(upload("decided-elsewhere.iso")).await;
    crate::helpers::abort_directly(&world, id).await;
    let world = world.with_daemon().await;
    wait_until("the notification is handled", || {
        world.daemon().metrics.notifications_with("already_decided") == 1
    })
    .await;
    let actions = world.action_calls(id);
    assert_eq!(
        actions.len(),
        1,
        "only the administrator's abort: {actions:#?}"
    );
    assert_eq!(world.sim.task(id).unwrap().status, "aborted");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_dead_lettered_and_the_next_one_is_handled() {
    let world = World::start(Options::default()).await;
    let key = "true.x.y.z.com.vmware.vcloud.event.blockingtask.create.vdcUploadMedia";
    let cases: [(&str, &[u8]); 4] = [
        (
            "malformed",
            b"<vmext:Notification type=\"com/vmware/vcloud/event/blockingtask/create\"><broken",
        ),
        ("unknown_format", b"\x00\x01binary"),
        (
            "malformed",
            b"{\"type\": \"com/vmware/vcloud/event/blockingtask/create\"",
        ),
        ("too_large", &vec![b'<'; 300_000]),
    ];
    for (_, body) in &cases {
        world
            .publish(&world.xml_exchange, key, FieldTable::default(), body)
            .await;
    }
    let good = world.create(upload("after-the-garbage.iso")).await;
    world.wait_for_status(good, "resumed").await;
    wait_until("all bad messages are dead-lettered", || {
        world.daemon().metrics.notifications_with("dead_lettered") == cases.len() as u64
    })
    .await;
    let dead = world.dead_letters().await;
    assert_eq!(dead.len(), cases.len());
    let mut reasons: Vec<String> = dead
        .iter()
        .map(|m| {
            let headers = m.delivery.properties.headers().clone().unwrap_or_default();
            match headers.inner().get("x-vcd-blockd-reason") {
                Some(AMQPValue::LongString(reason)) => {
                    String::from_utf8_lossy(reason.as_bytes()).into_owned()
                }
                other => panic!("dead letter without a reason header: {other:?}"),
            }
        })
        .collect();
    reasons.sort();
    let mut expected: Vec<&str> = cases.iter().map(|(reason, _)| *reason).collect();
    expected.sort();
    assert_eq!(reasons, expected);
    // The dead letter keeps the original body for replay.
    assert!(dead.iter().any(|m| m.delivery.data == cases[0].1));
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_that_disagrees_with_its_header_is_dead_lettered() {
    let world = World::start(Options::default()).await;
    let id = world.create(upload("mismatch.iso")).await;
    world.wait_for_status(id, "resumed").await;
    let other = world.create(upload("other.iso")).await;
    world.wait_for_status(other, "resumed").await;
    let calls_before = world.action_calls(other).len();
    let mut crafted =
        craft_create_notification(&world.sim.task(id).unwrap(), &world.sim.base_url());
    crafted.headers.insert(
        "notification.entityUUID".into(),
        AMQPValue::LongString(other.to_string().into()),
    );
    world.publish_crafted(&crafted).await;
    wait_until("the message is dead-lettered", || {
        world.daemon().metrics.notifications_with("dead_lettered") == 1
    })
    .await;
    assert_eq!(world.action_calls(other).len(), calls_before);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hrefs_naming_another_host_get_no_request() {
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let trap_url = format!("http://{}", trap.local_addr().unwrap());
    let visits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = visits.clone();
    let trap_task = tokio::spawn(async move {
        while trap.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let world = World::start(Options::default()).await;
    // After the start-up listing, and with the next one 5 minutes away, only the crafted
    // notification can bring the task to the daemon: the sim announces nothing of its own.
    world.wait_for_first_listing().await;
    let id = world
        .sim
        .create_tasks_quietly(1, upload("lured.iso"))
        .unwrap()[0];
    let crafted = craft_create_notification(&world.sim.task(id).unwrap(), &trap_url);
    assert!(crafted.body.contains(&trap_url));
    world.publish_crafted(&crafted).await;
    wait_until("the crafted notification is handled", || {
        world.daemon().metrics.notifications_with("decided") == 1
    })
    .await;
    assert_eq!(world.sim.task(id).unwrap().status, "resumed");
    assert_eq!(
        visits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the daemon connected to the host named in the message"
    );
    assert!(
        world
            .sim
            .calls()
            .iter()
            .all(|c| c.host == world.sim.base_url().trim_start_matches("http://"))
    );
    trap_task.abort();
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_recovers_when_the_broker_cancels_it() {
    let world = World::start(Options::default()).await;
    let first = world.create(upload("before.iso")).await;
    world.wait_for_status(first, "resumed").await;
    // Deleting the queue makes the broker cancel the daemon's consumer.
    world
        .channel
        .queue_delete(world.queue.as_str().into(), Default::default())
        .await
        .unwrap();
    wait_until("the daemon notices", || {
        !world.daemon().health.source_ready("amqp")
    })
    .await;
    wait_until("the daemon consumes again", || {
        world.daemon().health.source_ready("amqp")
    })
    .await;
    let second = world.create(upload("after.iso")).await;
    world.wait_for_status(second, "resumed").await;
    world.finish().await;
}
