//! The live path: settings from SSM (or a file), an inventory from IAM, the rules, what
//! changed to SNS. Shared by the Lambda handler and the `sweep` / `invoke` commands.
//!
//! Publishing goes through the finding state when there is a state table (`STATE_TABLE`):
//! load the state (a sweep scans it; an event reads only the items it can change), plan the
//! notices ([`crate::alerts`]), claim each one with a conditional write, publish what was
//! claimed, then record the rest; a thousand findings at a time, then the resolutions, then
//! a sweep's digest. A notice whose claim
//! fails (another invocation claimed it first) is not published here; a message that could
//! not be published has its claim released, so the retry or the next run sends it. Without
//! a state table every open finding is published as new, every run.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use iam_assurance_aws::collect::{collect, AuthScope, Plan};
use iam_assurance_aws::sns::MAX_BATCH_ENTRIES;
use iam_assurance_aws::state::{StateStore, StateWrite, WriteOutcome};
use iam_assurance_aws::{sns, ssm, Clients};
use iam_assurance_rules::inventory::{AuthorizationDetails, Inventory, User};
use iam_assurance_rules::principals::{is_known_admin_policy, is_known_deny_policy};
use iam_assurance_rules::report::{Finding, FindingStatus, RuleStatus, RuleSummary};
use iam_assurance_rules::roster::Roster;
use iam_assurance_rules::{evaluate, evaluate_only, Settings};
use serde_json::{json, Value};

use crate::alerts::{self, Claim, Notice, Observation, RunKind, Scope};
use crate::event::{route, Entity, Need, Route, Targeted, ADMIN_RULES};
use crate::notify::{self, Change, DigestInput, MessageContext};
use crate::output::RunOutput;

/// Where settings come from.
#[derive(Debug, Clone)]
pub enum SettingsSource {
    /// SSM Parameter Store under this prefix (`<prefix>/rules/<rule-id>`).
    Ssm(String),
    /// A JSON file `{ "<rule-id>": {...} }`.
    File(PathBuf),
}

/// How the live path runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: SettingsSource,
    /// The settings prefix, for the "how to change this rule" text in messages.
    pub settings_prefix: String,
    /// Publish findings to this topic; `None` = do not publish (and leave the state alone).
    pub topic_arn: Option<String>,
    /// The finding-state table; `None` = no state: every open finding is published as new.
    pub state_table: Option<String>,
    /// How long collection may wait on IAM (credential report generation...).
    pub time_budget: Duration,
}

impl Config {
    /// From the environment: `SETTINGS_PREFIX` (default `/iam-assurance`), `FINDINGS_TOPIC_ARN`,
    /// `STATE_TABLE`.
    pub fn from_env() -> Self {
        let prefix = std::env::var("SETTINGS_PREFIX").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "/iam-assurance".into());
        let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Config {
            settings: SettingsSource::Ssm(prefix.clone()),
            settings_prefix: prefix,
            topic_arn: var("FINDINGS_TOPIC_ARN"),
            state_table: var("STATE_TABLE"),
            time_budget: Duration::from_secs(240),
        }
    }
}

/// Why a run failed. Settings, state and publishing failures fail the invocation so Lambda
/// retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("cannot read settings: {0}")]
    Settings(String),
    #[error("cannot publish findings: {0}")]
    Publish(String),
    #[error("cannot use the finding state: {0}")]
    State(String),
}

async fn load_settings(clients: &Clients, config: &Config) -> Result<Settings, RunError> {
    match &config.settings {
        SettingsSource::Ssm(prefix) => ssm::load_settings(clients, prefix).await.map_err(|e| RunError::Settings(e.to_string())),
        SettingsSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| RunError::Settings(format!("{}: {e}", path.display())))?;
            Settings::from_json_text(&text).map_err(|e| RunError::Settings(format!("{}: {e}", path.display())))
        }
    }
}

fn param_bool(settings: &Settings, rule: &str, key: &str) -> bool {
    settings.rule(rule).ok().and_then(|r| r.params.get(key).and_then(Value::as_bool)).unwrap_or(false)
}

fn enabled(settings: &Settings, rule: &str) -> bool {
    let default = iam_assurance_rules::catalog::find(rule).map(|r| r.meta().enabled_by_default).unwrap_or(false);
    settings.rule(rule).ok().and_then(|r| r.enabled).unwrap_or(default)
}

