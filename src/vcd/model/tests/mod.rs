//! Unit tests for vcd/model.

use super::*;
use crate::xml::testing::variants;
use chrono::TimeZone;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/protocol/",
            $name
        ))
    };
}

const TASK_UUID: &str = "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94";

fn entity(name: &str, id: &str, kind: &str) -> EntityRef {
    EntityRef {
        name: name.to_owned(),
        id: id.to_owned(),
        kind: kind.to_owned(),
    }
}

fn fixture_task() -> BlockingTask {
    let time = |d, ms| {
        Utc.with_ymd_and_hms(2026, 11, d, 8, 14, 3).unwrap() + chrono::Duration::milliseconds(ms)
    };
    BlockingTask {
        id: TaskId::parse(TASK_UUID).unwrap(),
        operation: "vdcInstantiateVapp".to_owned(),
        status: TaskStatus::Active,
        created: Some(time(20, 540)),
        timeout_date: Some(time(25, 540)),
        timeout_action: "abort".to_owned(),
        description: "Instantiate vApp from template".to_owned(),
        org: entity("acme", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "org"),
        user: entity("alice", "0d9e8f7a-6b5c-4d3e-a2f1-0e9d8c7b6a54", "user"),
        owner: entity(
            "web-frontend",
            "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e",
            "vApp",
        ),
    }
}

#[test]
fn blocking_task_fixture_parses_to_the_domain_type() {
    for (variant, document) in variants(fixture!("blocking-task.xml"), &["vmext", "vcloud"]) {
        assert_eq!(
            parse_blocking_task(&document).unwrap(),
            fixture_task(),
            "{variant}"
        );
    }
}

#[test]
fn blocking_task_refusals_name_the_problem() {
    let fixture = fixture!("blocking-task.xml");
    let cases = [
        (
            fixture.replace("vmext:BlockingTask", "vmext:Task"),
            "expected a <BlockingTask> document, got <Task>",
        ),
        (
            fixture.replace(&format!("id=\"urn:vcloud:blockingTask:{TASK_UUID}\""), ""),
            "lacks id",
        ),
        (fixture.replace(TASK_UUID, "../../admin"), "invalid id"),
        (fixture.replace(" status=\"active\"", ""), "lacks status"),
        (
            fixture.replace("2026-11-25T09:14:03.540+01:00", "next week"),
            "invalid timeoutDate",
        ),
        (
            fixture.replace(
                "<vcloud:Description>",
                "<vcloud:Description>x</vcloud:Description><vcloud:Description>",
            ),
            "more than once",
        ),
        (fixture[..fixture.len() / 2].to_owned(), "not well-formed"),
        (format!("<!DOCTYPE x>{fixture}"), "DOCTYPE"),
        (String::new(), "no root"),
    ];
    for (document, expected) in cases {
        let error = parse_blocking_task(&document).unwrap_err().to_string();
        assert!(error.contains(expected), "{expected}: {error}");
    }
}

#[test]
fn a_single_child_given_twice_is_an_error_wherever_it_stands() {
    let fixture = fixture!("blocking-task.xml");
    let organization = fixture
        .lines()
        .find(|l| l.contains("<vcloud:Organization"))
        .unwrap();
    let user = fixture
        .lines()
        .find(|l| l.contains("<vcloud:User"))
        .unwrap();
    let cases = [
        (
            fixture.replace(organization, &organization.repeat(2)),
            "element <Organization> appears more than once",
        ),
        (
            fixture.replace(user, &format!("{user}{organization}")),
            "element <Organization> appears more than once",
        ),
        (
            fixture.replace(user, &format!("{user}\n{user}")),
            "element <User> appears more than once",
        ),
    ];
    for (document, expected) in cases {
        let error = parse_blocking_task(&document).unwrap_err();
        assert!(matches!(error, ModelError::Xml(_)), "{error}");
        assert_eq!(
            error.to_string(),
            format!("response is not well-formed XML: {expected}")
        );
    }
}

#[test]
fn own_attributes_win_over_prefixed_ones_of_the_same_name() {
    let fixture = fixture!("blocking-task.xml");
    let documents = [
        fixture.replace(
            "<vcloud:TaskOwner type=",
            "<vcloud:TaskOwner xsi:type=\"vcloud:ReferenceType\" type=",
        ),
        fixture.replace(
            "name=\"web-frontend\"",
            "name=\"web-frontend\" vcloud:type=\"application/vnd.vmware.vcloud.vm+xml\"",
        ),
        fixture.replace(
            " status=\"active\"",
            " xsi:status=\"resumed\" status=\"active\"",
        ),
    ];
    for document in documents {
        assert_eq!(
            parse_blocking_task(&document).unwrap(),
            fixture_task(),
            "{document}"
        );
    }
    // A prefixed attribute alone stands for the element's own.
    let prefixed = fixture.replace(" status=\"active\"", " xsi:status=\"active\"");
    assert_eq!(parse_blocking_task(&prefixed).unwrap(), fixture_task());
}

