//! Approvers: who may decide held tasks through the admin API. Each approver is a name, the
//! SHA-256 of their bearer token and the orgs (globs) whose tasks they may see and decide. They
//! come from `[http] approvers_file` (`file`), re-read when it changes (`watch`), plus the
//! approver `admin` of `admin_token_file`, who has every org and names no person.
//!
//! Separation of duties: a person may not decide a task their own vCD user requested. A rule
//! may name who decides its tasks (names and `group:` entries, [`Gate`]), and ask for more than
//! one approval: nobody counts twice.

mod file;
mod token;
mod watch;

pub use file::{ApproversError, ApproversErrors};
pub(crate) use file::{Listed, load, parse_bytes, read};
pub(crate) use token::{TokenHash, new_token};
pub(crate) use watch::Watch;

use std::sync::{Arc, RwLock};

use secrecy::{ExposeSecret, SecretString};
use subtle::{Choice, ConditionallySelectable};

use crate::glob::Glob;
use crate::policy::{ApprovalRule, Policy, Who, Written};
use crate::task::{Approval, HoldView};

/// Someone who may decide held tasks.
#[derive(Debug)]
pub(crate) struct Approver {
    name: String,
    /// The orgs whose tasks this approver sees and decides; `None`: every org.
    orgs: Option<Vec<Glob>>,
    /// False for the admin token, which names no person and so is exempt from the
    /// self-approval check.
    person: bool,
    /// The groups of the approvers file this approver is in (`group:` entries of a rule).
    groups: Vec<String>,
    /// Where mail for approvers (`to = "approvers"`) reaches them; `None`: they get none.
    email: Option<lettre::Address>,
    /// Their Slack user ID (`U024BE7LH`): a click in Slack by that user is theirs.
    slack_user: Option<String>,
}

/// The name the admin token goes by; reserved in the approvers file.
pub(crate) const ADMIN: &str = "admin";

/// Why an approver may not decide a held task (the admin API answers 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Forbidden {
    /// The task's org matches none of the approver's globs. The org is left out: the approver
    /// may not see the task, so the answer tells nothing about it.
    #[error("{approver} may not decide this task: it is outside their orgs ({orgs})")]
    OutsideOrgs { approver: String, orgs: String },
    /// The approver's name is the vCD user who started the task.
    #[error(
        "{approver} requested this task in vCD and may not decide it themselves: another \
         approver must (separation of duties)"
    )]
    OwnRequest { approver: String },
    /// The rule names who decides its tasks, and this approver is not among them (yet: an
    /// escalation may come).
    #[error("{approver} is not among the approvers of rule \"{rule}\" ({who})")]
    NotAmongApprovers {
        approver: String,
        rule: String,
        who: String,
    },
    /// The approver's approval is recorded already; another approver must add theirs (the
    /// admin API answers 409).
    #[error(
        "{approver} has already approved this task ({progress}); another approver must approve it"
    )]
    AlreadyApproved { approver: String, progress: String },
}

impl Forbidden {
    /// The page's short reason for a greyed-out task.
    pub(crate) fn short(&self) -> &'static str {
        match self {
            Forbidden::OutsideOrgs { .. } => "outside your orgs",
            Forbidden::OwnRequest { .. } => "your own request",
            Forbidden::NotAmongApprovers { .. } => "not among the rule's approvers",
            Forbidden::AlreadyApproved { .. } => "already approved by you",
        }
    }
}

/// What a held task asks of whoever decides it, at one moment: its org and requester, the
/// rule's approvers (and `escalate_to` once escalated), and the approvals recorded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gate<'a> {
    pub org: &'a str,
    /// The vCD user who requested the task.
    pub user: &'a str,
    pub allow_self_approval: bool,
    /// The rule's name, for the reason of a refusal.
    pub rule: &'a str,
    /// The rule's `approvers`; `None`: any approver in scope.
    pub approvers: Option<&'a [(Who, Written)]>,
    /// The rule's `escalate_to` once `escalate_after` has passed; empty before.
    pub escalated_to: &'a [(Who, Written)],
    /// The approvals recorded so far.
    pub approvals: &'a [Approval],
    /// How many approvals the task needs.
    pub needed: u32,
}

