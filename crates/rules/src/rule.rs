//! What a rule is: metadata plus one small function over the inventory.

use chrono::{DateTime, Utc};
use std::any::Any;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::change::{ChangeKind, Unmoved};
use crate::inventory::{AuthorizationDetails, CredentialReport, DataSource, Inventory};
pub use crate::types::{Control, ResourceType, Severity, Standard};

/// Which data sources a rule needs before it can say anything.
#[derive(Debug, Clone, Copy)]
pub enum Requires {
    /// Every one of these.
    All(&'static [DataSource]),
    /// At least one of these.
    Any(&'static [DataSource]),
}

/// Documentation of one rule parameter. The defaults come from the rule's parameter type.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ParamDoc {
    pub name: &'static str,
    pub description: &'static str,
}

/// A rule's metadata: everything but the check itself.
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    /// Stable, user-facing id (findings, SSM parameter names, SNS attributes).
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub resource_type: ResourceType,
    /// What fails, in one sentence.
    pub description: &'static str,
    /// Why it matters.
    pub rationale: &'static str,
    /// The general fix; findings carry the concrete commands for their resource.
    pub remediation: &'static str,
    /// Benchmarks and source documents this rule maps to, as text.
    pub standards: &'static [&'static str],
    /// The controls of published standards (CIS AWS Foundations, FSBP) this rule implements.
    pub controls: &'static [Control],
    /// The data it reads (documentation; what is enforced is `requires`).
    pub data: &'static [DataSource],
    #[serde(skip)]
    pub requires: Requires,
    /// Rules that count over the whole account (admins, "no users") cannot run on a
    /// targeted, one-entity inventory, unless it carries the account-wide facts they read.
    pub needs_complete_account: WholeAccount,
    /// How its findings on one resource are told apart (their discriminators).
    pub keys: Keys,
    /// The kinds of IAM change that can move its verdict: an event of one of these kinds
    /// evaluates it (empty: only sweeps do).
    pub moved_by: &'static [ChangeKind],
    /// For the attachment kinds in `moved_by` (a managed policy attached to or detached from a
    /// user, group or role): the AWS managed policy, by name, whose attach or detach alone can
    /// move the rule, in any partition; an event attaching or detaching any other policy does not
    /// evaluate it ([`Meta::moved_by_attachment_of`]). `None`: any attachment can move it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved_by_policy: Option<&'static str>,
    pub enabled_by_default: bool,
    pub params: &'static [ParamDoc],
}

/// What a rule reads of the account as a whole (every user, group and role), and what an
/// event-path run may give it instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WholeAccount {
    /// Nothing: it reads the entities it is given.
    NotNeeded,
    /// Every user, group and role: on a targeted inventory (`AuthorizationDetails::complete`
    /// false) it reports `not_evaluated`.
    Required,
    /// Every principal, or the account's administrators known without them
    /// ([`Inventory::admins`](crate::Inventory::admins), from the administrator roster).
    OrAdmins,
    /// Every entity, or every attachment of the policies in question
    /// ([`Inventory::policy_entities`](crate::Inventory::policy_entities)).
    OrPolicyEntities,
    /// Every group, or the groups in question read with their members
    /// ([`Inventory::group_members`](crate::Inventory::group_members)).
    OrGroupMembers,
    /// Every role, or every entity the one AWS managed policy the rule watches
    /// ([`Meta::moved_by_policy`]) is attached to, read for that policy alone
    /// ([`Inventory::policy_entities`](crate::Inventory::policy_entities)); the rule says
    /// `not_evaluated` when that policy's entry is not among them.
    OrPolicyHolders,
}

impl WholeAccount {
    /// Whether the inventory gives the rule what it needs.
    pub fn met_by(self, inventory: &Inventory) -> bool {
        let complete = inventory.authorization.as_ref().is_none_or(|a| a.complete);
        match self {
            WholeAccount::NotNeeded => true,
            WholeAccount::Required => complete,
            WholeAccount::OrAdmins => complete || inventory.admins.is_some(),
            WholeAccount::OrPolicyEntities => complete || inventory.policy_entities.is_some(),
            WholeAccount::OrGroupMembers => complete || inventory.group_members.is_some(),
            WholeAccount::OrPolicyHolders => complete || inventory.policy_entities.is_some(),
        }
    }
}

