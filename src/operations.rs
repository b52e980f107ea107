//! The operations vCD can block (the list is the `vcd-operations` crate's, shared with vcd-sim),
//! and the nearest to a misspelt one. The list is not closed (a newer cell may accept more), so
//! a name outside it is worth a warning, never a refusal.

pub(crate) use vcd_operations::{DOCUMENTED, is_documented};

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
}
