//! Privilege escalation: principals whose customer managed or inline policies grant a set of
//! actions known to let them make themselves administrators.
//!
//! The methods are data ([`METHODS`]): each is a set of actions, and what each action must be
//! allowed on (any resource of its kind, or the principal's own user, role, groups or
//! policies). They come from the IAM documentation of the actions (Service Authorization
//! Reference, "Actions defined by AWS Identity and Access Management" and of each compute
//! service) and the published catalogues of IAM escalation paths. A principal holds a method
//! when every action is allowed by an `Allow` statement without a condition on such a resource,
//! no unconditional `Deny` of the principal's policies removes it, and its permissions boundary
//! (when its document is known) allows it too. Principals that already hold administrator
//! access are not reported (they have nothing to escalate to), nor are service-linked roles.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::json;

use crate::inventory::{AttachedPolicy, AuthorizationDetails, DataSource, InlinePolicy};
use crate::policy::{Effect, PolicyDocument, Statement};
use crate::rule::*;

use super::sh;

pub fn rules() -> Vec<&'static dyn Rule> {
    vec![&PRIVILEGE_ESCALATION]
}

/// What an action of a method must be allowed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// Every resource of its kind (`*`, `user/*`, `function:*`): the principal can pick one.
    Any,
    /// The principal itself (its user or role ARN, `${aws:username}`), or any.
    Itself,
    /// A group the user is in, or any group.
    OwnGroup,
    /// A customer managed policy attached to the principal (or to its groups), or any policy.
    OwnPolicy,
}

/// Which principals a method applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Holders {
    Users,
    Roles,
    Both,
}

/// One action a method needs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Need {
    pub action: &'static str,
    pub target: Target,
}

const fn any(action: &'static str) -> Need {
    Need { action, target: Target::Any }
}

const fn itself(action: &'static str) -> Need {
    Need { action, target: Target::Itself }
}

/// A way to become administrator.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Method {
    pub id: &'static str,
    /// How it works, in one sentence.
    pub how: &'static str,
    pub needs: &'static [Need],
    pub holders: Holders,
}

