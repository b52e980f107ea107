//! Message templates: text with placeholders such as `{operation}` and `{{`/`}}` for literal
//! braces, compiled once into parts and rendered for each decision.

use crate::facts::TaskFacts;

/// A value a template can insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholder {
    Rule,
    Operation,
    Org,
    User,
    OwnerName,
    TaskId,
    Action,
}

const PLACEHOLDERS: [(&str, Placeholder); 7] = [
    ("rule", Placeholder::Rule),
    ("operation", Placeholder::Operation),
    ("org", Placeholder::Org),
    ("user", Placeholder::User),
    ("owner_name", Placeholder::OwnerName),
    ("task_id", Placeholder::TaskId),
    ("action", Placeholder::Action),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Insert(Placeholder),
}

/// A compiled message template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

/// A template that could not be compiled: what is wrong, and the byte offset in the template
/// text where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError {
    pub offset: usize,
    pub message: String,
}

/// What a template is rendered with.
pub(crate) struct Context<'a> {
    pub rule: &'a str,
    pub action: &'static str,
    pub facts: &'a TaskFacts,
}

impl Template {
    pub(super) fn compile(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text.char_indices().peekable();
        while let Some((offset, c)) = rest.next() {
            match c {
                '{' if rest.next_if(|(_, c)| *c == '{').is_some() => literal.push('{'),
                '}' if rest.next_if(|(_, c)| *c == '}').is_some() => literal.push('}'),
                '}' => return Err(unbalanced_close(offset)),
                '{' => {
                    let name_start = offset + 1;
                    let Some(len) = text[name_start..].find('}') else {
                        return Err(unclosed_open(offset));
                    };
                    let name = &text[name_start..name_start + len];
                    if name.contains('{') {
                        return Err(unclosed_open(offset));
                    }
                    let placeholder = lookup(name).ok_or_else(|| unknown(offset, name))?;
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Insert(placeholder));
                    // Skip the name and the closing brace.
                    while rest.next_if(|(i, _)| *i <= name_start + len).is_some() {}
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// The message of a rule written without one, by its action's name.
    pub(super) fn default_for_rule(action: &str) -> Template {
        builtin(match action {
            "resume" => "Approved by vcd-blockd rule \"{rule}\"",
            "hold" => "Waiting for approval (vcd-blockd rule \"{rule}\")",
            "ignore" => "Ignored by vcd-blockd rule \"{rule}\"",
            _ => "Refused by vcd-blockd rule \"{rule}\"",
        })
    }

    /// The message of `[defaults]` written without one.
    pub(super) fn default_for_defaults() -> Template {
        builtin("No vcd-blockd rule matched {operation} by {user}@{org}")
    }

    pub(super) fn render(&self, context: &Context<'_>) -> String {
        let mut out = String::with_capacity(128);
        for part in &self.parts {
            out.push_str(match part {
                Part::Text(text) => text,
                Part::Insert(placeholder) => value(*placeholder, context),
            });
        }
        out
    }
}

#[allow(
    clippy::expect_used,
    reason = "cannot fail: the built-in templates are constants, compiled by a test below"
)]
fn builtin(text: &str) -> Template {
    Template::compile(text).expect("built-in template is valid")
}

fn lookup(name: &str) -> Option<Placeholder> {
    PLACEHOLDERS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, placeholder)| *placeholder)
}

fn value<'a>(placeholder: Placeholder, context: &Context<'a>) -> &'a str {
    let facts = context.facts;
    match placeholder {
        Placeholder::Rule => context.rule,
        Placeholder::Operation => &facts.operation,
        Placeholder::Org => &facts.org,
        Placeholder::User => &facts.user,
        Placeholder::OwnerName => &facts.owner_name,
        Placeholder::TaskId => &facts.task_id,
        Placeholder::Action => context.action,
    }
}

