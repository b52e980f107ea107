//! Micro-benchmarks of the CPU work on the per-task path: parsing a notification (XML and
//! JSON), parsing the BlockingTask read from vCD, and `policy::decide` with the example policy
//! and with a generated 200-rule policy, for a task the first rule decides and one that only a
//! late rule (or `[defaults]`) decides, and with ten windows (and a quota rule after them).
//! Also the reconciliation list at 100,000 tasks.
//!
//! Run with `cargo bench --bench decide`. Each case runs batches of calls for `BENCH_MILLIS`
//! (default 400) and prints the median, p99 and minimum of the per-call time of the batches;
//! `BENCH_FILTER=text` runs only the cases whose name contains `text`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use vcd_blockd::wire;
use vcd_blockd::wire::{BLOCKING_TASK_CREATE, Delivery, HeaderValue, Headers, parse_notification};
use vcd_blockd::{Action, Policy, decide};
use vcd_blockd::{FactGroup, Needs, OwnerFacts, QuotaCounts, Record, TaskFacts, Value};

/// A batch lasts at least this long, so the clock's own cost (~25 ns a reading) stays small.
const BATCH_TARGET: Duration = Duration::from_micros(20);

const TASK: &str = "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94";
const ORG: &str = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
const USER: &str = "0d9e8f7a-6b5c-4d3e-a2f1-0e9d8c7b6a54";

fn main() {
    let bench = Bench::from_env();
    println!(
        "{:<44} {:>11} {:>11} {:>11} {:>7} {:>8}",
        "case", "median", "p99", "min", "batch", "batches"
    );
    parse_cases(&bench);
    example_policy_cases(&bench);
    generated_policy_cases(&bench);
    window_policy_cases(&bench);
    pipeline_case(&bench);
    reconcile_list_case(&bench);
    request_counts();
}

/// How long to run each case and which cases to run.
struct Bench {
    budget: Duration,
    filter: Option<String>,
}

