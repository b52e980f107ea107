//! The facts the daemon decides a task on. The engine and `vcd-blockd explain --task-id` both
//! take them from here, so that an explanation uses exactly the facts a decision would: facts
//! that need more reads from vCD (the owner's) are added in this one place.

use crate::facts::TaskFacts;
use crate::policy::Policy;
use crate::task::BlockingTask;
use crate::vcd::VcdClient;

/// The facts of `task` as the daemon decides it under `policy`; `vcd` is there to read what
/// the task itself does not carry, when the policy asks for it.
pub(crate) async fn task_facts(vcd: &VcdClient, policy: &Policy, task: &BlockingTask) -> TaskFacts {
    // Today every fact comes from the BlockingTask itself; neither vCD nor the policy is asked.
    let _ = (vcd, policy);
    TaskFacts::from(task)
}