/// A full sweep of the account.
pub async fn sweep(clients: &Clients, config: &Config, trigger: Value, now: DateTime<Utc>) -> Result<RunOutput, RunError> {
    let started = Instant::now();
    clients.counter.reset();
    let settings = Box::pin(load_settings(clients, config)).await?;
    // The administrator roster is rebuilt from what this sweep reads, and stored if it
    // changed, on the version stored before the sweep read IAM.
    let store = roster_store(clients, config);
    let prior_roster = match &store {
        Some(store) => crate::roster::read_or_warn(store).await,
        None => None,
    };
    let mut plan = Plan::full_sweep();
    plan.virtual_mfa_devices = enabled(&settings, "root-mfa") && param_bool(&settings, "root-mfa", "require_hardware");
    plan.service_last_accessed = enabled(&settings, "user-service-inactivity") || enabled(&settings, "role-service-inactivity");
    let mut inventory = Box::pin(collect(clients, &plan, started + config.time_budget)).await;
    let roster = inventory.authorization.as_ref().filter(|a| a.complete).map(|a| Roster::from_aad(a, None));
    inventory.admins = roster.as_ref().map(Roster::admins);
    let report = evaluate(&inventory, &settings, now);
    // The inventory (tens of MB on a large account) is not needed once evaluated.
    drop(inventory);
    let mut output = RunOutput::from_report(report, trigger, clients.counter.snapshot());
    let kept = match (&store, prior_roster, roster) {
        (Some(store), Some(prior), Some(roster)) => Some(crate::roster::keep_if_changed(store, roster, prior, "sweep", now).await?),
        _ => None,
    };
    if config.topic_arn.is_some() {
        let mut published = {
            let mut obs = Observation::sweep(&output.findings, evaluated(&output.rules), now, settings.global);
            obs.disabled = output.rules.iter().filter(|r| r.status == RuleStatus::Disabled).map(|r| r.rule_id.clone()).collect();
            Box::pin(publish_changes(clients, config, &output, &obs)).await?
        };
        add_roster(&mut published, kept);
        output.published = Some(published);
        output.api_calls = clients.counter.snapshot();
        output.api_calls_total = output.api_calls.values().sum();
    }
    Ok(output)
}

/// The state table holding the administrator roster, when the run publishes through one (as
/// deployed). Without it, or without a topic, no roster is read or written.
fn roster_store(clients: &Clients, config: &Config) -> Option<StateStore> {
    config.topic_arn.as_ref()?;
    config.state_table.as_deref().map(|table| StateStore::new(clients, table))
}

/// `published.roster`: what the run did with the administrator roster.
fn add_roster(published: &mut Value, kept: Option<&'static str>) {
    if let (Some(object), Some(kept)) = (published.as_object_mut(), kept) {
        object.insert("roster".into(), json!(kept));
    }
}

/// Ids of the rules a run evaluated.
fn evaluated(rules: &[RuleSummary]) -> impl Iterator<Item = String> + '_ {
    rules.iter().filter(|r| r.status == RuleStatus::Evaluated).map(|r| r.rule_id.clone())
}

/// The Lambda handler's work for one event.
pub async fn handle_event(clients: &Clients, config: &Config, event: &Value, now: DateTime<Utc>) -> Result<RunOutput, RunError> {
    let account = event.get("account").and_then(Value::as_str).unwrap_or("").to_string();
    match route(event) {
        Route::Ignored { reason } => {
            tracing::info!(%reason, "event ignored");
            Ok(RunOutput::ignored(account, json!({"kind": "ignored", "reason": reason}), now))
        }
        Route::Sweep => {
            let trigger = json!({
                "kind": "schedule",
                "event_id": event.get("id"),
                "time": event.get("time"),
            });
            Box::pin(sweep(clients, config, trigger, now)).await
        }
        route @ Route::CloudTrail { .. } => Box::pin(cloudtrail(clients, config, route, account, now)).await,
    }
}

