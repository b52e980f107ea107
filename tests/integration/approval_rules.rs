//! Approval rules through a real RabbitMQ and vcd-sim: a rule's own approvers (names and
//! groups), two approvals from two people, reminders and escalation timed from the task's
//! creation, and `check -c` comparing the policy's names with the approvers file.

use std::time::Duration;

use crate::helpers::{
    Admin, Options, Webhook, WebhookReceiver, World, captured_logs, eventually, wait_until,
};
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use vcd_sim::NewTask;

const RULE: &str = "production deletes need two people";

const CAROL: &str = "carol-token-0123456789";
const DAVE: &str = "dave-token-0123456789";
const OSCAR: &str = "oscar-token-0123456789";
const ERIN: &str = "erin-token-0123456789";

/// The four-eyes rule of the docs, with `hold` as given.
fn policy(hold: &str) -> String {
    format!(
        "[defaults]\naction = \"resume\"\n\n[[rule]]\nname = \"{RULE}\"\noperation = \
         \"vdcDeleteVapp\"\naction = \"hold\"\nmessage = \"Waiting for approval\"\n\
         [rule.hold]\nmax = \"1h\"\n{hold}\n"
    )
}

/// carol (group prod-leads), dave, oscar (group on-call) and erin, who requests.
fn approvers_file() -> String {
    let entry = |name: &str, token: &str, groups: &str| {
        format!(
            "[[approver]]\nname = \"{name}\"\ntoken_sha256 = \"{}\"\ngroups = {groups}\n\n",
            hex::encode(Sha256::digest(token.as_bytes()))
        )
    };
    [
        entry("carol", CAROL, r#"["prod-leads"]"#),
        entry("dave", DAVE, "[]"),
        entry("oscar", OSCAR, r#"["on-call"]"#),
        entry("erin", ERIN, "[]"),
    ]
    .concat()
}

fn options(hold: &str, webhooks: Vec<Webhook>) -> Options {
    Options {
        policy: policy(hold),
        approvers: Some(approvers_file()),
        webhooks,
        ..Options::default()
    }
}

fn delete_by_erin(owner_name: &str) -> NewTask {
    NewTask {
        operation: "vdcDeleteVapp".into(),
        org: "prod-eu".into(),
        user: "erin".into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

/// The hold of task `id` as `admin` lists it, once it is listed.
async fn listed(admin: &Admin, id: uuid::Uuid) -> serde_json::Value {
    eventually(&format!("{id} is listed"), || async {
        admin
            .holds()
            .await?
            .into_iter()
            .find(|hold| hold["id"] == id.to_string())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_rules_approvers_decide_and_others_are_told_why() {
    let world = World::start(options(
        "approvers = [\"group:prod-leads\", \"dave\"]",
        Vec::new(),
    ))
    .await;
    let id = world.create(delete_by_erin("billing")).await;
    let (carol, oscar, erin) = (
        Admin::with_token(world.admin_url(), CAROL),
        Admin::with_token(world.admin_url(), OSCAR),
        Admin::with_token(world.admin_url(), ERIN),
    );

    let seen_by_oscar = listed(&oscar, id).await;
    assert_eq!(seen_by_oscar["may_decide"], false, "{seen_by_oscar}");
    assert_eq!(seen_by_oscar["why_not"], "not among the rule's approvers");
    let seen_by_erin = listed(&erin, id).await;
    assert_eq!(
        seen_by_erin["why_not"], "your own request",
        "{seen_by_erin}"
    );
    let seen_by_carol = listed(&carol, id).await;
    assert_eq!(seen_by_carol["may_decide"], true, "{seen_by_carol}");
    assert_eq!(seen_by_carol["why_not"], serde_json::Value::Null);

    let (status, answer) = oscar.decide(&id.to_string(), "approve", json!({})).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(
        answer["error"],
        format!("oscar is not among the approvers of rule \"{RULE}\" (group:prod-leads, dave)")
    );
    let (status, answer) = oscar.decide(&id.to_string(), "reject", json!({})).await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(world.sim.task(id).unwrap().status, "active");

    let (status, answer) = carol.decide(&id.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let view = world.sim.task(id).unwrap();
    assert_eq!(view.status, "resumed");
    assert_eq!(
        view.actions.last().unwrap().message,
        format!("Approved by carol (vcd-blockd rule \"{RULE}\")")
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_approve_one_is_announced_then_the_second_resumes_and_a_rejection_aborts() {
    let receiver = WebhookReceiver::start().await;
    let world = World::start(options(
        "approvers = [\"group:prod-leads\", \"dave\"]\napprovals = 2",
        vec![Webhook {
            url: receiver.url.clone(),
            format: "json",
            events: Some(&["approval_recorded", "approved", "rejected"]),
        }],
    ))
    .await;
    let resumed = world.create(delete_by_erin("billing")).await;
    let aborted = world.create(delete_by_erin("archive")).await;
    let (carol, dave) = (
        Admin::with_token(world.admin_url(), CAROL),
        Admin::with_token(world.admin_url(), DAVE),
    );
    assert_eq!(listed(&carol, resumed).await["needed"], 2);

    // The first approval is recorded and announced; the task stays held.
    let (status, answer) = carol
        .decide(&resumed.to_string(), "approve", json!({}))
        .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["needed"], 2);
    assert_eq!(answer["approvals"][0]["approver"], "carol", "{answer}");
    assert_eq!(world.sim.task(resumed).unwrap().status, "active");
    let recorded = receiver
        .wait_for(1, |body| body["event"] == "approval_recorded")
        .await;
    assert_eq!(recorded[0]["task_id"], resumed.to_string());
    assert_eq!(recorded[0]["approver"], "carol");
    assert_eq!(recorded[0]["needed"], 2);
    assert_eq!(recorded[0]["approvals"][0]["approver"], "carol");
    wait_until("vCD's progress message counts the approval", || {
        world
            .sim
            .task(resumed)
            .unwrap()
            .actions
            .iter()
            .any(|action| {
                action.action == "updateProgress"
                    && action.message == "Waiting for approval; 1 of 2 approvals (carol)"
            })
    })
    .await;
    let as_carol = listed(&carol, resumed).await;
    assert_eq!(as_carol["approvals"][0]["approver"], "carol", "{as_carol}");
    assert_eq!(as_carol["may_decide"], false);
    assert_eq!(as_carol["why_not"], "already approved by you");
    assert_eq!(listed(&dave, resumed).await["may_decide"], true);

    // The same person again changes nothing.
    let (status, answer) = carol
        .decide(&resumed.to_string(), "approve", json!({}))
        .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        answer["error"],
        "carol has already approved this task (1 of 2: carol); another approver must approve it"
    );
    assert_eq!(
        listed(&dave, resumed).await["approvals"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(world.sim.task(resumed).unwrap().status, "active");

    // The second person resumes it, with both names in vCD's message.
    // (The page's test shows the default message, "Approved by carol and dave (…)".)
    let (status, answer) = dave
        .decide(
            &resumed.to_string(),
            "approve",
            json!({"message": "change 4711"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let view = world.sim.task(resumed).unwrap();
    assert_eq!(view.status, "resumed");
    assert_eq!(
        view.actions.last().unwrap().message,
        "change 4711 (approved by carol and dave)"
    );
    let approved = receiver
        .wait_for(1, |body| body["event"] == "approved")
        .await;
    assert_eq!(approved[0]["approver"], "dave");
    let names: Vec<&str> = approved[0]["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["approver"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["carol", "dave"]);
    let logs = captured_logs();
    let audit = logs
        .lines()
        .filter(|line| line.contains("audit") && line.contains(&resumed.to_string()))
        .find(|line| line.contains("event=\"approve\"") && line.contains("outcome=\"done\""))
        .expect("an audit event for the resume");
    assert!(audit.contains("approvers=\"carol, dave\""), "{audit}");

    // A rejection after one approval aborts.
    let (status, _) = dave
        .decide(&aborted.to_string(), "approve", json!({}))
        .await;
    assert_eq!(status, 202);
    let (status, answer) = carol
        .decide(&aborted.to_string(), "reject", json!({}))
        .await;
    assert_eq!(status, 200, "{answer}");
    let view = world.sim.task(aborted).unwrap();
    assert_eq!(view.status, "aborted");
    assert_eq!(
        view.actions.last().unwrap().message,
        format!("Rejected by carol (vcd-blockd rule \"{RULE}\")")
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_token_decides_outright_whatever_the_rule_needs() {
    let world = World::start(options(
        "approvers = [\"group:prod-leads\", \"dave\"]\napprovals = 2",
        Vec::new(),
    ))
    .await;
    let id = world.create(delete_by_erin("billing")).await;
    let admin = Admin::new(world.admin_url());
    listed(&admin, id).await;
    let (status, answer) = admin.decide(&id.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let view = world.sim.task(id).unwrap();
    assert_eq!(view.status, "resumed");
    assert_eq!(
        view.actions.last().unwrap().message,
        format!("Approved by an administrator (vcd-blockd rule \"{RULE}\")")
    );
    world.finish().await;
}

fn at(body: &serde_json::Value) -> DateTime<Utc> {
    body["at"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reminders_and_the_escalation_come_at_their_times_and_then_escalate_to_may_decide() {
    let receiver = WebhookReceiver::start().await;
    let world = World::start(options(
        "approvers = [\"dave\"]\nremind_every = \"2s\"\nescalate_after = \"5s\"\n\
         escalate_to = [\"group:on-call\"]",
        vec![Webhook {
            url: receiver.url.clone(),
            format: "json",
            events: Some(&["reminder", "escalated"]),
        }],
    ))
    .await;
    let id = world.create(delete_by_erin("billing")).await;
    // The task's creation as vCD states it (`createdTime`, in milliseconds): the daemon times
    // reminders from that, so they may come up to a millisecond before the sim's exact instant.
    let created = world.sim.task(id).unwrap().created.trunc_subsecs(3);
    let reminders = receiver
        .wait_for(3, |body| body["event"] == "reminder")
        .await;
    for (n, reminder) in (1..).zip(&reminders) {
        let due = created + Duration::from_secs(2 * n);
        assert!(
            at(reminder) >= due,
            "reminder {n} came before {due}: {reminder}"
        );
        assert!(
            at(reminders.last().unwrap()) >= at(reminder),
            "reminders come in order"
        );
    }
    let escalated = receiver
        .wait_for(1, |body| body["event"] == "escalated")
        .await;
    assert!(at(&escalated[0]) >= created + Duration::from_secs(5));
    let message = escalated[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("No decision after ")
            && message.ends_with(&format!(
                "(vcd-blockd rule \"{RULE}\"): group:on-call may decide too"
            )),
        "{message}"
    );

    // Now oscar (on-call) may decide; the escalation was announced once.
    let oscar = Admin::with_token(world.admin_url(), OSCAR);
    assert_eq!(listed(&oscar, id).await["may_decide"], true);
    let (status, answer) = oscar.decide(&id.to_string(), "approve", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(world.sim.task(id).unwrap().status, "resumed");
    let escalations = receiver
        .bodies()
        .iter()
        .filter(|body| body["event"] == "escalated")
        .count();
    assert_eq!(escalations, 1);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_with_the_config_names_unknown_approvers_and_unreachable_approvals() {
    let world = World::without_daemon(options(
        "approvers = [\"group:prod-leads\", \"mallory\"]\napprovals = 3\n\
         escalate_after = \"30m\"\nescalate_to = [\"group:night-shift\"]",
        Vec::new(),
    ))
    .await;
    let policy = world.config_path().with_file_name("policy.toml");
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .arg("check")
        .arg("-c")
        .arg(world.config_path())
        .env_remove("VCD_BLOCKD_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(1), "{stderr}");
    let p = policy.display();
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            format!("{p}:11:34: no approver named \"mallory\" in the approvers file"),
            format!(
                "{p}:12:13: `hold.approvals` is 3 but `approvers` and `escalate_to` name 1 \
                 people in the approvers file (carol); the task could never be approved"
            ),
            format!("{p}:14:16: no approver of the approvers file is in group \"night-shift\""),
        ]
    );
    // The policy alone is fine: only the approvers file knows who is who.
    let alone = std::process::Command::new(env!("CARGO_BIN_EXE_vcd-blockd"))
        .arg("check")
        .arg(&policy)
        .env_remove("VCD_BLOCKD_CONFIG")
        .output()
        .unwrap();
    assert_eq!(alone.status.code(), Some(0));
    world.finish().await;
}

/// Waits until a captured log line holds every one of `parts`.
async fn warned(parts: &[&str]) {
    wait_until(&format!("a log line with {parts:?}"), || {
        !log_lines_with(parts).is_empty()
    })
    .await;
}

/// The captured log lines that hold every one of `parts`.
fn log_lines_with(parts: &[&str]) -> Vec<String> {
    captured_logs()
        .lines()
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_warns_of_approvers_the_file_lacks_at_start_and_on_either_reload() {
    let world = World::start(options(
        "approvers = [\"dave\", \"zoe\"]\nescalate_after = \"30m\"\n\
         escalate_to = [\"group:night-shift\"]",
        Vec::new(),
    ))
    .await;
    // At start: each unknown name and group, with its rule and place in the policy.
    warned(&["WARN", RULE, ":11:", "no approver named \"zoe\""]).await;
    warned(&["WARN", RULE, ":13:", "group \"night-shift\""]).await;
    assert!(
        log_lines_with(&["WARN", "no approver named \"dave\""]).is_empty(),
        "dave is in the file"
    );

    // The approvers file loses dave: he is named now.
    let approvers = world.config_path().with_file_name("approvers.toml");
    let without_dave = approvers_file().replace("name = \"dave\"", "name = \"david\"");
    std::fs::write(&approvers, without_dave).unwrap();
    warned(&["WARN", RULE, "no approver named \"dave\""]).await;

    // A new policy names yuri.
    let policy_file = world.config_path().with_file_name("policy.toml");
    std::fs::write(&policy_file, policy("approvers = [\"yuri\"]")).unwrap();
    warned(&["WARN", RULE, "no approver named \"yuri\""]).await;
    world.finish().await;
}
