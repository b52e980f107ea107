//! The owner documents the sim serves, shaped like vCD 10.x's: a `VApp` whose `Children` hold
//! `Vm`s, each with both a `VmSpecSection` and an `ovf:VirtualHardwareSection` (`rasd:` items,
//! `vcloud:capacity` on a disk's `rasd:HostResource`), a `NetworkConnectionSection` and a
//! `StorageProfile`; a `Media` with `size` and `imageType`; `Metadata` with typed values; and
//! the `Vdc` they live in, which each names in its `Link rel="up"` (a VM names its vApp).

use std::fmt::Write as _;

use uuid::Uuid;

use crate::model::{SimVdc, SimVm};
use crate::owner::Owner;
use crate::xml::{DECLARATION, NS_VCLOUD, e};

pub(crate) const VAPP_TYPE: &str = "application/vnd.vmware.vcloud.vApp+xml";
pub(crate) const VM_TYPE: &str = "application/vnd.vmware.vcloud.vm+xml";
pub(crate) const MEDIA_TYPE: &str = "application/vnd.vmware.vcloud.media+xml";
pub(crate) const METADATA_TYPE: &str = "application/vnd.vmware.vcloud.metadata+xml";
pub(crate) const VDC_TYPE: &str = "application/vnd.vmware.vcloud.vdc+xml";

const NS_OVF: &str = "http://schemas.dmtf.org/ovf/envelope/1";
const NS_RASD: &str =
    "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData";
const NS_XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// The `Link rel="up"` to the vApp or VDC the owner lives in.
fn up_link(base: &str, owner: &Owner) -> String {
    let (kind, id) = owner.up;
    let media_type = match kind {
        crate::model::OwnerType::VApp => VAPP_TYPE,
        _ => VDC_TYPE,
    };
    format!(
        "<Link rel=\"up\" href=\"{}{}\" type=\"{media_type}\"/>",
        e(base),
        kind.api_path(id)
    )
}

/// `GET /api/vdc/<uuid>`.
pub(crate) fn vdc(base: &str, id: Uuid, vdc: &SimVdc) -> String {
    let href = format!("{base}/api/vdc/{id}");
    format!(
        "{DECLARATION}<Vdc xmlns=\"{NS_VCLOUD}\" status=\"1\" name=\"{}\" id=\"urn:vcloud:vdc:{id}\" href=\"{}\" type=\"{VDC_TYPE}\">\n    <Description/>\n    <AllocationModel>{}</AllocationModel>\n    <IsEnabled>true</IsEnabled>\n</Vdc>\n",
        e(&vdc.name),
        e(&href),
        e(&vdc.allocation_model),
    )
}

/// The namespaces a vApp or VM document declares on its root.
fn namespaces() -> String {
    format!(
        "xmlns=\"{NS_VCLOUD}\" xmlns:vcloud=\"{NS_VCLOUD}\" xmlns:ovf=\"{NS_OVF}\" xmlns:rasd=\"{NS_RASD}\""
    )
}

pub(crate) fn vapp(base: &str, owner: &Owner) -> String {
    let href = format!("{base}/api/vApp/vapp-{}", owner.named.id);
    let mut doc = format!(
        "{DECLARATION}<VApp {} status=\"8\" deployed=\"false\" name=\"{}\" id=\"urn:vcloud:vapp:{}\" href=\"{}\" type=\"{VAPP_TYPE}\">\n    <Link rel=\"down\" href=\"{}/metadata\" type=\"{METADATA_TYPE}\"/>\n    {}\n    <Description/>\n    <InMaintenanceMode>false</InMaintenanceMode>\n",
        namespaces(),
        e(&owner.named.name),
        owner.named.id,
        e(&href),
        e(&href),
        up_link(base, owner),
    );
    if !owner.details.vms.is_empty() {
        doc.push_str("    <Children>\n");
        for (vm, id) in owner.details.vms.iter().zip(&owner.vm_ids) {
            doc.push_str(&vm_element(base, vm, &id.to_string(), "", ""));
        }
        doc.push_str("    </Children>\n");
    }
    doc.push_str("</VApp>\n");
    doc
}