async fn cloudtrail(clients: &Clients, config: &Config, route: Route, account: String, now: DateTime<Utc>) -> Result<RunOutput, RunError> {
    let Route::CloudTrail { event_id, event_name, event_time, root, mut targeted, skipped } = route else {
        return Ok(RunOutput::ignored(account, json!({"kind": "ignored"}), now));
    };
    let started = Instant::now();
    clients.counter.reset();
    let settings = Box::pin(load_settings(clients, config)).await?;
    let store = roster_store(clients, config);
    // An attachment is evaluated from targeted reads, not from the whole account's
    // authorization details: of the attachment alone when it cannot change who is an
    // administrator, through the administrator roster when it can.
    let path = match &targeted {
        Some(t) => Box::pin(attachment_path(clients, &settings, t)).await,
        None => AttachmentPath::Whole,
    };
    let mut narrowed: Option<Narrowed> = None;
    let mut verdict: Option<crate::roster::Verdict> = None;
    match path {
        AttachmentPath::Narrow(n) => narrowed = Some(*n),
        AttachmentPath::Admin(v) => verdict = Some(v),
        AttachmentPath::Whole => {}
    }
    if let (Some(n), Some(t)) = (&narrowed, targeted.as_mut()) {
        t.rules = n.rules.clone();
        t.need = Need::Nothing;
    }
    // An event that can change who is an administrator (or a policy's verdict, which the roster
    // keeps) reads the roster once: to evaluate the event through it, or, reading the whole
    // account, to rebuild it (the stored one classifies the AWS managed policies whose documents
    // the event does not read).
    let can_change_admins = targeted.as_ref().is_some_and(|t| {
        let renamed_user = t.event_name == "UpdateUser" && t.related.is_some();
        renamed_user
            || t.need == Need::Authorization
                && (t.rules.iter().any(|r| ADMIN_RULES.contains(r)) || crate::roster::POLICY_EVENTS.contains(&t.event_name.as_str()))
    });
    let prior_roster = match (&store, can_change_admins) {
        (Some(store), true) => crate::roster::read_or_warn(store).await,
        _ => None,
    };
    let through_roster = match (verdict, targeted.as_ref(), &prior_roster) {
        (Some(verdict), Some(t), Some(kept)) => Some(Box::pin(crate::roster::attachment(clients, kept, t, verdict)).await),
        (None, Some(t), Some(kept)) if crate::roster::GROUP_EVENTS.contains(&t.event_name.as_str()) => {
            Some(Box::pin(crate::roster::group(clients, kept, t)).await)
        }
        (None, Some(t), Some(kept)) if crate::roster::ROLE_EVENTS.contains(&t.event_name.as_str()) => {
            Some(Box::pin(crate::roster::role(clients, kept, t)).await)
        }
        (None, Some(t), Some(kept)) if crate::roster::INLINE_EVENTS.contains(&t.event_name.as_str()) => {
            Some(Box::pin(crate::roster::inline(clients, kept, t)).await)
        }
        (None, Some(t), Some(kept)) if crate::roster::BOUNDARY_EVENTS.contains(&t.event_name.as_str()) => {
            Some(Box::pin(crate::roster::boundary(clients, kept, t)).await)
        }
        (None, Some(t), Some(kept)) if crate::roster::POLICY_EVENTS.contains(&t.event_name.as_str()) => {
            Some(Box::pin(crate::roster::policy(clients, kept, t)).await)
        }
        (None, Some(t), Some(kept)) if t.event_name == "DeleteUser" => Some(Box::pin(crate::roster::deleted_user(clients, kept, t)).await),
        (None, Some(t), Some(kept)) if t.event_name == "UpdateUser" => Some(Box::pin(crate::roster::renamed_user(clients, kept, t)).await),
        _ => None,
    };
    let through_roster = match through_roster {
        Some(Ok(read)) => Some(read),
        Some(Err(reason)) => {
            tracing::info!(%reason, "reading the whole account instead of using the administrator roster");
            None
        }
        None => None,
    };
    if let (Some(a), Some(t)) = (&through_roster, targeted.as_mut()) {
        t.rules = a.rules.clone();
        t.need = Need::Nothing;
    }
    let mut plan = Plan::default();
    if let Some(t) = &targeted {
        match t.need {
            Need::UserCredentials(parts) => {
                if let Entity::User(name) = &t.entity {
                    plan.user_credentials = Some(name.clone());
                    plan.user_credential_parts = parts;
                }
            }
            Need::Authorization => plan.authorization = AuthScope::NoAwsManaged,
            Need::PasswordPolicy => plan.password_policy = true,
            Need::ServerCertificates => plan.server_certificates = true,
            Need::Nothing => {}
        }
    }
    let mut inventory =
        if targeted.is_some() { Box::pin(collect(clients, &plan, started + config.time_budget)).await } else { Inventory::default() };
    let mut narrowed_reason = narrowed.map(|n| {
        inventory.authorization = Some(AuthorizationDetails { users: n.user.into_iter().collect(), complete: false, ..Default::default() });
        n.reason
    });
    // The roster to store after the evaluation, with the version it must find.
    let mut roster_write: Option<(Roster, Option<u64>)> = None;
    // The targeted read found the event's entity deleted.
    let mut read_gone = false;
    // Whether the inline policy names the inventory holds were read with their documents (the
    // roster paths read at most the event's own policy).
    let inline_documents_read = through_roster.is_none();
    if let Some(a) = through_roster {
        inventory.authorization = Some(a.authorization);
        inventory.admins = Some(a.roster.admins());
        inventory.policy_entities = a.policy_entities.map(|p| vec![p]);
        inventory.group_members = a.group_members;
        read_gone = a.gone;
        narrowed_reason = Some(a.reason);
        if a.changed {
            roster_write = Some((a.roster, Some(a.version)));
        }
    } else if let (Some(kept), Some(aad)) = (prior_roster, inventory.authorization.as_ref().filter(|a| a.complete)) {
        let roster = Roster::from_aad(aad, kept.roster.as_ref());
        inventory.admins = Some(roster.admins());
        if kept.roster.as_ref() != Some(&roster) {
            roster_write = Some((roster, kept.version));
        }
    }
    if inventory.account_id.is_empty() {
        inventory.account_id = account;
    }
    if inventory.partition.is_empty() {
        inventory.partition = "aws".into();
    }
    if let Some(t) = targeted.as_ref().filter(|t| matches!(t.need, Need::UserCredentials(_))) {
        add_partial_user(&mut inventory, t);
    }
    let mut rules: Vec<&str> = targeted.as_ref().map(|t| t.rules.clone()).unwrap_or_default();
    if let Some(activity) = &root {
        inventory.root_activity = Some(vec![activity.clone()]);
        rules.push("root-usage");
    }
    let mut report = evaluate_only(&inventory, &settings, now, &rules);
    // Everything the evaluation produced, before the report keeps what concerns the entity:
    // nothing it saw is called resolved.
    let present: BTreeSet<String> = report.findings.iter().map(|f| f.fingerprint.clone()).collect();
    let gone: Option<String> = targeted.as_ref().and_then(|t| deleted_entity_arn(t, &inventory, read_gone));
    let mut scope = match &targeted {
        Some(t) => scope_of(t, &inventory),
        None => Scope::Nothing,
    };
    if let (Some(arn), Scope::Resources { arns, .. }) = (&gone, &mut scope) {
        arns.push(arn.clone());
    }
    if targeted.is_some() {
        keep_relevant(&mut report.findings, &scope);
        for summary in &mut report.rules {
            let of_rule = report.findings.iter().filter(|f| f.rule_id == summary.rule_id);
            summary.failed = of_rule.clone().filter(|f| f.status == FindingStatus::Open).count();
            summary.suppressed = of_rule.filter(|f| f.status == FindingStatus::Suppressed).count();
            if summary.status != RuleStatus::Evaluated {
                summary.failed = 0;
            }
        }
    }
    // Only the rules the change can move resolve findings (root-usage, added for root
    // activity, reports incidents, which never resolve).
    let targeted_rules: Vec<&str> = targeted.as_ref().map(|t| t.rules.clone()).unwrap_or_default();
    let resolvable: BTreeSet<String> = report
        .rules
        .iter()
        .filter(|r| r.status == RuleStatus::Evaluated && targeted_rules.contains(&r.rule_id.as_str()))
        .map(|r| r.rule_id.clone())
        .collect();
    let trigger = json!({
        "kind": "cloudtrail",
        "event_id": event_id,
        "event_name": event_name,
        "event_time": event_time,
        "root_activity": root.is_some(),
        "entity": targeted.as_ref().map(|t| &t.entity),
        "related": targeted.as_ref().and_then(|t| t.related.as_ref()),
        "skipped": skipped,
        "narrowed": narrowed_reason,
    });
    let state_keys = match &targeted {
        Some(t) => candidate_fingerprints(t, &inventory, &scope, &resolvable, inline_documents_read),
        None => BTreeSet::new(),
    };
    let state_keys: BTreeSet<String> = state_keys
        .into_iter()
        // Any rule's findings on a deleted entity (its inline policies' names are not known).
        .chain(possible_fingerprints(iam_assurance_rules::catalog::all().iter().copied(), gone.as_slice(), &[]))
        .chain(report.findings.iter().map(|f| f.fingerprint.clone()))
        .collect();
    drop(inventory);
    let mut output = RunOutput::from_report(report, trigger, clients.counter.snapshot());
    let kept = match (&store, roster_write) {
        (Some(store), Some((roster, expect))) => {
            Some(crate::roster::keep(store, &roster, expect, &format!("event {event_id} ({event_name})"), now).await?)
        }
        _ => None,
    };
    if config.topic_arn.is_some() {
        let mut published = {
            let obs = Observation {
                kind: RunKind::Event,
                findings: &output.findings,
                present,
                resolvable,
                scope,
                disabled: BTreeSet::new(),
                gone: gone.into_iter().collect(),
                state_keys: Some(state_keys),
                now,
                global: settings.global,
            };
            Box::pin(publish_changes(clients, config, &output, &obs)).await?
        };
        add_roster(&mut published, kept);
        output.published = Some(published);
        output.api_calls = clients.counter.snapshot();
        output.api_calls_total = output.api_calls.values().sum();
    }
    Ok(output)
}

