//! The query service for blocking tasks, `GET /api/query?type=blockingTask&format=records`
//! (protocol notes §8): the active tasks in creation order (`sortAsc=creationDate`, or no
//! order named), one page at a time, each a
//! `BlockingTaskRecord`, with `total`, `page`, `pageSize` and a `nextPage` link while more
//! pages exist. `pageSize` is capped at [`MAX_PAGE_SIZE`], as a cell caps it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::auth::XmlApi;
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
#[derive(Debug, PartialEq, Eq)]
struct Paging {
    page: usize,
    page_size: usize,
}

/// Reads `type`, `format`, `page`, `pageSize` and `sortAsc=creationDate` from the query
/// string; anything else (a filter, another order) is refused, since the sim does not
/// implement it.
fn paging(query: &str) -> Result<Paging, ApiError> {
    let mut paging = Paging {
        page: 1,
        page_size: DEFAULT_PAGE_SIZE,
    };
    let mut kind = None;
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
            _ => {
                return Err(ApiError::bad_request(format!(
                    "the sim's query service does not take {key}={value}"
                )));
            }
        }
    }
    match kind.as_deref() {
        Some("blockingTask") => Ok(paging),
        other => Err(ApiError::bad_request(format!(
            "the sim's query service serves type=blockingTask only, not {other:?}"
        ))),
    }
}

/// `GET /api/query?type=blockingTask…`: one page of the active blocking tasks.
pub(crate) async fn blocking_tasks(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
    uri: Uri,
) -> Response {
    let paging = match paging(uri.query().unwrap_or_default()) {
        Ok(paging) => paging,
        Err(error) => return error.version(&auth.version).into_response(),
    };
    let body = {
        let state = shared.state();
        if state.faults.refuse_query {
            return ApiError::forbidden("This operation is denied (fault refuse_query).")
                .version(&auth.version)
                .into_response();
        }
        let total = state.tasks().filter(|t| t.is_active()).count();
        let skip = (paging.page - 1).saturating_mul(paging.page_size);
        let page = state
            .tasks()
            .filter(|t| t.is_active())
            .skip(skip)
            .take(paging.page_size);
        let bad_entry = state.faults.bad_list_entry && paging.page == 1;
        records(&shared.base_url, &paging, total, bad_entry, page)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_takes_page_and_size_and_caps_the_size() {
        assert_eq!(
            paging("type=blockingTask&format=records&sortAsc=creationDate&page=3&pageSize=1000")
                .ok(),
            Some(Paging {
                page: 3,
                page_size: MAX_PAGE_SIZE
            })
        );
        assert_eq!(
            paging("type=blockingTask").ok(),
            Some(Paging {
                page: 1,
                page_size: DEFAULT_PAGE_SIZE
            })
        );
    }

    #[test]
    fn paging_refuses_what_the_sim_does_not_serve() {
        for query in [
            "type=adminTask",
            "",
            "type=blockingTask&page=0",
            "type=blockingTask&pageSize=lots",
            "type=blockingTask&filter=status==active",
            "type=blockingTask&format=idrecords",
            "type=blockingTask&sortDesc=creationDate",
        ] {
            assert!(paging(query).is_err(), "{query}");
        }
    }
}
