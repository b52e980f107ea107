//! Human-written durations as used in config and policy files (`"30s"`, `"1h30m"`): the
//! workspace's one parser and formatter, shared with vcd-sim.

pub(crate) use vcd_duration::{format_duration, parse_duration};