/// Attach and detach events of a managed policy.
const ATTACHMENT_EVENTS: &[&str] =
    &["AttachUserPolicy", "DetachUserPolicy", "AttachGroupPolicy", "DetachGroupPolicy", "AttachRolePolicy", "DetachRolePolicy"];

/// What an attachment event evaluates when it cannot change who is an administrator.
struct Narrowed {
    /// The rules that remain: `user-attached-policies` for a user, none for a group or role.
    rules: Vec<&'static str>,
    /// The user with its directly attached policies (`None`: no such user any more).
    user: Option<User>,
    /// Why, for the run JSON.
    reason: String,
}

/// How an attach or detach of a managed policy is evaluated.
enum AttachmentPath {
    /// It cannot change who is an administrator nor the use of an unapproved policy.
    Narrow(Box<Narrowed>),
    /// It can: through the administrator roster, when one is kept.
    Admin(crate::roster::Verdict),
    /// The whole account's authorization details (not an attachment, or its policy could not
    /// be read).
    Whole,
}

/// An attach or detach of a managed policy used to recount administrators (min-admins,
/// max-admins) and the use of unapproved policies from the whole account's authorization
/// details: `ceil(entities / 1000)` pages. Neither can change when the policy neither grants
/// nor denies every action on every resource (the two things that decide administrator
/// access, see `principals`) and is not on the unapproved list: then the event reads the
/// policy's document (GetPolicy, GetPolicyVersion) and, for a user, the user's attached
/// policies (GetUser, ListAttachedUserPolicies): four calls whatever the account's size
/// ([`AttachmentPath::Narrow`]). Otherwise the verdict goes to the roster path
/// ([`crate::roster::attachment`]); the AWS managed `AdministratorAccess` and `AWSDenyAll` are
/// judged by their ARN, without a read. A document that cannot be read or parsed is logged
/// and the whole account is read.
async fn attachment_path(clients: &Clients, settings: &Settings, t: &Targeted) -> AttachmentPath {
    if !ATTACHMENT_EVENTS.contains(&t.event_name.as_str()) {
        return AttachmentPath::Whole;
    }
    let Some(Entity::Policy(arn)) = &t.related else { return AttachmentPath::Whole };
    if !arn.starts_with("arn:") {
        return AttachmentPath::Whole;
    }
    let unapproved = on_unapproved_list(settings, arn);
    let (grants, denies) = if is_known_admin_policy(arn) {
        (true, false)
    } else if is_known_deny_policy(arn) {
        (false, true)
    } else {
        let document = match iam_assurance_aws::attachments::policy_document(clients, arn).await {
            Ok(Some(document)) => document,
            Ok(None) => return AttachmentPath::Whole,
            Err(reason) => {
                tracing::warn!(%reason, policy = %arn, "cannot read the attached policy; reading the whole account instead");
                return AttachmentPath::Whole;
            }
        };
        match iam_assurance_rules::policy::PolicyDocument::parse_str(&document) {
            Ok(document) => (document.grants_full_admin(), document.denies_everything()),
            Err(reason) => {
                tracing::warn!(%reason, policy = %arn, "cannot parse the attached policy; reading the whole account instead");
                return AttachmentPath::Whole;
            }
        }
    };
    if grants || denies || unapproved {
        return AttachmentPath::Admin(crate::roster::Verdict { grants, denies, unapproved });
    }
    let reason = format!(
        "{arn} neither grants nor denies every action on every resource and is not on the unapproved list: \
administrator counts and unapproved policy use cannot change, so only the attachment itself was evaluated"
    );
    match &t.entity {
        Entity::User(name) => match iam_assurance_aws::attachments::user_with_attached_policies(clients, name).await {
            Ok(user) => AttachmentPath::Narrow(Box::new(Narrowed { rules: vec!["user-attached-policies"], user, reason })),
            Err(reason) => {
                tracing::warn!(%reason, user = %name, "cannot read the user's attached policies; reading the whole account instead");
                AttachmentPath::Whole
            }
        },
        _ => AttachmentPath::Narrow(Box::new(Narrowed { rules: Vec::new(), user: None, reason })),
    }
}

