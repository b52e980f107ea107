//! The documents of what a blocking task is about, converted into what they say: a `VApp`
//! (its VMs), a `Vm`, a `Media`, the owner's `Metadata`, the `Vdc` it lives in and the
//! `Link rel="up"` that leads there. `facts` turns these into owner facts. Where vCD gives a value twice
//! (a VM's `VmSpecSection` from API 32 and the OVF `VirtualHardwareSection` of every
//! version), the first is taken and the second is the fallback; a value neither gives stays
//! `None` and makes the facts that need it unknown.

use std::collections::BTreeMap;

use super::wire::{ItemXml, LinksXml, MediaXml, MetadataXml, TextXml, VAppXml, VdcXml, VmXml};
use super::{ModelError, document, invalid};
use crate::xml;

/// One VM: the owner VM, or one of the owner vApp's. A field is `None` when vCD's document
/// says nothing about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Vm {
    pub name: String,
    pub cpu: Option<u64>,
    /// MiB.
    pub memory_mb: Option<u64>,
    /// The sum of the VM's disks, GiB.
    pub disk_gb: Option<f64>,
    pub storage_profile: Option<String>,
    /// The network of each NIC, in document order (empty: the VM has no NIC).
    pub networks: Option<Vec<String>>,
}

/// The owner Media.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Media {
    /// `size` / 2^30: the size the uploading client declared, in GiB.
    pub size_gb: Option<f64>,
    pub image_type: Option<String>,
}

/// The VDC an owner lives in.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Vdc {
    pub name: Option<String>,
    /// `AllocationVApp` (pay-as-you-go), `AllocationPool`, `ReservationPool` or `Flex`.
    pub allocation_model: Option<String>,
}

/// `rasd:ResourceType` of the devices read.
const CPU: &str = "3";
const MEMORY: &str = "4";
const NIC: &str = "10";
const DISK: &str = "17";

const MIB_PER_GIB: f64 = 1024.0;
const BYTES_PER_GIB: f64 = (1u64 << 30) as f64;

/// `GET /api/vApp/vapp-<uuid>`: the vApp's VMs, in document order (none without `Children`).
pub(crate) fn parse_vapp(xml: &str) -> Result<Vec<Vm>, ModelError> {
    let vapp: VAppXml = document(xml, "VApp")?;
    let vms = vapp.children.map(|c| c.vms).unwrap_or_default();
    vms.into_iter().map(Vm::try_from).collect()
}

/// `GET /api/vApp/vm-<uuid>`.
pub(crate) fn parse_vm(xml: &str) -> Result<Vm, ModelError> {
    document::<VmXml>(xml, "Vm")?.try_into()
}

/// `GET /api/media/<uuid>`.
pub(crate) fn parse_media(xml: &str) -> Result<Media, ModelError> {
    document::<MediaXml>(xml, "Media")?.try_into()
}

/// `GET /api/vdc/<uuid>`.
pub(crate) fn parse_vdc(xml: &str) -> Result<Vdc, ModelError> {
    let vdc: VdcXml = document(xml, "Vdc")?;
    Ok(Vdc {
        name: vdc.name.filter(|name| !name.is_empty()),
        allocation_model: text(vdc.allocation_model.as_ref()),
    })
}

/// The href of the `Link rel="up"` of a `VApp`, `Vm` or `Media` document: the VDC a vApp or
/// Media lives in, the vApp a VM belongs to; `None` when the document has none.
pub(crate) fn parse_up(xml: &str) -> Result<Option<String>, ModelError> {
    let document = xml::check(xml)?;
    let root = document.root();
    if !["VApp", "Vm", "Media"].contains(&root) {
        return Err(ModelError::UnexpectedRoot {
            expected: "VApp, Vm or Media",
            found: root.to_owned(),
        });
    }
    let links: LinksXml = document.deserialize()?;
    let up = links
        .links
        .into_iter()
        .find(|link| link.rel.as_deref() == Some("up"));
    Ok(up.and_then(|link| link.href))
}

/// `GET <owner>/metadata`: entry key to value as text (numbers, booleans and dates as vCD
/// wrote them). An entry without a key is skipped.
pub(crate) fn parse_metadata(xml: &str) -> Result<BTreeMap<String, String>, ModelError> {
    let metadata: MetadataXml = document(xml, "Metadata")?;
    let entries = metadata.entries.into_iter().filter_map(|entry| {
        let key = text(entry.key.as_ref())?;
        let value = entry
            .typed_value
            .and_then(|typed| text(typed.value.as_ref()))
            .or_else(|| text(entry.value.as_ref()))
            .unwrap_or_default();
        Some((key, value))
    });
    Ok(entries.collect())
}

impl TryFrom<VmXml> for Vm {
    type Error = ModelError;