/// The owner VM: the first of its details (there is always one).
pub(crate) fn vm(base: &str, owner: &Owner) -> String {
    let default = SimVm::default();
    let vm = owner.details.vms.first().unwrap_or(&default);
    let vm = SimVm {
        name: owner.named.name.clone(),
        ..vm.clone()
    };
    let id = owner.named.id.to_string();
    let element = vm_element(base, &vm, &id, &namespaces(), &up_link(base, owner));
    format!("{DECLARATION}{}", element.trim_start())
}

/// One `Vm` element; `namespaces` and the `up` link are empty inside a vApp.
fn vm_element(base: &str, vm: &SimVm, id: &str, namespaces: &str, up: &str) -> String {
    let href = format!("{base}/api/vApp/vm-{id}");
    let mut out = format!(
        "        <Vm {namespaces} needsCustomization=\"false\" deployed=\"false\" status=\"8\" name=\"{}\" id=\"urn:vcloud:vm:{id}\" href=\"{}\" type=\"{VM_TYPE}\">\n",
        e(&vm.name),
        e(&href),
    );
    if !up.is_empty() {
        let _ = writeln!(out, "            {up}");
    }
    out.push_str("            <Description/>\n");
    out.push_str(&spec_section(vm));
    out.push_str(&hardware_section(vm));
    out.push_str("            <NetworkConnectionSection ovf:required=\"false\">\n                <ovf:Info>Specifies the available VM network connections</ovf:Info>\n                <PrimaryNetworkConnectionIndex>0</PrimaryNetworkConnectionIndex>\n");
    for (index, network) in vm.networks.iter().enumerate() {
        let _ = write!(
            out,
            "                <NetworkConnection needsCustomization=\"false\" network=\"{}\">\n                    <NetworkConnectionIndex>{index}</NetworkConnectionIndex>\n                    <IsConnected>true</IsConnected>\n                    <IpAddressAllocationMode>POOL</IpAddressAllocationMode>\n                </NetworkConnection>\n",
            e(network)
        );
    }
    out.push_str("            </NetworkConnectionSection>\n");
    let _ = writeln!(
        out,
        "            <StorageProfile href=\"{}/api/vdcStorageProfile/{}\" name=\"{}\" type=\"application/vnd.vmware.vcloud.vdcStorageProfile+xml\"/>",
        e(base),
        uuid::Uuid::new_v4(),
        e(&vm.storage_profile)
    );
    out.push_str("        </Vm>\n");
    out
}

fn spec_section(vm: &SimVm) -> String {
    let mut out = format!(
        "            <VmSpecSection Modified=\"false\">\n                <ovf:Info>The configuration parameters for logical VM</ovf:Info>\n                <OsType>otherGuest64</OsType>\n                <NumCpus>{}</NumCpus>\n                <NumCoresPerSocket>1</NumCoresPerSocket>\n                <MemoryResourceMb>\n                    <Configured>{}</Configured>\n                    <Reservation>0</Reservation>\n                </MemoryResourceMb>\n                <DiskSection>\n",
        vm.cpu, vm.memory_mb
    );
    for (index, size) in vm.disks_mb.iter().enumerate() {
        let _ = write!(
            out,
            "                    <DiskSettings>\n                        <DiskId>{}</DiskId>\n                        <SizeMb>{size}</SizeMb>\n                        <UnitNumber>{index}</UnitNumber>\n                        <BusNumber>0</BusNumber>\n                        <AdapterType>5</AdapterType>\n                    </DiskSettings>\n",
            2000 + index
        );
    }
    out.push_str("                </DiskSection>\n            </VmSpecSection>\n");
    out
}