impl Bench {
    fn from_env() -> Bench {
        let millis = std::env::var("BENCH_MILLIS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(400);
        Bench {
            budget: Duration::from_millis(millis),
            filter: std::env::var("BENCH_FILTER").ok(),
        }
    }

    /// Times `f` in batches and prints the per-call figures.
    fn run<R>(&self, name: &str, mut f: impl FnMut() -> R) {
        if self
            .filter
            .as_ref()
            .is_some_and(|text| !name.contains(text))
        {
            return;
        }
        let batch = calibrate(&mut f);
        let mut per_call = Vec::new();
        let started = Instant::now();
        while started.elapsed() < self.budget || per_call.len() < 20 {
            let t = Instant::now();
            for _ in 0..batch {
                black_box(f());
            }
            per_call.push(t.elapsed().as_secs_f64() / batch as f64);
        }
        per_call.sort_by(f64::total_cmp);
        println!(
            "{name:<44} {:>11} {:>11} {:>11} {batch:>7} {:>8}",
            show(quantile(&per_call, 0.5)),
            show(quantile(&per_call, 0.99)),
            show(per_call[0]),
            per_call.len()
        );
    }
}

/// How many calls make a batch of at least [`BATCH_TARGET`] (after a short warm-up).
fn calibrate<R>(f: &mut impl FnMut() -> R) -> u32 {
    let mut batch = 1u32;
    loop {
        let t = Instant::now();
        for _ in 0..batch {
            black_box(f());
        }
        if t.elapsed() >= BATCH_TARGET || batch >= 1 << 20 {
            return batch;
        }
        batch *= 2;
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index]
}

fn show(seconds: f64) -> String {
    match seconds {
        s if s < 1e-6 => format!("{:.0} ns", s * 1e9),
        s if s < 1e-3 => format!("{:.2} µs", s * 1e6),
        s => format!("{:.2} ms", s * 1e3),
    }
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/protocol/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The headers vCD sets on the fixture notification (`amqp-properties.txt`).
fn vcd_headers() -> Headers {
    let text = |value: &str| HeaderValue::Text(value.to_owned());
    Headers::from([
        ("notification.type".to_owned(), text(BLOCKING_TASK_CREATE)),
        ("notification.entityType".to_owned(), text("blockingTask")),
        ("notification.entityUUID".to_owned(), text(TASK)),
        ("notification.orgUUID".to_owned(), text(ORG)),
        ("notification.userUUID".to_owned(), text(USER)),
        (
            "notification.operationSuccess".to_owned(),
            HeaderValue::Bool(true),
        ),
    ])
}

fn routing_key() -> String {
    format!(
        "true.{TASK}.{ORG}.{USER}.com.vmware.vcloud.event.blockingtask.create.vdcInstantiateVapp"
    )
}

fn parse_cases(bench: &Bench) {
    let headers = vcd_headers();
    let key = routing_key();
    for (name, body) in [
        (
            "parse notification (XML)",
            fixture("notification-blockingtask-create.xml"),
        ),
        (
            "parse notification (JSON)",
            fixture("notification-blockingtask-create.json"),
        ),
    ] {
        let delivery = Delivery {
            body: body.as_bytes(),
            routing_key: &key,
            headers: &headers,
        };
        assert!(parse_notification(&delivery, 1 << 18).is_ok(), "{name}");
        bench.run(name, || parse_notification(black_box(&delivery), 1 << 18));
    }
    let task = fixture("blocking-task.xml");
    assert!(wire::parse_blocking_task(&task).is_ok());
    bench.run("parse BlockingTask", || {
        wire::parse_blocking_task(black_box(&task))
    });
}

fn facts(operation: &str, org: &str, user: &str, owner_name: &str) -> TaskFacts {
    TaskFacts {
        task_id: TASK.into(),
        operation: operation.into(),
        org: org.into(),
        org_id: ORG.into(),
        user: user.into(),
        user_id: USER.into(),
        owner_type: "vApp".into(),
        owner_name: owner_name.into(),
        owner_id: "vapp-b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e".into(),
        description: "Instantiate vApp from template".into(),
        ..TaskFacts::default()
    }
}

/// Decides `facts` once, checks the rule, then times the decision.
fn decide_case(bench: &Bench, name: &str, policy: &Policy, facts: &TaskFacts, rule: &str) {
    let now = Utc::now();
    let decision = decide(policy, facts, now);
    assert_eq!(&*decision.rule, rule, "{name}");
    bench.run(name, || decide(policy, black_box(facts), now));
}

/// Ten windows (schedules in three zones and one-off spans) named by ten rules, each rule
/// also limited by `until`; the task is decided by `[defaults]` after every rule looked at the
/// moment. Once with the open set cached (the usual case: it changes only at an opening or
/// closing), once with it computed afresh on every call (two instants in different spans).
fn window_policy_cases(bench: &Bench) {
    let zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo"];
    let mut text = String::from("[defaults]\naction = \"resume\"\n");
    for i in 0..10 {
        let zone = zones[i % zones.len()];
        if i % 4 == 3 {
            text.push_str(&format!(
                "[[window]]\nname = \"w{i}\"\nfrom = \"2027-0{}-01T00:00:00Z\"\n\
                 until = \"2027-0{}-15T00:00:00Z\"\n",
                1 + i % 8,
                1 + i % 8
            ));
        } else {
            text.push_str(&format!(
                "[[window]]\nname = \"w{i}\"\nschedule = \"{} {} * * MON-FRI\"\n\
                 duration = \"{}h\"\ntimezone = \"{zone}\"\n",
                i * 5,
                i + 6,
                1 + i % 3
            ));
        }
        let (key, op) = if i % 2 == 0 {
            ("during", "vdcDeleteVapp")
        } else {
            ("outside", "vdcDeleteMedia")
        };
        text.push_str(&format!(
            "[[rule]]\nname = \"r{i}\"\noperation = \"{op}\"\n{key} = \"w{i}\"\n\
             until = \"2030-01-01T00:00:00Z\"\naction = \"hold\"\nhold = {{ max = \"1h\" }}\n"
        ));
    }
    let policy = Policy::from_sources(&[("windows.toml".into(), text.clone())])
        .unwrap_or_else(|errors| panic!("{errors}"));
    let task = facts("vdcInstantiateVapp", "prod-eu", "alice", "billing");
    // A Sunday, 2026-12-06T12:00:00Z.
    let sunday = chrono::DateTime::from_timestamp(1_796_558_400, 0).unwrap_or_default();
    let monday = sunday + chrono::TimeDelta::hours(20);
    assert_eq!(&*decide(&policy, &task, sunday).rule, "defaults");
    bench.run("decide, 10 windows: open set cached", || {
        decide(&policy, black_box(&task), sunday)
    });
    let mut flip = false;
    bench.run("decide, 10 windows: open set recomputed", || {
        flip = !flip;
        decide(
            &policy,
            black_box(&task),
            if flip { sunday } else { monday },
        )
    });
    window_and_quota_case(bench, &text, sunday);
}

/// The ten windows' policy with a quota rule after them that the task reaches (every other
/// condition matches) and is over (count given, as a `[[test]]` gives it): the cost a quota
/// adds to deciding, the query to vCD apart.
fn window_and_quota_case(bench: &Bench, windows: &str, at: chrono::DateTime<Utc>) {
    let text = format!(
        "{windows}[[rule]]\nname = \"deployments per org and day\"\n\
         operation = [\"vdcInstantiateVapp\", \"vdcComposeVapp\"]\n\
         quota = {{ max = 20, per = \"24h\", by = \"org\" }}\naction = \"hold\"\n\
         hold = {{ max = \"1h\" }}\n"
    );
    let policy = Policy::from_sources(&[("quota.toml".into(), text)])
        .unwrap_or_else(|errors| panic!("{errors}"));
    let task = TaskFacts {
        quota: QuotaCounts::given(21),
        ..facts("vdcInstantiateVapp", "prod-eu", "alice", "billing")
    };
    let decision = decide(&policy, &task, at);
    assert_eq!(&*decision.rule, "deployments per org and day");
    assert_eq!(decision.quota.map(|quota| quota.count), Some(21));
    bench.run("decide, 10 windows + quota (count given)", || {
        decide(&policy, black_box(&task), at)
    });
}

fn example_policy_cases(bench: &Bench) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/example.toml");
    let policy = Policy::load(path.as_ref()).unwrap_or_else(|errors| panic!("{errors}"));
    let mut early = facts("vdcUploadMedia", "acme", "alice", "iso-library");
    let media = Record::new("")
        .with("size_gb", Some(Value::Number(0.7)))
        .with("image_type", Some(Value::Text("iso".into())));
    early.owner = OwnerFacts::default().with("media", Ok(vec![media]));
    let mut held = facts("vdcInstantiateVapp", "prod-eu", "alice", "billing");
    held.owner = vapp((0..10).map(|i| vm(i, 4096)).collect());
    let late = facts("vdcDeleteVapp", "prod-eu", "alice", "billing");
    decide_case(
        bench,
        "decide example: rule 7 resumes (media read)",
        &policy,
        &early,
        "media uploads and copies are fine",
    );
    decide_case(
        bench,
        "decide example: rule 9 holds (10 VMs read)",
        &policy,
        &held,
        "production deployments need an approver",
    );
    decide_case(
        bench,
        "decide example: all 12 rules, defaults",
        &policy,
        &late,
        "defaults",
    );
    let mut big = facts("vdcInstantiateVapp", "acme", "alice", "billing");
    big.owner = vapp(
        (0..10)
            .map(|i| vm(i, if i == 9 { 131072 } else { 4096 }))
            .collect(),
    );
    decide_case(
        bench,
        "decide example: 10th of 10 VMs over 64 GiB",
        &policy,
        &big,
        "VMs over 64 GiB wait for an approver",
    );
    let unread = facts("vdcInstantiateVapp", "prod-eu", "alice", "billing");
    bench.run("owner_needs example: prod deployment", || {
        policy.owner_needs(black_box(&unread))
    });
}

fn vm(index: usize, memory_mb: u64) -> Record {
    Record::new(format!("vm-{index}"))
        .with("cpu", Some(Value::Number(2.0)))
        .with("memory_mb", Some(Value::Number(memory_mb as f64)))
        .with("disk_gb", Some(Value::Number(16.0)))
        .with("storage_profile", Some(Value::Text("Gold".into())))
        .with("network", Some(Value::Texts(vec!["frontend".into()])))
}

fn vapp(vms: Vec<Record>) -> OwnerFacts {
    let count = Record::new("").with("vm_count", Some(Value::Number(vms.len() as f64)));
    OwnerFacts::default()
        .with("vapp", Ok(vec![count]))
        .with("vm", Ok(vms))
}

/// Requests to vCD per task about a vApp or Media: the GET of the task, one GET per owner
/// document the policy needs (the owner's serves `vapp`, `vm` and the way to its VDC alike;
/// `vdc` adds the VDC's), the POST of the action.
fn requests_per_task(needs: Needs) -> usize {
    let has = |name: &str| FactGroup::parse(name).is_some_and(|group| needs.contains(group));
    let owner = has("vapp") || has("vm") || has("media") || has("vdc");
    let reads = usize::from(owner) + usize::from(has("metadata")) + usize::from(has("vdc"));
    2 + reads
}

/// What the example policy and one without owner facts make the daemon ask vCD for, per task.
fn request_counts() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/example.toml");
    let example = Policy::load(example.as_ref()).unwrap_or_else(|errors| panic!("{errors}"));
    let plain = Policy::from_sources(&[(
        "plain.toml".into(),
        "[[rule]]\nname = \"media\"\noperation = \"vdc*Media\"\naction = \"resume\"\n\
         [[rule]]\nname = \"prod\"\norg = \"prod-*\"\naction = \"hold\"\nhold = { max = \"1h\" }\n"
            .into(),
    )])
    .unwrap_or_else(|errors| panic!("{errors}"));
    println!("\nrequests to vCD per task (GET task + owner reads + POST action):");
    for (operation, org) in [
        ("vdcUploadMedia", "acme"),
        ("vdcInstantiateVapp", "prod-eu"),
        ("vdcDeleteVapp", "acme"),
    ] {
        let task = facts(operation, org, "alice", "x");
        println!(
            "  {operation:<20} {org:<8} example policy: {}, policy without owner facts: {}",
            requests_per_task(example.owner_needs(&task)),
            requests_per_task(plain.owner_needs(&task)),
        );
        assert_eq!(requests_per_task(plain.owner_needs(&task)), 2);
    }
}