/// Every method the rule knows, each from the documentation of the actions it uses.
pub static METHODS: &[Method] = &[
    Method {
        id: "create-policy-version",
        how: "iam:CreatePolicyVersion with --set-as-default replaces the document of a managed policy attached to the principal with one that allows everything",
        needs: &[Need { action: "iam:CreatePolicyVersion", target: Target::OwnPolicy }],
        holders: Holders::Both,
    },
    Method {
        id: "set-default-policy-version",
        how: "iam:SetDefaultPolicyVersion makes an older, broader version of a managed policy attached to the principal its default",
        needs: &[Need { action: "iam:SetDefaultPolicyVersion", target: Target::OwnPolicy }],
        holders: Holders::Both,
    },
    Method {
        id: "attach-user-policy",
        how: "iam:AttachUserPolicy attaches AdministratorAccess to the user itself",
        needs: &[itself("iam:AttachUserPolicy")],
        holders: Holders::Users,
    },
    Method {
        id: "attach-group-policy",
        how: "iam:AttachGroupPolicy attaches AdministratorAccess to a group the user is in",
        needs: &[Need { action: "iam:AttachGroupPolicy", target: Target::OwnGroup }],
        holders: Holders::Users,
    },
    Method {
        id: "attach-role-policy",
        how: "iam:AttachRolePolicy attaches AdministratorAccess to the role itself",
        needs: &[itself("iam:AttachRolePolicy")],
        holders: Holders::Roles,
    },
    Method {
        id: "attach-role-policy-and-assume",
        how: "iam:AttachRolePolicy attaches AdministratorAccess to a role that sts:AssumeRole then assumes",
        needs: &[any("iam:AttachRolePolicy"), any("sts:AssumeRole")],
        holders: Holders::Both,
    },
    Method {
        id: "put-user-policy",
        how: "iam:PutUserPolicy gives the user itself an inline policy that allows everything",
        needs: &[itself("iam:PutUserPolicy")],
        holders: Holders::Users,
    },
    Method {
        id: "put-group-policy",
        how: "iam:PutGroupPolicy gives a group the user is in an inline policy that allows everything",
        needs: &[Need { action: "iam:PutGroupPolicy", target: Target::OwnGroup }],
        holders: Holders::Users,
    },
    Method {
        id: "put-role-policy",
        how: "iam:PutRolePolicy gives the role itself an inline policy that allows everything",
        needs: &[itself("iam:PutRolePolicy")],
        holders: Holders::Roles,
    },
    Method {
        id: "put-role-policy-and-assume",
        how: "iam:PutRolePolicy gives a role an inline policy that allows everything, and sts:AssumeRole assumes it",
        needs: &[any("iam:PutRolePolicy"), any("sts:AssumeRole")],
        holders: Holders::Both,
    },
    Method {
        id: "add-user-to-group",
        how: "iam:AddUserToGroup adds the user to any group, an administrators' group included",
        needs: &[any("iam:AddUserToGroup")],
        holders: Holders::Users,
    },
    Method {
        id: "create-access-key",
        how: "iam:CreateAccessKey creates an access key for another user, an administrator included, and signs in as it",
        needs: &[any("iam:CreateAccessKey")],
        holders: Holders::Both,
    },
    Method {
        id: "create-login-profile",
        how: "iam:CreateLoginProfile sets a console password on another user that has none, and signs in as it",
        needs: &[any("iam:CreateLoginProfile")],
        holders: Holders::Both,
    },
    Method {
        id: "update-login-profile",
        how: "iam:UpdateLoginProfile changes another user's console password, and signs in as it",
        needs: &[any("iam:UpdateLoginProfile")],
        holders: Holders::Both,
    },
    Method {
        id: "update-assume-role-policy",
        how: "iam:UpdateAssumeRolePolicy makes a privileged role trust the principal, and sts:AssumeRole assumes it",
        needs: &[any("iam:UpdateAssumeRolePolicy"), any("sts:AssumeRole")],
        holders: Holders::Both,
    },
    Method {
        id: "pass-role-lambda",
        how: "iam:PassRole gives a privileged role to a new Lambda function (lambda:CreateFunction) whose code runs with it (lambda:InvokeFunction)",
        needs: &[any("iam:PassRole"), any("lambda:CreateFunction"), any("lambda:InvokeFunction")],
        holders: Holders::Both,
    },
    Method {
        id: "pass-role-lambda-event-source",
        how: "iam:PassRole gives a privileged role to a new Lambda function (lambda:CreateFunction) that an event source mapping runs (lambda:CreateEventSourceMapping)",
        needs: &[any("iam:PassRole"), any("lambda:CreateFunction"), any("lambda:CreateEventSourceMapping")],
        holders: Holders::Both,
    },
    Method {
        id: "update-lambda-code",
        how: "lambda:UpdateFunctionCode replaces the code of an existing function that runs with a privileged role",
        needs: &[any("lambda:UpdateFunctionCode")],
        holders: Holders::Both,
    },
    Method {
        id: "pass-role-ec2",
        how: "iam:PassRole gives a privileged role's instance profile to a new EC2 instance (ec2:RunInstances) whose credentials the principal reads",
        needs: &[any("iam:PassRole"), any("ec2:RunInstances")],
        holders: Holders::Both,
    },
    Method {
        id: "pass-role-cloudformation",
        how: "iam:PassRole gives a privileged role to a new CloudFormation stack (cloudformation:CreateStack) that creates whatever the principal writes in its template",
        needs: &[any("iam:PassRole"), any("cloudformation:CreateStack")],
        holders: Holders::Both,
    },
    Method {
        id: "pass-role-glue",
        how: "iam:PassRole gives a privileged role to a new Glue development endpoint (glue:CreateDevEndpoint) the principal logs in to",
        needs: &[any("iam:PassRole"), any("glue:CreateDevEndpoint")],
        holders: Holders::Both,
    },
    Method {
        id: "update-glue-dev-endpoint",
        how: "glue:UpdateDevEndpoint adds the principal's SSH key to an existing development endpoint that runs with a privileged role",
        needs: &[any("glue:UpdateDevEndpoint")],
        holders: Holders::Both,
    },
    Method {
        id: "pass-role-data-pipeline",
        how: "iam:PassRole gives a privileged role to a new Data Pipeline (datapipeline:CreatePipeline) whose definition (datapipeline:PutPipelineDefinition) runs the principal's commands",
        needs: &[any("iam:PassRole"), any("datapipeline:CreatePipeline"), any("datapipeline:PutPipelineDefinition")],
        holders: Holders::Both,
    },
    Method {
        id: "pass-role-sagemaker-notebook",
        how: "iam:PassRole gives a privileged role to a new SageMaker notebook instance (sagemaker:CreateNotebookInstance) the principal opens (sagemaker:CreatePresignedNotebookInstanceUrl)",
        needs: &[any("iam:PassRole"), any("sagemaker:CreateNotebookInstance"), any("sagemaker:CreatePresignedNotebookInstanceUrl")],
        holders: Holders::Both,
    },
    Method {
        id: "pass-role-codebuild",
        how: "iam:PassRole gives a privileged role to a new CodeBuild project (codebuild:CreateProject) whose build runs the principal's commands (codebuild:StartBuild)",
        needs: &[any("iam:PassRole"), any("codebuild:CreateProject"), any("codebuild:StartBuild")],
        holders: Holders::Both,
    },
];

