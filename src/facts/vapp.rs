//! `vapp.*`: the owner vApp as a whole, from `GET /api/vApp/vapp-<uuid>` (the document `vm`
//! reads too, fetched once).

use super::group::{Field, Group, ReadFuture, TestForm};
use super::read::OwnerReader;
use super::value::{Record, Value};
use crate::vcd::model::owner::parse_vapp;

pub(super) static VAPP: Group = Group {
    name: "vapp",
    fields: &[
        // How many VMs the owner vApp has (its `Children/Vm`).
        Field::number("vm_count", "VM count"),
    ],
    open: None,
    owners: &["vapp"],
    each: None,
    test: TestForm::ONE,
    read,
};

fn read<'a>(reader: &'a OwnerReader<'a>) -> ReadFuture<'a> {
    Box::pin(async move {
        let vms = reader.read(reader.owner()?, parse_vapp).await?;
        let count = Value::Number(vms.len() as f64);
        Ok(vec![Record::new("").with("vm_count", Some(count))])
    })
}