/// Whether `unapproved-policy-in-use` is enabled and lists the policy (by name or ARN, as the
/// rule matches): then attaching or detaching it changes that rule's finding. Unreadable
/// settings count as listed.
fn on_unapproved_list(settings: &Settings, arn: &str) -> bool {
    let id = "unapproved-policy-in-use";
    if !enabled(settings, id) {
        return false;
    }
    let Ok(rule) = settings.rule(id) else { return true };
    let Ok(params) = serde_json::from_value::<iam_assurance_rules::rules::account::UnapprovedPolicyParams>(Value::Object(rule.params))
    else {
        return true;
    };
    let name = arn.rsplit('/').next().unwrap_or(arn);
    params.unapproved.match_name_or_arn(name, arn).is_some()
}

/// On the credential path the inventory holds the user's live credential row; give the
/// rules that read user names (approved-users) a partial view with just that user.
fn add_partial_user(inventory: &mut Inventory, targeted: &Targeted) {
    let Entity::User(name) = &targeted.entity else { return };
    if inventory.authorization.is_some() {
        return;
    }
    let Some(row) = inventory.credential_report.as_ref().and_then(|r| r.users.iter().find(|u| &u.user == name)) else {
        // The user no longer exists: an empty partial view.
        inventory.authorization = Some(AuthorizationDetails::default());
        return;
    };
    let user = User {
        name: row.user.clone(),
        arn: row.arn.clone(),
        id: String::new(),
        path: String::new(),
        create_date: row.user_creation_time,
        groups: Vec::new(),
        attached_policies: Vec::new(),
        inline_policies: Vec::new(),
        permissions_boundary: None,
    };
    inventory.authorization = Some(AuthorizationDetails { users: vec![user], complete: false, ..Default::default() });
}

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
fn scope_of(targeted: &Targeted, inventory: &Inventory) -> Scope {
    if targeted.entity == Entity::Account {
        return Scope::Account;
    }
    let mut arns = entity_arns(&targeted.entity, inventory);
    if let Some(related) = &targeted.related {
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
fn candidate_fingerprints(
    targeted: &Targeted,
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
    let mut names: Vec<&str> = targeted.inline_policy.iter().map(String::as_str).collect();
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
fn possible_fingerprints<'r>(
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

/// The ARN of the user, group or role a `Delete*` event deleted, when the run's complete read
/// of the account, or its read of the entity itself (`read_gone`: IAM answered that there is no
/// such entity), confirms it is gone: its findings then resolve at once rather than at the next
/// sweep. The event names the entity, not its ARN, which holds the entity's path: the ARN is
/// the one of the default path `/`. Findings on an entity with another path match nothing here
/// and resolve at the next sweep.
fn deleted_entity_arn(targeted: &Targeted, inventory: &Inventory, read_gone: bool) -> Option<String> {
    let (kind, name) = match (&targeted.entity, targeted.event_name.as_str()) {
        (Entity::User(name), "DeleteUser") => ("user", name),
        (Entity::Group(name), "DeleteGroup") => ("group", name),
        (Entity::Role(name), "DeleteRole") => ("role", name),
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
fn keep_relevant(findings: &mut Vec<Finding>, scope: &Scope) {
    findings.retain(|f| f.rule_id == "root-usage" || scope.covers(&f.resource_arn, &f.details));
}

/// Publish what changed: with a state table, the planned notices that this run could claim;
/// without one, every open finding as new. Returns the `published` part of the run JSON.
///
/// `output` gives the trigger, the account and the open findings (for the digest); `obs` what
/// the run saw. Public so that tests can drive the publishing path with any findings.
pub async fn publish_changes(clients: &Clients, config: &Config, output: &RunOutput, obs: &Observation<'_>) -> Result<Value, RunError> {
    let Some(topic) = config.topic_arn.as_deref() else {
        return Ok(json!({"messages": 0, "reason": "no topic (FINDINGS_TOPIC_ARN) to publish to"}));
    };
    let trigger_text = trigger_text(&output.trigger);
    let ctx = MessageContext {
        trigger: &trigger_text,
        settings_prefix: &config.settings_prefix,
        now: obs.now,
        renotify_hours: obs.global.renotify_hours,
    };
    let open: Vec<&Finding> = output.open_findings().collect();
    let settings = json!({"renotify_hours": obs.global.renotify_hours, "notify_min_severity": obs.global.notify_min_severity});

    let Some(table) = config.state_table.as_deref() else {
        let (notices, below) = alerts::stateless(obs.findings, obs.global);
        let notices: Vec<&Notice> = notices.iter().collect();
        let published: Vec<(Change, &Finding)> = notices.iter().map(|n| (n.change, n.finding.as_ref())).collect();
        let (new, resolved, reminders) = digest_lists(&published, obs.kind);
        let input = DigestInput { account_id: &output.account_id, new: &new, resolved: &resolved, reminders, open: &open };
        let digest = notify::digest(&input, &ctx);
        let digest_parts = digest.len();
        let sent = send(clients, topic, messages(&notices, &ctx).chain(digest.messages())).await;
        if let Some(error) = sent.error {
            return Err(RunError::Publish(error));
        }
        return Ok(json!({
            "topic_arn": topic,
            "state": "none",
            "note": "no finding state (STATE_TABLE unset): every open finding is published as new, every run",
            "changes": changes(&published),
            "digest_parts": digest_parts,
            "messages": sent.messages, "batches": sent.batches, "retried": sent.retried,
            "not_published": {"below_min_severity": below},
            "settings": settings,
        }));
    };

    let store = StateStore::new(clients, table);
    let state_error = |e: iam_assurance_aws::AdapterError| RunError::State(e.to_string());
    let loaded = match &obs.state_keys {
        // A sweep: every item, without the stored findings (most of the table's size), then
        // whole the few it may resolve (a resolved message says what was fixed).
        None => {
            let mut loaded = Box::pin(store.load_light()).await.map_err(state_error)?;
            let resolving: BTreeSet<String> =
                loaded.items.values().filter(|p| alerts::may_resolve(obs, p)).map(|p| p.fingerprint.clone()).collect();
            if !resolving.is_empty() {
                let whole = Box::pin(store.get(&resolving)).await.map_err(state_error)?;
                loaded.items.extend(whole.items);
                loaded.skipped.extend(whole.skipped);
            }
            loaded
        }
        Some(keys) => Box::pin(store.get(keys)).await.map_err(state_error)?,
    };
    for reason in &loaded.skipped {
        tracing::warn!(%reason, "state item skipped");
    }
    // The findings a part at a time (a first sweep of a large account has tens of thousands
    // of claims, each with its item), then the resolutions, then the digest of them all.
    let mut committed = Committed::default();
    let mut seen = BTreeSet::new();
    for part in obs.findings.chunks(PLAN_PART) {
        let plan = alerts::plan_findings(obs, part, &loaded.items, &mut seen);
        Box::pin(commit(clients, &store, topic, plan, &ctx, &mut committed)).await?;
    }
    let resolutions = alerts::plan_resolutions(obs, &loaded.items);
    Box::pin(commit(clients, &store, topic, resolutions, &ctx, &mut committed)).await?;

    let published: Vec<(Change, &Finding)> = committed.published.iter().map(Published::entry).collect();
    let (new, resolved, reminders) = digest_lists(&published, obs.kind);
    let input = DigestInput { account_id: &output.account_id, new: &new, resolved: &resolved, reminders, open: &open };
    // Rendered a part at a time as it is sent.
    let digest = notify::digest(&input, &ctx);
    let digest_parts = digest.len();
    let sent = send(clients, topic, digest.messages()).await;
    committed.sent.add(&sent);
    if let Some(error) = sent.error {
        return Err(RunError::Publish(format!(
            "{error} (every finding message was published; {} of the {digest_parts} digest parts were)",
            sent.confirmed
        )));
    }
    let (sent, updates) = (&committed.sent, &committed.updates);
    Ok(json!({
        "topic_arn": topic,
        "state": "dynamodb",
        "state_table": table,
        "changes": changes(&published),
        "digest_parts": digest_parts,
        "messages": sent.messages, "batches": sent.batches, "retried": sent.retried,
        "not_published": {"below_min_severity": committed.below_min_severity, "claimed_by_another_run": committed.taken},
        "state_items": loaded.items.len(),
        "state_items_skipped": loaded.skipped,
        "state_updates": {"written": updates.written, "conflicts": updates.conflicts, "failed": updates.failed},
        "settings": settings,
    }))
}

/// Findings planned and committed together: claims written, messages sent, then the other
/// state writes, before the next part is planned.
const PLAN_PART: usize = 1000;

/// What the committed parts of a plan did.
#[derive(Default)]
struct Committed<'a> {
    /// The notices published (for the digest and the counts).
    published: Vec<Published<'a>>,
    sent: Sent,
    taken: usize,
    below_min_severity: usize,
    updates: Updates,
}

/// A published notice, as the digest needs it. Not the [`Notice`] itself: a `Cow<Finding>` is
/// as large as a finding (hundreds of bytes) even when it borrows, and a first sweep of a large
/// account publishes tens of thousands of notices.
enum Published<'a> {
    /// New or a reminder: one of the run's findings.
    Run(Change, &'a Finding),
    /// Resolved: the finding as stored.
    Stored(Change, Box<Finding>),
}

impl<'a> Published<'a> {
    fn of(notice: &Notice<'a>) -> Self {
        match &notice.finding {
            Cow::Borrowed(f) => Published::Run(notice.change, f),
            Cow::Owned(f) => Published::Stored(notice.change, Box::new(f.clone())),
        }
    }

    fn entry(&self) -> (Change, &Finding) {
        match self {
            Published::Run(change, f) => (*change, f),
            Published::Stored(change, f) => (*change, f),
        }
    }
}

#[derive(Default)]
struct Updates {
    written: usize,
    conflicts: usize,
    failed: usize,
}

/// Claim the plan's notices (a conditional write each: only one invocation wins a notice),
/// publish what was claimed, then record what publishes nothing. A claim that could not be
/// written fails the run before anything of this part is published; a message that could not
/// be published has its claim released so that the retry (or the next run) sends it.
async fn commit<'a>(
    clients: &Clients,
    store: &StateStore,
    topic: &str,
    plan: alerts::Plan<'a>,
    ctx: &MessageContext<'_>,
    committed: &mut Committed<'a>,
) -> Result<(), RunError> {
    committed.below_min_severity += plan.below_min_severity;
    let claims: Vec<&StateWrite> = plan.claims.iter().map(|c| &c.claim).collect();
    let mut claimed: Vec<&Claim> = Vec::new();
    let mut failure: Option<String> = None;
    for (claim, outcome) in plan.claims.iter().zip(Box::pin(store.apply(&claims)).await) {
        match outcome {
            WriteOutcome::Written => claimed.push(claim),
            WriteOutcome::Conflict => committed.taken += 1,
            WriteOutcome::Failed(e) => {
                failure.get_or_insert_with(|| e.to_string());
            }
        }
    }
    if let Some(error) = failure {
        let released = release(store, &claimed).await;
        return Err(RunError::State(format!(
            "{error}; {} messages were published before, none of this part ({released} claims released)",
            committed.sent.messages
        )));
    }

    let notices: Vec<&Notice> = claimed.iter().map(|c| &c.notice).collect();
    let sent = send(clients, topic, messages(&notices, ctx)).await;
    committed.sent.add(&sent);
    if let Some(error) = sent.error {
        // Messages before `confirmed` were published; the findings of the others go back to
        // their prior state so that the retry (or the next run) sends them.
        let unsent = &claimed[sent.confirmed.min(claimed.len())..];
        let released = release(store, unsent).await;
        return Err(RunError::Publish(format!(
            "{error} ({} messages published in all; {released} of the {} unpublished findings released for the next attempt)",
            committed.sent.messages,
            unsent.len()
        )));
    }
    committed.published.extend(claimed.iter().map(|c| Published::of(&c.notice)));

    // Record what publishes nothing. A conflict means another run wrote the item first.
    let updates: Vec<&StateWrite> = plan.updates.iter().collect();
    for (write, outcome) in plan.updates.iter().zip(Box::pin(store.apply(&updates)).await) {
        match outcome {
            WriteOutcome::Written => committed.updates.written += 1,
            WriteOutcome::Conflict => committed.updates.conflicts += 1,
            WriteOutcome::Failed(e) => {
                committed.updates.failed += 1;
                tracing::warn!(fingerprint = %write.fingerprint, error = %e, "state update failed; the next run redoes it");
            }
        }
    }
    Ok(())
}

fn changes(published: &[(Change, &Finding)]) -> Value {
    let count = |change: Change| published.iter().filter(|(c, _)| *c == change).count();
    json!({"new": count(Change::New), "resolved": count(Change::Resolved), "reminder": count(Change::Reminder)})
}

/// For a sweep's digest, the findings published as new and as resolved, and how many
/// reminders were sent (nothing for an event, which sends no digest).
fn digest_lists<'n>(published: &[(Change, &'n Finding)], kind: RunKind) -> (Vec<&'n Finding>, Vec<&'n Finding>, usize) {
    if kind != RunKind::Sweep {
        return (Vec::new(), Vec::new(), 0);
    }
    let of = |change: Change| -> Vec<&Finding> { published.iter().filter(|(c, _)| *c == change).map(|(_, f)| *f).collect() };
    let reminders = published.iter().filter(|(c, _)| *c == Change::Reminder).count();
    (of(Change::New), of(Change::Resolved), reminders)
}

