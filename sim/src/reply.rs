//! HTTP answers in vCD's style: `ApiError` (an `Error` document for the legacy API, the JSON
//! error shape for CloudAPI) and typed XML responses whose `Content-Type` carries the
//! negotiated `;version=`.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::versions::{ApiVersion, Flavor};
use crate::xml;

/// Which error body an endpoint family uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Xml,
    Json,
}

impl Format {
    /// CloudAPI and OAuth answer JSON; everything else is the XML API.
    pub(crate) fn for_path(path: &str) -> Self {
        if path.starts_with("/cloudapi/") || path.starts_with("/oauth/") {
            Self::Json
        } else {
            Self::Xml
        }
    }
}

impl From<Flavor> for Format {
    fn from(flavor: Flavor) -> Self {
        match flavor {
            Flavor::Xml => Self::Xml,
            Flavor::Json => Self::Json,
        }
    }
}

/// An error answer; converted into a response with the right body and media type.
#[derive(Clone, Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    minor: &'static str,
    message: String,
    format: Format,
    version: Option<String>,
}

impl ApiError {
    fn new(status: StatusCode, minor: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            minor,
            message: message.into(),
            format: Format::Xml,
            version: None,
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ACCESS_TO_RESOURCE_IS_FORBIDDEN",
            message,
        )
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "RESOURCE_NOT_FOUND", message)
    }

    pub(crate) fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, "NOT_ACCEPTABLE", message)
    }

    pub(crate) fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            message,
        )
    }

    pub(crate) fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "BAD_REQUEST",
            "The request body is too large.",
        )
    }

    pub(crate) fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "The service is temporarily unavailable (injected fault).",
        )
    }

    pub(crate) fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "Too many requests (injected fault).",
        )
    }

    pub(crate) fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    pub(crate) fn version(mut self, version: &ApiVersion) -> Self {
        self.version = Some(version.to_string());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (media, body) = match self.format {
            Format::Xml => (
                xml::ERROR_TYPE,
                xml::error(self.status.as_u16(), self.minor, &self.message),
            ),
            Format::Json => (
                "application/json",
                serde_json::json!({
                    "minorErrorCode": self.minor,
                    "message": self.message,
                    "stackTrace": null,
                })
                .to_string(),
            ),
        };
        let content_type = with_version(media, self.version.as_deref());
        (self.status, [(header::CONTENT_TYPE, content_type)], body).into_response()
    }
}

/// A response with `body` of media type `media`, tagged with the negotiated version.
pub(crate) fn typed(
    status: StatusCode,
    media: &str,
    version: Option<&ApiVersion>,
    body: String,
) -> Response {
    let version = version.map(ApiVersion::to_string);
    let content_type = with_version(media, version.as_deref());
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn with_version(media: &str, version: Option<&str>) -> HeaderValue {
    let text = match version {
        Some(v) => format!("{media};version={v}"),
        None => media.to_owned(),
    };
    // Media types and versions are ASCII built here, never request data with control bytes;
    // the fallback is unreachable in practice but keeps this total.
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// Refuses a request whose `Content-Type` is not `expected` (parameters ignored), as vCD does.
pub(crate) fn require_content_type(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = given.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(format!(
            "Content-Type {given:?} is not supported here; send {expected}."
        )))
    }
}

/// The request body as text.
pub(crate) fn utf8(body: &[u8]) -> Result<&str, ApiError> {
    std::str::from_utf8(body).map_err(|_| ApiError::bad_request("The request body is not UTF-8."))
}
