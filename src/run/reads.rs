//! What an event reads from IAM: the narrowest read that decides the rules its change moves —
//! the one attachment when its policy cannot change who is an administrator, the one entity
//! through the administrator roster when it can, the one user's credentials, the one account
//! setting — and the whole account only when none of those applies or one of them failed.

use std::time::Instant;

use iam_assurance_aws::attachments;
use iam_assurance_aws::collect::{collect, AuthScope, Collection};
use iam_assurance_aws::state::StateStore;
use iam_assurance_aws::Clients;
use iam_assurance_rules::change::{ChangeKind, Unmoved};
use iam_assurance_rules::inventory::{AuthorizationDetails, Inventory, PolicyEntities, ReportDate, ReportFlag, User};
use iam_assurance_rules::policy::PolicyDocument;
use iam_assurance_rules::principals::{is_known_admin_policy, is_known_deny_policy};
use iam_assurance_rules::roster::Roster;
use iam_assurance_rules::rule::WholeAccount;
use iam_assurance_rules::rules::account::{UnapprovedPolicyParams, UNAPPROVED_POLICY_IN_USE};
use iam_assurance_rules::rules::standards::ACCESS_KEYS_AT_SETUP;
use iam_assurance_rules::{Rule, Settings};

use super::roster_store::{self, StoredRoster};
use super::through_roster::{self, RosterRead, Verdict};
use crate::change::{Change, Entity, Need};

/// What an event read, for the rules its change moves.
pub struct TargetedRead {
    pub inventory: Inventory,
    /// What the read proved unchanged: the rules reading only that are not evaluated.
    pub unmoved: Vec<Unmoved>,
    /// How the run read less than the whole account, and why that is enough (the run JSON's
    /// `trigger.narrowed`).
    pub narrowed: Option<String>,
    /// IAM answered that the event's entity no longer exists.
    pub gone: bool,
    /// Whether the inline policy names the inventory holds were read with their documents (the
    /// roster paths read at most the event's own policy).
    pub inline_documents_read: bool,
    /// The roster to store after the evaluation, with the version it must find.
    pub roster_write: Option<(Roster, Option<u64>)>,
}

/// How an attach or detach of a managed policy is read.
// One exists per event.
#[allow(clippy::large_enum_variant)]
enum AttachmentRead {
    /// The policy neither grants nor denies every action on every resource and is not on the
    /// unapproved list: who is an administrator and the use of unapproved policies cannot
    /// change; only the attachment itself is read (the user, or the group or role when a rule
    /// watches the policy), and for a rule that watches it on roles, the roles it is attached to.
    Narrow { entities: AuthorizationDetails, holders: Option<PolicyEntities>, reason: String },
    /// It can change them: through the administrator roster, when one is kept.
    Roster(Verdict),
    /// The whole account (the policy could not be read).
    Whole,
}

