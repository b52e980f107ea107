use chrono::{DateTime, Utc};

use crate::facts::TaskFacts;
use crate::policy::{Action, Policy, decide, explain};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

const POLICY: &str = r#"
[defaults]
action = "resume"

[[window]]
name = "weekend freeze"
schedule = "0 18 * * FRI"
duration = "62h"
timezone = "Europe/Berlin"

[[window]]
name = "year-end freeze"
from = "2026-12-20T00:00:00+01:00"
until = "2027-01-04T00:00:00+01:00"

[[window]]
name = "business hours"
schedule = "0 8 * * MON-FRI"
duration = "10h"
timezone = "Europe/Berlin"

[[window]]
name = "maintenance"
schedule = "0 12 * * WED"
duration = "2h"
timezone = "Europe/Berlin"

[[rule]]
name = "acme may deploy until February"
org = "acme"
until = "2027-02-01T00:00:00Z"
action = "resume"

[[rule]]
name = "no production changes in a freeze"
org = "prod-*"
during = ["weekend freeze", "year-end freeze"]
action = "hold"
hold = { max = "96h" }

[[rule]]
name = "deletes wait for business hours outside maintenance"
operation = "vdcDelete*"
outside = ["business hours", "maintenance"]
action = "hold"
hold = { max = "72h" }

[[rule]]
name = "from the new year, test orgs are refused"
org = "test-*"
from = "2027-01-01T00:00:00Z"
action = "fail"
"#;

fn policy() -> Policy {
    Policy::from_sources(&[("p.toml".into(), POLICY.into())]).unwrap_or_else(|e| panic!("{e}"))
}

fn task(operation: &str, org: &str) -> TaskFacts {
    TaskFacts {
        operation: operation.into(),
        org: org.into(),
        ..TaskFacts::default()
    }
}

#[test]
fn rules_match_by_the_moment_of_the_decision() {
    let policy = policy();
    let deploy = "vdcInstantiateVapp";
    let cases = [
        (
            "prod on a Tuesday",
            deploy,
            "prod-eu",
            "2026-12-08T10:00:00+01:00",
            "resume",
            "defaults",
        ),
        (
            "prod on a Saturday",
            deploy,
            "prod-eu",
            "2026-12-12T10:00:00+01:00",
            "hold",
            "no production changes in a freeze",
        ),
        (
            "prod on the Monday after, 07:59",
            deploy,
            "prod-eu",
            "2026-12-14T07:59:00+01:00",
            "hold",
            "no production changes in a freeze",
        ),
        (
            "prod on the Monday after, 08:00",
            deploy,
            "prod-eu",
            "2026-12-14T08:00:00+01:00",
            "resume",
            "defaults",
        ),
        (
            "prod on a Tuesday at year end",
            deploy,
            "prod-eu",
            "2026-12-29T10:00:00+01:00",
            "hold",
            "no production changes in a freeze",
        ),
        (
            "acme before its until",
            deploy,
            "acme",
            "2027-01-31T23:59:59Z",
            "resume",
            "acme may deploy until February",
        ),
        (
            "acme at its until",
            "vdcDeleteVapp",
            "acme",
            "2027-02-01T00:00:00Z",
            "hold",
            "deletes wait for business hours outside maintenance",
        ),
        (
            "delete in business hours",
            "vdcDeleteVapp",
            "dev",
            "2026-12-08T10:00:00+01:00",
            "resume",
            "defaults",
        ),
        (
            "delete in maintenance after hours",
            "vdcDeleteVapp",
            "dev",
            "2026-12-09T12:30:00+01:00",
            "resume",
            "defaults",
        ),
        (
            "delete at night",
            "vdcDeleteVapp",
            "dev",
            "2026-12-08T22:00:00+01:00",
            "hold",
            "deletes wait for business hours outside maintenance",
        ),
        (
            "test org before from",
            deploy,
            "test-1",
            "2026-12-31T23:59:59Z",
            "resume",
            "defaults",
        ),
        (
            "test org at from",
            deploy,
            "test-1",
            "2027-01-01T00:00:00Z",
            "fail",
            "from the new year, test orgs are refused",
        ),
    ];
    for (case, operation, org, now, action, rule) in cases {
        let decision = decide(&policy, &task(operation, org), at(now));
        assert_eq!(
            (decision.action.name(), &*decision.rule),
            (action, rule),
            "{case}"
        );
    }
}

#[test]
fn a_hold_says_until_when_and_the_decision_names_the_open_windows() {
    let policy = policy();
    let decision = decide(
        &policy,
        &task("vdcInstantiateVapp", "prod-eu"),
        at("2026-12-12T10:00:00+01:00"),
    );
    assert!(matches!(decision.action, Action::Hold(_)));
    assert_eq!(
        decision.reason.as_deref(),
        Some("weekend freeze until Mon 08:00 CET")
    );
    assert_eq!(decision.windows, [std::sync::Arc::from("weekend freeze")]);
    let night = decide(
        &policy,
        &task("vdcDeleteVapp", "dev"),
        at("2026-12-08T22:00:00+01:00"),
    );
    assert_eq!(
        night.reason.as_deref(),
        Some("outside business hours and maintenance until Wed 08:00 CET")
    );
}

