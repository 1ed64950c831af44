//! Which account a run reads, and through which credentials: the account the credentials reach
//! (the hub's own, in an organization), or a member account through the role assumed there;
//! and, in an organization, the accounts its roles may trust.

use std::collections::BTreeSet;

use iam_assurance_aws::{Clients, StateStore};

use super::config::{Config, RunError};

/// `arn:aws:iam::<account>:role/<name>`: the member role of an account.
pub fn member_role_arn(account: &str, role_name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{role_name}")
}

/// A session name for AssumeRole that names the run (`iam-assurance-sweep-<id>`): at most 64
/// characters of `[A-Za-z0-9+=,.@_-]`, what STS accepts.
pub fn session_name(kind: &str, id: &str) -> String {
    let raw = format!("iam-assurance-{kind}-{id}");
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) { c } else { '-' }).take(64).collect()
}

/// The account the credentials reach: as configured (the function's own ARN), else asked.
pub async fn home_account(clients: &Clients, config: &Config) -> Result<String, RunError> {
    match &config.home_account {
        Some(account) => Ok(account.clone()),
        None => clients.account().await.map_err(|e| RunError::Identity(e.to_string())),
    }
}

/// The clients and configuration of a run for `account` (`None`: the account the credentials
/// reach). Another account is read through `role_name` assumed there (one `sts:AssumeRole`,
/// with `session` naming the run); its failure is that account's alone
/// ([`RunError::Member`]). The configuration says which account the run is for (its state
/// partition and settings overrides in organization mode).
pub async fn reach(
    hub: &Clients,
    config: &Config,
    account: Option<&str>,
    role_name: &str,
    session: &str,
) -> Result<(Clients, Config), RunError> {
    // The credentials' own account outside an organization: nothing to assume and no state
    // partition, so the account need not be known (no identity call, which would fail the
    // run before it read anything when STS is unreachable).
    if account.is_none() && !config.organization {
        return Ok((hub.clone(), config.clone()));
    }
    let home = home_account(hub, config).await?;
    let target = account.unwrap_or(&home).to_string();
    let mut config = config.clone();
    config.home_account = Some(home.clone());
    config.account = Some(target.clone());
    if target == home {
        return Ok((hub.clone(), config));
    }
    let role = member_role_arn(&target, role_name);
    let clients = hub
        .for_member(&target, &role, session)
        .await
        .map_err(|e| RunError::Member { account: target.clone(), reason: format!("cannot assume {role}: {e}") })?;
    Ok((clients, config))
}

/// In organization mode with a state table, the organization's accounts as the last fan-out
/// stored them (one GetItem), for the rules that judge whom roles trust; `None` otherwise, or
/// when they cannot be read (said in a WARN line: those rules then take only their own
/// `trusted_accounts`, so the organization's accounts may be reported, never missed).
pub async fn organization_accounts(clients: &Clients, config: &Config) -> Option<BTreeSet<String>> {
    let table = config.state_table.as_deref().filter(|_| config.organization)?;
    match StateStore::new(clients, table).organization_accounts().await {
        Ok(Some(accounts)) => Some(accounts),
        Ok(None) => {
            tracing::warn!("the organization's account list is not stored yet (no fan-out has run): roles trusting its accounts are judged on trusted_accounts alone");
            None
        }
        Err(error) => {
            tracing::warn!(%error, "the organization's account list could not be read: roles trusting its accounts are judged on trusted_accounts alone");
            None
        }
    }
}
