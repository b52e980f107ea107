//! `vm.*`: the owner vApp's VMs (from `GET /api/vApp/vapp-<uuid>`, each `Children/Vm`) or the
//! owner VM (`GET /api/vApp/vm-<uuid>`). One VM must meet every `vm.*` condition of a rule.

use super::group::{Each, Field, Group, ReadFuture, TestForm};
use super::read::OwnerReader;
use super::value::{Record, Value};
use crate::vcd::OwnerRef;
use crate::vcd::model::owner::{Vm, parse_vapp, parse_vm};

pub(super) static VM: Group = Group {
    name: "vm",
    fields: &[
        // Virtual CPUs.
        Field::number("cpu", "CPU count"),
        // Memory in MiB.
        Field::number("memory_mb", "memory size"),
        // The sum of the VM's disks in GiB.
        Field::number("disk_gb", "disk sizes"),
        // The name of the VM's storage policy.
        Field::text("storage_profile", "StorageProfile"),
        // The networks the VM's NICs connect to (matches when any NIC's does).
        Field::texts("network", "NetworkConnectionSection"),
    ],
    open: None,
    owners: &["vapp", "vm"],
    each: Some(Each {
        word: "VM",
        none: "the vApp has no VMs",
    }),
    test: TestForm {
        list: Some("vms"),
        counts: Some(("vapp", "vm_count")),
    },
    read,
};

fn read<'a>(reader: &'a OwnerReader<'a>) -> ReadFuture<'a> {
    Box::pin(async move {
        let owner = reader.owner()?;
        let vms = match owner {
            OwnerRef::Vm(_) => vec![reader.read(owner, parse_vm).await?],
            _ => reader.read(owner, parse_vapp).await?,
        };
        Ok(vms.into_iter().map(record).collect())
    })
}

fn record(vm: Vm) -> Record {
    let number = |n: Option<u64>| n.map(|n| Value::Number(n as f64));
    Record::new(vm.name)
        .with("cpu", number(vm.cpu))
        .with("memory_mb", number(vm.memory_mb))
        .with("disk_gb", vm.disk_gb.map(Value::Number))
        .with("storage_profile", vm.storage_profile.map(Value::Text))
        .with("network", vm.networks.map(Value::Texts))
}
