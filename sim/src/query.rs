//! The query service, `GET /api/query?type=…&format=records` (protocol notes §8), one page at
//! a time with `total`, `page`, `pageSize` and a `nextPage` link while more pages exist;
//! `pageSize` is capped at [`MAX_PAGE_SIZE`], as a cell caps it. Two types:
//! - `blockingTask`: the active blocking tasks in creation order (`sortAsc=creationDate`, or
//!   no order named), each a `BlockingTaskRecord`;
//! - `adminTask`: the task history ([`crate::history`]), loaded past tasks first, then the
//!   tasks the sim created, each an `AdminTaskRecord`, narrowed by a FIQL `filter`
//!   ([`crate::fiql`]).
//!
//! A page is one pass over the tasks: the matches are counted for `total` and only the page's
//! own records are kept, so a request costs time linear in the tasks and memory in the page.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::auth::XmlApi;
use crate::fiql::{self, Filter};
use crate::history::PastTask;
use crate::reply::{ApiError, typed};
use crate::shared::Shared;
use crate::task::Task;
use crate::xml::{DECLARATION, NS_VCLOUD, e, parent_task_href, task_href, timestamp};

/// The media type of a page of query results.
pub(crate) const RECORDS_TYPE: &str = "application/vnd.vmware.vcloud.query.records+xml";
/// The largest page served, vCD's default cap.
pub(crate) const MAX_PAGE_SIZE: usize = 128;
/// The page size when the request names none, as vCD's default.
const DEFAULT_PAGE_SIZE: usize = 25;

/// One request's paging, checked.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Paging {
    page: usize,
    page_size: usize,
}

impl Paging {
    /// Whether the `index`th match (from 0) is on this page.
    fn holds(&self, index: usize) -> bool {
        let first = (self.page - 1).saturating_mul(self.page_size);
        index >= first && index - first < self.page_size
    }
}

/// Which records a request asks for.
#[derive(Debug, PartialEq)]
enum Kind {
    BlockingTask,
    /// With its filter, if any.
    AdminTask(Option<Filter>),
}

/// A checked request.
#[derive(Debug, PartialEq)]
struct Request {
    kind: Kind,
    paging: Paging,
}

/// Reads `type`, `format`, `page`, `pageSize`, `sortAsc=creationDate` and (for `adminTask`)
/// `filter` from the query string; anything else is refused, since the sim does not
/// implement it.
fn request(query: &str) -> Result<Request, ApiError> {
    let mut paging = Paging {
        page: 1,
        page_size: DEFAULT_PAGE_SIZE,
    };
    let (mut kind, mut filter) = (None, None);
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let number = || {
            value
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::bad_request(format!("{key} must be a positive number")))
        };
        match key.as_ref() {
            "type" => kind = Some(value.into_owned()),
            "format" if value == "records" => {}
            // The order the sim lists in anyway.
            "sortAsc" if value == "creationDate" => {}
            "page" => paging.page = number()?,
            "pageSize" => paging.page_size = number()?.min(MAX_PAGE_SIZE),
            "filter" => filter = Some(value.into_owned()),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "the sim's query service does not take {key}={value}"
                )));
            }
        }
    }
    let kind = match (kind.as_deref(), filter) {
        (Some("blockingTask"), None) => Kind::BlockingTask,
        (Some("blockingTask"), Some(filter)) => {
            return Err(ApiError::bad_request(format!(
                "the sim's query service does not filter blockingTask (filter={filter})"
            )));
        }
        (Some("adminTask"), filter) => {
            let filter = filter.as_deref().map(fiql::parse).transpose();
            let filter = filter.map_err(ApiError::bad_request)?;
            if let Some(filter) = &filter {
                filter.check().map_err(ApiError::bad_request)?;
            }
            Kind::AdminTask(filter)
        }
        (other, _) => {
            return Err(ApiError::bad_request(format!(
                "the sim's query service serves type=blockingTask and type=adminTask, not {other:?}"
            )));
        }
    };
    Ok(Request { kind, paging })
}

/// `GET /api/query?type=…`: one page of the active blocking tasks or of the task history.
pub(crate) async fn query(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
    uri: Uri,
) -> Response {
    let request = match request(uri.query().unwrap_or_default()) {
        Ok(request) => request,
        Err(error) => return error.version(&auth.version).into_response(),
    };
    let body = {
        let state = shared.state();
        if state.faults.refuse_query {
            return ApiError::forbidden("This operation is denied (fault refuse_query).")
                .version(&auth.version)
                .into_response();
        }
        let paging = request.paging;
        match &request.kind {
            Kind::BlockingTask => {
                let mut total = 0;
                let mut page = Vec::new();
                for task in state.tasks().filter(|t| t.is_active()) {
                    if paging.holds(total) {
                        page.push(task);
                    }
                    total += 1;
                }
                let bad_entry = state.faults.bad_list_entry && paging.page == 1;
                records(
                    &shared.base_url,
                    &paging,
                    total,
                    bad_entry,
                    page.into_iter(),
                )
            }
            Kind::AdminTask(filter) => {
                let mut total = 0;
                let mut page = Vec::new();
                for task in state.history() {
                    if filter.as_ref().is_some_and(|filter| !filter.matches(&task)) {
                        continue;
                    }
                    if paging.holds(total) {
                        page.push(task);
                    }
                    total += 1;
                }
                admin_records(&shared.base_url, &uri, &paging, total, &page)
            }
        }
    };
    typed(StatusCode::OK, RECORDS_TYPE, Some(&auth.version), body)
}

