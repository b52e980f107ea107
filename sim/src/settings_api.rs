//! The cloud's settings routes (protocol notes §9): `GET|PUT …/settings/blockingTask`, and
//! read-only `…/settings/amqp` (where this sim publishes; the password empty, as vCD returns
//! it) and `…/settings/notifications` (on while the sim has a broker).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::XmlApi;
use crate::blocking::{BLOCKING_SETTINGS_TYPE, BlockingSettings};
use crate::reply::{ApiError, typed};
use crate::shared::Shared;
use crate::xml::{DECLARATION, NS_VMEXT, e};

const AMQP_SETTINGS_TYPE: &str = "application/vnd.vmware.admin.amqpSettings+xml";
const NOTIFICATIONS_SETTINGS_TYPE: &str = "application/vnd.vmware.admin.notificationsSettings+xml";

pub(crate) async fn get_blocking(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
) -> Response {
    let body = shared.state().blocking.document(&shared.base_url);
    typed(
        StatusCode::OK,
        BLOCKING_SETTINGS_TYPE,
        Some(&auth.version),
        body,
    )
}

/// Replaces the settings with the whole element sent, and answers the stored element.
pub(crate) async fn put_blocking(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = crate::reply::require_content_type(&headers, BLOCKING_SETTINGS_TYPE)
        .and_then(|()| crate::reply::utf8(&body))
        .and_then(|text| {
            BlockingSettings::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))
        });
    let settings = match result {
        Ok(settings) => settings,
        Err(error) => return error.version(&auth.version).into_response(),
    };
    tracing::info!(
        operations = settings.operations.as_ref().map_or(0, Vec::len),
        timeout_ms = settings.timeout.num_milliseconds(),
        action = settings.timeout_action.as_str(),
        "blocking task settings changed"
    );
    let body = {
        let mut state = shared.state();
        state.blocking = settings;
        state.blocking.document(&shared.base_url)
    };
    typed(
        StatusCode::OK,
        BLOCKING_SETTINGS_TYPE,
        Some(&auth.version),
        body,
    )
}

pub(crate) async fn get_amqp(State(shared): State<Arc<Shared>>, XmlApi(auth): XmlApi) -> Response {
    let broker = shared
        .settings
        .amqp_url
        .as_deref()
        .map(Broker::parse)
        .unwrap_or_default();
    let body = format!(
        "{DECLARATION}<AmqpSettings xmlns=\"{NS_VMEXT}\" type=\"{AMQP_SETTINGS_TYPE}\">\n  \
         <AmqpHost>{}</AmqpHost>\n  <AmqpPort>{}</AmqpPort>\n  \
         <AmqpUsername>{}</AmqpUsername>\n  <AmqpPassword/>\n  \
         <AmqpExchange>{}</AmqpExchange>\n  <AmqpVHost>{}</AmqpVHost>\n  \
         <AmqpUseSSL>{}</AmqpUseSSL>\n  <AmqpSslAcceptAll>false</AmqpSslAcceptAll>\n  \
         <AmqpPrefix>{}</AmqpPrefix>\n</AmqpSettings>\n",
        e(&broker.host),
        broker.port,
        e(&broker.user),
        e(&shared.settings.xml_exchange),
        e(&broker.vhost),
        broker.tls,
        e(shared
            .settings
            .json_exchange
            .trim_end_matches(".notifications20")),
    );
    typed(
        StatusCode::OK,
        AMQP_SETTINGS_TYPE,
        Some(&auth.version),
        body,
    )
}

pub(crate) async fn get_notifications(
    State(shared): State<Arc<Shared>>,
    XmlApi(auth): XmlApi,
) -> Response {
    let enabled = shared.settings.amqp_url.is_some();
    let body = format!(
        "{DECLARATION}<NotificationsSettings xmlns=\"{NS_VMEXT}\" \
         type=\"{NOTIFICATIONS_SETTINGS_TYPE}\">\n  \
         <EnableNotifications>{enabled}</EnableNotifications>\n</NotificationsSettings>\n"
    );
    typed(
        StatusCode::OK,
        NOTIFICATIONS_SETTINGS_TYPE,
        Some(&auth.version),
        body,
    )
}

/// The parts of an AMQP URL that vCD's AMQP settings show.
#[derive(Debug, Default, PartialEq, Eq)]
struct Broker {
    host: String,
    port: u16,
    user: String,
    vhost: String,
    tls: bool,
}

impl Broker {
    /// `amqp[s]://user:password@host:port/vhost`; missing parts take AMQP's defaults.
    fn parse(url: &str) -> Broker {
        let (tls, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme.eq_ignore_ascii_case("amqps"), rest),
            None => (false, url),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, address) = authority.rsplit_once('@').unwrap_or(("guest", authority));
        let user = credentials.split(':').next().unwrap_or_default();
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (host, port.parse().ok()),
            None => (address, None),
        };
        let vhost = path.split('?').next().unwrap_or_default();
        let vhost = if vhost.is_empty() {
            "/".to_owned()
        } else {
            vhost.replace("%2f", "/").replace("%2F", "/")
        };
        Broker {
            host: host.to_owned(),
            port: port.unwrap_or(if tls { 5671 } else { 5672 }),
            user: user.to_owned(),
            vhost,
            tls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_read_as_vcd_shows_them() {
        assert_eq!(
            Broker::parse("amqp://guest:guest@127.0.0.1:5672/%2f"),
            Broker {
                host: "127.0.0.1".into(),
                port: 5672,
                user: "guest".into(),
                vhost: "/".into(),
                tls: false,
            }
        );
        let tls = Broker::parse("amqps://vcd@rabbit.example.com/prod?heartbeat=30");
        assert_eq!(
            (tls.port, tls.vhost.as_str(), tls.tls, tls.user.as_str()),
            (5671, "prod", true, "vcd")
        );
    }
}
