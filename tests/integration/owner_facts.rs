//! Rules on what an operation is about, end to end against vcd-sim: the daemon reads the owner
//! vApp, VM, Media, metadata or VDC a rule needs, decides on it, and says which facts it could
//! not have; a policy without owner facts reads nothing more than the task.

use std::collections::BTreeMap;

use uuid::Uuid;
use vcd_sim::{NewTask, SimMedia, SimVdc, SimVm};

use crate::helpers::{Options, World, captured_logs, wait_until};

const POLICY: &str = r#"
[defaults]
action = "resume"

[[rule]]
name = "VMs over 64 GiB are refused"
operation = ["vdcInstantiateVapp", "vdcComposeVapp"]
vm = { memory_mb = { gt = 65536 } }
action = "fail"
message = "{owner_name} has a VM over 64 GiB"

[[rule]]
name = "no crowds in trial orgs"
org = "trial-*"
vapp = { vm_count = { gt = 10 } }
action = "abort"

[[rule]]
name = "no ISOs over 20 GiB"
operation = "vdcUploadMedia"
media = { size_gb = { gt = 20 }, image_type = "iso" }
action = "fail"

[[rule]]
name = "deletes need a cost centre"
operation = "vdcDeleteVapp"
metadata = { cost-center = "4*" }
action = "resume"

[[rule]]
name = "other deletes are refused"
operation = "vdcDeleteVapp"
action = "abort"
"#;

fn vm(name: &str, memory_mb: u64) -> SimVm {
    SimVm {
        name: name.into(),
        memory_mb,
        ..SimVm::default()
    }
}

fn vapp(operation: &str, org: &str, vms: Vec<SimVm>) -> NewTask {
    NewTask {
        operation: operation.into(),
        org: org.into(),
        owner_type: "vApp".into(),
        owner_name: "shop".into(),
        vms: Some(vms),
        ..NewTask::default()
    }
}

fn iso(name: &str, size: u64) -> NewTask {
    NewTask {
        operation: "vdcUploadMedia".into(),
        owner_type: "media".into(),
        owner_name: name.into(),
        media: SimMedia {
            size,
            image_type: "iso".into(),
        },
        ..NewTask::default()
    }
}

/// The last action vCD accepted for a task.
async fn decided(world: &World, id: Uuid, status: &str) -> String {
    let view = world.wait_for_status(id, status).await;
    let record = view.actions.iter().rev().find(|a| a.accepted).unwrap();
    format!("{}: {}", record.action, record.message)
}