impl<'a> Gate<'a> {
    /// What the task `view` asks at a moment: its rule's `approval`, with `escalate_to`
    /// counted when `escalated` (`escalate_after` has passed).
    pub(crate) fn of(
        view: &'a HoldView,
        approval: &'a ApprovalRule,
        escalated: bool,
        allow_self_approval: bool,
    ) -> Gate<'a> {
        Gate {
            org: &view.org,
            user: &view.user,
            allow_self_approval,
            rule: &view.rule,
            approvers: approval.approvers.as_deref(),
            escalated_to: if escalated {
                &approval.escalate_to
            } else {
                &[]
            },
            approvals: &view.approvals,
            needed: view.needed,
        }
    }
}

impl Approver {
    /// A named person; `orgs` of `None` means every org. The name must pass [`check_name`].
    pub(crate) fn person(name: String, orgs: Option<Vec<Glob>>) -> Approver {
        Approver {
            name,
            orgs,
            person: true,
            groups: Vec::new(),
            email: None,
            slack_user: None,
        }
    }

    /// The same approver in `groups` (each passed by [`check_group`]).
    pub(crate) fn in_groups(self, groups: Vec<String>) -> Approver {
        Approver { groups, ..self }
    }

    /// The same approver, mailed at `email`.
    pub(crate) fn with_email(self, email: Option<lettre::Address>) -> Approver {
        Approver { email, ..self }
    }

    /// Where mail for approvers reaches this approver, if they gave an address.
    pub(crate) fn email(&self) -> Option<&lettre::Address> {
        self.email.as_ref()
    }

    /// The same approver, known in Slack as `user` (passed by [`check_slack_user`]).
    pub(crate) fn in_slack(self, user: Option<String>) -> Approver {
        Approver {
            slack_user: user,
            ..self
        }
    }

    /// Their Slack user ID, if the approvers file gives one.
    pub(crate) fn slack_user(&self) -> Option<&str> {
        self.slack_user.as_deref()
    }

    /// Whether a rule's entry (`"carol"`, `"group:prod-leads"`) names this approver; names
    /// and groups compare without regard to case.
    pub(crate) fn answers_to(&self, who: &Who) -> bool {
        match who {
            Who::Person(name) => self.person && name.to_lowercase() == self.name.to_lowercase(),
            Who::Group(group) => self
                .groups
                .iter()
                .any(|mine| mine.to_lowercase() == group.to_lowercase()),
        }
    }

    /// Whether this is the admin token, which decides outright (break-glass).
    pub(crate) fn is_admin(&self) -> bool {
        !self.person
    }

