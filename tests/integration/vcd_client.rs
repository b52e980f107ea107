//! The daemon's vCD client on its own, against a vcd-sim without a broker: how it logs in at
//! each API version and with an API token (read from the sim's call log), and how it gets
//! through expired sessions, tasks not yet visible and server errors. `vcd_sessions.rs` shows
//! the whole daemon deciding tasks through the same paths.

use std::sync::Arc;

use crate::helpers::{sim_without_broker, vcd_client, vcd_settings, wait_until};
use secrecy::SecretString;
use uuid::Uuid;
use vcd_blockd::ApiVersion;
use vcd_blockd::ErrorClass;
use vcd_blockd::TaskId;
use vcd_blockd::{ApiVersionChoice, VcdAuth};
use vcd_sim::{Call, Faults, NewTask, Sim};

async fn upload(sim: &Sim) -> Uuid {
    sim.create_task(NewTask {
        operation: "vdcUploadMedia".into(),
        owner_name: "a.iso".into(),
        ..NewTask::default()
    })
    .await
    .expect("the sim creates the task")
}

fn is_login(call: &Call) -> bool {
    call.method == "POST" && (call.path.contains("sessions") || call.path.starts_with("/oauth/"))
}

/// The logins the sim received, in order.
fn logins(sim: &Sim) -> Vec<Call> {
    sim.calls().into_iter().filter(is_login).collect()
}

/// The statuses the sim answered to reads of task `id`, in order.
fn reads(sim: &Sim, id: Uuid) -> Vec<u16> {
    let path = format!("/api/admin/extension/blockingTask/{id}");
    sim.calls()
        .into_iter()
        .filter(|c| c.method == "GET" && c.path == path)
        .map(|c| c.status)
        .collect()
}

fn api_token(token: &str) -> VcdAuth {
    VcdAuth::ApiToken {
        token: SecretString::from(token.to_owned()),
    }
}

fn wrong_password() -> VcdAuth {
    VcdAuth::Password {
        user: "administrator@System".into(),
        password: SecretString::from("wrong".to_owned()),
    }
}

#[tokio::test]
async fn at_api_37_the_client_logs_in_with_basic_auth_at_the_legacy_sessions_endpoint() {
    let sim = sim_without_broker("37.2").await;
    let id = upload(&sim).await;
    let (client, _health) = vcd_client(&vcd_settings(&sim));

    let version = client.connect().await.expect("the client connects");
    assert_eq!(version.to_string(), "37.2");
    let task = client.blocking_task(TaskId::from_uuid(id)).await.unwrap();
    assert_eq!(task.operation, "vdcUploadMedia");

    let calls = sim.calls();
    assert_eq!(
        (calls[0].path.as_str(), calls[0].auth.as_str()),
        ("/api/versions", "none"),
        "versions are asked for without credentials"
    );
    let logins = logins(&sim);
    assert_eq!(logins.len(), 1, "{logins:#?}");
    assert_eq!(logins[0].path, "/api/sessions");
    assert_eq!(logins[0].auth, "basic:administrator@System");
    assert_eq!(logins[0].accept, "application/*+xml;version=37.2");
    assert_eq!(logins[0].status, 200);
    let read = calls.last().unwrap();
    assert_eq!(read.auth, "legacy-token");
    assert_eq!(read.accept, "application/*+xml;version=37.2");
    sim.shutdown().await;
}