fn owner_reads(world: &World) -> Vec<String> {
    world
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.path.starts_with("/api/vApp/") || c.path.starts_with("/api/media/"))
        .map(|c| format!("{} {}", c.method, c.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_oversized_vm_among_small_ones_decides_the_vapp() {
    let world = World::start(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let big = world
        .create(vapp(
            "vdcInstantiateVapp",
            "acme",
            vec![vm("web", 4096), vm("db", 131072), vm("cache", 8192)],
        ))
        .await;
    let small = world
        .create(vapp(
            "vdcInstantiateVapp",
            "acme",
            vec![vm("web", 4096), vm("cache", 65536)],
        ))
        .await;
    assert_eq!(
        decided(&world, big, "failed").await,
        "fail: shop has a VM over 64 GiB"
    );
    assert!(
        decided(&world, small, "resumed")
            .await
            .starts_with("resume: ")
    );
    wait_until("the decision naming the VM is logged", || {
        captured_logs()
            .lines()
            .any(|line| line.contains(&format!("task_id={big}")) && line.contains("vm=\"db\""))
    })
    .await;
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vapp_with_many_vms_is_decided_by_its_vm_count() {
    let world = World::start(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let many = (0..12).map(|i| vm(&format!("node-{i}"), 2048)).collect();
    let crowd = world.create(vapp("vdcComposeVapp", "trial-3", many)).await;
    let few = (0..3).map(|i| vm(&format!("node-{i}"), 2048)).collect();
    let team = world.create(vapp("vdcComposeVapp", "trial-3", few)).await;
    assert!(
        decided(&world, crowd, "aborted")
            .await
            .contains("no crowds in trial orgs")
    );
    world.wait_for_status(team, "resumed").await;
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_iso_is_refused_and_a_small_one_resumes() {
    let world = World::start(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let large = world.create(iso("dvd.iso", 25 << 30)).await;
    let small = world.create(iso("netinst.iso", 700 << 20)).await;
    assert!(
        decided(&world, large, "failed")
            .await
            .contains("no ISOs over 20 GiB")
    );
    world.wait_for_status(small, "resumed").await;
    assert_eq!(
        owner_reads(&world),
        ["GET 200", "GET 200"],
        "one read per Media"
    );
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_vcd_answers_404_for_falls_through_to_the_next_rule_and_is_unknown() {
    let world = World::start(Options {
        policy: POLICY.into(),
        ..Options::default()
    })
    .await;
    let tagged = world
        .create(NewTask {
            operation: "vdcDeleteVapp".into(),
            metadata: BTreeMap::from([("cost-center".into(), "4711".into())]),
            ..NewTask::default()
        })
        .await;
    let gone = world
        .create(NewTask {
            operation: "vdcDeleteVapp".into(),
            owner_gone: true,
            ..NewTask::default()
        })
        .await;
    assert!(
        decided(&world, tagged, "resumed")
            .await
            .contains("deletes need a cost centre")
    );
    assert!(
        decided(&world, gone, "aborted")
            .await
            .contains("other deletes are refused")
    );
    wait_until("the unknown fact and why are logged", || {
        captured_logs().lines().any(|line| {
            line.contains(&format!("task_id={gone}"))
                && line.contains("unknown=\"metadata.cost-center (reading the owner failed: ")
                && line.contains("404")
        })
    })
    .await;
    world.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_without_owner_facts_sends_one_get_and_one_post_per_task() {
    let plain = "[defaults]\naction = \"abort\"\n[[rule]]\nname = \"fine\"\n\
                 operation = [\"vdcUploadMedia\", \"vdcInstantiateVapp\"]\naction = \"resume\"\n";
    let world = World::start(Options {
        policy: plain.into(),
        ..Options::default()
    })
    .await;
    let upload = world
        .create(NewTask {
            operation: "vdcUploadMedia".into(),
            owner_type: "media".into(),
            ..NewTask::default()
        })
        .await;
    let deploy = world
        .create(vapp("vdcInstantiateVapp", "dev", vec![vm("big", 262144)]))
        .await;
    world.wait_for_status(upload, "resumed").await;
    world.wait_for_status(deploy, "resumed").await;
    for id in [upload, deploy] {
        let calls: Vec<String> = world
            .sim
            .calls()
            .into_iter()
            .filter(|c| c.path.contains(&id.to_string()))
            .map(|c| c.method)
            .collect();
        assert_eq!(calls, ["GET", "POST"], "task {id}");
    }
    assert_eq!(owner_reads(&world), Vec::<String>::new());
    world.finish().await;
}

const VDC_POLICY: &str = r#"
[defaults]
action = "resume"

[[rule]]
name = "frozen VDCs take no changes"
vdc.name = "frozen-*"
action = "abort"
message = "{owner_name} lives in a frozen VDC"

[[rule]]
name = "no big VMs on pay-as-you-go"
vdc = { allocation_model = "AllocationVApp" }
vm = { memory_mb = { gt = 65536 } }
action = "fail"
"#;

fn in_vdc(task: NewTask, name: &str, allocation_model: &str) -> NewTask {
    NewTask {
        vdc: SimVdc {
            name: name.into(),
            allocation_model: allocation_model.into(),
        },
        ..task
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_on_the_vdc_decides_vapp_vm_and_media_tasks() {
    let world = World::start(Options {
        policy: VDC_POLICY.into(),
        ..Options::default()
    })
    .await;
    let pool = "AllocationPool";
    let vapp_task = vapp("vdcInstantiateVapp", "acme", vec![vm("web", 4096)]);
    let frozen_vapp = world.create(in_vdc(vapp_task, "frozen-eu", pool)).await;
    let vm_task = NewTask {
        operation: "vappUpdateVm".into(),
        owner_type: "vm".into(),
        owner_name: "db-1".into(),
        vms: Some(vec![vm("db-1", 8192)]),
        ..NewTask::default()
    };
    let frozen_vm = world.create(in_vdc(vm_task, "frozen-eu", pool)).await;
    let frozen_iso = world
        .create(in_vdc(iso("dvd.iso", 1 << 30), "frozen-us", pool))
        .await;
    let open_iso = world
        .create(in_vdc(iso("netinst.iso", 1 << 30), "open-eu", pool))
        .await;
    let big = vapp("vdcInstantiateVapp", "acme", vec![vm("db", 131072)]);
    let paygo_big = world.create(in_vdc(big, "dev-eu", "AllocationVApp")).await;
    for (id, owner) in [
        (frozen_vapp, "shop"),
        (frozen_vm, "db-1"),
        (frozen_iso, "dvd.iso"),
    ] {
        assert_eq!(
            decided(&world, id, "aborted").await,
            format!("abort: {owner} lives in a frozen VDC")
        );
    }
    assert!(
        decided(&world, paygo_big, "failed")
            .await
            .contains("no big VMs on pay-as-you-go")
    );
    world.wait_for_status(open_iso, "resumed").await;
    // The VM's VDC is found through its vApp: one GET of each document, each once.
    let reads: Vec<String> = world
        .sim
        .calls()
        .into_iter()
        .filter(|c| c.path.starts_with("/api/vApp/") || c.path.starts_with("/api/vdc/"))
        .map(|c| c.path.split('-').next().unwrap_or_default().to_owned())
        .collect();
    let count = |prefix: &str| reads.iter().filter(|path| *path == prefix).count();
    assert_eq!(count("/api/vApp/vm"), 1, "{reads:?}");
    // The frozen vApp and the VM's own vApp; the pay-as-you-go vApp read once for vm and vdc.
    assert_eq!(count("/api/vApp/vapp"), 3, "{reads:?}");
    assert_eq!(
        reads
            .iter()
            .filter(|path| path.starts_with("/api/vdc/"))
            .count(),
        5,
        "{reads:?}"
    );
    world.finish().await;
}
