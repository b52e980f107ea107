//! vCD answers that cannot be read: a task whose every read comes back as a proxy's HTML page
//! or a cut-off document is dead-lettered as `unreadable_task` after a few tries, and never
//! holds up other tasks; an entry of vCD's task list that names no task is skipped, and the
//! rest of the list is still reconciled.

use std::collections::BTreeMap;

use crate::helpers::{
    Options, World, captured_logs, craft_create_notification, dead_letter_reason, wait_until,
};
use vcd_sim::{Faults, NewTask, Unreadable};

fn upload(owner_name: &str) -> NewTask {
    NewTask {
        operation: "vdcUploadMedia".into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_vcd_answers_unreadably_is_dead_lettered_while_others_are_decided() {
    let world = World::start(Options::default()).await;
    world.wait_for_first_listing().await;
    // Created without a notification, so that the fault is in place before the daemon hears
    // of them; then announced as vCD would.
    let html = world
        .sim
        .create_tasks_quietly(1, upload("html.iso"))
        .unwrap()[0];
    let cut = world
        .sim
        .create_tasks_quietly(1, upload("cut.iso"))
        .unwrap()[0];
    world.sim.set_faults(Faults {
        unreadable_tasks: BTreeMap::from([(html, Unreadable::Html), (cut, Unreadable::Truncated)]),
        ..Faults::default()
    });
    for id in [html, cut] {
        let crafted =
            craft_create_notification(&world.sim.task(id).unwrap(), &world.sim.base_url());
        world.publish_crafted(&crafted).await;
    }
    let good = world.create(upload("fine.iso")).await;
    world.wait_for_status(good, "resumed").await;

    wait_until("both unreadable tasks are dead-lettered", || {
        world.daemon().metrics.notifications_with("dead_lettered") == 2
    })
    .await;
    let dead = world.dead_letters().await;
    let reasons: Vec<String> = dead.iter().map(dead_letter_reason).collect();
    assert_eq!(reasons, ["unreadable_task", "unreadable_task"]);
    let metrics = world.daemon().metrics.render();
    assert!(
        metrics.contains("vcd_blockd_dead_lettered_total{reason=\"unreadable_task\"} 2"),
        "{metrics}"
    );
    for id in [html, cut] {
        let task = world.sim.task(id).unwrap();
        assert_eq!(task.status, "active", "nothing was decided for {id}");
        assert!(world.action_calls(id).is_empty(), "no action on {id}");
        let reads = world
            .sim
            .calls()
            .iter()
            .filter(|c| c.method == "GET" && c.path.ends_with(&id.to_string()))
            .count();
        assert!(
            reads > 1,
            "{id} was read again before giving up ({reads} reads)"
        );
    }
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_list_with_one_bad_entry_still_reconciles_the_rest() {
    let world = World::without_daemon(Options::default()).await;
    // Lost notifications: only the listing finds these tasks.
    let ids = world
        .sim
        .create_tasks_quietly(2, upload("listed.iso"))
        .unwrap();
    world.sim.set_faults(Faults {
        bad_list_entry: true,
        ..Faults::default()
    });
    let world = world.with_daemon().await;
    for id in &ids {
        world.wait_for_status(*id, "resumed").await;
    }
    let logs = captured_logs();
    assert!(
        logs.contains("skipping an entry of vCD's task list that names no task")
            && logs.contains("blockingTask/25"),
        "the bad entry is logged with what is wrong with it"
    );
    world.finish().await;
}
