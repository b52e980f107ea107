//! Logging in the three ways vCD offers, version negotiation, and session expiry.

use crate::helpers::*;
use vcd_sim::{Faults, NewTask, SimConfig};

#[tokio::test]
async fn versions_list_the_ladder_up_to_the_configured_version() {
    let config = config();
    let sim = start(config.clone()).await;
    let response = http()
        .get(format!("{}/api/versions", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let versions: Vec<_> = shape(&body)
        .into_iter()
        .filter(|e| e.local == "VersionInfo")
        .collect();
    assert_eq!(versions.len(), 7, "33.0 … 37.2");
    assert!(body.contains("<Version>37.2</Version>"));
    assert!(!body.contains("<Version>38.0</Version>"));
    assert!(body.contains(&format!(
        "<LoginUrl>{}/api/sessions</LoginUrl>",
        sim.base_url()
    )));
    assert_eq!(
        versions[0].attributes,
        [("deprecated".to_owned(), "true".to_owned())]
    );
    assert_eq!(
        versions[6].attributes,
        [("deprecated".to_owned(), "false".to_owned())]
    );
    finish(sim, &config).await;
}

#[tokio::test]
async fn legacy_login_gives_a_token_for_later_calls() {
    let config = config();
    let sim = start(config.clone()).await;
    let token = legacy_login(&sim).await;
    let listing = http()
        .get(format!(
            "{}/api/admin/extension/blockingTasks/",
            sim.base_url()
        ))
        .header("x-vcloud-authorization", &token)
        .header("Accept", ACCEPT_XML)
        .send()
        .await
        .unwrap();
    assert_eq!(listing.status(), 200);

    let wrong = http()
        .post(format!("{}/api/sessions", sim.base_url()))
        .basic_auth("administrator@System", Some("wrong"))
        .header("Accept", ACCEPT_XML)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        attribute(&wrong.text().await.unwrap(), "Error", "majorErrorCode").as_deref(),
        Some("401")
    );

    let auths: Vec<String> = sim.calls().into_iter().map(|c| c.auth).collect();
    assert_eq!(
        auths,
        [
            "basic:administrator@System",
            "legacy-token",
            "basic:administrator@System"
        ]
    );
    assert!(
        sim.calls()
            .iter()
            .all(|c| !c.body.contains("vmware") && !c.auth.contains("vmware"))
    );
    finish(sim, &config).await;
}

#[tokio::test]
async fn api_38_has_no_legacy_login_but_cloudapi_works() {
    let config = SimConfig {
        api_version: "38.0".into(),
        ..config()
    };
    let sim = start(config.clone()).await;
    let legacy = http()
        .post(format!("{}/api/sessions", sim.base_url()))
        .basic_auth("administrator@System", Some("vmware"))
        .header("Accept", "application/*+xml;version=37.2")
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), 404);

    let versions = http()
        .get(format!("{}/api/versions", sim.base_url()))
        .send()
        .await
        .unwrap();
    let body = versions.text().await.unwrap();
    assert!(body.contains(&format!(
        "<Version>38.0</Version>\n        <LoginUrl>{}/cloudapi/1.0.0/sessions</LoginUrl>",
        sim.base_url()
    )));

    let jwt = cloudapi_login(&sim, "38.0").await;
    let id = sim.create_task(NewTask::default()).await.unwrap();
    let task = http()
        .get(format!(
            "{}/api/admin/extension/blockingTask/{id}",
            sim.base_url()
        ))
        .bearer_auth(&jwt)
        .header("Accept", "application/*+xml;version=38.0")
        .send()
        .await
        .unwrap();
    assert_eq!(task.status(), 200);
    assert_eq!(
        header(&task, "content-type"),
        "application/vnd.vmware.admin.blockingTask+xml;version=38.0"
    );
    finish(sim, &config).await;
}