/// Read what `change` needs before `deadline`, with `store` the state table that keeps the
/// administrator roster (as deployed; `None`: no roster is read or stored).
pub async fn read(clients: &Clients, settings: &Settings, store: Option<&StateStore>, change: &Change, deadline: Instant) -> TargetedRead {
    let mut read = TargetedRead {
        inventory: Inventory::default(),
        unmoved: Vec::new(),
        narrowed: None,
        gone: false,
        inline_documents_read: true,
        roster_write: None,
    };
    if change.kind == ChangeKind::Tags {
        if let Some(tagged) = tagged(clients, change).await {
            read.inventory.authorization = Some(tagged.authorization);
            read.gone = tagged.gone;
            read.narrowed = Some(tagged.reason);
            return read;
        }
    }
    let attachment = match change.attached_policy() {
        Some(arn) => Box::pin(attachment(clients, settings, change, arn)).await,
        None => AttachmentRead::Whole,
    };
    let verdict = match attachment {
        AttachmentRead::Narrow { entities, holders, reason } => {
            read.inventory.authorization = Some(entities);
            read.inventory.policy_entities = holders.map(|h| vec![h]);
            read.unmoved = vec![Unmoved::Administrators, Unmoved::UnapprovedPolicyUse];
            read.narrowed = Some(reason);
            return read;
        }
        AttachmentRead::Roster(verdict) => Some(verdict),
        AttachmentRead::Whole => None,
    };
    let need = change.need();
    // A change read from the account's authorization details can change who is an
    // administrator (or a policy's verdict, which the roster keeps): it reads the roster once,
    // to go through it, or, reading the whole account, to rebuild it (the stored one classifies
    // the AWS managed policies whose documents the event does not read).
    let prior = match (store, need) {
        (Some(store), Need::Authorization) => roster_store::read_or_warn(store).await,
        _ => None,
    };
    if let Some(stored) = &prior {
        match Box::pin(through_roster(clients, stored, change, verdict)).await {
            Some(Ok(through)) => {
                read.apply(through);
                return read;
            }
            Some(Err(reason)) => tracing::info!(%reason, "reading the whole account instead of using the administrator roster"),
            None => {}
        }
    }
    if change.kind == ChangeKind::UserRenamed && !change.renames() {
        read.unmoved.push(Unmoved::Administrators); // nothing was renamed
    }
    let mut collection = Collection::default();
    match need {
        Need::UserCredentials(parts) => {
            if let Entity::User(name) = &change.entity {
                collection.user_credentials = Some(name.clone());
                collection.user_credential_parts = parts;
            }
        }
        Need::Authorization => collection.authorization = AuthScope::NoAwsManaged,
        Need::PasswordPolicy => collection.password_policy = true,
        Need::ServerCertificates => collection.server_certificates = true,
    }
    read.inventory = Box::pin(collect(clients, &collection, deadline)).await;
    if let (Some(stored), Some(aad)) = (prior, read.inventory.authorization.as_ref().filter(|a| a.complete)) {
        let roster = Roster::from_aad(aad, stored.roster.as_ref());
        read.inventory.admins = Some(roster.admins());
        if stored.roster.as_ref() != Some(&roster) {
            read.roster_write = Some((roster, stored.version));
        }
    }
    if matches!(need, Need::UserCredentials(_)) {
        add_partial_user(&mut read.inventory, change);
    }
    if change.kind == ChangeKind::AccessKey {
        Box::pin(console_password(clients, settings, &mut read.inventory)).await;
    }
    read
}

/// What a tag event read: the one user or role with its tags.
struct Tagged {
    authorization: AuthorizationDetails,
    gone: bool,
    reason: String,
}

/// A user's or role's tags added or removed: read the user (GetUser) or role (GetRole), which
/// carry their tags; the rules that read tags judge that one entity. `None` (logged): the read
/// failed, and the whole account is read instead.
async fn tagged(clients: &Clients, change: &Change) -> Option<Tagged> {
    let mut authorization = AuthorizationDetails::default();
    let (found, what) = match &change.entity {
        Entity::User(name) => match attachments::user(clients, name).await {
            Ok(user) => (user.map(|u| authorization.users.push(u)).is_some(), format!("user {name}")),
            Err(reason) => {
                tracing::warn!(%reason, user = %name, "cannot read the tagged user; reading the whole account instead");
                return None;
            }
        },
        Entity::Role(name) => match attachments::role(clients, name).await {
            Ok(role) => (role.map(|r| authorization.roles.push(r)).is_some(), format!("role {name}")),
            Err(reason) => {
                tracing::warn!(%reason, role = %name, "cannot read the tagged role; reading the whole account instead");
                return None;
            }
        },
        _ => return None,
    };
    let reason = if found {
        format!("{} changes the tags of {what}, read now with its tags; nothing else was read", change.event_name)
    } else {
        format!("{} changed the tags of {what}, which no longer exists", change.event_name)
    };
    Some(Tagged { authorization, gone: !found, reason })
}