fn hardware_section(vm: &SimVm) -> String {
    let mut out = String::from(
        "            <ovf:VirtualHardwareSection ovf:transport=\"\">\n                <ovf:Info>Virtual hardware requirements</ovf:Info>\n",
    );
    for (index, network) in vm.networks.iter().enumerate() {
        let _ = write!(
            out,
            "                <ovf:Item>\n                    <rasd:AddressOnParent>{index}</rasd:AddressOnParent>\n                    <rasd:Connection vcloud:ipAddressingMode=\"POOL\" vcloud:primaryNetworkConnection=\"{}\">{}</rasd:Connection>\n                    <rasd:ElementName>Network adapter {index}</rasd:ElementName>\n                    <rasd:InstanceID>{}</rasd:InstanceID>\n                    <rasd:ResourceSubType>VMXNET3</rasd:ResourceSubType>\n                    <rasd:ResourceType>10</rasd:ResourceType>\n                </ovf:Item>\n",
            index == 0,
            e(network),
            index + 1
        );
    }
    for (index, size) in vm.disks_mb.iter().enumerate() {
        let _ = write!(
            out,
            "                <ovf:Item>\n                    <rasd:AddressOnParent>{index}</rasd:AddressOnParent>\n                    <rasd:Description>Hard disk</rasd:Description>\n                    <rasd:ElementName>Hard disk {}</rasd:ElementName>\n                    <rasd:HostResource vcloud:busType=\"6\" vcloud:busSubType=\"lsilogic\" vcloud:capacity=\"{size}\" vcloud:iops=\"0\"/>\n                    <rasd:InstanceID>{}</rasd:InstanceID>\n                    <rasd:Parent>2</rasd:Parent>\n                    <rasd:ResourceType>17</rasd:ResourceType>\n                    <rasd:VirtualQuantity>{}</rasd:VirtualQuantity>\n                    <rasd:VirtualQuantityUnits>byte</rasd:VirtualQuantityUnits>\n                </ovf:Item>\n",
            index + 1,
            2000 + index,
            size * 1024 * 1024
        );
    }
    let _ = write!(
        out,
        "                <ovf:Item>\n                    <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>\n                    <rasd:Description>Number of Virtual CPUs</rasd:Description>\n                    <rasd:ElementName>{cpu} virtual CPU(s)</rasd:ElementName>\n                    <rasd:InstanceID>4</rasd:InstanceID>\n                    <rasd:ResourceType>3</rasd:ResourceType>\n                    <rasd:VirtualQuantity>{cpu}</rasd:VirtualQuantity>\n                </ovf:Item>\n                <ovf:Item>\n                    <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>\n                    <rasd:Description>Memory Size</rasd:Description>\n                    <rasd:ElementName>{memory} MB of memory</rasd:ElementName>\n                    <rasd:InstanceID>5</rasd:InstanceID>\n                    <rasd:ResourceType>4</rasd:ResourceType>\n                    <rasd:VirtualQuantity>{memory}</rasd:VirtualQuantity>\n                </ovf:Item>\n            </ovf:VirtualHardwareSection>\n",
        cpu = vm.cpu,
        memory = vm.memory_mb
    );
    out
}

pub(crate) fn media(base: &str, owner: &Owner) -> String {
    let href = format!("{base}/api/media/{}", owner.named.id);
    format!(
        "{DECLARATION}<Media xmlns=\"{NS_VCLOUD}\" size=\"{}\" imageType=\"{}\" status=\"0\" name=\"{}\" id=\"urn:vcloud:media:{}\" href=\"{}\" type=\"{MEDIA_TYPE}\">\n    {}\n    <Link rel=\"down\" href=\"{}/metadata\" type=\"{METADATA_TYPE}\"/>\n    <Description/>\n</Media>\n",
        owner.details.media.size,
        e(&owner.details.media.image_type),
        e(&owner.named.name),
        owner.named.id,
        e(&href),
        up_link(base, owner),
        e(&href),
    )
}

pub(crate) fn metadata(base: &str, owner: &Owner) -> String {
    let path = owner.kind.api_path(owner.named.id);
    let href = format!("{base}{path}/metadata");
    let mut doc = format!(
        "{DECLARATION}<Metadata xmlns=\"{NS_VCLOUD}\" xmlns:xsi=\"{NS_XSI}\" href=\"{}\" type=\"{METADATA_TYPE}\">\n",
        e(&href)
    );
    for (key, value) in &owner.details.metadata {
        let _ = write!(
            doc,
            "    <MetadataEntry href=\"{}/{}\" type=\"application/vnd.vmware.vcloud.metadata.value+xml\">\n        <Domain visibility=\"READWRITE\">GENERAL</Domain>\n        <Key>{}</Key>\n        <TypedValue xsi:type=\"MetadataStringValue\">\n            <Value>{}</Value>\n        </TypedValue>\n    </MetadataEntry>\n",
            e(&href),
            e(key),
            e(key),
            e(value)
        );
    }
    doc.push_str("</Metadata>\n");
    doc
}