    /// The holder of `admin_token_file`.
    pub(crate) fn admin() -> Approver {
        Approver {
            name: ADMIN.to_owned(),
            orgs: None,
            person: false,
            groups: Vec::new(),
            email: None,
            slack_user: None,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// How the vCD message names who decided: the approver's name, or "an administrator" for
    /// the admin token, which names no person.
    pub(crate) fn signature(&self) -> &str {
        if self.person {
            &self.name
        } else {
            "an administrator"
        }
    }

    /// The org globs as written; `["*"]` when the approver has every org.
    pub(crate) fn org_globs(&self) -> Vec<&str> {
        match &self.orgs {
            None => vec!["*"],
            Some(globs) => globs.iter().map(Glob::as_str).collect(),
        }
    }

    /// Whether tasks of `org` are this approver's to see (and, but for their own, to decide).
    pub(crate) fn may_see(&self, org: &str) -> bool {
        self.orgs
            .as_ref()
            .is_none_or(|globs| globs.iter().any(|glob| glob.matches(org)))
    }

    /// The refusal for a task outside this approver's orgs.
    pub(crate) fn outside_orgs(&self) -> Forbidden {
        Forbidden::OutsideOrgs {
            approver: self.name.clone(),
            orgs: self.org_globs().join(", "),
        }
    }

    /// Whether this approver may approve or reject the task `gate` describes: in its org
    /// scope, not its requester (unless self-approval is allowed), among the rule's approvers
    /// or, once escalated, its `escalate_to` when the rule names them, and not among those who
    /// approved already. The admin token may always decide. Names compare case-insensitively.
    pub(crate) fn may_decide(&self, gate: &Gate<'_>) -> Result<(), Forbidden> {
        if !self.may_see(gate.org) {
            return Err(self.outside_orgs());
        }
        if !self.person {
            return Ok(());
        }
        if !gate.allow_self_approval && self.name.to_lowercase() == gate.user.to_lowercase() {
            return Err(Forbidden::OwnRequest {
                approver: self.name.clone(),
            });
        }
        if let Some(approvers) = gate.approvers {
            let named = approvers
                .iter()
                .chain(gate.escalated_to)
                .any(|(who, _)| self.answers_to(who));
            if !named {
                let who: Vec<String> = approvers.iter().map(|(who, _)| who.to_string()).collect();
                return Err(Forbidden::NotAmongApprovers {
                    approver: self.name.clone(),
                    rule: gate.rule.to_owned(),
                    who: who.join(", "),
                });
            }
        }
        let mine = self.name.to_lowercase();
        if gate
            .approvals
            .iter()
            .any(|approval| approval.approver.to_lowercase() == mine)
        {
            let names: Vec<&str> = gate.approvals.iter().map(|a| &*a.approver).collect();
            return Err(Forbidden::AlreadyApproved {
                approver: self.name.clone(),
                progress: format!(
                    "{} of {}: {}",
                    gate.approvals.len(),
                    gate.needed,
                    names.join(", ")
                ),
            });
        }
        Ok(())
    }
}

/// Checks an approver's name: it is what audit events and vCD messages show, and what is
/// compared with the vCD user name of a task.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("an approver's name must not be empty".to_owned());
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "approver name {name:?} contains a control character"
        ));
    }
    if name.trim() != name {
        return Err(format!(
            "approver name {name:?} starts or ends with white space"
        ));
    }
    if name.eq_ignore_ascii_case(ADMIN) {
        return Err(format!(
            "the name {name:?} belongs to the holder of admin_token_file; choose another"
        ));
    }
    Ok(())
}

/// The (lower-case) names of the listed approvers a rule's entry stands for: the one named,
/// or the members of the group.
pub(crate) fn members(listed: &[Listed], who: &Who) -> Vec<String> {
    names_of(listed.iter().map(|entry| &entry.approver), who)
}

/// The (lower-case) names of those of `approvers` that `who` stands for.
fn names_of<'a>(approvers: impl Iterator<Item = &'a Approver>, who: &Who) -> Vec<String> {
    approvers
        .filter(|approver| approver.answers_to(who))
        .map(|approver| approver.name().to_lowercase())
        .collect()
}

/// Reads an approver's `email`: a mail address such as `carol@example.com` (spaces around it
/// are dropped), or the reason it is not one.
pub(crate) fn check_email(text: &str) -> Result<lettre::Address, String> {
    text.trim().parse::<lettre::Address>().map_err(|error| {
        format!("email {text:?} is not a mail address ({error}); e.g. \"carol@example.com\"")
    })
}

/// Checks a Slack user ID as Slack shows it (a member's profile, "Copy member ID"): `U` or
/// `W` and upper-case letters and digits, such as `U024BE7LH`.
pub(crate) fn check_slack_user(user: &str) -> Result<(), String> {
    let mut chars = user.chars();
    let first_ok = matches!(chars.next(), Some('U' | 'W'));
    let rest_ok = user.len() >= 3
        && user.len() <= 32
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(format!(
            "slack_user {user:?} is not a Slack user ID such as \"U024BE7LH\" (in Slack: the \
             member's profile, \"Copy member ID\")"
        ))
    }
}

/// Checks a group's name as the approvers file gives it (a rule names it as `group:<name>`).
pub(crate) fn check_group(group: &str) -> Result<(), String> {
    if group.trim().is_empty() || group.trim() != group || group.chars().any(char::is_control) {
        return Err(format!(
            "group {group:?} is not a group name (no empty names, no white space around them)"
        ));
    }
    Ok(())
}