/// An access key event reads the user's keys and their last use, not its console password,
/// which `access-keys-at-setup` needs only for a key it could fail: active, never used. Read it
/// then (GetLoginProfile), when the user has one key: with two, the event already makes its
/// four IAM calls (GetUser, ListAccessKeys, GetAccessKeyLastUsed twice) and the password stays
/// unread, so that rule says it is out of the run's scope and the sweep evaluates it.
async fn console_password(clients: &Clients, settings: &Settings, inventory: &mut Inventory) {
    if !settings.enabled(&ACCESS_KEYS_AT_SETUP.meta) {
        return;
    }
    let Some(row) = inventory.credential_report.as_mut().and_then(|r| r.users.first_mut()) else { return };
    let keys = row.access_keys.iter().filter(|k| k.active || k.last_rotated != ReportDate::Never).count();
    let could_fail = row.access_keys.iter().any(|k| k.active && k.last_used == ReportDate::Never);
    if row.password_enabled != ReportFlag::NotRead || !could_fail || keys > 1 {
        return;
    }
    match iam_assurance_aws::credentials::login_profile(&clients.iam, &row.user).await {
        Ok(Some(login)) => {
            row.password_enabled = if login.is_some() { ReportFlag::True } else { ReportFlag::False };
            row.password_last_changed =
                login.flatten().map_or(ReportDate::Never, |t| ReportDate::At(chrono::SubsecRound::trunc_subsecs(t, 0)));
        }
        Ok(None) => {}
        Err(reason) => tracing::warn!(%reason, user = %row.user, "cannot read whether the user has a console password"),
    }
}

impl TargetedRead {
    /// Take what an event read through the roster.
    fn apply(&mut self, through: RosterRead) {
        self.inventory.authorization = Some(through.authorization);
        self.inventory.admins = Some(through.roster.admins());
        self.inventory.policy_entities = through.policy_entities.map(|p| vec![p]);
        self.inventory.group_members = through.group_members;
        self.gone = through.gone;
        self.unmoved = through.unmoved;
        self.narrowed = Some(through.reason);
        self.inline_documents_read = false;
        if through.changed {
            self.roster_write = Some((through.roster, Some(through.version)));
        }
    }
}

/// The event through the stored roster: `None` when its change has no roster path (or an
/// attachment whose policy could not be read), else what it read or why the whole account must
/// be read instead.
async fn through_roster(
    clients: &Clients,
    stored: &StoredRoster,
    change: &Change,
    verdict: Option<Verdict>,
) -> Option<Result<RosterRead, String>> {
    use ChangeKind as K;
    Some(match change.kind {
        K::UserPolicyAttachment | K::GroupPolicyAttachment | K::RolePolicyAttachment => {
            through_roster::attachment(clients, stored, change, verdict?).await
        }
        K::GroupMembership | K::Group => through_roster::group(clients, stored, change).await,
        K::Role => through_roster::role(clients, stored, change).await,
        K::UserInlinePolicy | K::GroupInlinePolicy | K::RoleInlinePolicy => through_roster::inline(clients, stored, change).await,
        K::Boundary => through_roster::boundary(clients, stored, change).await,
        K::PolicyCreated | K::PolicyVersion => through_roster::policy(clients, stored, change).await,
        K::UserDeleted => through_roster::deleted_user(clients, stored, change).await,
        K::UserRenamed => through_roster::renamed_user(clients, stored, change).await,
        K::UserCreated
        | K::Tags
        | K::AccessKey
        | K::ConsoleAccess
        | K::SigningCertificate
        | K::PasswordPolicy
        | K::ServerCertificate
        | K::RootActivity => return None,
    })
}