/// The messages to send, in order: one per notice, rendered as it is sent (a large first
/// sweep has tens of thousands, each in three renderings), then the digest parts.
fn messages<'m>(notices: &'m [&'m Notice<'m>], ctx: &'m MessageContext<'m>) -> impl Iterator<Item = sns::OutgoingMessage> + Send + 'm {
    notices.iter().map(move |n| notify::finding_message(&n.finding, n.change, &n.history, ctx))
}

/// What publishing did.
#[derive(Default)]
struct Sent {
    messages: usize,
    batches: usize,
    retried: usize,
    /// Messages known to be published: every message before this index.
    confirmed: usize,
    error: Option<String>,
}

impl Sent {
    fn add(&mut self, other: &Sent) {
        self.messages += other.messages;
        self.batches += other.batches;
        self.retried += other.retried;
    }
}

/// Publish ten messages (one batch) at a time, in order, stopping at the first failure, so
/// that the caller knows which messages were published.
async fn send(clients: &Clients, topic: &str, messages: impl Iterator<Item = sns::OutgoingMessage> + Send) -> Sent {
    let mut sent = Sent::default();
    let mut messages = messages;
    loop {
        let chunk: Vec<sns::OutgoingMessage> = messages.by_ref().take(MAX_BATCH_ENTRIES).collect();
        if chunk.is_empty() {
            break;
        }
        match Box::pin(sns::publish(clients, topic, &chunk)).await {
            Ok(stats) => {
                sent.messages += stats.published;
                sent.batches += stats.batches;
                sent.retried += stats.retried;
                sent.confirmed += chunk.len();
            }
            Err(e) => {
                sent.error = Some(e.to_string());
                break;
            }
        }
    }
    sent
}

