//! The approvals page in a real headless Chromium: sign in with a token, see the held task,
//! approve it with a message, see it gone, and find the task resumed in vCD.

use vcd_sim::NewTask;

use crate::approvers::approver;
use crate::browser::Browser;
use crate::helpers::{Admin, Options, World, http_client};

const POLICY: &str = r#"
[defaults]
action = "abort"

[[rule]]
name = "production deployments need an approver"
operation = "vdcInstantiateVapp"
action = "hold"
hold = { max = "48h" }
message = "Waiting for approval: {operation} by {user}@{org}"
"#;

const CAROL: &str = "carol-page-token-0123456789";

/// Which of the page's parts take room on the screen (what a person sees, not attributes).
const SHOWN_SECTIONS: &str = "['who', 'sign-in', 'holds-section']\
     .filter(id => document.getElementById(id).getClientRects().length > 0)";

fn held_task(user: &str, owner_name: &str) -> NewTask {
    NewTask {
        operation: "vdcInstantiateVapp".into(),
        org: "prod-eu".into(),
        user: user.into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_signs_in_sees_the_held_task_and_approves_it() {
    let world = World::start(Options {
        policy: POLICY.into(),
        approvers: Some(approver("carol", CAROL, Some(r#"["prod-*"]"#))),
        ..Options::default()
    })
    .await;
    let dave = world.create(held_task("dave", "billing")).await;
    let own = world.create(held_task("carol", "carols-lab")).await;
    let erin = world.create(held_task("erin", "erins-lab")).await;
    let admin = Admin::new(world.admin_url());
    crate::helpers::eventually("the tasks are held", || async {
        admin.holds().await.filter(|holds| holds.len() == 3)
    })
    .await;

    let mut browser = Browser::launch().await;
    browser.goto(&format!("{}/ui/", world.admin_url())).await;
    browser
        .wait_for(
            "the sign-in form shows",
            "!document.getElementById('sign-in').hidden",
        )
        .await;
    assert_eq!(
        browser.eval(SHOWN_SECTIONS).await,
        serde_json::json!(["sign-in"]),
        "signed out, only the sign-in form is on the screen"
    );
    browser.type_into("#token", CAROL).await;
    browser.click("#sign-in-button").await;
    let name = browser
        .wait_for(
            "the signed-in name shows",
            "!document.getElementById('who').hidden && document.getElementById('who-name').textContent",
        )
        .await;
    assert_eq!(name, "carol");
    assert_eq!(
        browser.eval(SHOWN_SECTIONS).await,
        serde_json::json!(["who", "holds-section"]),
        "signed in, the sign-in form is gone"
    );
    assert_eq!(browser.text("#who-orgs").await, "(prod-*)");

    let card = format!("#hold-{dave}");
    browser
        .wait_for(
            "the held tasks are listed",
            &format!("document.querySelectorAll('#holds .hold').length === 3 && document.querySelector('{card}')"),
        )
        .await;
    assert_eq!(
        browser.text(&format!("{card} .operation")).await,
        "vdcInstantiateVapp"
    );
    assert_eq!(browser.text(&format!("{card} .org")).await, "in prod-eu");
    assert_eq!(browser.text(&format!("{card} .user")).await, "dave");
    assert_eq!(browser.text(&format!("{card} .owner")).await, "billing");
    assert_eq!(
        browser.text(&format!("{card} .rule")).await,
        "production deployments need an approver"
    );
    let deadline_in = browser.text(&format!("{card} .deadline-in")).await;
    assert!(
        deadline_in.as_str().unwrap().starts_with("1d23h"),
        "{deadline_in}"
    );
    let fits = browser
        .eval("document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(
        fits, true,
        "the page fits a phone-sized screen without sideways scrolling"
    );
    if let Ok(path) = std::env::var("VCD_BLOCKD_SCREENSHOT") {
        std::fs::write(path, browser.screenshot().await).unwrap();
    }

    // Her own request: greyed out, with the reason, and the task stays held.
    let own_card = format!("#hold-{own}");
    assert_eq!(
        browser.text(&format!("{own_card} .why-not")).await,
        "You may not decide this task: your own request."
    );
    let disabled = format!("document.querySelector('{own_card} .approve').disabled");
    assert_eq!(browser.eval(&disabled).await, true);
    browser.click(&format!("{own_card} .approve")).await;
    assert_eq!(world.sim.task(own).unwrap().status, "active");

    browser
        .type_into(&format!("{card} .message"), "Go ahead (change 4711)")
        .await;
    browser.click(&format!("{card} .approve")).await;
    browser
        .wait_for(
            "the task leaves the list",
            &format!(
                "!document.querySelector('{card}') && document.getElementById('notice').textContent"
            ),
        )
        .await;
    let notice = browser.text("#notice").await;
    assert_eq!(notice, "vdcInstantiateVapp in prod-eu by dave: resumed.");
    let task = world.sim.task(dave).unwrap();
    assert_eq!(task.status, "resumed");
    assert_eq!(
        task.actions.last().unwrap().message,
        "Go ahead (change 4711)"
    );

    // Decided meanwhile by someone else: the page says the task is no longer waiting.
    let (status, _) = admin
        .decide(&erin.to_string(), "approve", serde_json::json!({}))
        .await;
    assert_eq!(status, 200);
    let erin_card = format!("#hold-{erin}");
    browser.click(&format!("{erin_card} .approve")).await;
    browser
        .wait_for(
            "the page says it was decided",
            &format!("document.querySelector('{erin_card} .hold-error').textContent.includes('already decided')"),
        )
        .await;
    let png = browser.screenshot().await;
    assert!(png.starts_with(b"\x89PNG"), "a screenshot of the page");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_loads_nothing_from_elsewhere_and_says_so_in_its_policy() {
    let world = World::start(Options::default()).await;
    let http = http_client();
    for (path, kind) in [
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let response = http
            .get(format!("{}{path}", world.admin_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.starts_with("default-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe"), "{csp}");
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let body = response.text().await.unwrap();
        for elsewhere in ["http://", "https://", "//cdn", "<script>"] {
            assert!(!body.contains(elsewhere), "{path} contains {elsewhere:?}");
        }
    }
    world.finish().await;
}

const TWO_PEOPLE: &str = r#"
[defaults]
action = "abort"

[[rule]]
name = "production deletes need two people"
operation = "vdcDeleteVapp"
action = "hold"
message = "Waiting for two approvals"
[rule.hold]
max = "48h"
approvals = 2
"#;

const DAVE: &str = "dave-page-token-0123456789";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_shows_how_far_the_approvals_are_and_greys_out_who_approved() {
    let world = World::start(Options {
        policy: TWO_PEOPLE.into(),
        approvers: Some(format!(
            "{}{}",
            approver("carol", CAROL, None),
            approver("dave", DAVE, None)
        )),
        ..Options::default()
    })
    .await;
    let delete = world
        .create(NewTask {
            operation: "vdcDeleteVapp".into(),
            ..held_task("erin", "billing")
        })
        .await;
    let carol = Admin::with_token(world.admin_url(), CAROL);
    crate::helpers::eventually("the task is held", || async {
        carol.holds().await.filter(|holds| holds.len() == 1)
    })
    .await;
    let (status, answer) = carol
        .decide(&delete.to_string(), "approve", serde_json::json!({}))
        .await;
    assert_eq!(status, 202, "{answer}");

    let mut browser = Browser::launch().await;
    browser.goto(&format!("{}/ui/", world.admin_url())).await;
    browser
        .wait_for(
            "the sign-in form shows",
            "!document.getElementById('sign-in').hidden",
        )
        .await;
    browser.type_into("#token", CAROL).await;
    browser.click("#sign-in-button").await;
    let card = format!("#hold-{delete}");
    let approvals = browser
        .wait_for(
            "the approvals show on the card",
            &format!("document.querySelector('{card} .approvals') && document.querySelector('{card} .approvals').textContent"),
        )
        .await;
    assert_eq!(approvals, "1 of 2: carol");
    assert_eq!(
        browser.text(&format!("{card} .why-not")).await,
        "You may not decide this task: already approved by you."
    );
    let disabled = format!("document.querySelector('{card} .approve').disabled");
    assert_eq!(browser.eval(&disabled).await, true);
    let fits = browser
        .eval("document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, true, "the page fits a phone-sized screen");

    // dave signs in on the same page and completes the approvals.
    browser.click("#sign-out").await;
    browser
        .wait_for(
            "the sign-in form shows",
            "!document.getElementById('sign-in').hidden",
        )
        .await;
    browser.type_into("#token", DAVE).await;
    browser.click("#sign-in-button").await;
    browser
        .wait_for(
            "dave may decide",
            &format!("document.querySelector('{card} .approve') && !document.querySelector('{card} .approve').disabled"),
        )
        .await;
    browser.click(&format!("{card} .approve")).await;
    browser
        .wait_for(
            "the task leaves the list",
            &format!(
                "!document.querySelector('{card}') && document.getElementById('notice').textContent"
            ),
        )
        .await;
    let task = world.sim.task(delete).unwrap();
    assert_eq!(task.status, "resumed");
    assert_eq!(
        task.actions.last().unwrap().message,
        "Approved by carol and dave (vcd-blockd rule \"production deletes need two people\")"
    );
    world.finish().await;
}
