//! Reading what a task is about: the owner facts a policy needs, through the same vCD client
//! (session, limits, retries) as the task itself, and the quota counts its decision needs.
//! Only the groups asked for are read, one request per owner document, and only the quotas
//! of rules that matched in every other way are counted, one query each; whatever cannot be
//! had is unknown with the reason, never an error: a rule that needs it then does not match
//! (unless it says `on_unknown = "match"`).

use chrono::{DateTime, TimeDelta, Utc};

use crate::facts::{
    CountSource, Needs, OwnerFacts, OwnerReader, QuotaCount, TaskFacts, Unknown, owner_has,
};
use crate::policy::{self, Policy, Quota};
use crate::task::BlockingTask;
use crate::vcd::{TaskCount, VcdClient};

/// The facts `policy` decides `task` with at `now`, exactly as the daemon gathers them: the
/// task's own, plus the owner facts the policy needs for it (read from vCD; none for a policy
/// without owner facts), plus the quota counts the decision needs (counted in vCD; none for a
/// policy without quotas). `explain --task-id` uses this too, so that it explains what the
/// daemon does.
pub(crate) async fn task_facts(
    vcd: &VcdClient,
    policy: &Policy,
    task: &BlockingTask,
    now: DateTime<Utc>,
) -> TaskFacts {
    let mut facts = TaskFacts::from(task);
    let needs = policy.owner_needs(&facts);
    facts.owner = read_owner_facts(vcd, task, needs).await;
    count_quotas(vcd, policy, &mut facts, now).await;
    facts
}

/// Reads the groups of owner facts `needs` names (see [`crate::Policy::owner_needs`]), each
/// through its descriptor's `read`, for an owner of a type that has them; a document two
/// groups read is fetched once. Groups not needed stay unknown ("not given"); a policy
/// without owner facts needs none and this sends nothing.
async fn read_owner_facts(vcd: &VcdClient, task: &BlockingTask, needs: Needs) -> OwnerFacts {
    let mut facts = OwnerFacts::default();
    if needs.is_empty() {
        return facts;
    }
    let reader = OwnerReader::new(vcd, task);
    for group in needs.groups() {
        let records = if owner_has(&task.owner.kind, group) {
            (group.spec().read)(&reader).await
        } else {
            Err(Unknown::OwnerType(task.owner.kind.clone()))
        };
        facts.set_records(group, records);
    }
    facts
}

/// Counts, rule by rule in the order the decision tries them, the quota of each rule that
/// matched in every other way ([`policy::count_needed`]), until the decision needs no more:
/// one query per such rule, stopping at the first rule that then decides. A failed count is
/// an unknown fact.
async fn count_quotas(vcd: &VcdClient, policy: &Policy, facts: &mut TaskFacts, now: DateTime<Utc>) {
    while let Some(rule) = policy::count_needed(policy, facts, now) {
        let count = match policy.quota(rule) {
            Some(quota) => count(vcd, quota, facts, now).await,
            None => Err(Unknown::NotGiven),
        };
        facts.quota.set(rule, count);
    }
}

/// One quota's count for the task of `facts`, counted back `per` from `now`.
async fn count(
    vcd: &VcdClient,
    quota: &Quota,
    facts: &TaskFacts,
    now: DateTime<Utc>,
) -> Result<QuotaCount, Unknown> {
    let query = task_count(quota, facts, now);
    let since = query.since;
    match vcd.count_tasks(&query).await {
        Ok(count) => Ok(QuotaCount {
            count,
            source: CountSource::Counted { since },
        }),
        Err(error) => {
            tracing::warn!(task_id = %facts.task_id, %error, "counting a quota in vCD failed");
            Err(Unknown::CountFailed(error.to_string()))
        }
    }
}

/// What vCD counts for `quota`: the rule's operations, started since `now - per`, by the
/// task's org, its user or anyone.
pub(crate) fn task_count(quota: &Quota, facts: &TaskFacts, now: DateTime<Utc>) -> TaskCount {
    let per = TimeDelta::from_std(quota.per).unwrap_or(TimeDelta::MAX);
    let since = now
        .checked_sub_signed(per)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let (org, user) = quota.scope(facts);
    TaskCount {
        operations: quota.operations.clone(),
        since,
        org: org.map(str::to_owned),
        user: user.map(str::to_owned),
    }
}
