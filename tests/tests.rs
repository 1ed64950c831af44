//! The one integration-test binary (one link step): every module below is a test suite.
//!
//! - `cli`: the `iam-assurance` binary on the sample account (offline audit, rules, bad files).
//! - `coverage`: Access Analyzer and security contact adapters, `iam-assurance compliance`.
//! - `events`: every sample event in `events/` routes to the change and rules it should.
//! - `generated`: the committed docs/rules.md, docs/events.md and infra/settings.yaml are current.
//! - `adapters`: the AWS adapters against scripted SDK responses (paging, throttling, report states).
//! - `emulator`: the live path end to end against moto on 127.0.0.1 through the real SDK clients.
//! - `alert_plan`: the finding-state diff (new / resolved / reminder), pure, on plain data.
//! - `alerts`: alerting with finding state against moto (DynamoDB, SNS → SQS).
//! - `standard_events`: the CIS and FSBP rules that IAM changes move (CloudShell, support role,
//!   required tags, keys at setup), event by event against moto.
//! - `messages`: SNS message rendering (subjects, sizes, digests in parts, email and Chatbot text).
//! - `faults`: faults injected between the function and the emulator (`proxy`: dropped replies,
//!   errors, late answers): retried, or failing loudly, never losing or silently doubling an alert.
//! - `organization`: organization mode against moto's Organizations and cross-account roles.
//! - `exports`: ASFF, OCSF and CSV rendering, the Security Hub export's plan over the finding
//!   state, and its import adapter against scripted Security Hub answers.
//! - `securityhub`: the Security Hub export against moto (lifecycle, one import per 100 changed
//!   findings, throttled, partially failed and failing imports through `proxy`).
//! - `lambda`: the binary as a Lambda function, against a minimal Runtime API on 127.0.0.1.
//! - `telemetry`: the metric lines (CloudWatch EMF) and the WARN lines of rules not evaluated.

mod support;

mod adapters;
mod alert_plan;
mod alerts;
mod cli;
mod coverage;
mod emulator;
mod events;
mod exports;
mod faults;
mod generated;
mod lambda;
mod messages;
mod organization;
mod proxy;
mod securityhub;
mod standard_events;
mod telemetry;