    fn try_from(xml: VmXml) -> Result<Vm, ModelError> {
        // Without a VirtualHardwareSection nothing can be said from it (not even "no disks").
        let hardware = xml.hardware.map(|h| h.items);
        let items = hardware.as_deref().unwrap_or_default();
        let spec = xml.spec;
        let spec_cpu = spec.as_ref().and_then(|s| text(s.num_cpus.as_ref()));
        let spec_memory = spec
            .as_ref()
            .and_then(|s| s.memory.as_ref())
            .and_then(|m| text(m.configured.as_ref()));
        let spec_disks: Option<Vec<Option<String>>> =
            spec.as_ref().and_then(|s| s.disks.as_ref()).map(|d| {
                d.disks
                    .iter()
                    .map(|disk| text(disk.size_mb.as_ref()))
                    .collect()
            });
        let cpu = match spec_cpu {
            Some(count) => Some(number("NumCpus", &count)?),
            None => item_quantity(items, CPU)?,
        };
        let memory_mb = match spec_memory {
            Some(size) => Some(number("MemoryResourceMb", &size)?),
            None => item_quantity(items, MEMORY)?,
        };
        let disk_gb = match spec_disks {
            Some(sizes) if sizes.iter().all(Option::is_some) => {
                let sizes = sizes.into_iter().flatten();
                let mb: Result<Vec<u64>, _> = sizes.map(|s| number("SizeMb", &s)).collect();
                Some(mb?.iter().sum::<u64>() as f64 / MIB_PER_GIB)
            }
            _ if hardware.is_none() => None,
            _ => hardware_disks_gb(items)?,
        };
        let networks = match xml.network_connections {
            Some(section) => Some(
                section
                    .connections
                    .into_iter()
                    .filter_map(|c| c.network)
                    .collect(),
            ),
            None if hardware.is_none() => None,
            None => hardware_networks(items),
        };
        Ok(Vm {
            name: xml.name.unwrap_or_default(),
            cpu,
            memory_mb,
            disk_gb,
            storage_profile: xml
                .storage_profile
                .and_then(|profile| profile.name)
                .filter(|name| !name.is_empty()),
            networks,
        })
    }
}

impl TryFrom<MediaXml> for Media {
    type Error = ModelError;

    fn try_from(xml: MediaXml) -> Result<Media, ModelError> {
        let size_gb = xml
            .size
            .map(|size| number("size", &size).map(|bytes| bytes as f64 / BYTES_PER_GIB))
            .transpose()?;
        Ok(Media {
            size_gb,
            image_type: xml.image_type.filter(|kind| !kind.is_empty()),
        })
    }
}

/// The `VirtualQuantity` of the first item of `resource_type` (CPU count, memory in MB).
fn item_quantity(items: &[ItemXml], resource_type: &str) -> Result<Option<u64>, ModelError> {
    let Some(item) = items.iter().find(|item| is(item, resource_type)) else {
        return Ok(None);
    };
    if resource_type == MEMORY
        && let Some(units) = text(item.allocation_units.as_ref())
        && units.replace(' ', "") != "byte*2^20"
    {
        return Err(invalid("memory AllocationUnits", &units));
    }
    text(item.virtual_quantity.as_ref())
        .map(|quantity| number("VirtualQuantity", &quantity))
        .transpose()
}

/// The sum of the disks' `vcloud:capacity` (MB) in GiB; `None` when a disk gives none.
fn hardware_disks_gb(items: &[ItemXml]) -> Result<Option<f64>, ModelError> {
    let mut mb = 0;
    for disk in items.iter().filter(|item| is(item, DISK)) {
        let capacity = disk.host_resources.iter().find_map(|r| r.capacity.clone());
        let Some(capacity) = capacity else {
            return Ok(None);
        };
        mb += number("capacity", &capacity)?;
    }
    Ok(Some(mb as f64 / MIB_PER_GIB))
}

/// The NICs' `rasd:Connection` network names, when the VM lacks a NetworkConnectionSection.
fn hardware_networks(items: &[ItemXml]) -> Option<Vec<String>> {
    let nics: Vec<&ItemXml> = items.iter().filter(|item| is(item, NIC)).collect();
    let names: Vec<String> = nics
        .iter()
        .filter_map(|nic| text(nic.connections.first()))
        .collect();
    (names.len() == nics.len()).then_some(names)
}

fn is(item: &ItemXml, resource_type: &str) -> bool {
    text(item.resource_type.as_ref()).as_deref() == Some(resource_type)
}

/// The element's text, trimmed; `None` when absent, nil or blank.
fn text(element: Option<&TextXml>) -> Option<String> {
    let text = element?.text.as_deref()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

fn number(field: &'static str, text: &str) -> Result<u64, ModelError> {
    text.trim().parse().map_err(|_| invalid(field, text))
}

#[cfg(test)]
mod tests;
