//! Cross-checks between the credential report and the authorization details of one inventory,
//! for the offline audit and the live sweep alike (both call [`credential_report`] once the
//! sources are read).
//!
//! The credential report can be up to 4 hours older than the authorization details, and files
//! given to an offline audit can come from different places. What the two sources disagree on
//! is said, never papered over:
//!
//! - a report of another account than the authorization details is refused, naming both;
//! - a row that repeats an earlier one exactly was kept once by the parser: a warning names it;
//! - a row for a user the authorization details do not list (deleted since the report), or for
//!   an older user of the same name (deleted and created again), is dropped with a warning: no
//!   finding is reported on a user that is gone;
//! - users the report does not list (created since it was generated) are named in a warning:
//!   the report's rules could not check them.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::inventory::{account_from_arn, CredentialRow, CredentialSource, Inventory, User};

/// How many names a warning lists before it says how many more there are.
const NAMES_SHOWN: usize = 20;

/// `a, b and 3 more`.
fn name_list(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(NAMES_SHOWN).map(String::as_str).collect();
    match names.len().saturating_sub(NAMES_SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The account of the first ARN that names one.
fn first_account<'a>(arns: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    arns.into_iter().find_map(account_from_arn)
}

/// Reconcile the credential report with the authorization details (see the module
/// documentation). `Err`: the report is of another account (the message names both); the
/// caller refuses the report. Warnings go to [`Inventory::warnings`].
pub fn credential_report(inventory: &mut Inventory) -> Result<(), String> {
    let Some(report) = inventory.credential_report.as_mut() else { return Ok(()) };
    for duplicate in std::mem::take(&mut report.duplicates) {
        inventory.warnings.push(format!("the credential report lists a user twice, with the same values: {duplicate}; kept once"));
    }
    let Some(aad) = inventory.authorization.as_ref() else { return Ok(()) };
    let aad_account = first_account(
        aad.users
            .iter()
            .map(|u| u.arn.as_str())
            .chain(aad.groups.iter().map(|g| g.arn.as_str()))
            .chain(aad.roles.iter().map(|r| r.arn.as_str())),
    );
    let report_account = first_account(report.root.iter().chain(&report.users).map(|r| r.arn.as_str()));
    if let (Some(aad_account), Some(report_account)) = (aad_account, report_account) {
        if aad_account != report_account {
            return Err(format!(
                "the credential report is of account {report_account}, but the authorization details are of account {aad_account}: give both files of one account"
            ));
        }
    }
    // Which users each side lacks: only a whole account's details against the account-wide
    // report can say (an event reads one user's credentials live).
    if !aad.complete || report.source != CredentialSource::Report {
        return Ok(());
    }
    let generated = report.generated_at.map(|t| format!(" (generated {})", t.to_rfc3339())).unwrap_or_default();
    let mut by_arn: HashMap<&str, &User> = HashMap::with_capacity(aad.users.len());
    let mut by_name: HashMap<&str, &User> = HashMap::with_capacity(aad.users.len());
    for user in &aad.users {
        by_arn.entry(user.arn.as_str()).or_insert(user);
        by_name.entry(user.name.as_str()).or_insert(user);
    }
    let mut gone = Vec::new();
    let mut replaced = Vec::new();
    let mut covered: HashMap<&str, ()> = HashMap::with_capacity(report.users.len());
    let mut kept: Vec<CredentialRow> = Vec::with_capacity(report.users.len());
    for row in std::mem::take(&mut report.users) {
        let user = by_arn.get(row.arn.as_str()).or_else(|| by_name.get(row.user.as_str())).copied();
        match user {
            None => gone.push(row.user),
            Some(user) if recreated(row.user_creation_time, user.create_date) => {
                replaced.push(format!(
                    "{} (the row's user was created {}, the user now listed {})",
                    row.user,
                    day_or_unknown(row.user_creation_time),
                    day_or_unknown(user.create_date)
                ));
            }
            Some(user) => {
                covered.insert(user.arn.as_str(), ());
                kept.push(row);
            }
        }
    }
    report.users = kept;
    let generated_at = report.generated_at;
    let lacking: Vec<String> = aad
        .users
        .iter()
        .filter(|u| !covered.contains_key(u.arn.as_str()))
        .map(|u| match (u.create_date, generated_at) {
            (Some(created), Some(generated)) if created > generated => format!("{} (created after the report)", u.name),
            _ => u.name.clone(),
        })
        .collect();
    if !gone.is_empty() {
        inventory.warnings.push(format!(
            "the credential report{generated} lists {} that the authorization details do not (deleted since the report was generated?): {}; nothing is reported on them",
            plural(gone.len(), "user", "users"),
            name_list(&gone)
        ));
    }
    if !replaced.is_empty() {
        inventory.warnings.push(format!(
            "the credential report{generated} has rows of {} deleted and created again since, under the same name: {}; those rows are not used",
            plural(replaced.len(), "user", "users"),
            name_list(&replaced)
        ));
    }
    if !lacking.is_empty() {
        inventory.warnings.push(format!(
            "the credential report{generated} has no row for {} of the authorization details: {}; the credential report's rules (passwords, access keys, MFA, signing certificates) did not check them (the next report will)",
            plural(lacking.len(), "user", "users"),
            name_list(&lacking)
        ));
    }
    Ok(())
}

/// Whether a row's user was created before the user of the same name or ARN in the
/// authorization details: the row is of an earlier user since deleted. Both times must be
/// known; a second apart or less is the same time (the report's precision).
fn recreated(row_created: Option<DateTime<Utc>>, user_created: Option<DateTime<Utc>>) -> bool {
    match (row_created, user_created) {
        (Some(row), Some(user)) => (user - row).num_seconds() > 1,
        _ => false,
    }
}

fn day_or_unknown(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "at an unknown time".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;

    #[test]
    fn rows_of_users_that_are_gone_or_recreated_are_dropped_and_missing_users_named() {
        let mut inv = inventory();
        cr(&mut inv).generated_at = Some(ago(1));
        let mut newcomer = user("newcomer");
        newcomer.create_date = Some(now());
        let mut recreated = user("again");
        recreated.create_date = Some(ago(0));
        aad(&mut inv).users.extend([user("alice"), newcomer, recreated, user("no-row")]);
        let mut again = row("again");
        again.user_creation_time = Some(ago(300));
        cr(&mut inv).users = vec![row("alice"), row("departed"), again];
        credential_report(&mut inv).unwrap();
        let users: Vec<&str> = inv.credential_report.as_ref().unwrap().users.iter().map(|r| r.user.as_str()).collect();
        assert_eq!(users, ["alice"]);
        assert_eq!(inv.warnings.len(), 3, "{:#?}", inv.warnings);
        assert!(inv.warnings[0].contains("lists 1 user that the authorization details do not") && inv.warnings[0].contains(": departed;"));
        assert!(inv.warnings[1].contains("deleted and created again") && inv.warnings[1].contains("again (the row's user was created"));
        assert!(
            inv.warnings[2].contains("no row for 3 users of the authorization details: newcomer (created after the report), again (created after the report), no-row;"),
            "{}",
            inv.warnings[2]
        );
    }

    #[test]
    fn a_report_of_another_account_is_refused_naming_both() {
        let mut inv = inventory();
        aad(&mut inv).users.push(user("alice"));
        let mut other = row("alice");
        other.arn = "arn:aws:iam::999999999999:user/alice".into();
        cr(&mut inv).users = vec![other];
        cr(&mut inv).root.as_mut().unwrap().arn = "arn:aws:iam::999999999999:root".into();
        let e = credential_report(&mut inv).unwrap_err();
        assert_eq!(
            e,
            "the credential report is of account 999999999999, but the authorization details are of account 123456789012: give both files of one account"
        );
    }

    #[test]
    fn an_event_inventory_is_left_alone() {
        // One user's live credentials against a targeted read: nothing to reconcile.
        let mut inv = inventory();
        aad(&mut inv).complete = false;
        cr(&mut inv).source = CredentialSource::Live;
        cr(&mut inv).users = vec![row("alice")];
        credential_report(&mut inv).unwrap();
        assert_eq!(inv.credential_report.as_ref().unwrap().users.len(), 1);
        assert!(inv.warnings.is_empty());
    }

    #[test]
    fn long_lists_are_cut() {
        let names: Vec<String> = (0..25).map(|i| format!("u{i}")).collect();
        assert!(name_list(&names).ends_with("u19 and 5 more"));
    }
}