/// Tasks of the generated policy: `first` matches rule 1, `last` only rule 200, `none` none.
fn generated_policy_cases(bench: &Bench) {
    let policy = Policy::from_sources(&[("generated.toml".into(), generated_policy(200))])
        .unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(policy.rule_count(), 200);
    let first = facts("vdcInstantiateVapp", "acme-prod", "alice", "early-web");
    let last = facts("vdcInstantiateVapp", "acme-prod", "alice", "late-web");
    let none = facts("vdcInstantiateVapp", "acme-prod", "alice", "web");
    decide_case(
        bench,
        "decide 200 rules: rule 1",
        &policy,
        &first,
        "rule-000",
    );
    decide_case(
        bench,
        "decide 200 rules: rule 200",
        &policy,
        &last,
        "rule-199",
    );
    decide_case(
        bench,
        "decide 200 rules: defaults",
        &policy,
        &none,
        "defaults",
    );
}

/// A policy of `n` rules. The first and last match on `owner_name` (`early-*`, `late-*`); the
/// rules between cycle through globs, lists, regexes and negations that the benchmark's tasks
/// (org `acme-prod`, user `alice`) pass on `operation` and fail only on their last key, so
/// every rule costs a full evaluation.
fn generated_policy(n: usize) -> String {
    let mut text = String::from("[defaults]\naction = \"abort\"\n");
    for i in 0..n {
        let name = format!("rule-{i:03}");
        let keys = match i {
            0 => "operation = \"vdc*\"\nowner_name = \"early-*\"".to_owned(),
            i if i == n - 1 => "operation = \"vdc*\"\nowner_name = \"late-*\"".to_owned(),
            i => match i % 4 {
                0 => format!("operation = \"vdc*\"\norg = \"tenant-{i}-*\""),
                1 => format!(
                    "operation = [\"vdcDeleteVapp\", \"vdcUploadMedia\", \"vdcInstantiate*\"]\n\
                     owner_type = [\"vApp\", \"vm\"]\norg = [\"a{i}-*\", \"b{i}-*\", \"c{i}\"]"
                ),
                2 => format!("operation = \"vdc*\"\nuser = {{ regex = \"^svc-{i}-[a-z0-9]+$\" }}"),
                _ => format!(
                    "operation = {{ not = \"vdcUploadMedia\" }}\n\
                     org = {{ not = [\"acme*\", \"globex-{i}*\"] }}"
                ),
            },
        };
        let action = if i % 2 == 0 {
            "action = \"resume\"".to_owned()
        } else {
            "action = \"hold\"\nhold = { max = \"48h\", fallback = \"abort\", keepalive = \"10m\" }\n\
             message = \"Waiting for approval: {operation} by {user}@{org}\""
                .to_owned()
        };
        text.push_str(&format!(
            "\n[[rule]]\nname = \"{name}\"\n{keys}\n{action}\n"
        ));
    }
    text
}

