//! The notification vCD publishes about a blocking task event, rendered both ways it does:
//! the `vmext:Notification` XML document and the flat JSON object, with the shared routing key
//! and AMQP headers (`protocol/README.md` §2–§3).

use chrono::{DateTime, Utc};
use lapin::types::{AMQPValue, FieldTable};
use uuid::Uuid;

use crate::task::Task;
use crate::xml::{DECLARATION, NS_VMEXT, e, timestamp};

/// What happened to the blocking task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventKind {
    Create,
    Resume,
    Abort,
    Fail,
}

impl EventKind {
    fn word(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Resume => "resume",
            Self::Abort => "abort",
            Self::Fail => "fail",
        }
    }

    /// `com/vmware/vcloud/event/blockingtask/<word>`
    pub(crate) fn notification_type(self) -> String {
        format!("com/vmware/vcloud/event/blockingtask/{}", self.word())
    }
}

impl From<crate::model::Decision> for EventKind {
    fn from(decision: crate::model::Decision) -> Self {
        use crate::model::Decision;
        match decision {
            Decision::Resume => Self::Resume,
            Decision::Abort => Self::Abort,
            Decision::Fail => Self::Fail,
        }
    }
}

/// One event, ready to publish: the same routing key and headers go with both bodies.
#[derive(Clone, Debug)]
pub(crate) struct Notification {
    pub routing_key: String,
    pub headers: FieldTable,
    pub xml: String,
    pub json: String,
}

/// How to render: the base URL for the entity resolver and the JSON timestamp style.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RenderOptions<'a> {
    pub base_url: &'a str,
    pub json_legacy_timestamps: bool,
}

impl Notification {
    pub(crate) fn new(
        kind: EventKind,
        task: &Task,
        at: DateTime<Utc>,
        render: RenderOptions<'_>,
    ) -> Self {
        let event_id = Uuid::new_v4();
        Self {
            routing_key: routing_key(kind, task),
            headers: headers(kind, task),
            xml: xml_body(kind, task, event_id, at, render.base_url),
            json: json_body(kind, task, event_id, at, render.json_legacy_timestamps),
        }
    }
}

/// `true.<btUUID>.<orgUUID>.<userUUID>.com.vmware.vcloud.event.blockingtask.<word>.<operation>`
fn routing_key(kind: EventKind, task: &Task) -> String {
    format!(
        "true.{}.{}.{}.com.vmware.vcloud.event.blockingtask.{}.{}",
        task.id,
        task.org.id,
        task.user.id,
        kind.word(),
        task.operation
    )
}

fn headers(kind: EventKind, task: &Task) -> FieldTable {
    let mut table = FieldTable::default();
    let mut text = |name: &str, value: String| {
        table.insert(name.into(), AMQPValue::LongString(value.into()));
    };
    text("notification.type", kind.notification_type());
    text("notification.entityType", "blockingTask".into());
    text("notification.entityUUID", task.id.to_string());
    text("notification.orgUUID", task.org.id.to_string());
    text("notification.userUUID", task.user.id.to_string());
    text("notification.taskUUID", task.parent_task.to_string());
    table.insert(
        "notification.operationSuccess".into(),
        AMQPValue::Boolean(true),
    );
    table
}

fn xml_body(kind: EventKind, task: &Task, event_id: Uuid, at: DateTime<Utc>, base: &str) -> String {
    let owner = task.owner_type.urn_type();
    format!(
        r#"{DECLARATION}<vmext:Notification xmlns:vmext="{NS_VMEXT}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" type="{}" eventId="{event_id}">
    <vmext:Link rel="entityResolver" href="{}"/>
    <vmext:EntityLink rel="entity" type="vcloud:blockingTask" name="{op}" id="urn:vcloud:blockingTask:{}"/>
    <vmext:EntityLink rel="down" type="vcloud:user" name="{}" id="urn:vcloud:user:{}"/>
    <vmext:EntityLink rel="up" type="vcloud:org" name="{}" id="urn:vcloud:org:{}"/>
    <vmext:EntityLink rel="task" type="vcloud:task" name="{op}" id="urn:vcloud:task:{}"/>
    <vmext:EntityLink rel="task:owner" type="vcloud:{owner}" name="{}" id="urn:vcloud:{owner}:{}"/>
    <vmext:Timestamp>{}</vmext:Timestamp>
    <vmext:OperationSuccess>true</vmext:OperationSuccess>
</vmext:Notification>
"#,
        kind.notification_type(),
        e(&format!("{base}/api/entity/")),
        task.id,
        e(&task.user.name),
        task.user.id,
        e(&task.org.name),
        task.org.id,
        task.parent_task,
        e(&task.owner.name),
        task.owner.id,
        timestamp(at),
        op = e(&task.operation),
    )
}

