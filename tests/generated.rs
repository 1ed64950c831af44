//! The files generated from the rule definitions and the event table (docs/rules.md,
//! docs/events.md, infra/settings.yaml) are committed as the code generates them.

use iam_assurance::generate;

#[test]
fn committed_copies_are_what_the_code_generates() {
    let mut stale = Vec::new();
    for file in generate::all() {
        let path = crate::support::root().join(file.path);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != file.content {
            stale.push(file.path);
            if let Ok(dir) = std::env::var("GENERATED_DIFF_DIR") {
                std::fs::write(std::path::Path::new(&dir).join(file.path.replace('/', "_")), &file.content).unwrap();
            }
        }
    }
    assert!(stale.is_empty(), "{stale:?} differ from what the code generates: run `make generated` and commit them");
}

#[test]
fn the_rules_doc_lists_every_rule_with_what_moves_it() {
    let rules = generate::rules_md();
    for rule in iam_assurance_rules::catalog::all() {
        assert!(rules.contains(&format!("\n## {}\n", rule.meta().id)), "{}", rule.meta().id);
    }
    let events = generate::events_md();
    for spec in iam_assurance::change::EVENTS {
        assert!(events.contains(&format!("| `{}` |", spec.name)), "{}", spec.name);
    }
    // Attaching a policy to a role is decided by the rules that declare it (the roster path
    // narrows from there).
    let line = events.lines().find(|l| l.starts_with("| `AttachRolePolicy` |")).unwrap();
    assert!(line.contains("`min-admins`") && line.contains("`unapproved-policy-in-use`") && !line.contains("`empty-group`"), "{line}");
}