fn unknown(offset: usize, name: &str) -> TemplateError {
    let known: Vec<String> = PLACEHOLDERS
        .iter()
        .map(|(n, _)| format!("{{{n}}}"))
        .collect();
    let hint = super::error::did_you_mean(name.trim(), PLACEHOLDERS.iter().map(|(n, _)| *n))
        .map(|n| format!(" (did you mean {{{n}}}?)"))
        .unwrap_or_default();
    TemplateError {
        offset,
        message: format!(
            "unknown placeholder {{{name}}} in message{hint}; available: {}; write {{{{ and }}}} \
             for literal braces",
            known.join(", ")
        ),
    }
}

fn unclosed_open(offset: usize) -> TemplateError {
    TemplateError {
        offset,
        message: "unclosed '{' in message; write {{ for a literal brace".to_owned(),
    }
}

fn unbalanced_close(offset: usize) -> TemplateError {
    TemplateError {
        offset,
        message: "unbalanced '}' in message; write }} for a literal brace".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> TaskFacts {
        TaskFacts {
            task_id: "8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94".into(),
            operation: "vdcInstantiateVapp".into(),
            org: "prod-eu".into(),
            user: "alice".into(),
            owner_name: "web-01".into(),
            ..TaskFacts::default()
        }
    }

    #[test]
    fn renders_every_placeholder_and_escaped_braces() {
        let context = Context {
            rule: "prod needs approval",
            action: "hold",
            facts: &facts(),
        };
        let cases = [
            ("plain text", "plain text"),
            ("", ""),
            (
                "{rule}|{operation}|{org}|{user}|{owner_name}|{task_id}|{action}",
                "prod needs approval|vdcInstantiateVapp|prod-eu|alice|web-01|\
                 8c1d6e2a-4f3b-4a7d-9e21-5b0c3f7d1e94|hold",
            ),
            ("{{literal}} {user}@{org}", "{literal} alice@prod-eu"),
            ("{{{user}}}", "{alice}"),
            ("été {user}", "été alice"),
        ];
        for (text, expected) in cases {
            let template = Template::compile(text).unwrap();
            assert_eq!(template.render(&context), expected, "{text:?}");
        }
    }

    #[test]
    fn built_in_messages_name_the_rule() {
        let context = Context {
            rule: "r",
            action: "abort",
            facts: &facts(),
        };
        let cases = [
            (
                Template::default_for_rule("resume"),
                "Approved by vcd-blockd rule \"r\"",
            ),
            (
                Template::default_for_rule("abort"),
                "Refused by vcd-blockd rule \"r\"",
            ),
            (
                Template::default_for_rule("fail"),
                "Refused by vcd-blockd rule \"r\"",
            ),
            (
                Template::default_for_rule("hold"),
                "Waiting for approval (vcd-blockd rule \"r\")",
            ),
            (
                Template::default_for_rule("ignore"),
                "Ignored by vcd-blockd rule \"r\"",
            ),
            (
                Template::default_for_defaults(),
                "No vcd-blockd rule matched vdcInstantiateVapp by alice@prod-eu",
            ),
        ];
        for (template, expected) in cases {
            assert_eq!(template.render(&context), expected);
        }
    }

    #[test]
    fn refuses_unknown_placeholders_and_unbalanced_braces() {
        let cases = [
            (
                "by {usr}",
                3,
                "unknown placeholder {usr} in message (did you mean {user}?)",
            ),
            (
                "{ user }",
                0,
                "unknown placeholder { user } in message (did you mean {user}?)",
            ),
            ("{owner}", 0, "unknown placeholder {owner}"),
            ("a } b", 2, "unbalanced '}'"),
            ("a { b", 2, "unclosed '{'"),
            ("{user", 0, "unclosed '{'"),
            ("{a{user}", 0, "unclosed '{'"),
        ];
        for (text, offset, fragment) in cases {
            let error = Template::compile(text).unwrap_err();
            assert_eq!(error.offset, offset, "{text:?}");
            assert!(
                error.message.contains(fragment),
                "{text:?}: {}",
                error.message
            );
        }
    }
}