#[test]
fn blocking_task_tolerates_missing_optional_parts() {
    let minimal =
        format!(r#"<BlockingTask id="{TASK_UUID}" name="vdcUploadMedia" status="resumed"/>"#);
    let task = parse_blocking_task(&minimal).unwrap();
    assert_eq!(task.status, TaskStatus::Other("resumed".to_owned()));
    assert_eq!((task.created, task.timeout_date), (None, None));
    assert_eq!(
        (task.org, task.owner),
        (EntityRef::default(), EntityRef::default())
    );
}

#[test]
fn owner_ids_and_kinds_from_hrefs_and_media_types() {
    let cases = [
        (
            "https://v/api/vApp/vapp-B7C8D9E0-F1A2-4B3C-8D4E-5F6A7B8C9D0E",
            "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e",
        ),
        (
            "https://v/api/vAppTemplate/vappTemplate-b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e/",
            "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e",
        ),
        (
            "https://v/api/media/b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e?x=1#y",
            "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e",
        ),
        ("https://v/api/org/42", "42"),
        (
            "https://v/api/thing/notvapp_b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e",
            "notvapp_b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e",
        ),
        ("", ""),
    ];
    for (href, id) in cases {
        assert_eq!(id_from_href(href), id, "{href}");
    }
    let kinds = [
        ("application/vnd.vmware.vcloud.vApp+xml", "vApp"),
        ("application/vnd.vmware.vcloud.vm+xml", "vm"),
        (
            "application/vnd.vmware.vcloud.vAppTemplate+xml;version=37.2",
            "vAppTemplate",
        ),
        ("application/vnd.vmware.vcloud.media+xml", "media"),
        ("application/vnd.vmware.admin.vdc+xml", "vdc"),
        ("application/xml", ""),
        ("", ""),
    ];
    for (media_type, kind) in kinds {
        assert_eq!(kind_from_media_type(media_type), kind, "{media_type}");
    }
}

#[test]
fn task_references_fixture_lists_every_task() {
    let expected =
        ["2d4f6a8c-0e1b-4c3d-9f5a-7b9d1f3e5a70", TASK_UUID].map(|id| TaskId::parse(id).unwrap());
    for (variant, document) in variants(
        fixture!("blocking-task-references.xml"),
        &["vmext", "vcloud"],
    ) {
        let list = parse_task_references(&document).unwrap();
        assert_eq!(list.ids, expected, "{variant}");
        assert_eq!(list.skipped, [], "{variant}");
    }
    let empty = r#"<BlockingTaskReferences xmlns="http://www.vmware.com/vcloud/extension/v1.5"/>"#;
    assert_eq!(
        parse_task_references(empty).unwrap(),
        TaskReferences::default()
    );
}

#[test]
fn a_task_reference_that_names_no_task_is_skipped_and_named() {
    let good = "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94";
    let cases = [
        (
            r#"<Reference href="https://v/api/admin/extension/blockingTask/.."/>"#,
            "https://v/api/admin/extension/blockingTask/..",
        ),
        (
            r#"<Reference href="https://v/x/8c1d6e2a-4f3b-4a7d-9e21"/>"#,
            "8c1d6e2a-4f3b-4a7d-9e21",
        ),
    ];
    for (bad, named) in cases {
        let document = format!(
            r#"<BlockingTaskReferences>{bad}<Reference href="https://v/api/admin/extension/blockingTask/{good}"/></BlockingTaskReferences>"#
        );
        let list = parse_task_references(&document).unwrap();
        assert_eq!(list.ids, [TaskId::parse(good).unwrap()]);
        assert!(
            matches!(&list.skipped[..], [ModelError::Invalid { field: "Reference href", value }] if value.contains(named)),
            "{:?}",
            list.skipped
        );
    }
    let missing = "<BlockingTaskReferences><Reference name=\"x\"/></BlockingTaskReferences>";
    let list = parse_task_references(missing).unwrap();
    assert_eq!(list.ids, []);
    assert_eq!(list.skipped, [ModelError::Missing("Reference href")]);
    let wrong = parse_task_references("<References/>").unwrap_err();
    assert!(matches!(
        wrong,
        ModelError::UnexpectedRoot {
            expected: "BlockingTaskReferences",
            ..
        }
    ));
}

#[test]
fn versions_fixture_in_document_order() {
    let info = |version: &str, deprecated, url: &str| VersionInfo {
        version: version.parse().unwrap(),
        deprecated,
        login_url: Some(format!("https://vcd.example.com{url}")),
    };
    let expected = [
        info("36.0", true, "/api/sessions"),
        info("37.2", false, "/api/sessions"),
        info("38.0", false, "/cloudapi/1.0.0/sessions"),
    ];
    for (variant, document) in variants(fixture!("versions.xml"), &[]) {
        assert_eq!(parse_versions(&document).unwrap(), expected, "{variant}");
    }
}

#[test]
fn versions_wherever_they_stand_among_other_elements() {
    let document = r#"<SupportedVersions>
        <VersionInfo deprecated="false"><Version>37.2</Version></VersionInfo>
        <SchemaRoot>https://v/api/v1.5/schema/</SchemaRoot>
        <VersionInfo deprecated="false"><LoginUrl>https://v/cloudapi/1.0.0/sessions</LoginUrl><MediaTypeMapping/><Version>38.0</Version></VersionInfo>
    </SupportedVersions>"#;
    let versions: Vec<String> = parse_versions(document)
        .unwrap()
        .iter()
        .map(|info| format!("{} {:?}", info.version, info.login_url))
        .collect();
    assert_eq!(
        versions,
        [
            "37.2 None",
            "38.0 Some(\"https://v/cloudapi/1.0.0/sessions\")"
        ]
    );
}

#[test]
fn versions_skip_entries_they_cannot_read() {
    let document = r#"<SupportedVersions>
        <VersionInfo deprecated="false"><Version>38.0-beta</Version></VersionInfo>
        <VersionInfo><LoginUrl>https://v/api/sessions</LoginUrl></VersionInfo>
        <VersionInfo deprecated="true"><Version> 9.1.0 </Version><LoginUrl/><MediaTypeMapping><MediaType>x</MediaType></MediaTypeMapping></VersionInfo>
        <SchemaRoot>https://v/api/v1.5/schema/</SchemaRoot>
    </SupportedVersions>"#;
    let versions = parse_versions(document).unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(
        (versions[0].version.to_string(), versions[0].deprecated),
        ("9.1.0".to_owned(), true)
    );
    assert_eq!(versions[0].login_url, None);
    assert!(matches!(
        parse_versions("<Versions/>"),
        Err(ModelError::UnexpectedRoot { .. })
    ));
}

#[test]
fn error_fixture_and_bodies_that_are_not_errors() {
    let expected = ErrorDocument {
        message:
            "The requested operation could not be executed since the blocking task is not active."
                .to_owned(),
        major_code: Some(400),
        minor_code: "BAD_REQUEST".to_owned(),
    };
    for (variant, document) in variants(fixture!("error.xml"), &[]) {
        assert_eq!(parse_error(&document), Some(expected.clone()), "{variant}");
    }
    let odd = parse_error(r#"<vcloud:Error xmlns:vcloud="urn:v" majorErrorCode="x" message="m"/>"#)
        .unwrap();
    assert_eq!((odd.major_code, odd.minor_code.as_str()), (None, ""));
    for not_error in [
        "",
        "Service Unavailable",
        "<html><body>502</body></html>",
        "<Error",
        "{\"error\":1}",
    ] {
        assert_eq!(parse_error(not_error), None, "{not_error:?}");
    }
}

#[test]
fn request_bodies_match_the_fixtures_and_escape_markup() {
    // The fixtures leave quotes in text unescaped; we escape them, which means the same.
    let escaped = |fixture: &str, quoted: &str| {
        fixture.replace(&format!("\"{quoted}\""), &format!("&quot;{quoted}&quot;"))
    };
    let message = "Approved by vcd-blockd rule \"small media uploads\"";
    let fixture = fixture!("blocking-task-operation-params.xml");
    assert_eq!(
        operation_params(message),
        escaped(fixture, "small media uploads")
    );

    let message = "Waiting for approval (rule \"production deployments\")";
    let body = update_progress_params(message, Some(Duration::from_secs(600)));
    let fixture = fixture!("blocking-task-update-progress-params.xml");
    assert_eq!(body, escaped(fixture, "production deployments"));
    assert!(!update_progress_params("m", None).contains("TimeoutValueInMilliseconds"));
    assert!(update_progress_params("m", Some(Duration::MAX)).contains(&format!(">{}<", i64::MAX)));

    let hostile = "</Message><Evil a='1'/>&amp; \"";
    for body in [
        operation_params(hostile),
        update_progress_params(hostile, None),
    ] {
        let document = xml::check(&body).unwrap();
        let params: ParamsXml = document.deserialize().unwrap();
        let messages: Vec<&str> = params.messages.iter().map(|m| m.trim()).collect();
        assert_eq!(messages, [hostile], "{body}");
        let mut children = 0;
        xml::scan(&body, |depth, _| {
            children += usize::from(depth == 1);
            Ok(())
        })
        .unwrap();
        assert_eq!(children, 1, "{body}");
    }
}

/// The request bodies as vCD reads them.
#[derive(serde::Deserialize)]
struct ParamsXml {
    #[serde(rename = "Message", default)]
    messages: Vec<String>,
}

#[test]
fn damaged_documents_give_errors_not_panics() {
    type Parser = fn(&str);
    let parsers: [(&str, Parser); 4] = [
        (fixture!("blocking-task.xml"), |d| {
            drop(parse_blocking_task(d))
        }),
        (fixture!("blocking-task-references.xml"), |d| {
            drop(parse_task_references(d))
        }),
        (fixture!("versions.xml"), |d| drop(parse_versions(d))),
        (fixture!("error.xml"), |d| drop(parse_error(d))),
    ];
    for (fixture, parse) in parsers {
        for at in 0..fixture.len() {
            parse(&fixture[..at]);
            for replacement in ["<", "&", "\"", "\0"] {
                parse(&format!(
                    "{}{replacement}{}",
                    &fixture[..at],
                    &fixture[at + 1..]
                ));
            }
        }
    }
}

#[test]
fn a_query_page_names_its_tasks_its_total_and_whether_more_follow() {
    let (a, b) = (
        "6f9d2c58-3b7e-4f0a-9d1c-2e8b7a6c5d40",
        "0b5e7f21-9c3d-4a6e-8f12-7d4c3b2a1e09",
    );
    let document = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<QueryResultRecords xmlns="http://www.vmware.com/vcloud/v1.5" total="300" pageSize="128" page="1" name="blockingTask" type="application/vnd.vmware.vcloud.query.records+xml">
    <Link rel="lastPage" href="https://v/api/query?type=blockingTask&amp;page=3"/>
    <Link rel="nextPage" href="https://v/api/query?type=blockingTask&amp;page=2"/>
    <BlockingTaskRecord href="https://v/api/admin/extension/blockingTask/{a}" status="active" operationName="vdcComposeVapp"/>
    <BlockingTaskRecord status="active"/>
    <BlockingTaskRecord href="https://v/api/admin/extension/blockingTask/{b}" status="active"/>
</QueryResultRecords>"#
    );
    let page = parse_task_page(&document).unwrap();
    assert_eq!(
        page.tasks.ids,
        [TaskId::parse(a).unwrap(), TaskId::parse(b).unwrap()]
    );
    assert_eq!(
        page.tasks.skipped,
        [ModelError::Missing("BlockingTaskRecord href")]
    );
    assert!(page.more);
    assert_eq!(page.total, Some(300));
    let last = parse_task_page(
        r#"<QueryResultRecords total="0" page="1"><Link rel="lastPage" href="x"/></QueryResultRecords>"#,
    )
    .unwrap();
    assert!(!last.more);
    assert!(last.tasks.ids.is_empty());
    let wrong = parse_task_page("<BlockingTaskReferences/>").unwrap_err();
    assert!(matches!(
        wrong,
        ModelError::UnexpectedRoot {
            expected: "QueryResultRecords",
            ..
        }
    ));
}

#[test]
fn a_count_is_the_total_of_a_page_of_task_records() {
    let document = r#"<?xml version="1.0" encoding="UTF-8"?>
<QueryResultRecords xmlns="http://www.vmware.com/vcloud/v1.5" total="21" pageSize="1" page="1" name="adminTask" type="application/vnd.vmware.vcloud.query.records+xml">
    <Link rel="nextPage" href="https://v/api/query?type=adminTask&amp;page=2&amp;pageSize=1"/>
    <AdminTaskRecord href="https://v/api/task/1" name="vdcInstantiateVapp" orgName="acme" status="running"/>
</QueryResultRecords>"#;
    assert_eq!(parse_record_total(document), Ok(21));
    assert_eq!(
        parse_record_total(r#"<QueryResultRecords total="0"/>"#),
        Ok(0)
    );
    assert_eq!(
        parse_record_total(r#"<QueryResultRecords page="1"/>"#),
        Err(ModelError::Missing("QueryResultRecords total"))
    );
    assert!(matches!(
        parse_record_total(r#"<QueryResultRecords total="-3"/>"#),
        Err(ModelError::Invalid { .. })
    ));
    assert!(matches!(
        parse_record_total("<Error/>"),
        Err(ModelError::UnexpectedRoot { .. })
    ));
}
