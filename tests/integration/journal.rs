//! The journal: every decision, automatic and human, is written to RabbitMQ's stream
//! `<queue>.journal` (or, in poll mode, to the file under `[state] dir`) and listed by
//! `GET /v1/decisions` and `vcd-blockd holds history`; a journal that cannot be written refuses
//! approvals with 503 and is named in `/readyz` until it works again. The approvals page shows
//! the latest decisions under "Decided lately" (headless Chromium).

use serde_json::{Value, json};
use vcd_sim::NewTask;

use crate::approvers::approver;
use crate::browser::Browser;
use crate::ha::{Instance, roles};
use crate::helpers::{
    ADMIN_TOKEN, Admin, HOLD_DEPLOYMENTS, Options, World, eventually, http_client,
};

const CAROL: &str = "carol-token-0123456789";
const BOB: &str = "bob-token-0123456789";

fn options(broker: bool) -> Options {
    Options {
        policy: HOLD_DEPLOYMENTS.into(),
        approvers: Some(
            [
                approver("carol", CAROL, None),
                approver("bob", BOB, Some(r#"["prod-*"]"#)),
            ]
            .concat(),
        ),
        broker,
        reconcile_interval: if broker { "5m" } else { "1s" },
        ..Options::default()
    }
}

fn deployment(org: &str) -> NewTask {
    NewTask {
        operation: "vdcInstantiateVapp".into(),
        org: org.into(),
        user: "dave".into(),
        ..NewTask::default()
    }
}

/// `GET /v1/decisions` with `query`: the status and the JSON answer.
async fn decisions(base: &str, token: &str, query: &str) -> (u16, Value) {
    let response = http_client()
        .get(format!("{base}/v1/decisions{query}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

/// Waits until the admin sees `count` held tasks.
async fn held(admin: &Admin, count: usize) {
    eventually(&format!("{count} tasks are held"), || async {
        admin.holds().await.filter(|holds| holds.len() == count)
    })
    .await;
}

/// `/readyz`: the status and the reasons it gives.
async fn readiness(url: &str) -> (u16, Vec<String>) {
    let response = http_client().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or_default();
    let reasons = serde_json::from_value(body["reasons"].clone()).unwrap_or_default();
    (status, reasons)
}

fn metric(world: &World, series: &str) -> String {
    let text = world.daemon().metrics.render();
    text.lines()
        .find(|line| line.starts_with(series))
        .map(|line| line.rsplit(' ').next().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_lists_automatic_and_human_decisions_with_names_newest_first_in_the_callers_orgs()
 {
    let world = World::start(options(true)).await;
    let base = world.admin_url();
    let upload = world
        .create(NewTask {
            operation: "vdcUploadMedia".into(),
            owner_type: "media".into(),
            org: "acme".into(),
            ..NewTask::default()
        })
        .await;
    world.wait_for_status(upload, "resumed").await;
    let deployment = world.create(deployment("prod-eu")).await;
    held(&Admin::new(base.clone()), 1).await;
    let carol = Admin::with_token(base.clone(), CAROL);
    let (status, answer) = carol
        .decide(&deployment.to_string(), "approve", json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");

    let (status, listed) = decisions(&base, ADMIN_TOKEN, "").await;
    assert_eq!(status, 200, "{listed}");
    let listed = listed.as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let at = listed[0]["at"].clone();
    assert_eq!(
        listed[0],
        json!({
            "task_id": deployment.to_string(),
            "operation": "vdcInstantiateVapp",
            "org": "prod-eu",
            "user": "dave",
            "rule": "deployments need an approver",
            "action": "resume",
            "approvers": ["carol"],
            "at": at,
        })
    );
    assert_eq!(listed[1]["task_id"], upload.to_string());
    assert_eq!(listed[1]["org"], "acme");
    assert_eq!(listed[1]["action"], "resume");
    assert_eq!(listed[1]["approvers"], json!([]), "a rule decided it");

    // bob sees prod-* only; a later `since` and a `limit` narrow the list.
    let (_, for_bob) = decisions(&base, BOB, "").await;
    let for_bob = for_bob.as_array().unwrap().clone();
    assert_eq!(for_bob.len(), 1, "{for_bob:?}");
    assert_eq!(for_bob[0]["task_id"], deployment.to_string());
    let (_, limited) = decisions(&base, ADMIN_TOKEN, "?limit=1").await;
    assert_eq!(limited.as_array().unwrap().len(), 1);
    let (_, later) = decisions(&base, ADMIN_TOKEN, "?since=2999-01-01T00:00:00Z").await;
    assert_eq!(later, json!([]));
    let (status, refused) = decisions(&base, ADMIN_TOKEN, "?since=yesterday").await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("RFC 3339"));
    let (status, _) = decisions(&base, ADMIN_TOKEN, "?limit=many").await;
    assert_eq!(status, 400);

    // The command line prints the same history.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, CAROL).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .args(["holds", "history", "--url", &base, "--token-file"])
        .arg(&token_file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("AT "), "{text}");
    assert!(lines[1].contains(&deployment.to_string()), "{text}");
    assert!(lines[1].contains("carol"), "{text}");
    assert!(lines[2].contains("(rule)"), "{text}");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_journal_stream_refuses_approvals_with_503_and_is_named_in_readyz_until_declared_again()
 {
    let world = World::start(options(true)).await;
    let base = world.admin_url();
    let readyz = format!("http://{}/readyz", world.daemon().http_address);
    let admin = Admin::new(base.clone());
    let deployment = world.create(deployment("acme")).await;
    held(&admin, 1).await;
    assert_eq!(readiness(&readyz).await.0, 200);

    world
        .channel
        .queue_delete(
            format!("{}.journal", world.queue).as_str().into(),
            Default::default(),
        )
        .await
        .unwrap();
    let (status, answer) = admin
        .decide(&deployment.to_string(), "approve", json!({}))
        .await;
    assert_eq!(status, 503, "{answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("stream {}.journal", world.queue)),
        "{error}"
    );
    assert_eq!(
        world.sim.task(deployment).unwrap().status,
        "active",
        "vCD heard nothing of a decision that could not be journaled"
    );
    let (status, reasons) = readiness(&readyz).await;
    assert_eq!(status, 503);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("journal") && r.contains("does not exist")),
        "{reasons:?}"
    );
    assert_eq!(metric(&world, "vcd_blockd_journal_lost_total"), "1");

    // The daemon declares the stream again, empty, and approvals work again.
    eventually("the journal works again", || async {
        (readiness(&readyz).await.0 == 200).then_some(())
    })
    .await;
    let (status, answer) = admin
        .decide(&deployment.to_string(), "approve", json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(world.sim.task(deployment).unwrap().status, "resumed");
    let (_, listed) = decisions(&base, ADMIN_TOKEN, "").await;
    assert_eq!(listed[0]["task_id"], deployment.to_string());
    assert_eq!(listed[0]["approvers"], json!(["admin"]));
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poll_modes_journal_file_keeps_the_history_across_a_restart_and_refuses_approvals_while_unwritable()
 {
    let mut world = World::start(options(false)).await;
    let state = world.config_path().parent().unwrap().join("state");
    let admin = Admin::new(world.admin_url());
    let first = world.create(deployment("acme")).await;
    let second = world.create(deployment("acme")).await;
    held(&admin, 2).await;
    let carol = Admin::with_token(world.admin_url(), CAROL);
    let (status, answer) = carol.decide(&first.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let file = state.join("journal.jsonl");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains(r#""approvers":["carol"]"#), "{written}");

    // A restart reads the file back.
    world.stop_daemon().await;
    let world = world.with_daemon().await;
    let base = world.admin_url();
    let (_, listed) = decisions(&base, ADMIN_TOKEN, "").await;
    assert_eq!(listed[0]["task_id"], first.to_string(), "{listed}");
    assert_eq!(listed[0]["approvers"], json!(["carol"]));

    // The file cannot be written: a directory stands where it was.
    let admin = Admin::new(base.clone());
    held(&admin, 1).await;
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    let (status, answer) = admin
        .decide(&second.to_string(), "approve", json!({}))
        .await;
    assert_eq!(status, 503, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("journal.jsonl"),
        "{answer}"
    );
    assert_eq!(world.sim.task(second).unwrap().status, "active");
    let readyz = format!("http://{}/readyz", world.daemon().http_address);
    let (status, reasons) = readiness(&readyz).await;
    assert_eq!(status, 503);
    assert!(
        reasons.iter().any(|r| r.contains("journal.jsonl")),
        "{reasons:?}"
    );

    // Once it can be written again, approvals work again.
    std::fs::remove_dir(&file).unwrap();
    eventually("the journal works again", || async {
        (readiness(&readyz).await.0 == 200).then_some(())
    })
    .await;
    let (status, answer) = admin
        .decide(&second.to_string(), "approve", json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_what_was_decided_lately_in_the_approvers_orgs_with_who_decided() {
    let world = World::start(options(true)).await;
    let base = world.admin_url();
    let admin = Admin::new(base.clone());
    let by_rule = world
        .create(NewTask {
            operation: "vdcUploadMedia".into(),
            owner_type: "media".into(),
            org: "prod-eu".into(),
            ..NewTask::default()
        })
        .await;
    world.wait_for_status(by_rule, "resumed").await;
    let elsewhere = world
        .create(NewTask {
            operation: "vdcUploadMedia".into(),
            owner_type: "media".into(),
            org: "test-lab".into(),
            ..NewTask::default()
        })
        .await;
    world.wait_for_status(elsewhere, "resumed").await;
    let waiting = world.create(deployment("prod-eu")).await;
    held(&admin, 1).await;

    let mut browser = Browser::launch().await;
    browser.goto(&format!("{base}/ui/")).await;
    browser
        .wait_for(
            "the sign-in form shows",
            "!document.getElementById('sign-in').hidden",
        )
        .await;
    browser.type_into("#token", BOB).await;
    browser.click("#sign-in-button").await;
    browser
        .wait_for(
            "the rule's decision is listed under Decided lately",
            "document.querySelectorAll('#decided .decided').length === 1",
        )
        .await;
    let first = format!("#decided .decided[data-id='{by_rule}']");
    assert_eq!(browser.text(&format!("{first} .action")).await, "Resumed");
    assert_eq!(browser.text(&format!("{first} .org")).await, "in prod-eu");
    assert_eq!(browser.text(&format!("{first} .by")).await, "by the rule");

    // bob approves on the page: his decision comes first, with his name.
    let card = format!("#hold-{waiting}");
    browser
        .wait_for(
            "the held task is listed",
            &format!("document.querySelector('{card}') !== null"),
        )
        .await;
    browser.click(&format!("{card} .approve")).await;
    browser
        .wait_for(
            "bob's decision is listed first",
            &format!(
                "document.querySelectorAll('#decided .decided').length === 2 && \
                 document.querySelector('#decided .decided').dataset.id === '{waiting}'"
            ),
        )
        .await;
    let top = "#decided .decided:first-child";
    assert_eq!(browser.text(&format!("{top} .by")).await, "by bob");
    assert_eq!(
        browser.text(&format!("{top} .operation")).await,
        "vdcInstantiateVapp"
    );
    assert_eq!(
        browser.text(&format!("{top} .user")).await,
        "requested by dave"
    );
    let fits = browser
        .eval("document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, true, "the page still fits a phone-sized screen");
    world.finish().await;
}

const DAVE: &str = "dave-token-0123456789";

/// Two approvals from two people for erin's deletes.
fn four_eyes(broker: bool) -> Options {
    Options {
        policy: "[defaults]\naction = \"resume\"\n\n[[rule]]\nname = \"deletes need two people\"\n\
                 operation = \"vdcDeleteVapp\"\naction = \"hold\"\n\
                 [rule.hold]\nmax = \"1h\"\napprovals = 2\n"
            .into(),
        approvers: Some([approver("carol", CAROL, None), approver("dave", DAVE, None)].concat()),
        broker,
        reconcile_interval: if broker { "5m" } else { "1s" },
        ..Options::default()
    }
}

fn delete_by_erin() -> NewTask {
    NewTask {
        operation: "vdcDeleteVapp".into(),
        org: "prod-eu".into(),
        user: "erin".into(),
        ..NewTask::default()
    }
}

/// The approvers recorded on held task `id`, once `admin` lists it with `count` of them.
async fn recorded(admin: &Admin, id: uuid::Uuid, count: usize) -> Vec<String> {
    eventually(
        &format!("{id} is listed with {count} approvals"),
        || async {
            let hold = admin
                .holds()
                .await?
                .into_iter()
                .find(|hold| hold["id"] == id.to_string())?;
            let approvals = hold["approvals"].as_array()?.clone();
            (approvals.len() == count).then(|| {
                approvals
                    .iter()
                    .map(|a| a["approver"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
        },
    )
    .await
}

/// Both approvals named in vCD's message and in the history.
async fn resumed_by_carol_and_dave(world: &World, base: &str, id: uuid::Uuid) {
    let view = world.wait_for_status(id, "resumed").await;
    assert_eq!(
        view.actions.last().unwrap().message,
        "Approved by carol and dave (vcd-blockd rule \"deletes need two people\")"
    );
    let (_, listed) = decisions(base, ADMIN_TOKEN, "").await;
    assert_eq!(listed[0]["task_id"], id.to_string(), "{listed}");
    assert_eq!(listed[0]["approvers"], json!(["carol", "dave"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approval_given_through_the_standby_survives_the_leaders_sigkill() {
    let world = World::without_daemon(four_eyes(true)).await;
    let first = Instance::start(&world).await;
    let second = Instance::start(&world).await;
    let (leader, standby) = roles(first, second).await;
    let task = world.create(delete_by_erin()).await;
    let admin = standby.admin();
    recorded(&admin, task, 0).await;

    let carol = Admin::with_token(standby.base.clone(), CAROL);
    let (status, answer) = carol.decide(&task.to_string(), "approve", json!({})).await;
    assert_eq!(status, 202, "recorded, one more needed: {answer}");
    assert_eq!(world.sim.task(task).unwrap().status, "active");

    leader.process.kill();
    eventually("the standby leads", || async {
        (standby.role().await? == "leader").then_some(())
    })
    .await;
    assert_eq!(
        recorded(&admin, task, 1).await,
        ["carol"],
        "the new leader knows 1 of 2: carol"
    );
    let (status, answer) = carol.decide(&task.to_string(), "approve", json!({})).await;
    assert_eq!(status, 409, "carol's approval counts once: {answer}");

    let dave = Admin::with_token(standby.base.clone(), DAVE);
    let (status, answer) = dave.decide(&task.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    resumed_by_carol_and_dave(&world, &standby.base, task).await;
    drop(standby);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_poll_mode_an_approval_survives_a_restart_in_the_journal_file() {
    let mut world = World::start(four_eyes(false)).await;
    let task = world.create(delete_by_erin()).await;
    let admin = Admin::new(world.admin_url());
    recorded(&admin, task, 0).await;
    let carol = Admin::with_token(world.admin_url(), CAROL);
    let (status, answer) = carol.decide(&task.to_string(), "approve", json!({})).await;
    assert_eq!(status, 202, "{answer}");

    world.stop_daemon().await;
    let world = world.with_daemon().await;
    let base = world.admin_url();
    assert_eq!(
        recorded(&Admin::new(base.clone()), task, 1).await,
        ["carol"],
        "the restarted daemon knows 1 of 2: carol"
    );
    let dave = Admin::with_token(base.clone(), DAVE);
    let (status, answer) = dave.decide(&task.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    resumed_by_carol_and_dave(&world, &base, task).await;
    world.finish().await;
}
