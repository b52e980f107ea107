//! Everything the simulated cloud remembers: blocking tasks (in creation order), the stable
//! ids of organizations and users, sessions, recorded calls and the faults in force. It lives
//! behind one mutex that is never held across an `.await`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::blocking::BlockingSettings;
use crate::history::PastTask;
use crate::model::{Call, Decision, Faults, Named, SimVdc, TaskStatus};
use crate::owner::Owner;
use crate::sessions::Sessions;
use crate::task::{Task, ValidTask};

#[derive(Debug, Default)]
pub(crate) struct CloudState {
    tasks: HashMap<Uuid, Task>,
    /// Task ids in creation order, so listings are stable.
    order: Vec<Uuid>,
    /// GETs served per task, for `Faults::not_found_first_reads`.
    reads: HashMap<Uuid, u32>,
    /// One id per organization name.
    orgs: HashMap<String, Uuid>,
    /// One id per (organization, user name).
    users: HashMap<(String, String), Uuid>,
    pub sessions: Sessions,
    /// The objects tasks are about, by owner id, with the vApp of an owner VM.
    owners: HashMap<Uuid, Owner>,
    /// One id per VDC name.
    vdc_ids: HashMap<String, Uuid>,
    /// The VDCs by id, as the latest task in each described it.
    vdcs: HashMap<Uuid, SimVdc>,
    /// Past tasks loaded into the task history, in the order loaded.
    history: Vec<PastTask>,
    calls: Vec<Call>,
    /// The call log keeps the first this many calls; `None` keeps all.
    call_log_limit: Option<usize>,
    pub faults: Faults,
    /// Which operations block, the timeout and its action (`GET|PUT …/settings/blockingTask`).
    pub blocking: BlockingSettings,
}

impl CloudState {
    pub(crate) fn new(call_log_limit: Option<usize>, blocking: BlockingSettings) -> CloudState {
        CloudState {
            call_log_limit,
            blocking,
            ..CloudState::default()
        }
    }

    /// Registers a new active task and returns a copy of it.
    pub(crate) fn create_task(
        &mut self,
        new: ValidTask,
        now: DateTime<Utc>,
        timeout: Duration,
        timeout_action: Decision,
    ) -> Task {
        let org_id = *self
            .orgs
            .entry(new.org.clone())
            .or_insert_with(Uuid::new_v4);
        let user_key = (new.org.clone(), new.user.clone());
        let user_id = *self.users.entry(user_key).or_insert_with(Uuid::new_v4);
        let task = Task {
            id: Uuid::new_v4(),
            operation: new.operation,
            description: new.description,
            org: Named {
                name: new.org,
                id: org_id,
            },
            user: Named {
                name: new.user,
                id: user_id,
            },
            owner_type: new.owner_type,
            owner: Named {
                name: new.owner_name,
                id: Uuid::new_v4(),
            },
            parent_task: Uuid::new_v4(),
            status: TaskStatus::Active,
            created: now,
            timeout_date: now + timeout,
            timeout_action,
            actions: Vec::new(),
        };
        if let Some(details) = new.owner_details {
            let vdc_id = *self
                .vdc_ids
                .entry(details.vdc.name.clone())
                .or_insert_with(Uuid::new_v4);
            self.vdcs.insert(vdc_id, details.vdc.clone());
            let owner = Owner::new(task.owner_type, task.owner.clone(), details, vdc_id);
            if let Some(vapp) = owner.vapp_of() {
                self.owners.insert(vapp.named.id, vapp);
            }
            self.owners.insert(task.owner.id, owner);
        }
        self.order.push(task.id);
        self.tasks.insert(task.id, task.clone());
        task
    }

    /// The object a task is about, by its id, unless it is gone.
    pub(crate) fn owner(&self, id: Uuid) -> Option<&Owner> {
        self.owners.get(&id)
    }

    /// The VDC with id `id`.
    pub(crate) fn vdc(&self, id: Uuid) -> Option<&SimVdc> {
        self.vdcs.get(&id)
    }

    pub(crate) fn task(&self, id: Uuid) -> Option<&Task> {
        self.tasks.get(&id)
    }

    pub(crate) fn task_mut(&mut self, id: Uuid) -> Option<&mut Task> {
        self.tasks.get_mut(&id)
    }

    /// A task as an API GET sees it: hidden for its first `not_found_first_reads` reads.
    pub(crate) fn read_task(&mut self, id: Uuid) -> Option<Task> {
        let task = self.tasks.get(&id)?;
        let reads = self.reads.entry(id).or_default();
        *reads += 1;
        (*reads > self.faults.not_found_first_reads).then(|| task.clone())
    }

    /// True when an injected `refuse_update_progress` fault refuses this keepalive (and uses
    /// one refusal up).
    pub(crate) fn refuse_update_progress(&mut self) -> bool {
        let left = &mut self.faults.refuse_update_progress;
        if *left == 0 {
            return false;
        }
        *left -= 1;
        true
    }

    /// True when an injected `refuse_actions` fault refuses this resume, abort or fail (and
    /// uses one refusal up).
    pub(crate) fn refuse_action(&mut self) -> bool {
        let left = &mut self.faults.refuse_actions;
        if *left == 0 {
            return false;
        }
        *left -= 1;
        true
    }

