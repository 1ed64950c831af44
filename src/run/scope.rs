//! What an event's run covers: the entities it looked at (what it may report and resolve), and
//! every finding it could change there (the only state items it reads).

use std::collections::BTreeSet;

use iam_assurance_rules::inventory::Inventory;
use iam_assurance_rules::report::Finding;
use iam_assurance_rules::rules::root::ROOT_USAGE;

use crate::alerts::Scope;
use crate::change::{Change, Entity};

/// ARN of a named entity, looked up in the inventory.
fn entity_arns(entity: &Entity, inventory: &Inventory) -> Vec<String> {
    let aad = inventory.authorization.as_ref();
    let cr_users = inventory.credential_report.as_ref().map(|r| r.users.as_slice()).unwrap_or_default();
    match entity {
        Entity::User(name) => {
            let mut arns: Vec<String> =
                aad.map(|a| a.users.iter().filter(|u| &u.name == name).map(|u| u.arn.clone()).collect()).unwrap_or_default();
            arns.extend(cr_users.iter().filter(|r| &r.user == name).map(|r| r.arn.clone()));
            arns
        }
        Entity::Group(name) => {
            aad.map(|a| a.groups.iter().filter(|g| &g.name == name).map(|g| g.arn.clone()).collect()).unwrap_or_default()
        }
        Entity::Role(name) => aad.map(|a| a.roles.iter().filter(|r| &r.name == name).map(|r| r.arn.clone()).collect()).unwrap_or_default(),
        Entity::Policy(name_or_arn) => {
            if name_or_arn.starts_with("arn:") {
                vec![name_or_arn.clone()]
            } else {
                aad.map(|a| a.policies.iter().filter(|p| &p.name == name_or_arn).map(|p| p.arn.clone()).collect()).unwrap_or_default()
            }
        }
        Entity::Account => Vec::new(),
    }
}

/// What an event looked at: the changed entity, the related one (the policy of an attach, the
/// user of a group change) and the account; account-wide settings cover the account.
pub fn scope_of(change: &Change, inventory: &Inventory) -> Scope {
    if change.entity == Entity::Account {
        return Scope::Account;
    }
    let mut arns = entity_arns(&change.entity, inventory);
    if let Some(related) = &change.related {
        arns.extend(entity_arns(related, inventory));
    }
    Scope::Resources { arns, account_arn: inventory.root_arn() }
}

/// Fingerprints of every finding the event's resolvable rules could have on what it looked
/// at: the entities it named and the account (every server certificate read, for an
/// account-wide event), with each rule's [`Keys`](iam_assurance_rules::rule::Keys) and the
/// inline policy names known for those entities (plus the one the event put or deleted).
/// Together with the findings it reports, these are the only state items the event can
/// change, so it reads just those, whatever the size of the account. Without
/// `inline_documents_read` (an event through the roster, which reads at most the one inline
/// policy it changed) only the event's inline policy is named: the others were not evaluated.
///
/// What this cannot name is left to the next sweep: findings on a server certificate the
/// event deleted (its ARN, with its path, is no longer known), and findings on other
/// resources whose details mention the entity. A deleted user, group or role is handled by
/// [`deleted_entity_arn`].
pub fn candidate_fingerprints(
    change: &Change,
    inventory: &Inventory,
    scope: &Scope,
    resolvable: &BTreeSet<String>,
    inline_documents_read: bool,
) -> BTreeSet<String> {
    let mut arns: Vec<String> = match scope {
        Scope::Nothing => return BTreeSet::new(),
        Scope::Resources { arns, account_arn } => arns.iter().cloned().chain([account_arn.clone()]).collect(),
        Scope::Account => {
            let certificates = inventory.server_certificates.iter().flatten().map(|c| c.arn.clone());
            [inventory.root_arn()].into_iter().chain(certificates).collect()
        }
    };
    arns.sort();
    arns.dedup();
    let mut names: Vec<&str> = change.inline_policy.iter().map(String::as_str).collect();
    if let Some(aad) = inventory.authorization.as_ref().filter(|_| inline_documents_read) {
        let of = |arn: &String| arns.contains(arn);
        let users = aad.users.iter().filter(|u| of(&u.arn)).flat_map(|u| &u.inline_policies);
        let groups = aad.groups.iter().filter(|g| of(&g.arn)).flat_map(|g| &g.inline_policies);
        let roles = aad.roles.iter().filter(|r| of(&r.arn)).flat_map(|r| &r.inline_policies);
        names.extend(users.chain(groups).chain(roles).map(|p| p.name.as_str()));
    }
    possible_fingerprints(resolvable.iter().filter_map(|id| iam_assurance_rules::catalog::find(id)), &arns, &names)
}

/// Every fingerprint these rules could have on these resources, with each rule's
/// [`Keys`](iam_assurance_rules::rule::Keys) and the given names (inline policy names).
pub fn possible_fingerprints<'r>(
    rules: impl IntoIterator<Item = &'r dyn iam_assurance_rules::Rule>,
    arns: &[String],
    names: &[&str],
) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for rule in rules {
        let meta = rule.meta();
        for discriminator in meta.keys.candidates(names.iter().copied()) {
            for arn in arns {
                keys.insert(iam_assurance_rules::report::fingerprint(meta.id, arn, &discriminator));
            }
        }
    }
    keys
}

/// The ARN of the user, group or role an event deleted, when the run's complete read of the
/// account, or its read of the entity itself (`read_gone`: IAM answered that there is no such
/// entity), confirms it is gone: its findings then resolve at once rather than at the next
/// sweep. The event names the entity, not its ARN, which holds the entity's path: the ARN is
/// the one of the default path `/`. Findings on an entity with another path match nothing here
/// and resolve at the next sweep.
pub fn deleted_entity_arn(change: &Change, inventory: &Inventory, read_gone: bool) -> Option<String> {
    if !change.deletes {
        return None;
    }
    let (kind, name) = match &change.entity {
        Entity::User(name) => ("user", name),
        Entity::Group(name) => ("group", name),
        Entity::Role(name) => ("role", name),
        _ => return None,
    };
    let gone = read_gone || {
        let aad = inventory.authorization.as_ref().filter(|a| a.complete)?;
        match kind {
            "user" => !aad.users.iter().any(|u| &u.name == name),
            "group" => !aad.groups.iter().any(|g| &g.name == name),
            _ => !aad.roles.iter().any(|r| &r.name == name),
        }
    };
    (gone && !inventory.account_id.is_empty())
        .then(|| format!("arn:{}:iam::{}:{kind}/{name}", inventory.partition_or_default(), inventory.account_id))
}

/// A targeted run reports what concerns the changed entity: findings on it, on the policy
/// the event names, account-level findings, and findings whose details name the entity
/// (an unapproved policy's list of attached entities). Root activity is always kept. The same
/// scope bounds what the event can resolve.
pub fn retain_in_scope(findings: &mut Vec<Finding>, scope: &Scope) {
    findings.retain(|f| f.rule_id == ROOT_USAGE.id() || scope.covers(&f.resource_arn, &f.details));
}