/// `*`/`?` glob; `fold`: compare ASCII case-insensitively (actions).
pub(crate) fn glob(pattern: &str, text: &str, fold: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if fold {
        (pattern.to_ascii_lowercase().chars().collect(), text.to_ascii_lowercase().chars().collect())
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A resource that covers every resource of its kind: `*`, or an ARN whose resource part is
/// `*`, `user/*`, `function:*`...
fn broad(resource: &str) -> bool {
    if resource == "*" {
        return true;
    }
    let Some(part) = resource.splitn(6, ':').nth(5) else { return false };
    part == "*"
        || part
            .strip_suffix('*')
            .and_then(|kind| kind.strip_suffix('/').or_else(|| kind.strip_suffix(':')))
            .is_some_and(|kind| !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn action_matches(statement: &Statement, action: &str) -> bool {
    match (&statement.action, &statement.not_action) {
        (Some(actions), _) => actions.iter().any(|a| glob(a, action, true)),
        (None, Some(not)) => !not.iter().any(|a| glob(a, action, true)),
        (None, None) => false,
    }
}

/// Whether the statement's resources cover the target: every resource (`own` empty), or one
/// of the principal's own ARNs.
fn resource_covers(statement: &Statement, own: &[String], user_name: Option<&str>) -> bool {
    if statement.not_resource.is_some() {
        // Everything but some resources: broad enough for any target but the excluded ones.
        return statement.not_resource.iter().flatten().all(|r| !own.iter().any(|o| glob(r, o, false)) || own.is_empty());
    }
    statement.resource.iter().flatten().any(|r| {
        let r = match user_name {
            Some(name) => r.replace("${aws:username}", name),
            None => r.clone(),
        };
        broad(&r) || own.iter().any(|o| glob(&r, o, false))
    })
}

/// A policy that reaches a principal: where it comes from, and its document.
struct Reaching<'a> {
    via: String,
    doc: &'a PolicyDocument,
    /// Customer managed or inline: its `Allow` statements count.
    grants: bool,
}

/// The actions a principal holds: allowed by a granting policy, not denied, within the boundary.
struct Principal<'a> {
    policies: Vec<Reaching<'a>>,
    boundary: Option<&'a PolicyDocument>,
    user_name: Option<&'a str>,
    itself: Vec<String>,
    groups: Vec<String>,
    own_policies: Vec<String>,
}

impl Principal<'_> {
    fn own(&self, target: Target) -> &[String] {
        match target {
            Target::Any => &[],
            Target::Itself => &self.itself,
            Target::OwnGroup => &self.groups,
            Target::OwnPolicy => &self.own_policies,
        }
    }

    /// The policy that allows `need`, if it holds.
    fn holds(&self, need: &Need) -> Option<&str> {
        let own = self.own(need.target);
        let covers = |s: &Statement| action_matches(s, need.action) && resource_covers(s, own, self.user_name);
        let denied =
            self.policies.iter().any(|p| p.doc.statements.iter().any(|s| s.effect == Effect::Deny && !s.has_condition && covers(s)));
        if denied {
            return None;
        }
        if let Some(boundary) = self.boundary {
            if !boundary.statements.iter().any(|s| s.effect == Effect::Allow && !s.has_condition && covers(s))
                || boundary.statements.iter().any(|s| s.effect == Effect::Deny && !s.has_condition && covers(s))
            {
                return None;
            }
        }
        self.policies
            .iter()
            .filter(|p| p.grants)
            .find(|p| p.doc.statements.iter().any(|s| s.effect == Effect::Allow && !s.has_condition && covers(s)))
            .map(|p| p.via.as_str())
    }
}

/// The methods a principal holds, each with the policy that allows each of its actions.
fn methods_held(principal: &Principal<'_>, is_user: bool) -> Vec<(&'static Method, Vec<(&'static str, String)>)> {
    METHODS
        .iter()
        .filter(|m| match m.holders {
            Holders::Both => true,
            Holders::Users => is_user,
            Holders::Roles => !is_user,
        })
        .filter_map(|m| {
            let via: Option<Vec<(&'static str, String)>> =
                m.needs.iter().map(|n| principal.holds(n).map(|v| (n.action, v.to_string()))).collect();
            via.map(|v| (m, v))
        })
        .collect()
}

fn reaching<'a>(
    aad: &'a AuthorizationDetails,
    owner: &str,
    attached: &'a [AttachedPolicy],
    inline: &'a [InlinePolicy],
    out: &mut Vec<Reaching<'a>>,
) {
    for a in attached {
        if let Some(Ok(doc)) = aad.policy(&a.arn).and_then(|p| p.document.as_ref()) {
            let grants = !crate::inventory::is_aws_managed_arn(&a.arn);
            out.push(Reaching { via: format!("{owner}policy {}", a.arn), doc, grants });
        }
    }
    for p in inline {
        if let Ok(doc) = &p.document {
            out.push(Reaching { via: format!("{owner}inline policy {}", p.name), doc, grants: true });
        }
    }
}

fn boundary<'a>(aad: &'a AuthorizationDetails, arn: Option<&String>) -> Option<&'a PolicyDocument> {
    arn.and_then(|a| aad.policy(a)).and_then(|p| p.document.as_ref()).and_then(|d| d.as_ref().ok())
}