#[tokio::test]
async fn legacy_login_asked_at_38_is_gone_even_on_an_older_cloud() {
    let config = config();
    let sim = start(config.clone()).await;
    let response = http()
        .post(format!("{}/api/sessions", sim.base_url()))
        .basic_auth("administrator@System", Some("vmware"))
        .header("Accept", "application/*+xml;version=38.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    finish(sim, &config).await;
}

#[tokio::test]
async fn cloudapi_login_needs_a_json_accept_and_good_credentials() {
    let config = config();
    let sim = start(config.clone()).await;
    let url = format!("{}/cloudapi/1.0.0/sessions/provider", sim.base_url());
    let no_version = http()
        .post(&url)
        .basic_auth("administrator@System", Some("vmware"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(no_version.status(), 406);
    let wrong = http()
        .post(&url)
        .basic_auth("administrator@System", Some("nope"))
        .header("Accept", ACCEPT_JSON)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let ok = http()
        .post(&url)
        .basic_auth("administrator@System", Some("vmware"))
        .header("Accept", ACCEPT_JSON)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let jwt = header(&ok, "x-vmware-vcloud-access-token");
    assert_eq!(jwt.split('.').count(), 3);
    let session: serde_json::Value = ok.json().await.unwrap();
    assert_eq!(session["user"]["name"], "administrator");
    assert_eq!(session["org"]["name"], "System");
    finish(sim, &config).await;
}

#[tokio::test]
async fn api_token_is_exchanged_for_a_bearer_token() {
    let config = config();
    let sim = start(config.clone()).await;
    let url = format!("{}/oauth/provider/token", sim.base_url());
    let form = |token: &str| format!("grant_type=refresh_token&refresh_token={token}");
    let bad = http()
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form("guess"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<serde_json::Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    let good = http()
        .post(&url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form("sim-api-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), 200);
    let grant: serde_json::Value = good.json().await.unwrap();
    assert_eq!(grant["token_type"], "Bearer");
    assert_eq!(grant["expires_in"], 3600);
    let token = grant["access_token"].as_str().unwrap();
    let listing = get(&sim, token, "/api/admin/extension/blockingTasks/").await;
    assert_eq!(listing.status(), 200);

    let recorded: Vec<String> = sim.calls().into_iter().map(|c| c.body).collect();
    assert!(
        recorded
            .iter()
            .all(|b| !b.contains("sim-api-token") && !b.contains("guess"))
    );
    assert!(recorded[1].contains("refresh_token=***"));
    finish(sim, &config).await;
}

#[tokio::test]
async fn calls_without_accept_version_or_session_are_refused() {
    let config = config();
    let sim = start(config.clone()).await;
    let path = "/api/admin/extension/blockingTasks/";
    let token = legacy_login(&sim).await;
    let no_accept = http()
        .get(format!("{}{path}", sim.base_url()))
        .header("x-vcloud-authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(no_accept.status(), 406);
    assert!(
        header(&no_accept, "content-type").starts_with("application/vnd.vmware.vcloud.error+xml")
    );
    let unserved = http()
        .get(format!("{}{path}", sim.base_url()))
        .header("x-vcloud-authorization", &token)
        .header("Accept", "application/*+xml;version=39.0")
        .send()
        .await
        .unwrap();
    assert_eq!(unserved.status(), 406);

    let unknown = get(&sim, "not-a-session", path).await;
    assert_eq!(unknown.status(), 401);
    let body = unknown.text().await.unwrap();
    assert_eq!(
        attribute(&body, "Error", "majorErrorCode").as_deref(),
        Some("401")
    );
    finish(sim, &config).await;
}

#[tokio::test]
async fn logout_ends_the_session() {
    let config = config();
    let sim = start(config.clone()).await;
    let path = "/api/admin/extension/blockingTasks/";
    let token = legacy_login(&sim).await;
    let logout = http()
        .delete(format!("{}/api/session", sim.base_url()))
        .header("x-vcloud-authorization", &token)
        .header("Accept", ACCEPT_XML)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(get(&sim, &token, path).await.status(), 401);

    let jwt = cloudapi_login(&sim, "37.2").await;
    let logout = http()
        .delete(format!(
            "{}/cloudapi/1.0.0/sessions/current",
            sim.base_url()
        ))
        .bearer_auth(&jwt)
        .header("Accept", ACCEPT_JSON)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_eq!(get(&sim, &jwt, path).await.status(), 401);
    finish(sim, &config).await;
}

#[tokio::test]
async fn sessions_expire_on_demand_and_after_their_request_budget() {
    let config = config();
    let sim = start(config.clone()).await;
    let path = "/api/admin/extension/blockingTasks/";
    let token = legacy_login(&sim).await;
    assert_eq!(get(&sim, &token, path).await.status(), 200);
    sim.expire_sessions();
    assert_eq!(get(&sim, &token, path).await.status(), 401);

    sim.set_faults(Faults {
        session_ttl_requests: Some(2),
        ..Faults::default()
    });
    let token = cloudapi_login(&sim, "37.2").await;
    assert_eq!(get(&sim, &token, path).await.status(), 200);
    assert_eq!(get(&sim, &token, path).await.status(), 200);
    assert_eq!(get(&sim, &token, path).await.status(), 401);
    let fresh = cloudapi_login(&sim, "37.2").await;
    assert_eq!(get(&sim, &fresh, path).await.status(), 200);
    finish(sim, &config).await;
}
