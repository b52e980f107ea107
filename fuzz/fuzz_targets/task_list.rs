//! `vcd_blockd::fuzzing::task_list` on every input.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vcd_blockd::fuzzing::task_list(data));
