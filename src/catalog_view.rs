//! `iam-assurance rules`: the catalog as JSON or a table.

use std::fmt::Write as _;

use iam_assurance_rules::catalog;
use serde_json::{json, Map, Value};

/// Every rule with its metadata, params and their defaults.
pub fn catalog_json() -> Value {
    let rules: Vec<Value> = catalog::all()
        .iter()
        .map(|rule| {
            let meta = rule.meta();
            let defaults = rule.default_params();
            let mut params: Map<String, Value> = Map::new();
            if !meta.enabled_by_default {
                // Opt-in rules take `enabled` like a parameter.
                params.insert(
                    "enabled".into(),
                    json!({"default": false, "description": "Opt-in: set true to run this rule (it costs extra API calls)."}),
                );
            }
            for p in meta.params {
                let default = defaults.get(p.name).cloned().unwrap_or(Value::Null);
                params.insert(p.name.to_string(), json!({"default": default, "description": p.description}));
            }
            // Every setting with its default, flat: what an absent SSM parameter means.
            let mut flat: Map<String, Value> = Map::new();
            flat.insert("enabled".into(), Value::Bool(meta.enabled_by_default));
            flat.insert("severity".into(), json!(meta.severity));
            flat.extend(
                crate::generate::default_settings(*rule).into_iter().filter(|(k, _)| *k != "enabled").map(|(k, v)| (k.to_string(), v)),
            );
            json!({
                "id": meta.id,
                "rule_id": meta.id,
                "title": meta.title,
                "severity": meta.severity,
                "resource_type": meta.resource_type,
                "description": meta.description,
                "rationale": meta.rationale,
                "remediation": meta.remediation,
                "standards": meta.standards,
                "controls": meta.controls,
                "data": meta.data,
                "enabled_by_default": meta.enabled_by_default,
                "needs_complete_account": meta.needs_complete_account != iam_assurance_rules::WholeAccount::NotNeeded,
                "moved_by": meta.moved_by,
                "params": params,
                "defaults": flat,
            })
        })
        .collect();
    Value::Array(rules)
}

/// A terminal table of the catalog.
pub fn catalog_text() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<36} {:<9} {:<28} PARAMS (defaults)", "ID", "SEVERITY", "RESOURCE");
    for rule in catalog::all() {
        let meta = rule.meta();
        let defaults = rule.default_params();
        let mut params: Vec<String> = Vec::new();
        if !meta.enabled_by_default {
            params.push("enabled=false".into());
        }
        params.extend(meta.params.iter().map(|p| format!("{}={}", p.name, defaults.get(p.name).cloned().unwrap_or(Value::Null))));
        let _ = writeln!(out, "{:<36} {:<9} {:<28} {}", meta.id, meta.severity.as_str(), meta.resource_type.as_str(), params.join(", "));
        let _ = writeln!(out, "    {}", meta.title);
    }
    out
}
