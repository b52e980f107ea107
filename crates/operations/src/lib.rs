//! The names of the operations vCD can block, as vCD spells them (vcd-blockd's protocol notes
//! §9: the union of VMware's .NET and PHP SDKs and vRealize Orchestrator's enum). The list is
//! not closed (a newer cell may accept more). vcd-blockd warns about a policy naming one outside
//! it; vcd-sim blocks these until its settings are PUT.

/// Every documented operation that can block, grouped as the protocol notes list them.
pub const DOCUMENTED: &[&str] = &[
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
pub fn is_documented(name: &str) -> bool {
    DOCUMENTED.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

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