/// Undo claims (best effort): each item goes back to its prior content, with a newer version.
async fn release(store: &StateStore, claims: &[&Claim<'_>]) -> usize {
    let writes: Vec<&StateWrite> = claims.iter().map(|c| &c.release).collect();
    let mut released = 0;
    for (write, outcome) in writes.iter().zip(Box::pin(store.apply(&writes)).await) {
        match outcome {
            WriteOutcome::Written => released += 1,
            WriteOutcome::Conflict => tracing::warn!(fingerprint = %write.fingerprint, "claim changed since; not released"),
            WriteOutcome::Failed(e) => tracing::error!(fingerprint = %write.fingerprint, error = %e, "cannot release a claim"),
        }
    }
    released
}

/// A one-line description of the trigger for messages.
pub fn trigger_text(trigger: &Value) -> String {
    let kind = trigger.get("kind").and_then(Value::as_str).unwrap_or("run");
    match kind {
        "schedule" => "scheduled sweep".to_string(),
        "manual" => "manual sweep".to_string(),
        "cloudtrail" => {
            let name = trigger.get("event_name").and_then(Value::as_str).unwrap_or("?");
            let time = trigger.get("event_time").and_then(Value::as_str).unwrap_or("");
            format!("CloudTrail event {name} {time}").trim().to_string()
        }
        other => other.to_string(),
    }
}
