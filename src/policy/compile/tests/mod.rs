//! Every class of policy error, with the position and wording an operator gets.

use super::*;
use crate::policy::{Ask, OnError};
use crate::task::FinalAction;

/// `p.toml:line:col: message` for each error in `text`.
fn errors_in(text: &str) -> Vec<String> {
    match Policy::from_sources(&[("p.toml".to_owned(), text.to_owned())]) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

/// Each case: a policy with exactly one mistake, and `"file:line:col: fragment"` where the
/// fragment must appear in the message.
fn check(cases: &[(&str, &str)]) {
    for (text, expected) in cases {
        let (place, fragment) = expected.split_once(": ").unwrap();
        let errors = errors_in(text);
        assert_eq!(errors.len(), 1, "{text}\n{errors:#?}");
        let error = &errors[0];
        assert!(
            error.starts_with(&format!("{place}: ")) && error.contains(fragment),
            "{text}\nexpected {expected}\n     got {error}"
        );
    }
}

const RULE: &str = "[[rule]]\nname = \"r\"\naction = \"resume\"\n";

#[test]
fn toml_syntax_errors() {
    check(&[
        ("[[rule]\nname = \"r\"\n", "p.toml:1:8: TOML syntax error"),
        (
            "[[rule]]\nname = \"r\naction = \"resume\"\n",
            "p.toml:2:10: TOML syntax error",
        ),
        (
            "[[rule]]\nname = \"a\"\nname = \"b\"\n",
            "p.toml:3:1: duplicate key `name`",
        ),
        (
            "[defaults]\naction = \"abort\"\n[defaults]\n",
            "p.toml:3:2: duplicate key `defaults`",
        ),
    ]);
}

#[test]
fn unknown_keys_name_the_key_and_the_allowed_ones() {
    check(&[
        (
            "[rules]\n",
            "p.toml:1:2: unknown key `rules` at the top level (did you mean `rule`?)",
        ),
        (
            "[rule]\nname = \"r\"\n",
            "p.toml:1:1: `rule` must be an array of tables",
        ),
        (
            "[[rule]]\nname = \"r\"\naction = \"resume\"\noeration = \"x\"\n",
            "p.toml:4:1: unknown key `oeration` in [[rule]] (did you mean `operation`?); \
             allowed keys: name, operation, org,",
        ),
        (
            "[[rule]]\nname = \"r\"\naction = \"hold\"\nhold = { max = \"1h\", fallbak = \"abort\" }\n",
            "p.toml:4:22: unknown key `fallbak` in `hold` (did you mean `fallback`?); allowed \
             keys: max, fallback, keepalive",
        ),
        (
            "[[rule]]\nname = \"r\"\naction = \"hold\"\n[rule.hold]\nmax = \"1h\"\nkeep = \"1m\"\n",
            "p.toml:6:1: unknown key `keep` in `hold`",
        ),
        (
            "[[rule]]\nname = \"r\"\naction = \"abort\"\norg = { regexp = \"x\" }\n",
            "p.toml:4:9: unknown key `regexp` in `org` (did you mean `regex`?); allowed keys: \
             regex, not",
        ),
        (
            "[defaults]\nactoin = \"abort\"\n",
            "p.toml:2:1: unknown key `actoin` in [defaults] (did you mean `action`?)",
        ),
        (
            "[[test]]\nname = \"t\"\nexpect = \"ignore\"\nexpected = \"ignore\"\n",
            "p.toml:4:1: unknown key `expected` in [[test]]",
        ),
        (
            "[[test]]\nname = \"t\"\nexpect = \"ignore\"\ntask = { tenant = \"x\" }\n",
            "p.toml:4:10: unknown key `tenant` in `task`; allowed keys: operation, org,",
        ),
    ]);
}

#[test]
fn wrong_types_name_the_key() {
    check(&[
        (
            &format!("{RULE}operation = 5\n"),
            "p.toml:4:13: `operation` is text: match it with a glob, a list of globs or \
             { regex = \"…\" }, not a number",
        ),
        (
            &format!("{RULE}operation = [\"a\", 5]\n"),
            "p.toml:4:19: `operation`: invalid type",
        ),
        (
            &format!("{RULE}dry_run = \"yes\"\n"),
            "p.toml:4:11: `dry_run`: invalid type: string",
        ),
        (
            "[[rule]]\nname = 7\n",
            "p.toml:2:8: `name`: invalid type: integer `7`",
        ),
        (
            &format!("{RULE}user = {{ not = {{ regex = 1 }} }}\n"),
            "p.toml:4:26: `user.not.regex`: invalid type: integer `1`",
        ),
        (
            &format!("{RULE}org = {{ regex = \"a\", not = \"b\" }}\n"),
            "p.toml:4:7: `org`: a match table holds exactly one of regex or not",
        ),
        (
            "[[test]]\nname = \"t\"\nexpect = \"ignore\"\ntask = { org = 5 }\n",
            "p.toml:4:16: `task.org`: invalid type: integer `5`, expected a string",
        ),
        ("rule = [1]\n", "p.toml:1:9: each [[rule]] must be a table"),
    ]);
}

#[test]
fn match_values_are_checked() {
    check(&[
        (
            &format!("{RULE}operation = []\n"),
            "p.toml:4:13: an empty list matches nothing",
        ),
        (
            &format!("{RULE}user = {{ regex = \"^intern-(\" }}\n"),
            "p.toml:4:18: invalid regex \"^intern-(\": unclosed group",
        ),
        (
            &format!("{RULE}user = {{ not = {{ not = {{ regex = \"[z-a]\" }} }} }}\n"),
            "p.toml:4:34: invalid regex \"[z-a]\"",
        ),
        (
            &format!("{RULE}operation = \"vdc{{Upload,Copy}}Media\"\n"),
            "p.toml:4:13: glob \"vdc{Upload,Copy}Media\" contains '{': globs know only * and ?",
        ),
        (
            &format!("{RULE}org = [\"a\", \"team-[ab]\"]\n"),
            "p.toml:4:13: glob \"team-[ab]\" contains '['",
        ),
    ]);
}

#[test]
fn rule_names_and_actions_are_checked() {
    check(&[
        (
            "[[rule]]\naction = \"resume\"\n",
            "p.toml:1:1: [[rule]] has no `name`",
        ),
        (
            "[[rule]]\nname = \" \"\naction = \"resume\"\n",
            "p.toml:2:8: rule name must not be empty",
        ),
        (
            "[[rule]]\nname = \"defaults\"\naction = \"resume\"\n",
            "p.toml:2:8: rule name \"defaults\" is reserved",
        ),
        (
            &format!("{RULE}\n{RULE}"),
            "p.toml:6:8: duplicate rule name \"r\": already used at p.toml:1",
        ),
        (
            "[[rule]]\nname = \"r\"\n",
            "p.toml:1:1: [[rule]] has no `action`",
        ),
        (
            "[[rule]]\nname = \"r\"\naction = \"resum\"\n",
            "p.toml:3:10: unknown action \"resum\" (did you mean \"resume\"?); valid: resume, \
             abort, fail, hold, ask, ignore",
        ),
        (
            "[[rule]]\nname = \"r\"\naction = \"Abort\"\n",
            "p.toml:3:10: unknown action \"Abort\" (did you mean \"abort\"?)",
        ),
    ]);
}

#[test]
fn hold_parameters_are_checked() {
    let hold = "[[rule]]\nname = \"r\"\naction = \"hold\"\n";
    check(&[
        (
            hold,
            "p.toml:3:10: action = \"hold\" needs hold = { max = \"48h\" }",
        ),
        (
            &format!("{hold}hold = {{ fallback = \"abort\" }}\n"),
            "p.toml:4:8: `hold` has no `max`",
        ),
        (
            &format!("{hold}hold = {{ max = \"2 days\" }}\n"),
            "p.toml:4:16: `hold.max`: invalid duration \"2 days\"",
        ),
        (
            &format!("{hold}hold = {{ max = \"0\" }}\n"),
            "p.toml:4:16: `hold.max` must be longer than 0",
        ),
        (
            &format!("{hold}hold = {{ max = \"1h\", fallback = \"hold\" }}\n"),
            "p.toml:4:33: unknown fallback \"hold\"; valid: resume, abort, fail",
        ),
        (
            &format!("{hold}hold = {{ max = \"1h\", keepalive = \"5s\" }}\n"),
            "p.toml:4:34: `hold.keepalive` must be at least 10s",
        ),
        (
            &format!("{RULE}hold = {{ max = \"1h\" }}\n"),
            "p.toml:4:8: `hold` applies only to action = \"hold\" or \"ask\", but this rule's \
             action is \"resume\"",
        ),
    ]);
}

#[test]
fn ask_parameters_are_checked() {
    let ask = "[[rule]]\nname = \"r\"\naction = \"ask\"\n";
    let hold = "hold = { max = \"1h\" }\n";
    check(&[
        (
            &format!("{ask}{hold}"),
            "p.toml:3:10: action = \"ask\" needs ask = { service = \"…\" }",
        ),
        (
            &format!("{ask}ask = {{ service = \"cmdb\" }}\n"),
            "p.toml:3:10: action = \"ask\" needs hold = { max = \"48h\" }",
        ),
        (
            &format!("{ask}{hold}ask = {{ on_error = \"hold\" }}\n"),
            "p.toml:5:7: `ask` has no `service`",
        ),
        (
            &format!("{ask}{hold}ask = {{ service = \"cmdb\", on_error = \"retry\" }}\n"),
            "p.toml:5:38: unknown ask.on_error \"retry\"; valid: hold, resume, abort, fail",
        ),
        (
            &format!("{ask}{hold}ask = {{ service = \"cmdb\", recheck = \"500ms\" }}\n"),
            "p.toml:5:37: `ask.recheck` must be at least 1s",
        ),
        (
            &format!("{ask}{hold}ask = {{ service = \"cmdb\", timeout = \"5s\" }}\n"),
            "p.toml:5:27: unknown key `timeout` in `ask`; allowed keys: service, on_error, recheck",
        ),
        (
            &format!("{RULE}ask = {{ service = \"cmdb\" }}\n"),
            "p.toml:4:7: `ask` applies only to action = \"ask\", but this rule's action is \
             \"resume\"",
        ),
    ]);
}

#[test]
fn an_ask_names_its_service_and_keeps_its_hold() {
    let text = "[[rule]]\nname = \"r\"\naction = \"ask\"\nhold = { max = \"2h\", fallback = \"fail\" }\n\
                ask = { service = \"cmdb\", on_error = \"abort\" }\n";
    let policy = Policy::from_sources(&[("p.toml".to_owned(), text.to_owned())]).unwrap();
    let asks: Vec<&Ask> = policy.asks().collect();
    assert_eq!(asks.len(), 1);
    assert_eq!(&*asks[0].service, "cmdb");
    assert_eq!(asks[0].on_error, OnError::Decide(FinalAction::Abort));
    assert_eq!(
        asks[0].recheck,
        std::time::Duration::from_secs(60),
        "the default"
    );
    assert_eq!(asks[0].hold.max, std::time::Duration::from_secs(7200));
    assert_eq!(asks[0].hold.fallback, FinalAction::Fail);
    // check -c: a service the config does not have is refused where it is written.
    let unknown = policy.ask_errors(|name| name == "billing");
    assert_eq!(
        unknown
            .0
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["p.toml:5:19: `ask.service` names \"cmdb\", but the config has no [[ask]] of that name"]
    );
    assert!(policy.ask_errors(|name| name == "cmdb").0.is_empty());
}

#[test]
fn message_templates_are_checked_where_the_mistake_is() {
    check(&[
        (
            &format!("{RULE}message = \"by {{usr}}\"\n"),
            "p.toml:4:15: unknown placeholder {usr} in message (did you mean {user}?)",
        ),
        (
            &format!("{RULE}message = \"a }} b\"\n"),
            "p.toml:4:14: unbalanced '}'",
        ),
        (
            &format!("{RULE}message = \"a {{ b\"\n"),
            "p.toml:4:14: unclosed '{'",
        ),
        // With an escape in the string the column inside it is unknown: point at the string.
        (
            &format!("{RULE}message = \"\\t{{usr}}\"\n"),
            "p.toml:4:11: unknown placeholder",
        ),
        (
            "[defaults]\naction = \"abort\"\nmessage = \"{orgg}\"\n",
            "p.toml:3:12: unknown placeholder {orgg} in message (did you mean {org}?)",
        ),
    ]);
}

#[test]
fn defaults_are_checked() {
    check(&[
        (
            "[defaults]\nmessage = \"x\"\n",
            "p.toml:1:1: [defaults] has no `action`",
        ),
        (
            "[defaults]\naction = \"hold\"\n",
            "p.toml:2:10: [defaults] cannot hold",
        ),
        (
            "[defaults]\naction = \"deny\"\n",
            "p.toml:2:10: unknown action \"deny\"; valid: resume, abort, fail, ignore",
        ),
        ("defaults = 1\n", "p.toml:1:12: `defaults` must be a table"),
    ]);
}

#[test]
fn tests_that_could_never_pass_are_refused() {
    let dry = "[[rule]]\nname = \"shadow\"\naction = \"fail\"\ndry_run = true\n";
    let test = "[[test]]\nname = \"t\"\n";
    check(&[
        (
            "[[test]]\nexpect = \"ignore\"\n",
            "p.toml:1:1: [[test]] has no `name`",
        ),
        (test, "p.toml:1:1: [[test]] has no `expect`"),
        (
            &format!("{test}expect = \"approve\"\n"),
            "p.toml:3:10: `expect`: unknown action \"approve\"",
        ),
        (
            &format!("{RULE}{test}expect = \"resume\"\nrule = \"q\"\n"),
            "p.toml:7:8: no rule is named \"q\" (did you mean \"r\"?)",
        ),
        (
            &format!("{RULE}{test}expect = \"abort\"\nrule = \"r\"\n"),
            "p.toml:7:8: rule \"r\" (p.toml:1) decides \"resume\", so a test expecting \"abort\" \
             from it can never pass",
        ),
        (
            &format!("{dry}{test}expect = \"fail\"\nrule = \"shadow\"\n"),
            "p.toml:8:8: rule \"shadow\" (p.toml:1) is dry_run: it never decides",
        ),
        (
            &format!("{test}expect = \"abort\"\nrule = \"defaults\"\n"),
            "p.toml:4:8: [defaults] decides \"ignore\", so a test expecting \"abort\"",
        ),
        (
            &format!("{test}expect = \"ignore\"\n{test}expect = \"ignore\"\n"),
            "p.toml:5:8: duplicate test name \"t\": already used at p.toml:1",
        ),
    ]);
}

#[test]
fn every_error_is_reported_in_file_order() {
    let text = "[[rule]]\nname = \"a\"\naction = \"resum\"\nuser = { regex = \"(\" }\n\
                [[rule]]\nname = \"b\"\naction = \"abort\"\ncolour = \"red\"\n\
                [[rule]]\nname = \"a\"\naction = \"fail\"\n\
                [defaults]\naction = \"hold\"\n";
    let errors = errors_in(text);
    let places: Vec<&str> = errors
        .iter()
        .map(|e| e.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        places,
        [
            "p.toml:3:10",
            "p.toml:4:18",
            "p.toml:8:1",
            "p.toml:10:8",
            "p.toml:13:10"
        ],
        "{errors:#?}"
    );
}

#[test]
fn a_test_naming_a_rule_that_failed_to_read_is_not_blamed() {
    // The rule "b" has an unknown key, so its name is not known; the test must not add a
    // second, misleading error about "b" not existing.
    let text = "[[rule]]\nname = \"b\"\naction = \"abort\"\ncolour = \"red\"\n\
                [[test]]\nname = \"t\"\nexpect = \"abort\"\nrule = \"b\"\n";
    assert_eq!(errors_in(text).len(), 1);
}

#[test]
fn defaults_may_be_set_once_across_files() {
    let sources = [
        (
            "00-base.toml".to_owned(),
            "[defaults]\naction = \"abort\"\n".to_owned(),
        ),
        (
            "10-team.toml".to_owned(),
            "# team rules\n[defaults]\naction = \"resume\"\n".to_owned(),
        ),
    ];
    let errors = Policy::from_sources(&sources).unwrap_err().to_string();
    assert_eq!(
        errors,
        "10-team.toml:2:1: [defaults] is already set at 00-base.toml:1; a policy has at most \
         one [defaults]"
    );
}

#[test]
fn valid_policies_compile() {
    let cases = [
        ("", 0),
        ("# only comments\n", 0),
        ("[[rule]]\nname = \"everything\"\naction = \"abort\"\n", 1),
        (
            "[[rule]]\nname = \"h\"\naction = \"hold\"\nhold = { max = \"48h\", fallback = \
             \"resume\", keepalive = \"10s\" }\n[[rule]]\nname = \"n\"\norg = { not = [\"a\", \
             \"b\"] }\nmessage = \"{{{rule}}}\"\naction = \"ignore\"\ndry_run = false\n",
            2,
        ),
    ];
    for (text, rules) in cases {
        let policy = Policy::from_sources(&[("p.toml".into(), text.into())]);
        assert_eq!(
            policy.map(|p| p.rule_count()).map_err(|e| e.to_string()),
            Ok(rules)
        );
    }
}

#[test]
fn owner_fact_mistakes_name_the_key_and_what_it_takes() {
    check(&[
        (
            &format!("{RULE}vm = {{ memroy_mb = 1 }}\n"),
            "p.toml:4:8: unknown key `memroy_mb` in `vm` (did you mean `memory_mb`?); allowed \
             keys: cpu, memory_mb, disk_gb, storage_profile, network",
        ),
        (
            &format!("{RULE}vm.storage_profile = {{ gt = 5 }}\n"),
            "p.toml:4:22: `vm.storage_profile` is text: match it with a glob",
        ),
        (
            &format!("{RULE}vm = {{ memory_mb = \"64*\" }}\n"),
            "p.toml:4:20: `vm.memory_mb` is a number: compare it with a number or { gt, ge, lt, \
             le, eq }",
        ),
        (
            &format!("{RULE}media = {{ size_gb = {{ not = {{ regex = \"x\" }} }} }}\n"),
            "p.toml:4:29: `media.size_gb` is a number",
        ),
        (
            &format!("{RULE}metadata = {{ env = 5 }}\n"),
            "p.toml:4:20: `metadata.env` is text",
        ),
        (
            &format!("{RULE}vapp = {{ vm_count = {{ gt = 1, regex = \"x\" }} }}\n"),
            "p.toml:4:21: `vapp.vm_count`: a match table holds comparisons (gt, ge, lt, le, eq) \
             or one of regex or not, not both",
        ),
        (
            &format!("{RULE}vapp = {{ vm_count = {{ gt = \"ten\" }} }}\n"),
            "p.toml:4:28: `vapp.vm_count.gt`: invalid type: string \"ten\", expected f64",
        ),
        (
            &format!("{RULE}vm = 5\n"),
            "p.toml:4:6: `vm`: invalid type: integer `5`, expected a table of vm facts",
        ),
        (
            &format!("{RULE}on_unknown = \"yes\"\n"),
            "p.toml:4:14: unknown on_unknown \"yes\"",
        ),
        (
            "[[test]]\nname = \"t\"\nexpect = \"ignore\"\ntask = { vm = { memory_mb = \"big\" } }\n",
            "p.toml:4:29: `vm.memory_mb` in a test task is a value, not a match: give a number",
        ),
        (
            "[[test]]\nname = \"t\"\nexpect = \"ignore\"\ntask = { media = { size = 1 } }\n",
            "p.toml:4:20: unknown key `size` in `task.media`",
        ),
        (
            "[[test]]\nname = \"t\"\nexpect = \"ignore\"\ntask = { vm = {}, vms = [] }\n",
            "p.toml:1:1: the test task gives both `vm` and `vms`",
        ),
    ]);
}

#[test]
fn owner_facts_compile_in_every_spelling() {
    let text = format!(
        "{RULE}vm.memory_mb = {{ gt = 65536 }}\nvm.cpu = 16\nvm.network = [\"prod-*\"]\n\
         vapp.vm_count = {{ ge = 2, le = 10 }}\nmedia = {{ size_gb = {{ not = {{ gt = 0.5 }} }} \
         }}\nmetadata = {{ \"cost-center\" = {{ regex = \"^4\" }} }}\non_unknown = \"match\"\n\
         [[test]]\nname = \"t\"\nexpect = \"resume\"\ntask = {{ vms = [{{ cpu = 2, network = \
         [\"a\", \"b\"] }}, {{ memory_mb = 1 }}], media = {{ size_gb = 0.25, image_type = \"iso\" \
         }}, metadata = {{ env = \"prod\" }} }}\n"
    );
    assert_eq!(errors_in(&text), Vec::<String>::new());
}

#[test]
fn a_rule_asking_for_facts_its_operations_owner_lacks_is_warned_about() {
    let policy = Policy::from_sources(&[(
        "p.toml".to_owned(),
        "[[rule]]\nname = \"uploads\"\noperation = [\"vdcUploadMedia\", \"vdcCopyMedia\"]\n\
         vm.memory_mb = { gt = 1 }\naction = \"fail\"\n\
         [[rule]]\nname = \"deploys\"\noperation = \"vdcInstantiateVapp\"\nvm.memory_mb = { gt = 1 }\n\
         action = \"fail\"\n\
         [[rule]]\nname = \"any\"\noperation = \"vdc*\"\nvm.memory_mb = { gt = 1 }\naction = \"fail\"\n"
            .to_owned(),
    )])
    .unwrap();
    assert_eq!(
        policy.warnings(),
        [
            "p.toml:1: warning: rule \"uploads\" matches on vm.* facts, but vdcUploadMedia is about \
          a media, vdcCopyMedia is about a media: those facts are always unknown for it"
        ]
    );
}

/// A hold rule whose `hold` table is `hold` (one line per key).
fn approval_rule(hold: &str) -> String {
    format!("[[rule]]\nname = \"r\"\naction = \"hold\"\n[rule.hold]\nmax = \"48h\"\n{hold}\n")
}

#[test]
fn approval_keys_are_checked_where_they_are_written() {
    let cases = [
        (
            approval_rule("approvals = 0"),
            "p.toml:6:13: `hold.approvals` must be at least 1",
        ),
        (
            approval_rule("approvers = [\"carol\"]\napprovals = 2"),
            "p.toml:7:13: `hold.approvals` is 2 but `approvers` and `escalate_to` name only 1 people",
        ),
        (
            approval_rule("approvers = [\"carol\", \"Carol\"]\napprovals = 2"),
            "p.toml:7:13: name only 1 people",
        ),
        (
            approval_rule("approvers = []"),
            "p.toml:6:13: `hold.approvers` is empty",
        ),
        (
            approval_rule("approvers = [\"group:\"]"),
            "p.toml:6:14: `hold.approvers`: \"group:\" is not an approver's name",
        ),
        (
            approval_rule("escalate_after = \"48h\"\nescalate_to = [\"oscar\"]"),
            "p.toml:6:18: `hold.escalate_after` (2d) must be shorter than `hold.max` (2d)",
        ),
        (
            approval_rule("escalate_after = \"12h\""),
            "p.toml:6:18: `hold.escalate_after` needs `escalate_to`",
        ),
        (
            approval_rule("escalate_to = [\"oscar\"]"),
            "p.toml:6:15: `hold.escalate_to` needs `escalate_after`",
        ),
        (
            approval_rule("remind_every = \"0s\""),
            "p.toml:6:16: `hold.remind_every` must be longer than 0",
        ),
        (
            approval_rule("approval = 2"),
            "p.toml:6:1: unknown key `approval` in `hold` (did you mean `approvals`?)",
        ),
    ];
    let cases: Vec<(&str, &str)> = cases.iter().map(|(t, e)| (t.as_str(), *e)).collect();
    check(&cases);
}

#[test]
fn a_four_eyes_rule_compiles_with_its_approvers_reminders_and_escalation() {
    let text = approval_rule(
        "approvers = [\"group:prod-leads\", \"dave\"]\napprovals = 2\nremind_every = \"4h\"\n\
         escalate_after = \"12h\"\nescalate_to = [\"group:on-call\"]",
    );
    assert_eq!(errors_in(&text), Vec::<String>::new());
    // A group may hold any number of people: only `check -c` can count them.
    let groups = approval_rule("approvers = [\"group:prod-leads\"]\napprovals = 3");
    assert_eq!(errors_in(&groups), Vec::<String>::new());
    let policy = Policy::from_sources(&[("p.toml".to_owned(), text)]).unwrap();
    let members = |who: &crate::policy::Who| match who.to_string().as_str() {
        "group:prod-leads" => vec!["carol".to_owned()],
        "dave" => vec!["dave".to_owned()],
        _ => Vec::new(),
    };
    let errors: Vec<String> = policy
        .approval_errors(members)
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        ["p.toml:10:16: no approver of the approvers file is in group \"on-call\""]
    );
}
