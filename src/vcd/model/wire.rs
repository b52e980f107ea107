//! vCloud API documents as they come over the wire, for quick-xml's deserializer: fields name
//! child elements and `@`attributes by local name, and every one is optional, so that what is
//! missing or wrong is reported by the conversion into domain types (in [`super`]), which is
//! the only code that reads these. Elements and attributes vcd-blockd does not use (the
//! action `Link`s, `SchemaRoot`, `MediaTypeMapping`, …) are not named and are skipped.

use serde::Deserialize;

/// `BlockingTask` (`application/vnd.vmware.admin.blockingTask+xml`).
#[derive(Debug, Deserialize)]
pub(super) struct BlockingTaskXml {
    #[serde(rename = "@id")]
    pub id: Option<String>,
    /// The suspended operation.
    #[serde(rename = "@name")]
    pub name: Option<String>,
    #[serde(rename = "@status")]
    pub status: Option<String>,
    #[serde(rename = "@createdTime")]
    pub created_time: Option<String>,
    #[serde(rename = "@timeoutDate")]
    pub timeout_date: Option<String>,
    #[serde(rename = "@timeoutAction")]
    pub timeout_action: Option<String>,
    #[serde(rename = "Description")]
    pub description: Option<String>,
    #[serde(rename = "Organization")]
    pub organization: Option<ReferenceXml>,
    #[serde(rename = "User")]
    pub user: Option<ReferenceXml>,
    #[serde(rename = "TaskOwner")]
    pub task_owner: Option<ReferenceXml>,
}

/// A reference to another object: `Organization`, `User`, `TaskOwner`.
#[derive(Debug, Deserialize)]
pub(super) struct ReferenceXml {
    /// The object's media type, e.g. `application/vnd.vmware.vcloud.vApp+xml`.
    #[serde(rename = "@type")]
    pub media_type: Option<String>,
    #[serde(rename = "@name")]
    pub name: Option<String>,
    #[serde(rename = "@href")]
    pub href: Option<String>,
}

/// `SupportedVersions`, the answer of `GET /api/versions`.
#[derive(Debug, Deserialize)]
pub(super) struct SupportedVersionsXml {
    #[serde(rename = "VersionInfo", default)]
    pub versions: Vec<VersionInfoXml>,
}

/// One `VersionInfo`. vCD gives one `Version` and one `LoginUrl`; of more, the first counts.
#[derive(Debug, Deserialize)]
pub(super) struct VersionInfoXml {
    #[serde(rename = "@deprecated")]
    pub deprecated: Option<String>,
    #[serde(rename = "Version", default)]
    pub version: Vec<String>,
    #[serde(rename = "LoginUrl", default)]
    pub login_url: Vec<String>,
}

/// `Error` (`application/vnd.vmware.vcloud.error+xml`).
#[derive(Debug, Deserialize)]
pub(super) struct ErrorXml {
    #[serde(rename = "@message")]
    pub message: Option<String>,
    #[serde(rename = "@majorErrorCode")]
    pub major_error_code: Option<String>,
    #[serde(rename = "@minorErrorCode")]
    pub minor_error_code: Option<String>,
}

/// An element read for its text alone: attributes (`xsi:nil`, `ovf:required`) are ignored, an
/// empty or nil element has none.
#[derive(Debug, Deserialize)]
pub(super) struct TextXml {
    #[serde(rename = "$text", default)]
    pub text: Option<String>,
}