/// Compiles an approver's org globs; the error names the first bad one.
pub(crate) fn compile_orgs<'a>(
    globs: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<Glob>, String> {
    globs.into_iter().map(Glob::compile).collect()
}

/// One approver the admin API or Slack accepts.
#[derive(Debug, Clone)]
struct Entry {
    /// `None`: an approver who decides from Slack only.
    token: Option<TokenHash>,
    approver: Arc<Approver>,
}

/// Every approver the admin API knows: the admin token's and the
/// approvers file's, each swapped whole when its file changes (`Watch`).
#[derive(Debug)]
pub(crate) struct Approvers {
    /// The admin token's approver; swapped when the admin token file changes.
    admin: RwLock<Option<Entry>>,
    listed: RwLock<Arc<Vec<Entry>>>,
}

impl Approvers {
    pub(crate) fn new(admin_token: Option<&SecretString>, listed: Vec<Listed>) -> Approvers {
        let admin = admin_token.map(|token| Entry {
            token: Some(TokenHash::of(token.expose_secret().as_bytes())),
            approver: Arc::new(Approver::admin()),
        });
        let approvers = Approvers {
            admin: RwLock::new(admin),
            listed: RwLock::new(Arc::new(Vec::new())),
        };
        approvers.replace(listed);
        approvers
    }

    /// Swaps in the approvers of a newly read file.
    pub(crate) fn replace(&self, listed: Vec<Listed>) {
        let entries: Vec<Entry> = listed
            .into_iter()
            .map(|listed| Entry {
                token: listed.token,
                approver: Arc::new(listed.approver),
            })
            .collect();
        if let Some(admin) = &self.admin()
            && let Some(admin_token) = &admin.token
            && let Some(twin) = entries.iter().find(|e| {
                e.token
                    .as_ref()
                    .is_some_and(|token| bool::from(token.ct_eq(admin_token)))
            })
        {
            tracing::warn!(
                approver = twin.approver.name(),
                "this approver's token is the admin token; it acts as admin"
            );
        }
        *self
            .listed
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(entries);
    }

    /// Swaps in the admin token of a newly read `admin_token_file`; `None` revokes it.
    pub(crate) fn replace_admin(&self, token: Option<TokenHash>) {
        let admin = token.map(|token| Entry {
            token: Some(token),
            approver: Arc::new(Approver::admin()),
        });
        *self
            .admin
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = admin;
    }