/// The discriminators a rule's findings on one resource can carry (see [`Hit::discriminator`]).
/// With the rule id and the resource ARN they make the fingerprint, so a run that knows which
/// resources it looked at can name every finding that could exist on them, and read just
/// those from the finding state.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Keys {
    /// Exact discriminators (`""`: one finding per resource).
    pub fixed: &'static [&'static str],
    /// A prefix for discriminators made from a name (`inline:<policy name>`, `event:<id>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub named: Option<&'static str>,
}

impl Keys {
    /// One finding per resource.
    pub const ONE: Keys = Keys { fixed: &[""], named: None };
    /// One finding per access key slot of the credential report.
    pub const ACCESS_KEY_SLOTS: Keys = Keys { fixed: &["key-1", "key-2"], named: None };
    /// One finding per signing certificate slot of the credential report.
    pub const CERTIFICATE_SLOTS: Keys = Keys { fixed: &["cert-1", "cert-2"], named: None };

    /// Whether `discriminator` is one these keys allow.
    pub fn allows(&self, discriminator: &str) -> bool {
        self.fixed.contains(&discriminator) || self.named.is_some_and(|prefix| discriminator.starts_with(prefix))
    }

    /// Every discriminator possible on one resource, given the names known for it (inline
    /// policy names); names apply only when the rule has a `named` prefix.
    pub fn candidates<'n>(&self, names: impl IntoIterator<Item = &'n str>) -> Vec<String> {
        let mut out: Vec<String> = self.fixed.iter().map(|d| d.to_string()).collect();
        if let Some(prefix) = self.named {
            out.extend(names.into_iter().map(|n| format!("{prefix}{n}")));
        }
        out
    }
}

/// What a rule's check sees.
pub struct Ctx<'a> {
    pub inventory: &'a Inventory,
    pub now: DateTime<Utc>,
}

impl<'a> Ctx<'a> {
    /// The authorization details. The engine only calls a rule when its required sources are
    /// present; a rule that reads a source it did not declare gets a `not_evaluated`.
    pub fn aad(&self) -> Result<&'a AuthorizationDetails, NotEvaluated> {
        self.inventory
            .authorization
            .as_ref()
            .ok_or_else(|| NotEvaluated::unreadable(self.inventory.missing_reason(DataSource::AuthorizationDetails)))
    }

    /// The account's administrators: the ones a targeted run was given
    /// ([`Inventory::admins`](crate::Inventory::admins)), or derived from the complete
    /// authorization details.
    pub fn admins(&self) -> Result<std::borrow::Cow<'a, [crate::principals::Admin]>, NotEvaluated> {
        match &self.inventory.admins {
            Some(admins) => Ok(std::borrow::Cow::Borrowed(admins.as_slice())),
            None => Ok(std::borrow::Cow::Owned(crate::principals::admins(self.aad()?))),
        }
    }

    pub fn credential_report(&self) -> Result<&'a CredentialReport, NotEvaluated> {
        self.inventory
            .credential_report
            .as_ref()
            .ok_or_else(|| NotEvaluated::unreadable(self.inventory.missing_reason(DataSource::CredentialReport)))
    }

    /// Whole days from `then` to now (negative when `then` is in the future).
    pub fn days_since(&self, then: DateTime<Utc>) -> i64 {
        (self.now - then).num_days()
    }

    pub fn account_id(&self) -> &'a str {
        &self.inventory.account_id
    }

    /// The organization's accounts, in organization mode (see [`Inventory::organization_accounts`]).
    pub fn organization_accounts(&self) -> Option<&'a std::collections::BTreeSet<String>> {
        self.inventory.organization_accounts.as_ref()
    }

    pub fn root_arn(&self) -> String {
        self.inventory.root_arn()
    }
}

/// A rule could not reach a verdict: why (shown to the user) and what kind of gap it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotEvaluated {
    pub reason: String,
    pub cause: Cause,
}

pub use crate::report::Cause;

