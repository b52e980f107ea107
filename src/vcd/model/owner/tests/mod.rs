//! Unit tests for vcd/model/owner: the fixtures in `tests/fixtures/` parse to the facts a
//! reader of them would state, and documents that lie about numbers are refused.

use super::*;

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/",
            $path
        ))
    };
}

#[test]
fn a_vapp_gives_each_vm_from_its_spec_or_else_its_ovf_hardware() {
    let vms = parse_vapp(fixture!("protocol/vapp.xml")).unwrap();
    assert_eq!(
        vms,
        [
            Vm {
                name: "web-1".into(),
                cpu: Some(2),
                memory_mb: Some(4096),
                disk_gb: Some(24.0),
                storage_profile: Some("Gold".into()),
                networks: Some(vec!["frontend".into()]),
            },
            Vm {
                name: "db-1".into(),
                cpu: Some(16),
                memory_mb: Some(131072),
                disk_gb: Some(100.0),
                storage_profile: Some("Silver".into()),
                networks: Some(vec!["backend".into()]),
            },
        ]
    );
}

#[test]
fn a_vm_captured_from_a_public_test_suite_parses() {
    let vm = parse_vm(fixture!("field/09-terraform-provider-vm.xml")).unwrap();
    assert_eq!(
        vm,
        Vm {
            name: "photon-vm".into(),
            cpu: Some(1),
            memory_mb: Some(512),
            disk_gb: Some(16.0),
            // The captured document was cut before the VM's own StorageProfile.
            storage_profile: None,
            networks: Some(vec!["none".into(), "tenant-net".into()]),
        }
    );
}

#[test]
fn without_vm_spec_section_the_ovf_hardware_alone_gives_the_same_facts() {
    let captured = fixture!("field/09-terraform-provider-vm.xml");
    let start = captured.find("<VmSpecSection>").unwrap();
    let end = captured.find("</VmSpecSection>").unwrap() + "</VmSpecSection>".len();
    let start_nc = captured.find("<NetworkConnectionSection").unwrap();
    let end_nc =
        captured.find("</NetworkConnectionSection>").unwrap() + "</NetworkConnectionSection>".len();
    let older = format!(
        "{}{}{}",
        &captured[..start],
        &captured[end..start_nc],
        &captured[end_nc..]
    );
    let vm = parse_vm(&older).unwrap();
    assert_eq!(
        (vm.cpu, vm.memory_mb, vm.disk_gb),
        (Some(1), Some(512), Some(16.0))
    );
    assert_eq!(vm.networks, Some(vec!["none".into(), "tenant-net".into()]));
}

#[test]
fn a_vapp_without_children_has_no_vms_and_what_a_vm_leaves_out_stays_unknown() {
    let empty =
        r#"<VApp xmlns="http://www.vmware.com/vcloud/v1.5" name="empty"><Description/></VApp>"#;
    assert_eq!(parse_vapp(empty).unwrap(), []);
    let bare = r#"<Vm xmlns="http://www.vmware.com/vcloud/v1.5" name="bare"/>"#;
    assert_eq!(
        parse_vm(bare).unwrap(),
        Vm {
            name: "bare".into(),
            ..Vm::default()
        }
    );
}

#[test]
fn media_size_is_gib_as_a_fraction_and_metadata_reads_every_value_form() {
    let media = parse_media(fixture!("protocol/media.xml")).unwrap();
    assert_eq!(media.size_gb, Some(24.0));
    assert_eq!(media.image_type.as_deref(), Some("iso"));
    let small =
        r#"<Media xmlns="http://www.vmware.com/vcloud/v1.5" size="536870912" imageType="floppy"/>"#;
    assert_eq!(parse_media(small).unwrap().size_gb, Some(0.5));
    let metadata = parse_metadata(fixture!("protocol/metadata.xml")).unwrap();
    let entries: Vec<(&str, &str)> = metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        entries,
        [("cost-center", "4711"), ("env", "prod"), ("replicas", "3")]
    );
}

#[test]
fn documents_that_are_not_what_was_asked_for_or_lie_about_numbers_are_refused() {
    let cases = [
        (
            parse_vm(fixture!("protocol/vapp.xml")).map(drop),
            "expected a <Vm> document, got <VApp>",
        ),
        (
            parse_vapp(&fixture!("protocol/vapp.xml").replace("<NumCpus>2<", "<NumCpus>two<"))
                .map(drop),
            "invalid NumCpus",
        ),
        (
            parse_media(
                &fixture!("protocol/media.xml").replace("size=\"25769803776\"", "size=\"-1\""),
            )
            .map(drop),
            "invalid size",
        ),
        (
            parse_vapp(&fixture!("protocol/vapp.xml").replace("byte * 2^20", "byte * 2^30"))
                .map(drop),
            "invalid memory AllocationUnits",
        ),
        (
            parse_metadata("<!DOCTYPE x><Metadata/>").map(drop),
            "DOCTYPE",
        ),
    ];
    for (result, expected) in cases {
        let error = result.unwrap_err().to_string();
        assert!(error.contains(expected), "{error} lacks {expected}");
    }
}

#[test]
fn the_up_link_leads_from_an_owner_to_its_vdc_and_the_vdc_gives_its_name_and_model() {
    let vdc = "https://vcd.example.com/api/vdc/6b8d0f2a-4c3e-4a5b-9d7f-1e3a5c7b9d0f";
    assert_eq!(
        parse_up(fixture!("protocol/vapp.xml")).unwrap().as_deref(),
        Some(vdc)
    );
    assert_eq!(
        parse_up(fixture!("protocol/media.xml")).unwrap().as_deref(),
        Some(vdc)
    );
    assert_eq!(
        parse_up(fixture!("field/09-terraform-provider-vm.xml"))
            .unwrap()
            .as_deref(),
        Some("https://vcd.example.com/api/vApp/vapp-9a7e5c3b-1d2f-4a6b-8e0c-4f1a3b5d7e92")
    );
    let no_link = r#"<VApp xmlns="http://www.vmware.com/vcloud/v1.5" name="x"/>"#;
    assert_eq!(parse_up(no_link).unwrap(), None);
    assert!(parse_up(fixture!("protocol/metadata.xml")).is_err());
    assert_eq!(
        parse_vdc(fixture!("protocol/vdc.xml")).unwrap(),
        Vdc {
            name: Some("prod-eu-vdc".into()),
            allocation_model: Some("AllocationPool".into()),
        }
    );
    let bare = r#"<Vdc xmlns="http://www.vmware.com/vcloud/v1.5" name=""/>"#;
    assert_eq!(parse_vdc(bare).unwrap(), Vdc::default());
    assert!(parse_vdc(fixture!("protocol/media.xml")).is_err());
}