#[tokio::test]
async fn at_api_38_the_client_logs_in_at_the_cloudapi_provider_endpoint_and_sends_a_bearer_token() {
    let sim = sim_without_broker("38.0").await;
    let id = upload(&sim).await;
    let (client, _health) = vcd_client(&vcd_settings(&sim));

    let version = client.connect().await.expect("the client connects");
    assert_eq!(version.to_string(), "38.0");
    client.blocking_task(TaskId::from_uuid(id)).await.unwrap();

    let logins = logins(&sim);
    assert_eq!(logins.len(), 1, "no legacy login is tried: {logins:#?}");
    assert_eq!(logins[0].path, "/cloudapi/1.0.0/sessions/provider");
    assert_eq!(logins[0].auth, "basic:administrator@System");
    assert_eq!(logins[0].accept, "application/json;version=38.0");
    assert_eq!(logins[0].status, 200);
    let read = sim.calls().pop().unwrap();
    assert_eq!(read.auth, "bearer");
    assert_eq!(read.accept, "application/*+xml;version=38.0");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_vcd_without_the_legacy_login_is_entered_through_cloudapi_even_at_api_37() {
    let sim = sim_without_broker("38.0").await;
    let id = upload(&sim).await;
    let mut settings = vcd_settings(&sim);
    settings.api_version = ApiVersionChoice::Fixed(ApiVersion::parse("37.2").unwrap());
    let (client, _health) = vcd_client(&settings);

    client.connect().await.expect("the client connects");
    client.blocking_task(TaskId::from_uuid(id)).await.unwrap();

    let tried: Vec<(String, u16)> = logins(&sim)
        .into_iter()
        .map(|c| (c.path, c.status))
        .collect();
    assert_eq!(
        tried,
        [
            ("/api/sessions".to_owned(), 404),
            ("/cloudapi/1.0.0/sessions/provider".to_owned(), 200)
        ]
    );
    let read = sim.calls().pop().unwrap();
    assert_eq!(read.auth, "bearer");
    assert_eq!(read.accept, "application/*+xml;version=37.2");
    sim.shutdown().await;
}

#[tokio::test]
async fn an_api_token_is_exchanged_at_the_oauth_endpoint_for_a_bearer_token() {
    let sim = sim_without_broker("37.2").await;
    let id = upload(&sim).await;
    let mut settings = vcd_settings(&sim);
    settings.auth = api_token("sim-api-token");
    let (client, _health) = vcd_client(&settings);

    client.connect().await.expect("the client connects");
    client.blocking_task(TaskId::from_uuid(id)).await.unwrap();

    let logins = logins(&sim);
    assert_eq!(
        logins.len(),
        1,
        "the token is used, not a password: {logins:#?}"
    );
    assert_eq!(logins[0].path, "/oauth/provider/token");
    assert_eq!(logins[0].auth, "none");
    assert_eq!(logins[0].content_type, "application/x-www-form-urlencoded");
    assert_eq!(
        logins[0].body, "grant_type=refresh_token&refresh_token=***",
        "the sim's log hides the token it was sent"
    );
    assert_eq!(logins[0].status, 200);
    assert_eq!(sim.calls().pop().unwrap().auth, "bearer");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_refused_login_is_a_configuration_error_and_is_not_retried() {
    for (api_version, auth, login_path, refused_with) in [
        ("37.2", wrong_password(), "/api/sessions", 401),
        (
            "38.0",
            wrong_password(),
            "/cloudapi/1.0.0/sessions/provider",
            401,
        ),
        (
            "38.0",
            api_token("not-the-token"),
            "/oauth/provider/token",
            400,
        ),
    ] {
        let sim = sim_without_broker(api_version).await;
        let mut settings = vcd_settings(&sim);
        settings.auth = auth;
        let (client, health) = vcd_client(&settings);

        let error = client.connect().await.expect_err("the login is refused");
        assert_eq!(
            error.class(),
            ErrorClass::Misconfigured,
            "{login_path}: {error}"
        );
        assert!(
            error.to_string().contains("refused"),
            "{login_path}: {error}"
        );
        assert!(!client.has_session().await);
        let reasons = health.readiness().unwrap_err();
        assert!(
            reasons.iter().any(
                |r| r.starts_with("no valid vCD session: login to vCD failed: vCD refused the")
            ),
            "{reasons:?}"
        );
        // Asked again at once, the client answers from the refusal and sends nothing.
        let again = client.connect().await.expect_err("still refused");
        assert!(
            again.to_string().contains("the next login is in"),
            "{login_path}: {again}"
        );
        assert_eq!(again.class(), ErrorClass::Misconfigured);
        let tried: Vec<(String, u16)> = logins(&sim)
            .into_iter()
            .map(|c| (c.path, c.status))
            .collect();
        assert_eq!(tried, [(login_path.to_owned(), refused_with)]);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn an_expired_session_costs_one_login_and_the_request_is_repeated() {
    for api_version in ["37.2", "38.0"] {
        let sim = sim_without_broker(api_version).await;
        let id = upload(&sim).await;
        let (client, _health) = vcd_client(&vcd_settings(&sim));
        client.blocking_task(TaskId::from_uuid(id)).await.unwrap();

        sim.expire_sessions();
        client.blocking_task(TaskId::from_uuid(id)).await.unwrap();

        assert_eq!(reads(&sim, id), [200, 401, 200], "{api_version}");
        assert_eq!(
            logins(&sim).len(),
            2,
            "{api_version}: one login, one re-login"
        );
        assert!(client.has_session().await);
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn a_session_refused_again_after_a_fresh_login_is_an_error_not_a_login_loop() {
    let sim = sim_without_broker("37.2").await;
    let id = upload(&sim).await;
    let (client, _health) = vcd_client(&vcd_settings(&sim));
    client.connect().await.unwrap();
    // Every session expires before its first request.
    sim.set_faults(Faults {
        session_ttl_requests: Some(0),
        ..Faults::default()
    });

    let error = client
        .blocking_task(TaskId::from_uuid(id))
        .await
        .expect_err("every session is refused");

    assert_eq!(error.status(), Some(401), "{error}");
    assert_eq!(reads(&sim, id), [401, 401]);
    assert_eq!(
        logins(&sim).len(),
        2,
        "the first login and a single re-login"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_task_announced_before_it_is_readable_is_read_once_it_appears() {
    let sim = sim_without_broker("37.2").await;
    sim.set_faults(Faults {
        not_found_first_reads: 2,
        ..Faults::default()
    });
    let id = upload(&sim).await;
    let (client, _health) = vcd_client(&vcd_settings(&sim));

    let task = client.blocking_task(TaskId::from_uuid(id)).await.unwrap();

    assert_eq!(task.id, TaskId::from_uuid(id));
    assert_eq!(reads(&sim, id), [404, 404, 200]);
    assert_eq!(logins(&sim).len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_task_known_to_exist_that_reads_404_is_reported_gone_at_once() {
    let sim = sim_without_broker("37.2").await;
    sim.set_faults(Faults {
        not_found_first_reads: 1,
        ..Faults::default()
    });
    let id = upload(&sim).await;
    let (client, _health) = vcd_client(&vcd_settings(&sim));

    let error = client
        .blocking_task_now(TaskId::from_uuid(id))
        .await
        .expect_err("the first read answers 404");

    assert_eq!(error.class(), ErrorClass::NotFound, "{error}");
    assert_eq!(reads(&sim, id), [404]);
    sim.shutdown().await;
}

#[tokio::test]
async fn server_errors_are_retried_until_vcd_answers() {
    let sim = sim_without_broker("37.2").await;
    let id = upload(&sim).await;
    let (client, _health) = vcd_client(&vcd_settings(&sim));
    client.connect().await.unwrap();
    sim.set_faults(Faults {
        error_rate_5xx: 1.0,
        ..Faults::default()
    });

    let client = Arc::new(client);
    let read = tokio::spawn({
        let client = Arc::clone(&client);
        async move { client.blocking_task(TaskId::from_uuid(id)).await }
    });
    wait_until("the read met two server errors", || {
        reads(&sim, id)
            .iter()
            .filter(|&&status| status == 503)
            .count()
            >= 2
    })
    .await;
    sim.set_faults(Faults::default());
    let task = read
        .await
        .unwrap()
        .expect("the read succeeds once vCD recovers");

    assert_eq!(task.id, TaskId::from_uuid(id));
    let statuses = reads(&sim, id);
    let (last, earlier) = statuses.split_last().unwrap();
    assert_eq!(*last, 200, "{statuses:?}");
    assert!(
        earlier.len() >= 2 && earlier.iter().all(|&s| s == 503),
        "{statuses:?}"
    );
    assert_eq!(logins(&sim).len(), 1, "server errors do not cost a login");
    sim.shutdown().await;
}

#[tokio::test]
async fn an_answer_that_cannot_be_read_is_read_again_a_few_times_then_given_up() {
    let sim = sim_without_broker("37.2").await;
    let html = upload(&sim).await;
    let cut = upload(&sim).await;
    let fine = upload(&sim).await;
    sim.set_faults(Faults {
        unreadable_tasks: [
            (html, vcd_sim::Unreadable::Html),
            (cut, vcd_sim::Unreadable::Truncated),
        ]
        .into(),
        ..Faults::default()
    });
    let (client, _health) = vcd_client(&vcd_settings(&sim));

    for id in [html, cut] {
        let error = client
            .blocking_task(TaskId::from_uuid(id))
            .await
            .expect_err("every answer is unreadable");
        assert_eq!(error.class(), ErrorClass::Unreadable, "{error}");
        assert!(error.to_string().contains("unreadable answer"), "{error}");
        let reads = reads(&sim, id);
        assert!(
            (2..=5).contains(&reads.len()),
            "read again a few times, not for ever: {reads:?}"
        );
    }
    let task = client.blocking_task(TaskId::from_uuid(fine)).await.unwrap();
    assert_eq!(task.id, TaskId::from_uuid(fine));
    sim.shutdown().await;
}