    fn admin(&self) -> Option<Entry> {
        self.admin
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn listed(&self) -> Arc<Vec<Entry>> {
        self.listed
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The named approvers (the approvers file's, not the admin token) who may decide the task
    /// `gate` describes, in the file's order: each as [`Approver::may_decide`] says, the one
    /// check the admin API and the page make.
    pub(crate) fn who_may_decide(&self, gate: &Gate<'_>) -> Vec<Arc<Approver>> {
        self.listed()
            .iter()
            .filter(|entry| entry.approver.may_decide(gate).is_ok())
            .map(|entry| entry.approver.clone())
            .collect()
    }

    /// Logs a warning for each approver and group the holds of `policy` name (`approvers`,
    /// `escalate_to`) that the approvers file lacks, and for each `approvals` its people cannot
    /// reach, naming the rule; `check -c` reports the same as errors. Called when the policy
    /// or the approvers file is (re)loaded: such a rule's tasks wait for people who cannot
    /// decide them (the admin token still can).
    pub(crate) fn warn_unknown_in(&self, policy: &Policy) {
        let listed = self.listed();
        let members = |who: &Who| names_of(listed.iter().map(|entry| &*entry.approver), who);
        for (rule, problem) in policy.approval_problems(members) {
            tracing::warn!(rule = %rule, "{problem}");
        }
    }

    /// The approver a bearer token belongs to.
    #[cfg(test)]
    pub(crate) fn find(&self, token: &str) -> Option<Arc<Approver>> {
        self.find_hash(&TokenHash::of(token.as_bytes()))
    }

    /// The approver whose token has hash `presented` (the HTTP API hashes the bearer token; a
    /// call another instance forwarded carries the hash, never the token). The hash is
    /// compared with every known hash, in constant time and without stopping at a match, so
    /// the time taken tells nothing about the token or about who matched.
    pub(crate) fn find_hash(&self, presented: &TokenHash) -> Option<Arc<Approver>> {
        let (admin, listed) = (self.admin(), self.listed());
        let candidates: Vec<&Entry> = admin.iter().chain(listed.iter()).collect();
        // Position + 1 of the first match; 0 while there is none.
        let mut found = 0u64;
        let mut matched = Choice::from(0);
        for (position, entry) in (1u64..).zip(&candidates) {
            let equal = match &entry.token {
                Some(token) => token.ct_eq(presented),
                None => Choice::from(0),
            };
            found.conditional_assign(&position, equal & !matched);
            matched |= equal;
        }
        let index = usize::try_from(found).ok()?.checked_sub(1)?;
        candidates.get(index).map(|entry| entry.approver.clone())
    }

    /// The approver whose `slack_user` is `user` (Slack user IDs are not secrets: Slack's
    /// signature or its Socket Mode connection vouches for who clicked).
    pub(crate) fn find_slack_user(&self, user: &str) -> Option<Arc<Approver>> {
        self.listed()
            .iter()
            .find(|entry| entry.approver.slack_user() == Some(user))
            .map(|entry| entry.approver.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(name: &str, token: &str, orgs: Option<&[&str]>) -> Listed {
        Listed {
            approver: Approver::person(
                name.to_owned(),
                orgs.map(|globs| compile_orgs(globs.iter().copied()).unwrap()),
            ),
            token: Some(TokenHash::of(token.as_bytes())),
        }
    }

    #[test]
    fn tokens_find_their_approver_and_nobody_else() {
        let admin = SecretString::from("admin-token");
        let approvers = Approvers::new(
            Some(&admin),
            vec![
                listed("carol", "carol-token", Some(&["prod-*"])),
                listed("dave", "dave-token", None),
            ],
        );
        let name = |token: &str| approvers.find(token).map(|a| a.name().to_owned());
        assert_eq!(name("admin-token").as_deref(), Some("admin"));
        assert_eq!(name("carol-token").as_deref(), Some("carol"));
        assert_eq!(name("dave-token").as_deref(), Some("dave"));
        for wrong in ["", "carol-token ", "Carol-token", "carol", "admin-token\n"] {
            assert_eq!(name(wrong), None, "{wrong:?}");
        }
        approvers.replace(vec![listed("erin", "erin-token", None)]);
        assert_eq!(name("carol-token"), None, "replaced whole");
        assert_eq!(name("erin-token").as_deref(), Some("erin"));
        assert_eq!(name("admin-token").as_deref(), Some("admin"), "admin stays");
        assert_eq!(
            Approvers::new(None, Vec::new())
                .find("admin-token")
                .map(|_| ()),
            None
        );
    }

    #[test]
    fn the_first_of_two_equal_tokens_wins() {
        let admin = SecretString::from("same");
        let approvers = Approvers::new(Some(&admin), vec![listed("carol", "same", None)]);
        assert_eq!(approvers.find("same").unwrap().name(), "admin");
    }

    #[test]
    fn scope_and_separation_of_duties() {
        let carol = Approver::person(
            "Carol".into(),
            Some(compile_orgs(["prod-*", "shared"]).unwrap()),
        );
        let admin = Approver::admin();
        let cases = [
            (&carol, "prod-eu", "dave", false, Ok(())),
            (&carol, "SHARED", "dave", false, Ok(())),
            (
                &carol,
                "dev",
                "dave",
                false,
                Err("outside their orgs (prod-*, shared)"),
            ),
            (
                &carol,
                "prod-eu",
                "carol",
                false,
                Err("requested this task"),
            ),
            (
                &carol,
                "prod-eu",
                "CAROL",
                false,
                Err("requested this task"),
            ),
            (&carol, "prod-eu", "carol", true, Ok(())),
            (&carol, "dev", "carol", true, Err("outside their orgs")),
            (&admin, "dev", "admin", false, Ok(())),
        ];
        for (approver, org, user, allow_self, expected) in cases {
            let gate = Gate {
                org,
                user,
                allow_self_approval: allow_self,
                ..gate(None, &[], &[])
            };
            let result = approver.may_decide(&gate).map_err(|e| e.to_string());
            match (&result, expected) {
                (Ok(()), Ok(())) => {}
                (Err(message), Err(part)) if message.contains(part) => {}
                _ => panic!("{} on {org}/{user}: {result:?}", approver.name()),
            }
        }
        assert!(carol.may_see("prod-us") && !carol.may_see("dev"));
        assert_eq!(carol.org_globs(), ["prod-*", "shared"]);
        assert_eq!(admin.org_globs(), ["*"]);
        assert_eq!(carol.signature(), "Carol");
        assert_eq!(admin.signature(), "an administrator");
    }

    fn gate<'a>(
        approvers: Option<&'a [(Who, Written)]>,
        escalated_to: &'a [(Who, Written)],
        approvals: &'a [Approval],
    ) -> Gate<'a> {
        Gate {
            org: "prod-eu",
            user: "erin",
            allow_self_approval: false,
            rule: "deletes need two",
            approvers,
            escalated_to,
            approvals,
            needed: 2,
        }
    }

    fn who(entries: &[&str]) -> Vec<(Who, Written)> {
        let written = Written {
            file: "p.toml".into(),
            line: 1,
            col: 1,
        };
        entries
            .iter()
            .map(|entry| {
                let who = match entry.strip_prefix("group:") {
                    Some(group) => Who::Group(group.into()),
                    None => Who::Person((*entry).into()),
                };
                (who, written.clone())
            })
            .collect()
    }

    #[test]
    fn a_rules_approvers_groups_escalation_and_earlier_approvals_decide_who_may() {
        let carol = Approver::person("carol".into(), None).in_groups(vec!["Prod-Leads".into()]);
        let dave = Approver::person("Dave".into(), None);
        let oscar = Approver::person("oscar".into(), None).in_groups(vec!["on-call".into()]);
        let admin = Approver::admin();
        let approvers = who(&["group:prod-leads", "dave"]);
        let on_call = who(&["group:on-call"]);
        let by_carol = [Approval {
            approver: "Carol".into(),
            at: chrono::DateTime::UNIX_EPOCH,
        }];
        let short = |approver: &Approver, gate: &Gate<'_>| {
            approver.may_decide(gate).map_err(|refusal| refusal.short())
        };
        // Any approver in scope when the rule names nobody.
        assert_eq!(short(&oscar, &gate(None, &[], &[])), Ok(()));
        // A group entry and a name, compared without case.
        let named = gate(Some(&approvers), &[], &[]);
        assert_eq!(short(&carol, &named), Ok(()));
        assert_eq!(short(&dave, &named), Ok(()));
        assert_eq!(short(&oscar, &named), Err("not among the rule's approvers"));
        assert_eq!(
            oscar.may_decide(&named).unwrap_err().to_string(),
            "oscar is not among the approvers of rule \"deletes need two\" (group:prod-leads, dave)"
        );
        // After escalate_after, escalate_to may decide too.
        assert_eq!(
            short(&oscar, &gate(Some(&approvers), &on_call, &[])),
            Ok(())
        );
        // Nobody approves twice; the admin token decides outright.
        let once = gate(Some(&approvers), &[], &by_carol);
        assert_eq!(short(&carol, &once), Err("already approved by you"));
        assert_eq!(
            carol.may_decide(&once).unwrap_err().to_string(),
            "carol has already approved this task (1 of 2: Carol); another approver must approve it"
        );
        assert_eq!(short(&dave, &once), Ok(()));
        assert_eq!(short(&admin, &once), Ok(()));
        assert!(admin.is_admin() && !carol.is_admin());
        // The requester is refused before the rule's list is looked at.
        let own = Gate {
            user: "carol",
            ..named
        };
        assert_eq!(short(&carol, &own), Err("your own request"));
        // The admin token is no group member, and no name matches it.
        assert!(!admin.answers_to(&Who::Person("admin".into())));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_name("carol").is_ok());
        assert!(check_name("Carol Jones").is_ok());
        for bad in [
            "",
            "  ",
            "carol\n",
            "ca\u{7}rol",
            " carol",
            "admin",
            "Admin",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