fn json_body(
    kind: EventKind,
    task: &Task,
    event_id: Uuid,
    at: DateTime<Utc>,
    legacy: bool,
) -> String {
    let timestamp = if legacy {
        at.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
    } else {
        timestamp(at)
    };
    serde_json::json!({
        "eventId": event_id.to_string(),
        "type": kind.notification_type(),
        "timestamp": timestamp,
        "operationSuccess": true,
        "user": format!("urn:vcloud:user:{}", task.user.id),
        "org": format!("urn:vcloud:org:{}", task.org.id),
        "entity": format!("urn:vcloud:blockingTask:{}", task.id),
        "task": format!("urn:vcloud:task:{}", task.parent_task),
        "taskOwner": format!("urn:vcloud:{}:{}", task.owner_type.urn_type(), task.owner.id),
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Decision, NewTask};
    use crate::state::CloudState;
    use crate::task::ValidTask;

    fn task() -> Task {
        let new = ValidTask::parse(NewTask {
            owner_type: "media".into(),
            owner_name: "iso <&>".into(),
            ..NewTask::default()
        })
        .unwrap();
        CloudState::default().create_task(
            new,
            Utc::now(),
            chrono::Duration::minutes(1),
            Decision::Abort,
        )
    }

    const RENDER: RenderOptions<'static> = RenderOptions {
        base_url: "http://127.0.0.1:1",
        json_legacy_timestamps: false,
    };

    #[test]
    fn routing_key_follows_the_documented_shape() {
        let t = task();
        let n = Notification::new(EventKind::Create, &t, Utc::now(), RENDER);
        let expected = format!(
            "true.{}.{}.{}.com.vmware.vcloud.event.blockingtask.create.vdcInstantiateVapp",
            t.id, t.org.id, t.user.id
        );
        assert_eq!(n.routing_key, expected);
    }

    #[test]
    fn xml_escapes_names_and_names_the_owner_type() {
        let n = Notification::new(EventKind::Abort, &task(), Utc::now(), RENDER);
        assert!(
            n.xml
                .contains(r#"type="com/vmware/vcloud/event/blockingtask/abort""#)
        );
        assert!(
            n.xml
                .contains(r#"type="vcloud:media" name="iso &lt;&amp;&gt;""#)
        );
        assert!(n.xml.contains(r#"href="http://127.0.0.1:1/api/entity/""#));
    }

    #[test]
    fn json_timestamps_come_in_both_styles() {
        let at = DateTime::parse_from_rfc3339("2012-10-08T16:23:08.842Z")
            .unwrap()
            .to_utc();
        let t = task();
        let modern: serde_json::Value =
            serde_json::from_str(&Notification::new(EventKind::Create, &t, at, RENDER).json)
                .unwrap();
        assert_eq!(modern["timestamp"], "2012-10-08T16:23:08.842+00:00");
        assert_eq!(
            modern["taskOwner"],
            format!("urn:vcloud:media:{}", t.owner.id)
        );
        let legacy_render = RenderOptions {
            json_legacy_timestamps: true,
            ..RENDER
        };
        let legacy: serde_json::Value =
            serde_json::from_str(&Notification::new(EventKind::Create, &t, at, legacy_render).json)
                .unwrap();
        assert_eq!(legacy["timestamp"], "2012-10-08 16:23:08.842");
    }
}
