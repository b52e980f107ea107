//! Talking to vCD across versions and trouble: the three logins, expired sessions, tasks not
//! yet visible, and a flaky API. In each case the tasks still end decided. What the vCD client
//! sends in each case is tested without a broker in `vcd_client.rs`.

use crate::helpers::{Options, World};
use vcd_sim::{Faults, NewTask};

fn upload(owner_name: &str) -> NewTask {
    NewTask {
        operation: "vdcUploadMedia".into(),
        owner_name: owner_name.into(),
        ..NewTask::default()
    }
}

fn logins(world: &World) -> Vec<(String, u16)> {
    world
        .sim
        .calls()
        .into_iter()
        .filter(|c| {
            c.method == "POST" && (c.path.contains("sessions") || c.path.contains("/oauth/"))
        })
        .map(|c| (c.path, c.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_37_logs_in_through_the_legacy_sessions_endpoint() {
    let world = World::start(Options::default()).await;
    let id = world.create(upload("a.iso")).await;
    world.wait_for_status(id, "resumed").await;
    assert_eq!(logins(&world), [("/api/sessions".to_owned(), 200)]);
    let read = world.first_read(id);
    assert_eq!(read.accept, "application/*+xml;version=37.2");
    assert_eq!(read.auth, "legacy-token");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_38_logs_in_through_cloudapi_because_the_legacy_login_is_gone() {
    let world = World::start(Options {
        api_version: "38.0",
        ..Options::default()
    })
    .await;
    let id = world.create(upload("a.iso")).await;
    world.wait_for_status(id, "resumed").await;
    assert_eq!(
        logins(&world),
        [("/cloudapi/1.0.0/sessions/provider".to_owned(), 200)]
    );
    let read = world.first_read(id);
    assert_eq!(read.accept, "application/*+xml;version=38.0");
    assert_eq!(read.auth, "bearer");
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_token_is_exchanged_for_an_access_token() {
    let world = World::start(Options {
        auth: "api-token",
        api_version: "38.0",
        ..Options::default()
    })
    .await;
    let id = world.create(upload("a.iso")).await;
    world.wait_for_status(id, "resumed").await;
    assert_eq!(logins(&world), [("/oauth/provider/token".to_owned(), 200)]);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_session_is_renewed_and_the_request_repeated() {
    for api_version in ["37.2", "38.0"] {
        let world = World::start(Options {
            api_version,
            ..Options::default()
        })
        .await;
        let first = world.create(upload("first.iso")).await;
        world.wait_for_status(first, "resumed").await;
        world.sim.expire_sessions();
        let second = world.create(upload("second.iso")).await;
        world.wait_for_status(second, "resumed").await;
        assert_eq!(
            logins(&world).len(),
            2,
            "{api_version}: one login, one re-login: {:?}",
            logins(&world)
        );
        assert!(
            world.sim.calls().iter().any(|c| c.status == 401),
            "{api_version}: the sim refused the old session"
        );
        assert_eq!(world.action_calls(second).len(), 1);
        world.finish().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_that_expire_every_few_requests_lose_nothing() {
    let world = World::start(Options::default()).await;
    world.sim.set_faults(Faults {
        session_ttl_requests: Some(3),
        ..Faults::default()
    });
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(world.create(upload(&format!("{n}.iso"))).await);
    }
    for id in ids {
        let view = world.wait_for_status(id, "resumed").await;
        // An action refused with 401 is sent again after the new login; vCD accepts one.
        assert_eq!(
            view.actions.iter().filter(|a| a.accepted).count(),
            1,
            "{view:#?}"
        );
    }
    assert!(
        logins(&world).len() > 2,
        "sessions expired and were renewed: {:?}",
        logins(&world)
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_announced_before_it_is_readable_is_still_decided() {
    let world = World::start(Options::default()).await;
    world.sim.set_faults(Faults {
        not_found_first_reads: 2,
        ..Faults::default()
    });
    let id = world.create(upload("early.iso")).await;
    world.wait_for_status(id, "resumed").await;
    let reads: Vec<u16> = world
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.method == "GET" && c.path.ends_with(&id.to_string()))
        .map(|c| c.status)
        .collect();
    assert_eq!(reads, [404, 404, 200]);
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_until_every_task_is_decided() {
    let world = World::start(Options::default()).await;
    world.sim.set_faults(Faults {
        error_rate_5xx: 0.4,
        ..Faults::default()
    });
    let mut ids = Vec::new();
    for n in 0..8 {
        ids.push(world.create(upload(&format!("{n}.iso"))).await);
    }
    for id in &ids {
        world.wait_for_status(*id, "resumed").await;
    }
    assert!(
        world.sim.calls().iter().any(|c| c.status == 503),
        "the sim injected no error"
    );
    for id in ids {
        let accepted = world
            .sim
            .task(id)
            .unwrap()
            .actions
            .iter()
            .filter(|a| a.accepted)
            .count();
        assert_eq!(accepted, 1, "task {id} was resumed once");
    }
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_a_refused_login() {
    let world = World::start(Options::default()).await;
    let readyz = format!("{}/readyz", world.admin_url());
    let ready = crate::helpers::eventually("the daemon is ready", || async {
        let response = reqwest::get(&readyz).await.ok()?;
        (response.status() == 200).then_some(response.json::<serde_json::Value>().await.ok()?)
    })
    .await;
    assert_eq!(ready["ready"], true);
    world.finish().await;

    let mut world = World::without_daemon(Options::default()).await;
    world.settings.vcd.auth = vcd_blockd::VcdAuth::Password {
        user: "administrator@System".into(),
        password: "wrong".to_owned().into(),
    };
    let world = world.with_daemon().await;
    crate::helpers::wait_until("a login was refused", || {
        world
            .daemon()
            .metrics
            .render()
            .contains("op=\"login\",status=\"error\"")
    })
    .await;
    let response = reqwest::get(format!("{}/readyz", world.admin_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["reasons"],
        serde_json::json!([
            "no valid vCD session: login to vCD failed: vCD refused the credentials of administrator@System (401 Unauthorized)"
        ])
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_tried_once_a_minute_and_readyz_says_why() {
    let mut world = World::without_daemon(Options::default()).await;
    let config = world.config_path();
    std::fs::write(
        config.parent().unwrap().join("vcd-password"),
        "not-the-password\n",
    )
    .unwrap();
    world.settings = vcd_blockd::Settings::load_with_env(Some(&config), &Default::default())
        .expect("the config is valid");
    let world = world.with_daemon().await;
    let id = world.create(upload("refused")).await;

    // The delivery is retried (each retry would have logged in again), the start-up session
    // loop and reconciliation keep trying too: all of them together sent one login.
    let retried = format!("task_id={id}");
    crate::helpers::wait_until("the delivery was retried three times", || {
        crate::helpers::captured_logs()
            .lines()
            .filter(|line| line.contains("vCD trouble; will retry") && line.contains(&retried))
            .count()
            >= 3
    })
    .await;
    let logins = logins(&world);
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!(logins[0].1, 401, "{logins:?}");
    // `vcd_logins_total` counts what the sim saw: one refused login, none that worked.
    let metrics = world.daemon().metrics.render();
    for (outcome, count) in [("refused", 1), ("ok", 0), ("error", 0)] {
        let series = format!("vcd_blockd_vcd_logins_total{{outcome=\"{outcome}\"}} {count}\n");
        assert!(metrics.contains(&series), "{series:?} not in {metrics}");
    }
    let reasons = world.daemon().health.readiness().unwrap_err();
    assert!(
        reasons.iter().any(|reason| reason.starts_with(
            "no valid vCD session: login to vCD failed: vCD refused the credentials of administrator@System (401"
        )),
        "{reasons:?}"
    );
    assert!(
        !crate::helpers::captured_logs().contains("not-the-password"),
        "no secret in the log"
    );
    assert_eq!(world.sim.task(id).unwrap().status, "active");
    world.finish().await;
}