pub static PRIVILEGE_ESCALATION: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "privilege-escalation",
        title: "Principal can make itself administrator",
        severity: Severity::High,
        resource_type: ResourceType::User,
        description: "A user or role (not service-linked, not already an administrator) holds, through customer managed or inline policies of its own or of its groups, every action of a known privilege escalation method, without a condition and on resources it can pick (or its own user, role, groups or policies); the finding names each method and the policies that allow it.",
        rationale: "A principal that can rewrite its own policies, take another user's credentials, edit a role's trust or pass a role to code it runs is an administrator in waiting: whoever holds its credentials gets full control of the account, and reviews that look only for `*:*` miss it.",
        remediation: "Remove the actions from the named policies, scope their resources to what the principal must manage (not itself, not every user or role), add a condition, or cap the principal with a permissions boundary that denies them.",
        standards: &["Prowler iam_policy_allows_privilege_escalation (reference point)", "IAM documentation: Service Authorization Reference (actions of IAM, STS, Lambda, EC2, CloudFormation, Glue, Data Pipeline, SageMaker, CodeBuild)"],
        controls: &[],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        // A user's groups and the managed policies' documents come from the whole account.
        needs_complete_account: WholeAccount::Required,
        keys: Keys::ONE,
        moved_by: &[],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let aad = ctx.aad()?;
        let admins: BTreeSet<String> = ctx.admins()?.iter().map(|a| a.arn.clone()).collect();
        let mut hits = Vec::new();
        let customer = |attached: &[AttachedPolicy]| -> Vec<String> {
            attached.iter().filter(|a| !crate::inventory::is_aws_managed_arn(&a.arn)).map(|a| a.arn.clone()).collect()
        };
        for user in aad.users.iter().filter(|u| !admins.contains(&u.arn)) {
            let mut policies = Vec::new();
            reaching(aad, "", &user.attached_policies, &user.inline_policies, &mut policies);
            let mut groups = Vec::new();
            let mut own_policies = customer(&user.attached_policies);
            for name in &user.groups {
                let Some(group) = aad.group(name) else { continue };
                reaching(aad, &format!("group {name} "), &group.attached_policies, &group.inline_policies, &mut policies);
                groups.push(group.arn.clone());
                own_policies.extend(customer(&group.attached_policies));
            }
            let principal = Principal {
                policies,
                boundary: boundary(aad, user.permissions_boundary.as_ref()),
                user_name: Some(&user.name),
                itself: vec![user.arn.clone()],
                groups,
                own_policies,
            };
            let held = methods_held(&principal, true);
            if !held.is_empty() {
                hits.push(escalation_hit(ResourceType::User, "user", &user.name, &user.arn, &held));
            }
        }
        for role in aad.roles.iter().filter(|r| !r.is_service_linked() && !admins.contains(&r.arn)) {
            let mut policies = Vec::new();
            reaching(aad, "", &role.attached_policies, &role.inline_policies, &mut policies);
            let principal = Principal {
                policies,
                boundary: boundary(aad, role.permissions_boundary.as_ref()),
                user_name: None,
                itself: vec![role.arn.clone()],
                groups: Vec::new(),
                own_policies: customer(&role.attached_policies),
            };
            let held = methods_held(&principal, false);
            if !held.is_empty() {
                hits.push(escalation_hit(ResourceType::Role, "role", &role.name, &role.arn, &held));
            }
        }
        Ok(hits)
    },
};

