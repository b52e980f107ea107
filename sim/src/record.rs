//! The middleware around every vCD route: counts it in the sim's load, records the call
//! (without secrets) and injects the latency, 503 and 429 faults before the handler runs.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::Credentials;
use crate::model::{Call, Faults};
use crate::reply::{ApiError, Format};
use crate::shared::Shared;

/// Largest request body accepted; action bodies are a few hundred bytes.
const MAX_BODY: usize = 1 << 20;
/// Form fields whose values never reach the call log.
const SECRET_FIELDS: &[&str] = &["refresh_token", "password", "client_secret"];

pub(crate) async fn record_and_inject_faults(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let _in_flight = shared.load.begin();
    let (parts, body) = request.into_parts();
    let format = Format::for_path(parts.uri.path());
    let body = to_bytes(body, MAX_BODY).await;
    let call = Call {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        status: 0,
        auth: Credentials::of(&parts.headers).kind(),
        accept: header_text(&parts.headers, header::ACCEPT),
        content_type: header_text(&parts.headers, header::CONTENT_TYPE),
        host: header_text(&parts.headers, header::HOST),
        body: body.as_deref().map(redact).unwrap_or_default(),
    };
    let (method, path) = (call.method.clone(), call.path.clone());
    let (index, faults) = {
        let mut state = shared.state();
        (state.begin_call(call), state.faults.clone())
    };
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let response = match body {
        Err(_) => ApiError::payload_too_large().format(format).into_response(),
        Ok(_) if fastrand::f64() < faults.error_rate_5xx => {
            overloaded(ApiError::unavailable().format(format), &faults)
        }
        Ok(_) if fastrand::f64() < faults.rate_limit_rate => {
            overloaded(ApiError::too_many_requests().format(format), &faults)
        }
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
    };
    let status = response.status().as_u16();
    shared.state().finish_call(index, status);
    tracing::debug!(%method, %path, status, "api call");
    response
}

/// An injected 503 or 429, with `Retry-After` when the faults ask for one.
fn overloaded(error: ApiError, faults: &Faults) -> Response {
    let mut response = error.into_response();
    if let Some(seconds) = faults.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    response
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> String {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// The body as text, with the values of secret form fields replaced by `***`.
fn redact(body: &[u8]) -> String {
    let has_secret =
        form_urlencoded::parse(body).any(|(key, _)| SECRET_FIELDS.contains(&key.as_ref()));
    if !has_secret {
        return String::from_utf8_lossy(body).into_owned();
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(body) {
        let value = if SECRET_FIELDS.contains(&key.as_ref()) {
            "***".into()
        } else {
            value
        };
        out.append_pair(&key, &value);
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_refresh_tokens_but_keeps_xml() {
        let form = b"grant_type=refresh_token&refresh_token=s3cret";
        assert_eq!(redact(form), "grant_type=refresh_token&refresh_token=***");
        let xml = br#"<BlockingTaskOperationParams><Message>a=b&amp;c</Message></BlockingTaskOperationParams>"#;
        assert_eq!(redact(xml), String::from_utf8_lossy(xml));
    }
}