#[test]
fn time_alone_changes_the_answer_at_the_next_boundary_of_a_named_window_or_a_rule() {
    let policy = policy();
    let cases = [
        (
            "Tuesday night: business hours open",
            "2026-12-08T22:00:00+01:00",
            "2026-12-09T08:00:00+01:00",
        ),
        (
            "Saturday: the weekend freeze closes",
            "2026-12-12T10:00:00+01:00",
            "2026-12-14T08:00:00+01:00",
        ),
        (
            "at year end, before the new year's `from`",
            "2026-12-31T12:00:00+01:00",
            "2026-12-31T18:00:00+01:00",
        ),
        (
            "just before the new year",
            "2026-12-31T23:00:00Z",
            "2027-01-01T00:00:00Z",
        ),
    ];
    for (case, now, next) in cases {
        assert_eq!(policy.next_change(at(now)), Some(at(next)), "{case}");
    }
    let timeless = Policy::from_sources(&[(
        "p.toml".into(),
        "[[rule]]\nname = \"r\"\naction = \"resume\"\n".into(),
    )])
    .unwrap();
    assert_eq!(timeless.next_change(at("2026-12-08T22:00:00Z")), None);
}

#[test]
fn explain_shows_the_moment_each_window_and_why_a_rule_did_not_match() {
    let text = explain(
        &policy(),
        &task("vdcInstantiateVapp", "prod-eu"),
        at("2026-12-08T10:00:00+01:00"),
    )
    .to_string();
    for line in [
        "at:       2026-12-08T09:00:00Z",
        "window:   \"weekend freeze\": closed, opens Fri 18:00 CET",
        "window:   \"year-end freeze\": closed, opens 2026-12-19 23:00 UTC",
        "window:   \"business hours\": open until Tue 18:00 CET",
        "during \"weekend freeze\", \"year-end freeze\": none of them is open",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
}

#[test]
fn every_mistake_about_time_is_reported_where_it_was_written() {
    let text = r#"
[[window]]
name = "a"
schedule = "0 18 * * FRY"
duration = "2h"
timezone = "Europe/Bonn"

[[window]]
name = "b"
schedule = "0 18 * * FRI"

[[window]]
name = "c"
schedule = "0 18 * * FRI"
duration = "2h"
from = "2026-12-20T00:00:00+01:00"

[[window]]
name = "d"
from = "2026-12-20T00:00:00+01:00"
until = "2026-12-19T00:00:00+01:00"

[[window]]
name = "e"
from = "yesterday"
until = "2026-12-19T00:00:00+01:00"

[[rule]]
name = "r"
during = "weekend"
from = "2027-01-01T00:00:00Z"
until = "2026-01-01T00:00:00Z"
action = "resume"
"#;
    let errors = Policy::from_sources(&[("p.toml".into(), text.into())])
        .unwrap_err()
        .to_string();
    for expected in [
        "p.toml:4:12: `schedule`: bad cron expression \"0 18 * * FRY\"",
        "p.toml:6:12: unknown time zone \"Europe/Bonn\"",
        "p.toml:10:12: a window with a `schedule` needs a `duration`",
        "p.toml:16:8: a window has either `schedule` and `duration` or `from` and `until`",
        "p.toml:21:9: `until` must be after `from`",
        "p.toml:25:8: `from`: \"yesterday\" is not an instant",
        "p.toml:30:10: `during`: unknown window \"weekend\"",
        "p.toml:32:9: `until` must be after `from`",
    ] {
        assert!(errors.contains(expected), "{expected:?} in\n{errors}");
    }
}

#[test]
fn check_warns_about_time_that_has_passed() {
    let text = r#"
[[window]]
name = "last year"
from = "2025-12-20T00:00:00+01:00"
until = "2026-01-04T00:00:00+01:00"

[[rule]]
name = "old exception"
org = "acme"
during = "last year"
until = "2026-02-01T00:00:00Z"
action = "resume"
"#;
    let policy = Policy::from_sources(&[("p.toml".into(), text.into())]).unwrap();
    assert_eq!(
        policy.time_warnings(at("2026-12-07T00:00:00Z")),
        [
            "p.toml:2: warning: window \"last year\" ended at 2026-01-03 23:00 UTC; rules naming it see it closed for ever",
            "p.toml:7: warning: rule \"old exception\" applied until 2026-02-01 00:00 UTC, which has passed: it matches no task",
        ]
    );
    assert!(policy.time_warnings(at("2025-12-01T00:00:00Z")).is_empty());
}

#[test]
fn a_test_case_decides_at_its_own_moment() {
    let text = format!(
        "{POLICY}\n[[test]]\nname = \"frozen\"\nat = \"2026-12-26T10:00:00+01:00\"\n\
         task = {{ operation = \"vdcInstantiateVapp\", org = \"prod-eu\" }}\nexpect = \"hold\"\n"
    );
    let policy = Policy::from_sources(&[("p.toml".into(), text)]).unwrap();
    let outcomes = crate::policy::run_tests(&policy, at("2026-06-02T10:00:00Z"));
    assert!(outcomes[0].passed(), "{}", outcomes[0]);
}