impl NotEvaluated {
    /// Data the rule needs could not be read, or was read only in part: a blind spot.
    pub fn unreadable(reason: impl Into<String>) -> Self {
        NotEvaluated { reason: reason.into(), cause: Cause::Unreadable }
    }

    /// The rule needs a setting the team has not given it (a list of approved users).
    pub fn unconfigured(reason: impl Into<String>) -> Self {
        NotEvaluated { reason: reason.into(), cause: Cause::Unconfigured }
    }

    /// AWS does not give the fact the rule decides on (`not_supported` in the credential
    /// report): no permission or setting would let the rule see it.
    pub fn unknowable(reason: impl Into<String>) -> Self {
        NotEvaluated { reason: reason.into(), cause: Cause::Unknowable }
    }

    /// The run's scope does not cover what the rule needs (an event's run reads the entities it
    /// names, not the whole account); the hourly sweep evaluates it.
    pub fn out_of_scope(reason: impl Into<String>) -> Self {
        NotEvaluated { reason: reason.into(), cause: Cause::OutOfScope }
    }
}

/// One failing resource, as a rule reports it. The engine adds severity, status, account and
/// fingerprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub resource_type: ResourceType,
    pub resource_arn: String,
    /// A short name for the resource (user name, role name...).
    pub resource_name: String,
    pub message: String,
    pub remediation: String,
    /// Distinguishes several findings of one rule on one resource (a key slot, an inline
    /// policy name). Part of the fingerprint; empty when there is one finding per resource.
    pub discriminator: String,
    /// Structured facts behind the finding (ages, dates, lists).
    pub details: Value,
    /// A title for this finding when the rule's own does not fit it (a failed attempt on root
    /// is not "Root account used").
    pub title: Option<&'static str>,
}

impl Hit {
    pub fn new(
        resource_type: ResourceType,
        resource_arn: impl Into<String>,
        resource_name: impl Into<String>,
        message: impl Into<String>,
        remediation: impl Into<String>,
    ) -> Self {
        Hit {
            resource_type,
            resource_arn: resource_arn.into(),
            resource_name: resource_name.into(),
            message: message.into(),
            remediation: remediation.into(),
            discriminator: String::new(),
            details: Value::Object(Map::new()),
            title: None,
        }
    }

    pub fn title(mut self, title: &'static str) -> Self {
        self.title = Some(title);
        self
    }

    pub fn discriminator(mut self, discriminator: impl Into<String>) -> Self {
        self.discriminator = discriminator.into();
        self
    }

    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

pub type Outcome = Result<Vec<Hit>, NotEvaluated>;

/// A rule's parameter type: a struct with `#[serde(default, deny_unknown_fields)]` whose
/// `Default` is the documented defaults, so that a parameter the rule does not declare cannot
/// be set and one it reads cannot be missing. Parsed once per run, when the settings are.
pub trait Params: DeserializeOwned + Serialize + Default + Send + Sync + 'static {
    /// Whether the rule, with these parameters, reads this one of its data sources
    /// ([`Meta::data`]). Some sources cost calls only some settings need (`root-mfa` reads the
    /// virtual MFA devices only with `require_hardware`): a sweep collects a source only when
    /// an enabled rule reads it.
    fn reads(&self, source: DataSource) -> bool {
        let _ = source;
        true
    }
}

/// A rule's parameters as parsed from its settings: the rule's own [`Params`] type, or `None`
/// for its defaults.
#[derive(Clone, Default)]
pub struct ParsedParams(Option<Arc<dyn Any + Send + Sync>>);

impl ParsedParams {
    /// The defaults of whatever rule these belong to.
    pub const DEFAULTS: ParsedParams = ParsedParams(None);

    /// These parameters as `P` (the defaults when none were given); `None` when they belong to
    /// a rule with another parameter type.
    pub fn get<P: Params + Clone>(&self) -> Option<std::borrow::Cow<'_, P>> {
        match &self.0 {
            None => Some(std::borrow::Cow::Owned(P::default())),
            Some(any) => any.downcast_ref::<P>().map(std::borrow::Cow::Borrowed),
        }
    }
}

impl std::fmt::Debug for ParsedParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "ParsedParams(..)" } else { "ParsedParams(defaults)" })
    }
}

