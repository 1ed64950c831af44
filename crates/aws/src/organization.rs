//! Organization mode's adapters: the organization's ACTIVE accounts (Organizations, from the
//! management account or a delegated administrator), the accounts under an organizational
//! unit and the units an account sits in, and the fan-out messages to the accounts queue (SQS).

use std::collections::BTreeSet;

use aws_sdk_organizations::types::{AccountStatus, ChildType, ParentType};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use crate::{AdapterError, Clients};

const LIST_ACCOUNTS: &str = "organizations:ListAccounts";
const LIST_CHILDREN: &str = "organizations:ListChildren";
const LIST_PARENTS: &str = "organizations:ListParents";
const SEND: &str = "sqs:SendMessageBatch";

/// An account of the organization.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrgAccount {
    pub id: String,
    pub name: String,
}

/// Every ACTIVE account of the organization (suspended and closing ones are left out), by id.
/// Paginated `ListAccounts`.
pub async fn active_accounts(clients: &Clients) -> Result<Vec<OrgAccount>, AdapterError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = clients
            .organizations
            .list_accounts()
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| AdapterError::aws(LIST_ACCOUNTS, &e))?;
        for account in page.accounts() {
            if account.status() == Some(&AccountStatus::Active) {
                if let Some(id) = account.id() {
                    out.push(OrgAccount { id: id.to_string(), name: account.name().unwrap_or("").to_string() });
                }
            }
        }
        match page.next_token().filter(|t| !t.is_empty()) {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Every account under an organizational unit, its child units' included (paginated
/// `ListChildren`, breadth first).
pub async fn accounts_under(clients: &Clients, unit: &str) -> Result<BTreeSet<String>, AdapterError> {
    let mut accounts = BTreeSet::new();
    let mut units = vec![unit.to_string()];
    let mut seen = BTreeSet::new();
    while let Some(parent) = units.pop() {
        if !seen.insert(parent.clone()) {
            continue;
        }
        for (kind, sink) in [(ChildType::Account, &mut accounts), (ChildType::OrganizationalUnit, &mut BTreeSet::new())] {
            let mut token: Option<String> = None;
            loop {
                let page = clients
                    .organizations
                    .list_children()
                    .parent_id(&parent)
                    .child_type(kind.clone())
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| AdapterError::aws(LIST_CHILDREN, &e))?;
                for child in page.children() {
                    if let Some(id) = child.id() {
                        if kind == ChildType::OrganizationalUnit {
                            units.push(id.to_string());
                        } else {
                            sink.insert(id.to_string());
                        }
                    }
                }
                match page.next_token().filter(|t| !t.is_empty()) {
                    Some(next) => token = Some(next.to_string()),
                    None => break,
                }
            }
        }
    }
    Ok(accounts)
}

/// The organizational units an account sits in, from its own up to the root's child (one
/// `ListParents` per level; an organization nests at most five levels deep).
pub async fn units_of(clients: &Clients, account: &str) -> Result<Vec<String>, AdapterError> {
    let mut units = Vec::new();
    let mut child = account.to_string();
    // Five levels of units, and a guard against a cycle in a faulty answer.
    for _ in 0..8 {
        let page = clients.organizations.list_parents().child_id(&child).send().await.map_err(|e| AdapterError::aws(LIST_PARENTS, &e))?;
        let Some(parent) = page.parents().first() else { break };
        let (Some(id), Some(kind)) = (parent.id(), parent.r#type()) else { break };
        if *kind != ParentType::OrganizationalUnit || units.iter().any(|u| u == id) {
            break;
        }
        units.push(id.to_string());
        child = id.to_string();
    }
    Ok(units)
}

/// Send one message per body to the queue, ten to a `SendMessageBatch`; entries SQS refuses
/// are sent once more, and still refused are an error naming how many (the messages before
/// were sent: the fan-out of a round is idempotent by account, so a retry is harmless).
pub async fn send_all(clients: &Clients, queue_url: &str, bodies: &[String]) -> Result<usize, AdapterError> {
    let mut sent = 0;
    for chunk in bodies.chunks(10) {
        let mut pending: Vec<(usize, &String)> = chunk.iter().enumerate().collect();
        for attempt in 0..2 {
            let entries = pending
                .iter()
                .map(|(i, body)| SendMessageBatchRequestEntry::builder().id(format!("m{i}")).message_body(body.as_str()).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| AdapterError::InvalidRequest { operation: SEND, detail: e.to_string() })?;
            let out = clients
                .sqs
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| AdapterError::aws(SEND, &e))?;
            sent += out.successful().len();
            let failed: BTreeSet<String> = out.failed().iter().map(|f| f.id().to_string()).collect();
            pending.retain(|(i, _)| failed.contains(&format!("m{i}")));
            if pending.is_empty() {
                break;
            }
            if attempt == 1 {
                return Err(AdapterError::InvalidRequest {
                    operation: SEND,
                    detail: format!("{} messages were refused twice ({sent} sent)", pending.len()),
                });
            }
        }
    }
    Ok(sent)
}
