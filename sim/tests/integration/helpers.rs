//! Shared helpers for the sim's integration tests: a sim on port 0 with exchanges of its own,
//! an HTTP client that logs in the ways the daemon does, a queue bound to both exchanges, and
//! an XML shape comparison against the protocol fixtures.

use std::time::Duration;

use lapin::options::{
    BasicGetOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use quick_xml::events::Event;
use quick_xml::{Reader, XmlVersion};
use vcd_sim::{Sim, SimConfig};

pub(crate) const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
pub(crate) const ACCEPT_XML: &str = "application/*+xml;version=37.2";
pub(crate) const ACCEPT_JSON: &str = "application/json;version=37.2";
pub(crate) const OPERATION_PARAMS: &str =
    "application/vnd.vmware.admin.blockingTaskOperationParams+xml";
pub(crate) const PROGRESS_PARAMS: &str =
    "application/vnd.vmware.admin.blockingTaskUpdateProgressOperationParams+xml";

/// A config whose exchanges no other test uses.
pub(crate) fn config() -> SimConfig {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    SimConfig {
        xml_exchange: format!("sim-test-{tag}"),
        json_prefix: format!("sim-test-{tag}"),
        ..SimConfig::default()
    }
}

pub(crate) async fn start(config: SimConfig) -> Sim {
    Sim::start(config)
        .await
        .expect("sim starts (is RabbitMQ on 127.0.0.1:5672?)")
}

/// Shuts the sim down and removes its exchanges from the shared broker.
pub(crate) async fn finish(sim: Sim, config: &SimConfig) {
    sim.shutdown().await;
    let connection = connect().await;
    let channel = connection.create_channel().await.unwrap();
    for exchange in [
        config.xml_exchange.clone(),
        format!("{}.notifications20", config.json_prefix),
    ] {
        channel
            .exchange_delete(exchange.into(), ExchangeDeleteOptions::default())
            .await
            .unwrap();
    }
    connection.close(200, "done".into()).await.unwrap();
}

pub(crate) async fn connect() -> Connection {
    Connection::connect(AMQP_URL, ConnectionProperties::default())
        .await
        .expect("RabbitMQ on 127.0.0.1:5672")
}

pub(crate) fn http() -> reqwest::Client {
    // In a workspace build reqwest has the daemon's TLS features, which need a crypto provider
    // installed before any client is built (an Err means one already is).
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// `POST /api/sessions` with the default credentials; returns the token.
pub(crate) async fn legacy_login(sim: &Sim) -> String {
    let response = http()
        .post(format!("{}/api/sessions", sim.base_url()))
        .basic_auth("administrator@System", Some("vmware"))
        .header("Accept", ACCEPT_XML)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    header(&response, "x-vcloud-authorization")
}

/// `POST /cloudapi/1.0.0/sessions/provider` at `version`; returns the JWT.
pub(crate) async fn cloudapi_login(sim: &Sim, version: &str) -> String {
    let response = http()
        .post(format!(
            "{}/cloudapi/1.0.0/sessions/provider",
            sim.base_url()
        ))
        .basic_auth("administrator@System", Some("vmware"))
        .header("Accept", format!("application/json;version={version}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    header(&response, "x-vmware-vcloud-access-token")
}

pub(crate) fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("response has {name}"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// A GET with a bearer token and the XML Accept header.
pub(crate) async fn get(sim: &Sim, token: &str, path: &str) -> reqwest::Response {
    http()
        .get(format!("{}{path}", sim.base_url()))
        .bearer_auth(token)
        .header("Accept", ACCEPT_XML)
        .send()
        .await
        .unwrap()
}

/// POSTs an action (`resume`, `abort`, `fail`) with a well-formed body.
pub(crate) async fn act(sim: &Sim, token: &str, id: uuid::Uuid, action: &str) -> reqwest::Response {
    let body = format!(
        r#"<BlockingTaskOperationParams xmlns="http://www.vmware.com/vcloud/extension/v1.5"><Message>{action} by test</Message></BlockingTaskOperationParams>"#
    );
    http()
        .post(format!(
            "{}/api/admin/extension/blockingTask/{id}/action/{action}",
            sim.base_url()
        ))
        .bearer_auth(token)
        .header("Accept", ACCEPT_XML)
        .header("Content-Type", OPERATION_PARAMS)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// POSTs `updateProgress` with `body` (BlockingTaskUpdateProgressParams).
pub(crate) async fn update_progress(
    sim: &Sim,
    token: &str,
    id: uuid::Uuid,
    body: &str,
) -> reqwest::Response {
    http()
        .post(format!(
            "{}/api/admin/extension/blockingTask/{id}/action/updateProgress",
            sim.base_url()
        ))
        .bearer_auth(token)
        .header("Accept", ACCEPT_XML)
        .header("Content-Type", PROGRESS_PARAMS)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

/// The value of attribute `name` on the first element with local name `element`.
pub(crate) fn attribute(xml: &str, element: &str, name: &str) -> Option<String> {
    shape(xml)
        .into_iter()
        .find(|el| el.local == element)
        .and_then(|el| el.attributes.into_iter().find(|(k, _)| k == name))
        .map(|(_, v)| v)
}

/// The href of the first element with `rel="<rel>"`.
pub(crate) fn link_href(xml: &str, rel: &str) -> Option<String> {
    shape(xml)
        .into_iter()
        .find(|el| el.attributes.iter().any(|(k, v)| k == "rel" && v == rel))
        .and_then(|el| el.attributes.into_iter().find(|(k, _)| k == "href"))
        .map(|(_, v)| v)
}

/// One element of a document: qualified name, local name, attributes (unescaped).
#[derive(Debug)]
pub(crate) struct Element {
    pub qname: String,
    pub local: String,
    pub attributes: Vec<(String, String)>,
}

/// Every element of `xml` in document order.
pub(crate) fn shape(xml: &str) -> Vec<Element> {
    let mut reader = Reader::from_str(xml);
    let mut elements = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            Event::Start(el) | Event::Empty(el) => elements.push(Element {
                qname: el.name().as_ref().to_owned(),
                local: el.local_name().as_ref().to_owned(),
                attributes: el
                    .attributes()
                    .map(|a| {
                        let a = a.unwrap();
                        let key = a.key.as_ref().to_owned();
                        let value = a.normalized_value(XmlVersion::Implicit1_0).unwrap();
                        (key, value.into_owned())
                    })
                    .collect(),
            }),
            Event::Eof => return elements,
            _ => {}
        }
    }
}

/// Asserts `actual` has the fixture's elements in the fixture's order, each with at least the
/// fixture's attributes.
pub(crate) fn assert_shaped_like_fixture(actual: &str, fixture_name: &str) {
    let path = format!(
        "{}/../tests/fixtures/protocol/{fixture_name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let fixture = std::fs::read_to_string(&path).unwrap();
    let expected = shape(&fixture);
    let actual = shape(actual);
    let names = |els: &[Element]| els.iter().map(|e| e.qname.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&actual),
        names(&expected),
        "elements differ from {fixture_name}"
    );
    for (want, got) in expected.iter().zip(&actual) {
        for (key, _) in &want.attributes {
            assert!(
                got.attributes.iter().any(|(k, _)| k == key),
                "{} lacks attribute {key} (see {fixture_name})",
                got.qname
            );
        }
    }
}

/// An exclusive queue bound with `#` to both of a sim's exchanges.
pub(crate) struct Listener {
    _connection: Connection,
    channel: Channel,
    queue: String,
}

/// A message as received: exchange, routing key, properties, body.
pub(crate) struct Received {
    pub exchange: String,
    pub routing_key: String,
    pub properties: BasicProperties,
    pub body: String,
}

impl Listener {
    pub(crate) async fn bind(config: &SimConfig) -> Self {
        let connection = connect().await;
        let channel = connection.create_channel().await.unwrap();
        let options = QueueDeclareOptions {
            exclusive: true,
            auto_delete: true,
            ..QueueDeclareOptions::default()
        };
        let queue = channel
            .queue_declare("".into(), options, FieldTable::default())
            .await
            .unwrap();
        let queue = queue.name().as_str().to_owned();
        for exchange in [
            config.xml_exchange.clone(),
            format!("{}.notifications20", config.json_prefix),
        ] {
            channel
                .queue_bind(
                    queue.as_str().into(),
                    exchange.into(),
                    "#".into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .unwrap();
        }
        Self {
            _connection: connection,
            channel,
            queue,
        }
    }

    /// The next message, waiting up to five seconds.
    pub(crate) async fn next(&self) -> Received {
        self.try_next(Duration::from_secs(5))
            .await
            .expect("a notification within 5 s")
    }

    /// The next message, or `None` if none arrives within `wait`.
    pub(crate) async fn try_next(&self, wait: Duration) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let got = self
                .channel
                .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
                .await
                .unwrap();
            if let Some(message) = got {
                let delivery = message.delivery;
                return Some(Received {
                    exchange: delivery.exchange.as_str().to_owned(),
                    routing_key: delivery.routing_key.as_str().to_owned(),
                    properties: delivery.properties,
                    body: String::from_utf8(delivery.data).unwrap(),
                });
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
