//! The names of the operations vCD can block, as vCD spells them (protocol notes §9: the union
//! of VMware's .NET and PHP SDKs and vRealize Orchestrator's enum). The list is not closed (a
//! newer cell may accept more), so a name outside it is worth a warning, never a refusal.

/// Every documented operation that can block, grouped as the protocol notes list them.
pub(crate) const DOCUMENTED: &[&str] = &[
    // vApps
    "vdcInstantiateVapp",
    "vdcComposeVapp",
    "vdcRecomposeVapp",
    "vdcCopyVapp",
    "vdcDeleteVapp",
    "vdcUpdateVapp",
    "vdcCaptureTemplate",
    "importSingletonVapp",
    "importIntoExistingVapp",
    "importVcVmsIntoExistingVApp",
    "vappMigrateVms",
    // power
    "vappDeploy",
    "vappUndeployPowerOff",
    "vappUndeploySuspend",
    "vappPowerOff",
    "vappSuspend",
    "vappReset",
    "vappRebootGuest",
    "vappShutdownGuest",
    // VMs
    "vappUpdateVm",
    "templateUpdateVm",
    "vappUpgradeHwVersion",
    "vappAttachDisk",
    "vappDetachDisk",
    "vappCheckVmCompliance",
    "vappCreateSnapshot",
    "vappRevertToCurrentSnapshot",
    "vappRemoveAllSnapshots",
    // templates and media
    "importSingletonTemplate",
    "vdcUploadOvfContents",
    "vdcEnableDownload",
    "vdcCopyTemplate",
    "vdcDeleteTemplate",
    "vdcUpdateTemplate",
    "importMedia",
    "vdcUploadMedia",
    "vdcCopyMedia",
    "vdcDeleteMedia",
    "vdcUpdateMedia",
    // disks, VDCs, catalogs
    "vdcCreateDisk",
    "vdcDeleteDisk",
    "vdcUpdateDisk",
    "vdcCreateVdc",
    "vdcDeleteVdc",
    "vdcUpdateVdc",
    "vdcUpdateStorageProfiles",
    "catalogItemEnableDownload",
    "catalogSync",
    "catalogSyncAll",
    "catalogDelete",
    "catalogDeleteBacking",
    // provider and network
    "rclCreateProviderVdc",
    "rclDeleteProviderVdc",
    "rclMergePvdc",
    "rclEnableVxlanForProviderVdc",
    "networkCreateExternalNetwork",
    "networkCreateNetworkPool",
    "networkCreateFencePoolTypeNetworkPool",
    "networkDeleteNetworkPool",
    "networkUpdateNetworkPool",
    "networkUpdateVlanPool",
    "networkRepairNetworkPool",
    "networkMergeNetworkPools",
    "networkUpdateNetwork",
    "networkDelete",
];

/// Whether `name` is a documented operation, spelt as vCD spells it.
pub(crate) fn is_documented(name: &str) -> bool {
    DOCUMENTED.contains(&name)
}

/// The documented operation closest to `name` (case-insensitive edit distance), when it is
/// close enough to be a likely misspelling: at most a third of the name's length away.
pub(crate) fn nearest(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let (distance, best) = DOCUMENTED
        .iter()
        .map(|op| (strsim::levenshtein(&lower, &op.to_ascii_lowercase()), *op))
        .min_by_key(|(distance, _)| *distance)?;
    (distance <= name.chars().count().div_ceil(3).max(1)).then_some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_name_finds_its_operation() {
        assert_eq!(nearest("vdcInstatiateVapp"), Some("vdcInstantiateVapp"));
        assert_eq!(nearest("vdcuploadmedia"), Some("vdcUploadMedia"));
        assert_eq!(nearest("VappPowerOf"), Some("vappPowerOff"));
        assert_eq!(nearest("somethingElseEntirely"), None);
    }

    #[test]
    fn the_list_has_no_duplicates() {
        let mut names = DOCUMENTED.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DOCUMENTED.len());
        assert!(is_documented("vdcDeleteVdc"));
        assert!(!is_documented("vdcdeletevdc"));
    }
}