fn escalation_hit(
    resource_type: ResourceType,
    kind: &str,
    name: &str,
    arn: &str,
    held: &[(&'static Method, Vec<(&'static str, String)>)],
) -> Hit {
    let text: Vec<String> = held
        .iter()
        .map(|(m, via)| format!("{} ({})", m.id, via.iter().map(|(a, v)| format!("{a} via {v}")).collect::<Vec<_>>().join(", ")))
        .collect();
    let policies: BTreeSet<&str> = held.iter().flat_map(|(_, via)| via.iter().map(|(_, v)| v.as_str())).collect();
    let mut lines =
        vec![format!("# Remove or scope these actions in the policies below (or deny them with a permissions boundary on the {kind}):")];
    let mut by_policy: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (_, via) in held {
        for (action, v) in via {
            by_policy.entry(v.as_str()).or_default().insert(action);
        }
    }
    for (policy, actions) in &by_policy {
        lines.push(format!("#   {policy}: {}", actions.iter().copied().collect::<Vec<_>>().join(", ")));
    }
    lines.push(format!(
        "aws iam put-{kind}-permissions-boundary --{kind}-name {} --permissions-boundary <arn-of-a-boundary-that-denies-them>",
        sh(name)
    ));
    Hit::new(
        resource_type,
        arn,
        name,
        format!("{} {name} can make itself an administrator: {}.", if kind == "user" { "User" } else { "Role" }, text.join("; ")),
        lines.join("\n"),
    )
    .details(json!({
        "methods": held.iter().map(|(m, via)| json!({
            "method": m.id,
            "how": m.how,
            "actions": via.iter().map(|(a, v)| json!({"action": a, "via": v})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "policies": policies,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Inventory, ManagedPolicy};
    use crate::report::Finding;
    use crate::testkit::*;
    use serde_json::{json, Value};

    const BASELINE: &str = "baseline";

    /// An account with one principal (`alice` or `app`) in group `team`, holding the customer
    /// managed policy `baseline` (harmless) and the given inline documents.
    fn account(is_user: bool, inline_docs: Vec<Value>) -> Inventory {
        let mut inv = inventory();
        let baseline = managed(BASELINE, read_only_doc());
        aad(&mut inv).policies.push(baseline.clone());
        aad(&mut inv).groups.push(group("team"));
        if is_user {
            let mut u = user("alice");
            u.groups.push("team".into());
            u.attached_policies.push(attach(&baseline));
            u.inline_policies = inline_docs.into_iter().enumerate().map(|(i, d)| inline(&format!("p{i}"), d)).collect();
            aad(&mut inv).users.push(u);
        } else {
            let mut r = role("app");
            r.attached_policies.push(attach(&baseline));
            r.inline_policies = inline_docs.into_iter().enumerate().map(|(i, d)| inline(&format!("p{i}"), d)).collect();
            aad(&mut inv).roles.push(r);
        }
        inv
    }

    fn holder_is_user(m: &Method) -> bool {
        m.holders != Holders::Roles
    }

    /// The resource a need is granted on: every resource, or the principal's own.
    fn resource(m: &Method, n: &Need) -> String {
        match n.target {
            Target::Any => "*".into(),
            Target::Itself if holder_is_user(m) => user_arn("alice"),
            Target::Itself => role_arn("app"),
            Target::OwnGroup => group_arn("team"),
            Target::OwnPolicy => policy_arn(BASELINE),
        }
    }

    fn grant(m: &Method, condition: bool, resource_of: impl Fn(&Need) -> String) -> Value {
        let statements: Vec<Value> = m
            .needs
            .iter()
            .map(|n| {
                let mut s = json!({"Effect": "Allow", "Action": n.action, "Resource": resource_of(n)});
                if condition {
                    s["Condition"] = json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}});
                }
                s
            })
            .collect();
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    fn methods_of(fs: &[Finding]) -> Vec<String> {
        fs.iter().flat_map(|f| f.details["methods"].as_array().unwrap().iter().map(|m| m["method"].as_str().unwrap().to_string())).collect()
    }

    fn held(inv: &Inventory) -> Vec<String> {
        methods_of(&findings("privilege-escalation", inv, json!({})))
    }

    #[test]
    fn catalogue_ids_are_unique_and_every_method_is_documented() {
        let ids: BTreeSet<&str> = METHODS.iter().map(|m| m.id).collect();
        assert_eq!(ids.len(), METHODS.len());
        for m in METHODS {
            assert!(!m.needs.is_empty() && !m.how.is_empty(), "{}", m.id);
            for n in m.needs {
                assert!(m.how.contains(n.action), "{}: its explanation names {}", m.id, n.action);
            }
        }
    }

    #[test]
    fn every_method_is_found_alone() {
        for m in METHODS {
            let inv = account(holder_is_user(m), vec![grant(m, false, |n| resource(m, n))]);
            let fs = findings("privilege-escalation", &inv, json!({}));
            assert_eq!(methods_of(&fs), vec![m.id.to_string()], "{}", m.id);
            let f = &fs[0];
            let (arn, name) = if holder_is_user(m) { (user_arn("alice"), "alice") } else { (role_arn("app"), "app") };
            assert_eq!((f.resource_arn.as_str(), f.resource_name.as_str()), (arn.as_str(), name));
            assert!(f.message.contains(m.id) && f.message.contains("via inline policy p0"), "{}", f.message);
            assert!(f.remediation.contains("permissions-boundary"), "{}", f.remediation);
        }
    }

    #[test]
    fn near_misses_are_not_flagged() {
        for m in METHODS {
            let user = holder_is_user(m);
            // With a condition.
            assert!(held(&account(user, vec![grant(m, true, |n| resource(m, n))])).is_empty(), "{}: condition", m.id);
            // Denied by another policy of the principal.
            let deny = json!({"Statement": [{"Effect": "Deny", "Action": m.needs[0].action, "Resource": "*"}]});
            assert!(held(&account(user, vec![grant(m, false, |n| resource(m, n)), deny])).is_empty(), "{}: deny", m.id);
            // Resources scoped to another principal (another user, role, group, policy).
            let other = |n: &Need| match n.target {
                Target::OwnGroup => group_arn("other-team"),
                Target::OwnPolicy => policy_arn("other-policy"),
                Target::Itself if user => user_arn("bob"),
                _ => role_arn("someone-else"),
            };
            assert!(held(&account(user, vec![grant(m, false, other)])).is_empty(), "{}: scoped to others", m.id);
            // Path-scoped resources are not every resource.
            assert!(
                held(&account(user, vec![grant(m, false, |_| "arn:aws:iam::123456789012:role/service-role/*".into())])).is_empty(),
                "{}: path-scoped",
                m.id
            );
            // All but one action.
            if m.needs.len() > 1 {
                let partial = Method { needs: &m.needs[1..], ..*m };
                let doc = grant(&partial, false, |n| resource(m, n));
                assert!(!held(&account(user, vec![doc])).contains(&m.id.to_string()), "{}: one action missing", m.id);
            }
            // Only in an AWS managed policy.
            let mut inv = account(user, vec![]);
            let aws = ManagedPolicy {
                ..managed(&format!("arn:aws:iam::aws:policy/Aws{}", m.id.replace('-', "")), grant(m, false, |n| resource(m, n)))
            };
            if user {
                aad(&mut inv).users[0].attached_policies.push(attach(&aws));
            } else {
                aad(&mut inv).roles[0].attached_policies.push(attach(&aws));
            }
            aad(&mut inv).policies.push(aws);
            assert!(held(&inv).is_empty(), "{}: AWS managed", m.id);
        }
    }

    #[test]
    fn boundaries_administrators_and_service_linked_roles() {
        let m = METHODS.iter().find(|m| m.id == "create-access-key").unwrap();
        // A boundary that does not allow the action caps it.
        let mut inv = account(true, vec![grant(m, false, |_| "*".into())]);
        let cap = managed("cap", read_only_doc());
        aad(&mut inv).users[0].permissions_boundary = Some(cap.arn.clone());
        aad(&mut inv).policies.push(cap);
        assert!(held(&inv).is_empty());
        // One that allows it does not.
        let open = managed("open", json!({"Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}));
        aad(&mut inv).users[0].permissions_boundary = Some(open.arn.clone());
        aad(&mut inv).policies.push(open);
        assert_eq!(held(&inv), vec!["create-access-key"]);
        // An administrator has nothing to escalate to.
        let mut inv = account(true, vec![grant(m, false, |_| "*".into())]);
        let admin = managed(ADMINISTRATOR_ACCESS, admin_doc());
        aad(&mut inv).users[0].attached_policies.push(attach(&admin));
        aad(&mut inv).policies.push(admin);
        assert!(held(&inv).is_empty());
        // Service-linked roles are AWS's.
        let mut inv = inventory();
        let mut slr = service_linked_role("AWSServiceRoleForX");
        slr.inline_policies.push(inline("svc", grant(m, false, |_| "*".into())));
        aad(&mut inv).roles.push(slr);
        assert!(held(&inv).is_empty());
    }

    #[test]
    fn wildcards_variables_groups_and_several_methods() {
        // iam:Attach* on the user's own ARN through ${aws:username}; iam:* through a group.
        let own = json!({"Statement": [{"Effect": "Allow", "Action": "iam:Attach*", "Resource": "arn:aws:iam::123456789012:user/${aws:username}"}]});
        let inv = account(true, vec![own]);
        assert_eq!(held(&inv), vec!["attach-user-policy"]);
        let mut inv = account(true, vec![]);
        aad(&mut inv).groups[0]
            .inline_policies
            .push(inline("iam-admin", json!({"Statement": [{"Effect": "Allow", "Action": "IAM:*", "Resource": "*"}]})));
        let fs = findings("privilege-escalation", &inv, json!({}));
        let methods = methods_of(&fs);
        for expected in ["create-policy-version", "attach-user-policy", "add-user-to-group", "create-access-key", "update-login-profile"] {
            assert!(methods.contains(&expected.to_string()), "{expected} in {methods:?}");
        }
        // sts:AssumeRole is not in iam:*, nor is a compute service.
        assert!(!methods.contains(&"update-assume-role-policy".to_string()) && !methods.contains(&"pass-role-ec2".to_string()));
        assert!(fs[0].message.contains("via group team inline policy iam-admin"), "{}", fs[0].message);
        // NotAction grants every action it does not name.
        let inv = account(false, vec![json!({"Statement": [{"Effect": "Allow", "NotAction": ["s3:*"], "Resource": "*"}]})]);
        assert!(held(&inv).contains(&"pass-role-ec2".to_string()));
        // An exception suppresses it.
        let fs = findings(
            "privilege-escalation",
            &inv,
            json!({"exceptions": [{"resource": role_arn("app"), "reason": "deploy role, reviewed"}]}),
        );
        assert_eq!(fs[0].status, crate::report::FindingStatus::Suppressed);
    }

    #[test]
    fn glob_and_broad_resources() {
        assert!(glob("iam:Create*", "iam:CreateAccessKey", true) && glob("*", "x", false) && glob("a?c", "abc", false));
        assert!(!glob("iam:Create*", "iam:PassRole", true) && !glob("User/*", "user/x", false));
        for r in ["*", "arn:aws:iam::123456789012:user/*", "arn:aws:lambda:*:*:function:*", "arn:aws:iam::*:*"] {
            assert!(broad(r), "{r}");
        }
        for r in
            ["arn:aws:iam::123456789012:user/bob", "arn:aws:iam::123456789012:role/service-role/*", "arn:aws:iam::123456789012:user/a*"]
        {
            assert!(!broad(r), "{r}");
        }
    }

    #[test]
    fn real_format_authorization_details() {
        // A managed policy version and an inline policy as GetAccountAuthorizationDetails writes
        // them (URL-encoded documents): PassRole + ec2:RunInstances split across both.
        let pass_role = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22iam%3APassRole%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
        let run = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%5B%22ec2%3ARunInstances%22%2C%22ec2%3ADescribe%2A%22%5D%2C%22Resource%22%3A%22%2A%22%7D%7D";
        let text = format!(
            r#"{{"UserDetailList":[{{"Path":"/","UserName":"ci","UserId":"AIDACI","Arn":"arn:aws:iam::123456789012:user/ci","CreateDate":"2024-01-01T00:00:00Z","GroupList":[],
              "UserPolicyList":[{{"PolicyName":"run","PolicyDocument":"{run}"}}],
              "AttachedManagedPolicies":[{{"PolicyName":"pass","PolicyArn":"arn:aws:iam::123456789012:policy/pass"}}],"Tags":[]}}],
            "GroupDetailList":[],"RoleDetailList":[],
            "Policies":[{{"PolicyName":"pass","PolicyId":"ANPA1","Arn":"arn:aws:iam::123456789012:policy/pass","Path":"/","DefaultVersionId":"v2","AttachmentCount":1,
              "PolicyVersionList":[{{"Document":"{pass_role}","VersionId":"v2","IsDefaultVersion":true}}]}}]}}"#
        );
        let (details, _, warnings) = crate::sources::parse_authorization_details(&text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let mut inv = inventory();
        inv.authorization = Some(details);
        let fs = findings("privilege-escalation", &inv, json!({}));
        assert_eq!(methods_of(&fs), vec!["pass-role-ec2"]);
        assert_eq!(
            fs[0].message,
            "User ci can make itself an administrator: pass-role-ec2 (iam:PassRole via policy arn:aws:iam::123456789012:policy/pass, ec2:RunInstances via inline policy run)."
        );
    }
}
