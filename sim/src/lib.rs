//! vcd-sim: a stateful stand-in for VMware Cloud Director's blocking-task API.