/// A rule as the engine sees it: metadata, parameter handling and the check.
pub trait Rule: Sync {
    fn meta(&self) -> &Meta;
    /// The rule's parameters with their defaults, as JSON.
    fn default_params(&self) -> Value;
    /// Parse and validate the rule-specific part of its settings; the error names the parameter.
    fn parse_params(&self, raw: &Map<String, Value>) -> Result<ParsedParams, String>;
    /// Whether the rule, with these parameters, reads this source (see [`Params::reads`]).
    fn reads(&self, params: &ParsedParams, source: DataSource) -> bool;
    /// Run the check with its parsed parameters.
    fn run(&self, ctx: &Ctx<'_>, params: &ParsedParams) -> Outcome;
}

/// A rule with a typed parameter struct `P`.
pub struct RuleDef<P> {
    pub meta: Meta,
    pub check: fn(&Ctx<'_>, &P) -> Outcome,
}

impl<P> RuleDef<P> {
    /// The rule's id (`RULE.id()` names a rule in code without repeating its id).
    pub const fn id(&self) -> &'static str {
        self.meta.id
    }
}

/// Parameters of rules that take none.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoParams {}

impl Params for NoParams {}

pub(crate) fn parse_params<P: DeserializeOwned>(raw: &Map<String, Value>) -> Result<P, String> {
    let value = Value::Object(raw.clone());
    serde_path_to_error::deserialize::<_, P>(value).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        if path.is_empty() || path == "." {
            inner
        } else {
            format!("parameter `{path}`: {inner}")
        }
    })
}

impl<P: Params> RuleDef<P> {
    fn with<R>(&self, params: &ParsedParams, f: impl FnOnce(&P) -> R) -> Option<R> {
        match &params.0 {
            None => Some(f(&P::default())),
            Some(any) => any.downcast_ref::<P>().map(f),
        }
    }
}

impl<P: Params> Rule for RuleDef<P> {
    fn meta(&self) -> &Meta {
        &self.meta
    }

    fn default_params(&self) -> Value {
        serde_json::to_value(P::default()).unwrap_or(Value::Null)
    }

    fn parse_params(&self, raw: &Map<String, Value>) -> Result<ParsedParams, String> {
        if raw.is_empty() {
            return Ok(ParsedParams::DEFAULTS);
        }
        let params: P = parse_params(raw)?;
        Ok(ParsedParams(Some(Arc::new(params))))
    }

    fn reads(&self, params: &ParsedParams, source: DataSource) -> bool {
        self.meta.data.contains(&source) && self.with(params, |p| p.reads(source)).unwrap_or(true)
    }

    fn run(&self, ctx: &Ctx<'_>, params: &ParsedParams) -> Outcome {
        self.with(params, |p| (self.check)(ctx, p)).unwrap_or_else(|| {
            Err(NotEvaluated::unreadable(format!("internal error: {} was given another rule's parameters", self.meta.id)))
        })
    }
}

impl Meta {
    /// Whether `unmoved` is all that this rule reads of the account as a whole, so that the rule
    /// cannot move when that did not.
    pub fn unmoved_by(&self, unmoved: Unmoved) -> bool {
        self.needs_complete_account
            == match unmoved {
                Unmoved::Administrators => WholeAccount::OrAdmins,
                Unmoved::UnapprovedPolicyUse => WholeAccount::OrPolicyEntities,
                Unmoved::Users => WholeAccount::Required,
            }
    }

    /// Whether an attach or detach of the managed policy `policy_arn` can move the rule (see
    /// [`Meta::moved_by_policy`]); rules that watch no one policy: always.
    pub fn moved_by_attachment_of(&self, policy_arn: &str) -> bool {
        self.moved_by_policy.is_none_or(|name| is_aws_managed(policy_arn, name))
    }
}

/// Whether `arn` is the AWS managed policy `name` (`arn:<partition>:iam::aws:policy/<name>`), in
/// any partition.
pub fn is_aws_managed(arn: &str, name: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:") else { return false };
    let Some((partition, rest)) = rest.split_once(':') else { return false };
    !partition.is_empty() && !partition.contains('/') && rest.strip_prefix("iam::aws:policy/") == Some(name)
}