fn page_href(base: &str, page: usize, page_size: usize) -> String {
    format!("{base}/api/query?type=blockingTask&format=records&page={page}&pageSize={page_size}")
}

fn records<'a>(
    base: &str,
    paging: &Paging,
    total: usize,
    bad_entry: bool,
    tasks: impl Iterator<Item = &'a Task>,
) -> String {
    let Paging { page, page_size } = *paging;
    let mut doc = format!(
        r#"{DECLARATION}<QueryResultRecords xmlns="{NS_VCLOUD}" total="{total}" pageSize="{page_size}" page="{page}" name="blockingTask" type="{RECORDS_TYPE}" href="{}">
"#,
        e(&page_href(base, page, page_size))
    );
    if page.saturating_mul(page_size) < total {
        doc.push_str(&format!(
            "    <Link rel=\"nextPage\" type=\"{RECORDS_TYPE}\" href=\"{}\"/>\n",
            e(&page_href(base, page + 1, page_size))
        ));
    }
    if bad_entry {
        // A placeholder id, as in VMware's own examples: the record names no task.
        doc.push_str(&format!(
            "    <BlockingTaskRecord href=\"{}\" status=\"active\" operationName=\"vdcComposeVapp\"/>\n",
            e(&format!("{base}/api/admin/extension/blockingTask/25"))
        ));
    }
    for task in tasks {
        doc.push_str(&format!(
            "    <BlockingTaskRecord href=\"{}\" status=\"{}\" operationName=\"{}\" ownerName=\"{}\" originatingOrgName=\"{}\" creationDate=\"{}\" expirationTime=\"{}\" timeoutAction=\"{}\" task=\"{}\" description=\"{}\"/>\n",
            e(&task_href(base, task.id)),
            task.status.as_str(),
            e(&task.operation),
            e(&task.user.name),
            e(&task.org.name),
            timestamp(task.created),
            timestamp(task.timeout_date),
            task.timeout_action.as_str(),
            e(&parent_task_href(base, task.parent_task)),
            e(&task.description),
        ));
    }
    doc.push_str("</QueryResultRecords>\n");
    doc
}

/// A page of `AdminTaskRecord`s; the links keep the request's filter.
fn admin_records(
    base: &str,
    uri: &Uri,
    paging: &Paging,
    total: usize,
    tasks: &[PastTask],
) -> String {
    let Paging { page, page_size } = *paging;
    let filter = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "filter")
        .map(|(_, value)| {
            let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            format!("&filter={encoded}")
        })
        .unwrap_or_default();
    let href = |page: usize| {
        format!(
            "{base}/api/query?type=adminTask&format=records&page={page}&pageSize={page_size}{filter}"
        )
    };
    let mut doc = format!(
        r#"{DECLARATION}<QueryResultRecords xmlns="{NS_VCLOUD}" total="{total}" pageSize="{page_size}" page="{page}" name="adminTask" type="{RECORDS_TYPE}" href="{}">
"#,
        e(&href(page))
    );
    if page.saturating_mul(page_size) < total {
        doc.push_str(&format!(
            "    <Link rel=\"nextPage\" type=\"{RECORDS_TYPE}\" href=\"{}\"/>\n",
            e(&href(page + 1))
        ));
    }
    for task in tasks {
        let ended = task
            .ended
            .map(|ended| format!(" endDate=\"{}\"", timestamp(ended)))
            .unwrap_or_default();
        doc.push_str(&format!(
            "    <AdminTaskRecord href=\"{}\" name=\"{}\" operationFull=\"{}\" orgName=\"{}\" ownerName=\"{}\" objectName=\"{}\" status=\"{}\" startDate=\"{}\"{ended}/>\n",
            e(&format!("{base}/api/task/{}", task.id)),
            e(&task.operation),
            e(&task.operation),
            e(&task.org),
            e(&task.user),
            e(&task.object),
            task.status.as_str(),
            timestamp(task.started),
        ));
    }
    doc.push_str("</QueryResultRecords>\n");
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_takes_page_and_size_and_caps_the_size() {
        let request =
            request("type=blockingTask&format=records&sortAsc=creationDate&page=3&pageSize=1000")
                .ok();
        assert_eq!(
            request.map(|r| r.paging),
            Some(Paging {
                page: 3,
                page_size: MAX_PAGE_SIZE
            })
        );
        assert_eq!(
            request_paging("type=blockingTask"),
            Some(Paging {
                page: 1,
                page_size: DEFAULT_PAGE_SIZE
            })
        );
        let page = Paging {
            page: 2,
            page_size: 10,
        };
        assert!(!page.holds(9) && page.holds(10) && page.holds(19) && !page.holds(20));
    }

    fn request_paging(query: &str) -> Option<Paging> {
        request(query).ok().map(|r| r.paging)
    }

    #[test]
    fn admin_tasks_take_a_filter() {
        let request = request(
            "type=adminTask&format=records&pageSize=1&filter=name%3D%3Da%3BorgName%3D%3Dacme",
        )
        .unwrap();
        assert!(matches!(
            request.kind,
            Kind::AdminTask(Some(Filter::And(_)))
        ));
        assert_eq!(request.paging.page_size, 1);
    }

    #[test]
    fn requests_the_sim_does_not_serve_are_refused() {
        for query in [
            "type=task",
            "",
            "type=blockingTask&page=0",
            "type=blockingTask&pageSize=lots",
            "type=blockingTask&filter=status==active",
            "type=blockingTask&format=idrecords",
            "type=blockingTask&sortDesc=creationDate",
            "type=adminTask&filter=colour==red",
            "type=adminTask&filter=name==a;",
        ] {
            assert!(request(query).is_err(), "{query}");
        }
    }
}
