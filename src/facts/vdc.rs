//! `vdc.*`: the VDC the task's owner lives in, found through the owner's `Link rel="up"` (a
//! vApp's or Media's names the VDC; a VM's names its vApp, whose link names the VDC), then
//! `GET /api/vdc/<uuid>`. Only the kind and UUID are taken from a link, never its host.

use super::group::{Field, Group, ReadFuture, TestForm};
use super::read::OwnerReader;
use super::value::{Record, Unknown, Value};
use crate::vcd::OwnerRef;
use crate::vcd::model::owner::{parse_up, parse_vdc};

pub(super) static VDC: Group = Group {
    name: "vdc",
    fields: &[
        // The VDC's name.
        Field::text("name", "VDC name"),
        // `AllocationVApp` (pay-as-you-go), `AllocationPool`, `ReservationPool` or `Flex`.
        Field::text("allocation_model", "AllocationModel"),
    ],
    open: None,
    owners: &["vapp", "vm", "media"],
    each: None,
    test: TestForm::ONE,
    read,
};

fn read<'a>(reader: &'a OwnerReader<'a>) -> ReadFuture<'a> {
    Box::pin(async move {
        let mut object = reader.owner()?;
        // VM -> vApp -> VDC at most.
        for _ in 0..2 {
            let up = reader.read(object, parse_up).await?;
            object = match up.as_deref().map(OwnerRef::parent) {
                Some(Some(vdc @ OwnerRef::Vdc(_))) => return read_vdc(reader, vdc).await,
                Some(Some(parent)) => parent,
                Some(None) | None => break,
            };
        }
        Err(Unknown::Missing("link up to the VDC".to_owned()))
    })
}

async fn read_vdc(reader: &OwnerReader<'_>, vdc: OwnerRef) -> Result<Vec<Record>, Unknown> {
    let vdc = reader.read(vdc, parse_vdc).await?;
    let record = Record::new("")
        .with("name", vdc.name.map(Value::Text))
        .with("allocation_model", vdc.allocation_model.map(Value::Text));
    Ok(vec![record])
}
