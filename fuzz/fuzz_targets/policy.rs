//! `vcd_blockd::fuzzing::policy` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vcd_blockd::fuzzing::policy(data));