/// `VApp` (`application/vnd.vmware.vcloud.vApp+xml`): only its VMs are read.
#[derive(Debug, Deserialize)]
pub(super) struct VAppXml {
    #[serde(rename = "Children")]
    pub children: Option<ChildrenXml>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ChildrenXml {
    #[serde(rename = "Vm", default)]
    pub vms: Vec<VmXml>,
}

/// `Vm` (`application/vnd.vmware.vcloud.vm+xml`), alone or as a child of a vApp.
#[derive(Debug, Deserialize)]
pub(super) struct VmXml {
    #[serde(rename = "@name")]
    pub name: Option<String>,
    /// vCD 9.7+ (API 32): the simplified hardware view.
    #[serde(rename = "VmSpecSection")]
    pub spec: Option<VmSpecXml>,
    /// `ovf:VirtualHardwareSection`: the OVF view, present in every version.
    #[serde(rename = "VirtualHardwareSection")]
    pub hardware: Option<HardwareXml>,
    #[serde(rename = "NetworkConnectionSection")]
    pub network_connections: Option<NetworkConnectionSectionXml>,
    #[serde(rename = "StorageProfile")]
    pub storage_profile: Option<ReferenceXml>,
}

#[derive(Debug, Deserialize)]
pub(super) struct VmSpecXml {
    #[serde(rename = "NumCpus")]
    pub num_cpus: Option<TextXml>,
    #[serde(rename = "MemoryResourceMb")]
    pub memory: Option<ConfiguredXml>,
    #[serde(rename = "DiskSection")]
    pub disks: Option<DiskSectionXml>,
}

/// `MemoryResourceMb`: the configured size in its `Configured` child.
#[derive(Debug, Deserialize)]
pub(super) struct ConfiguredXml {
    #[serde(rename = "Configured")]
    pub configured: Option<TextXml>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DiskSectionXml {
    #[serde(rename = "DiskSettings", default)]
    pub disks: Vec<DiskSettingsXml>,
}

#[derive(Debug, Deserialize)]
pub(super) struct DiskSettingsXml {
    #[serde(rename = "SizeMb")]
    pub size_mb: Option<TextXml>,
}

/// `ovf:VirtualHardwareSection`: one `ovf:Item` per virtual device.
#[derive(Debug, Deserialize)]
pub(super) struct HardwareXml {
    #[serde(rename = "Item", default)]
    pub items: Vec<ItemXml>,
}

/// An `ovf:Item` with its `rasd:` children: ResourceType 3 is the CPU, 4 memory, 10 a NIC, 17
/// a hard disk.
#[derive(Debug, Deserialize)]
pub(super) struct ItemXml {
    #[serde(rename = "ResourceType")]
    pub resource_type: Option<TextXml>,
    #[serde(rename = "VirtualQuantity")]
    pub virtual_quantity: Option<TextXml>,
    #[serde(rename = "AllocationUnits")]
    pub allocation_units: Option<TextXml>,
    /// A disk's `rasd:HostResource` carries `vcloud:capacity` in MB.
    #[serde(rename = "HostResource", default)]
    pub host_resources: Vec<HostResourceXml>,
    /// A NIC's network name.
    #[serde(rename = "Connection", default)]
    pub connections: Vec<TextXml>,
}

#[derive(Debug, Deserialize)]
pub(super) struct HostResourceXml {
    #[serde(rename = "@capacity")]
    pub capacity: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct NetworkConnectionSectionXml {
    #[serde(rename = "NetworkConnection", default)]
    pub connections: Vec<NetworkConnectionXml>,
}

#[derive(Debug, Deserialize)]
pub(super) struct NetworkConnectionXml {
    #[serde(rename = "@network")]
    pub network: Option<String>,
}

/// `Media` (`application/vnd.vmware.vcloud.media+xml`).
#[derive(Debug, Deserialize)]
pub(super) struct MediaXml {
    /// Bytes, as the uploading client declared them.
    #[serde(rename = "@size")]
    pub size: Option<String>,
    #[serde(rename = "@imageType")]
    pub image_type: Option<String>,
}

/// The `Link`s of any document: `rel` and `href` alone.
#[derive(Debug, Deserialize)]
pub(super) struct LinksXml {
    #[serde(rename = "Link", default)]
    pub links: Vec<LinkXml>,
}

#[derive(Debug, Deserialize)]
pub(super) struct LinkXml {
    #[serde(rename = "@rel")]
    pub rel: Option<String>,
    #[serde(rename = "@href")]
    pub href: Option<String>,
}

/// `Vdc` (`application/vnd.vmware.vcloud.vdc+xml`): its name and allocation model.
#[derive(Debug, Deserialize)]
pub(super) struct VdcXml {
    #[serde(rename = "@name")]
    pub name: Option<String>,
    #[serde(rename = "AllocationModel")]
    pub allocation_model: Option<TextXml>,
}

/// `Metadata` (`application/vnd.vmware.vcloud.metadata+xml`).
#[derive(Debug, Deserialize)]
pub(super) struct MetadataXml {
    #[serde(rename = "MetadataEntry", default)]
    pub entries: Vec<MetadataEntryXml>,
}

/// One entry: `Key` and, from API 5.1, `TypedValue/Value`; API 1.5 put `Value` directly here.
#[derive(Debug, Deserialize)]
pub(super) struct MetadataEntryXml {
    #[serde(rename = "Key")]
    pub key: Option<TextXml>,
    #[serde(rename = "TypedValue")]
    pub typed_value: Option<TypedValueXml>,
    #[serde(rename = "Value")]
    pub value: Option<TextXml>,
}

#[derive(Debug, Deserialize)]
pub(super) struct TypedValueXml {
    #[serde(rename = "Value")]
    pub value: Option<TextXml>,
}
