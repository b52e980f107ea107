//! `vcd_blockd::fuzzing::blocking_task` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vcd_blockd::fuzzing::blocking_task(data));