/// Everything the daemon computes for one new task apart from I/O: parse the notification,
/// parse the task read from vCD, extract the facts and decide (example policy, hold).
fn pipeline_case(bench: &Bench) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/policies/example.toml");
    let policy = Policy::load(path.as_ref()).unwrap_or_else(|errors| panic!("{errors}"));
    let body = fixture("notification-blockingtask-create.xml");
    let task = fixture("blocking-task.xml").replace("name=\"acme\"", "name=\"prod-eu\"");
    let headers = vcd_headers();
    let key = routing_key();
    let now = Utc::now();
    let once = || {
        let delivery = Delivery {
            body: body.as_bytes(),
            routing_key: &key,
            headers: &headers,
        };
        let parsed = parse_notification(&delivery, 1 << 18).ok()?;
        let task = wire::parse_blocking_task(black_box(&task)).ok()?;
        (parsed.task_id == Some(task.id)).then_some(())?;
        Some(decide(&policy, &TaskFacts::from(&task), now))
    };
    let decision = once().map(|d| d.action);
    assert!(matches!(decision, Some(Action::Hold(_))), "{decision:?}");
    bench.run("per task: parse both + facts + decide", once);
}

/// What each reconciliation parses: vCD's list of active tasks, here 100,000 of them.
fn reconcile_list_case(bench: &Bench) {
    let n = 100_000;
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vmext:BlockingTaskReferences \
         xmlns:vmext=\"http://www.vmware.com/vcloud/extension/v1.5\" \
         xmlns:vcloud=\"http://www.vmware.com/vcloud/v1.5\" \
         type=\"application/vnd.vmware.admin.blockingTaskList+xml\">\n",
    );
    for i in 0..n {
        let id = uuid::Uuid::from_u128(0x8c1d_6e2a_4f3b_4a7d_9e21_0000_0000_0000 + i as u128);
        xml.push_str(&format!(
            "    <vcloud:Reference type=\"application/vnd.vmware.admin.blockingTask+xml\" \
             name=\"vdcInstantiateVapp\" \
             href=\"https://vcd.example.com/api/admin/extension/blockingTask/{id}\"/>\n"
        ));
    }
    xml.push_str("</vmext:BlockingTaskReferences>\n");
    let parsed = wire::parse_task_references(&xml).map(|list| list.ids.len());
    assert_eq!(parsed.ok(), Some(n));
    let name = format!("parse task list ({n} refs, {} MB)", xml.len() >> 20);
    bench.run(&name, || wire::parse_task_references(black_box(&xml)));
}