/// An attach or detach of a managed policy used to recount administrators and the use of
/// unapproved policies from the whole account's authorization details: `ceil(entities / 1000)`
/// pages. Neither can change when the policy neither grants nor denies every action on every
/// resource (the two things that decide administrator access, see `principals`) and is not on
/// the unapproved list: then the event reads the policy's document (GetPolicy,
/// GetPolicyVersion) and, for a user, the user's attached policies (GetUser,
/// ListAttachedUserPolicies): four calls whatever the account's size. Otherwise it goes through
/// the roster; the AWS managed `AdministratorAccess` and `AWSDenyAll` are judged by their ARN,
/// without a read. A document that cannot be read or parsed is logged and the whole account is
/// read.
async fn attachment(clients: &Clients, settings: &Settings, change: &Change, arn: &str) -> AttachmentRead {
    let unapproved = on_unapproved_list(settings, arn);
    let (grants, denies) = if is_known_admin_policy(arn) {
        (true, false)
    } else if is_known_deny_policy(arn) {
        (false, true)
    } else {
        let document = match attachments::policy_document(clients, arn).await {
            Ok(Some(document)) => document,
            Ok(None) => return AttachmentRead::Whole,
            Err(reason) => {
                tracing::warn!(%reason, policy = %arn, "cannot read the attached policy; reading the whole account instead");
                return AttachmentRead::Whole;
            }
        };
        match PolicyDocument::parse_str(&document) {
            Ok(document) => (document.grants_full_admin(), document.denies_everything()),
            Err(reason) => {
                tracing::warn!(%reason, policy = %arn, "cannot parse the attached policy; reading the whole account instead");
                return AttachmentRead::Whole;
            }
        }
    };
    if grants || denies || unapproved {
        return AttachmentRead::Roster(Verdict { grants, denies, unapproved });
    }
    let mut reason = format!(
        "{arn} neither grants nor denies every action on every resource and is not on the unapproved list: \
administrator counts and unapproved policy use cannot change, so only the attachment itself was evaluated"
    );
    // The rules that watch this very policy and run: the entity's attached policies (a user's
    // are read in any case), and for a rule that counts the roles holding it, those roles.
    let watching: Vec<&'static dyn Rule> =
        change.rules().into_iter().filter(|r| r.meta().moved_by_policy.is_some() && settings.enabled(r.meta())).collect();
    let on_entities = watching.iter().any(|r| r.meta().needs_complete_account != WholeAccount::OrPolicyHolders);
    let on_roles = watching.iter().any(|r| r.meta().needs_complete_account == WholeAccount::OrPolicyHolders);
    let mut entities = AuthorizationDetails::default();
    let read = match &change.entity {
        Entity::User(name) => attachments::user_with_attached_policies(clients, name).await.map(|u| entities.users.extend(u)),
        Entity::Group(name) if on_entities => {
            attachments::group_with_members(clients, name).await.map(|g| entities.groups.extend(g.map(|(group, _)| group)))
        }
        Entity::Role(name) if on_entities => {
            attachments::role_with_attached_policies(clients, name).await.map(|r| entities.roles.extend(r))
        }
        _ => Ok(()),
    };
    if let Err(reason) = read {
        tracing::warn!(%reason, entity = ?change.entity, "cannot read the entity's attached policies; reading the whole account instead");
        return AttachmentRead::Whole;
    }
    let holders = if on_roles {
        match attachments::policy_roles(clients, arn).await {
            Ok(Some(holders)) => {
                reason += &format!(", with the roles {arn} is attached to (ListEntitiesForPolicy)");
                Some(holders)
            }
            // Deleted since (an AWS managed policy is not): nothing to count the roles from.
            Ok(None) => None,
            Err(reason) => {
                tracing::warn!(%reason, policy = %arn, "cannot read the roles the policy is attached to; reading the whole account instead");
                return AttachmentRead::Whole;
            }
        }
    } else {
        None
    };
    AttachmentRead::Narrow { entities: AuthorizationDetails { complete: false, ..entities }, holders, reason }
}

/// Whether `unapproved-policy-in-use` runs and lists the policy (by name or ARN, as the rule
/// matches): then attaching or detaching it changes that rule's finding. Settings that cannot
/// be read count as listed.
fn on_unapproved_list(settings: &Settings, arn: &str) -> bool {
    if !settings.enabled(&UNAPPROVED_POLICY_IN_USE.meta) {
        return false;
    }
    let Some(params) = settings.rule(UNAPPROVED_POLICY_IN_USE.id()).ok().and_then(|r| r.params.get::<UnapprovedPolicyParams>()) else {
        return true;
    };
    let name = arn.rsplit('/').next().unwrap_or(arn);
    params.unapproved.match_name_or_arn(name, arn).is_some()
}

/// On the credential path the inventory holds the user's live credential row; give the rules
/// that read user names (approved-users) a partial view with just that user.
fn add_partial_user(inventory: &mut Inventory, change: &Change) {
    let Entity::User(name) = &change.entity else { return };
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
        tags: None,
    };
    inventory.authorization = Some(AuthorizationDetails { users: vec![user], complete: false, ..Default::default() });
}