    /// All tasks in creation order.
    pub(crate) fn tasks(&self) -> impl Iterator<Item = &Task> {
        self.order.iter().filter_map(|id| self.tasks.get(id))
    }

    /// Adds past tasks to the task history.
    pub(crate) fn load_history(&mut self, tasks: Vec<PastTask>) {
        self.history.extend(tasks);
    }

    /// The task history as `adminTask` lists it: loaded past tasks, then every task the sim
    /// created, in creation order.
    pub(crate) fn history(&self) -> impl Iterator<Item = PastTask> + '_ {
        let created = self.tasks().map(PastTask::of);
        self.history.iter().cloned().chain(created)
    }

    /// Applies the timeout action to every active task whose timeout passed; returns copies
    /// of the tasks it decided.
    pub(crate) fn time_out_due(&mut self, now: DateTime<Utc>) -> Vec<Task> {
        let mut decided = Vec::new();
        for id in &self.order {
            if let Some(task) = self.tasks.get_mut(id)
                && task.time_out_if_due(now)
            {
                decided.push(task.clone());
            }
        }
        decided
    }

    /// Records the start of a request; returns its index for `finish_call`, or `None` once
    /// the call log is full.
    pub(crate) fn begin_call(&mut self, call: Call) -> Option<usize> {
        if self
            .call_log_limit
            .is_some_and(|limit| self.calls.len() >= limit)
        {
            return None;
        }
        self.calls.push(call);
        Some(self.calls.len() - 1)
    }

    pub(crate) fn finish_call(&mut self, index: Option<usize>, status: u16) {
        if let Some(call) = index.and_then(|index| self.calls.get_mut(index)) {
            call.status = status;
        }
    }

    pub(crate) fn calls(&self) -> &[Call] {
        &self.calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NewTask;

    fn valid(org: &str, user: &str) -> ValidTask {
        ValidTask::parse(NewTask {
            org: org.into(),
            user: user.into(),
            ..NewTask::default()
        })
        .unwrap()
    }

    fn create(state: &mut CloudState, org: &str, user: &str) -> Task {
        state.create_task(
            valid(org, user),
            Utc::now(),
            Duration::minutes(10),
            Decision::Abort,
        )
    }

    #[test]
    fn org_and_user_ids_are_stable_per_name() {
        let mut state = CloudState::default();
        let a = create(&mut state, "acme", "alice");
        let b = create(&mut state, "acme", "alice");
        let c = create(&mut state, "globex", "alice");
        assert_eq!(a.org.id, b.org.id);
        assert_eq!(a.user.id, b.user.id);
        assert_ne!(a.org.id, c.org.id);
        assert_ne!(
            a.user.id, c.user.id,
            "same name in another org is another user"
        );
        assert_ne!(a.parent_task, b.parent_task);
    }

    #[test]
    fn first_reads_are_hidden_per_task() {
        let mut state = CloudState::default();
        state.faults.not_found_first_reads = 2;
        let a = create(&mut state, "acme", "alice");
        let b = create(&mut state, "acme", "alice");
        assert!(state.read_task(a.id).is_none());
        assert!(state.read_task(a.id).is_none());
        assert!(state.read_task(a.id).is_some());
        assert!(state.read_task(b.id).is_none());
    }

    #[test]
    fn keepalive_refusals_are_used_up_one_by_one() {
        let mut state = CloudState::default();
        state.faults.refuse_update_progress = 2;
        let refusals: Vec<bool> = (0..4).map(|_| state.refuse_update_progress()).collect();
        assert_eq!(refusals, [true, true, false, false]);
    }

    fn call(path: &str) -> Call {
        Call {
            method: "GET".into(),
            path: path.into(),
            status: 0,
            auth: "none".into(),
            accept: String::new(),
            content_type: String::new(),
            host: String::new(),
            body: String::new(),
        }
    }

    #[test]
    fn a_full_call_log_keeps_the_first_calls() {
        let mut state = CloudState::new(Some(2), BlockingSettings::default());
        let first = state.begin_call(call("/1"));
        let second = state.begin_call(call("/2"));
        let third = state.begin_call(call("/3"));
        assert_eq!((first, second, third), (Some(0), Some(1), None));
        state.finish_call(third, 500);
        state.finish_call(first, 200);
        let kept: Vec<(&str, u16)> = state
            .calls()
            .iter()
            .map(|c| (c.path.as_str(), c.status))
            .collect();
        assert_eq!(kept, [("/1", 200), ("/2", 0)]);
        let mut silent = CloudState::new(Some(0), BlockingSettings::default());
        assert_eq!(silent.begin_call(call("/1")), None);
        assert!(silent.calls().is_empty());
    }

    #[test]
    fn tasks_list_in_creation_order() {
        let mut state = CloudState::default();
        let ids: Vec<Uuid> = (0..5).map(|_| create(&mut state, "o", "u").id).collect();
        let listed: Vec<Uuid> = state.tasks().map(|t| t.id).collect();
        assert_eq!(ids, listed);
    }
}
